// songspace explorer: plain JavaScript, canvas drawing, no dependencies, no network
// (except, in live mode, the songspace service that served the page).
(function () {
  "use strict";
  var t0 = performance.now();
  var D = JSON.parse(document.getElementById("explore-data").textContent);
  var N = D.n;
  var PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#17becf", "#bcbd22", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd",
    "#e6550d", "#31a354", "#756bb1", "#843c39", "#d6616b", "#636363"
  ];
  var OTHER = "#b9b9b9", UNKNOWN = "#e2e2e2";

  function bytes(s) {
    var bin = atob(s), a = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) a[i] = bin.charCodeAt(i);
    return a;
  }
  function bits(s) {
    var b = bytes(s), a = new Uint8Array(N);
    for (var i = 0; i < N; i++) a[i] = (b[i >> 3] >> (i & 7)) & 1;
    return a;
  }
  function rgb(hex) {  // little-endian ABGR for a Uint32 view of ImageData
    var v = parseInt(hex.slice(1), 16);
    return (255 << 24) | ((v & 255) << 16) | (v & 0xff00) | (v >> 16);
  }
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }

  var names = D.names, artists = D.artists, genres = D.genres;
  var artistCode = new Int32Array(bytes(D.artist).buffer);
  var gb = bytes(D.genre);
  var genreCode = D.genre_width === 2 ? new Int16Array(gb.buffer) : new Int32Array(gb.buffer);
  var pop = bytes(D.popularity);
  // --genres: the genre colouring shows only the chosen genres (code = len: "other")
  var chosen = D.chosen_genres ? { labels: D.chosen_genres.labels,
    codes: new Int16Array(bytes(D.chosen_genres.codes).buffer) } : null;
  if (chosen) document.querySelector('#colour option[value="genre"]').textContent =
    "genre: " + chosen.labels.join(", ");
  var features = D.features ? bits(D.features) : null;

  var runs = D.runs.map(function (r, ri) {
    var q = new Uint16Array(bytes(r.xy).buffer);
    // live mode packs no neighbours: a click asks the service for D.live_k of them
    var k = D.live ? D.live_k : r.k, w = r.id_width, nb = new Int32Array(N * k).fill(-1);
    var cos = new Float32Array(N * k), j;
    if (!D.live) {
      var raw = bytes(r.neighbours), none = w === 3 ? 0xffffff : -1;
      for (var j2 = 0, p = 0; j2 < N * k; j2++, p += w) {
        var v = raw[p] | (raw[p + 1] << 8) | (raw[p + 2] << 16) | (w === 4 ? raw[p + 3] << 24 : 0);
        nb[j2] = v === none ? -1 : v;
      }
      var cq = bytes(r.cosines);
      for (j = 0; j < N * k; j++) cos[j] = cq[j] / 255 * 2 - 1;
    }
    var avail = bits(r.available);
    var u = new Float32Array(N), vv = new Float32Array(N);
    for (var i = 0; i < N; i++) {
      u[i] = q[2 * i] === 65535 ? NaN : q[2 * i] / 65534;
      vv[i] = q[2 * i + 1] / 65534;
    }
    return { index: ri, name: r.name, meta: r, k: k, nb: nb, cos: cos, avail: avail,
             cold: bits(r.cold), u: u, v: vv, grid: buildGrid(u, vv) };
  });

  // a uniform grid over the unit square for hover and click hit tests
  function buildGrid(u, v) {
    var G = 128, cell = new Int32Array(N), count = new Int32Array(G * G + 1);
    for (var i = 0; i < N; i++) {
      if (u[i] !== u[i]) { cell[i] = -1; continue; }
      var c = Math.min(G - 1, (u[i] * G) | 0) * G + Math.min(G - 1, (v[i] * G) | 0);
      cell[i] = c; count[c + 1]++;
    }
    for (var c2 = 0; c2 < G * G; c2++) count[c2 + 1] += count[c2];
    var fill = count.slice(0, G * G), items = new Int32Array(count[G * G]);
    for (i = 0; i < N; i++) if (cell[i] >= 0) items[fill[cell[i]]++] = i;
    return { G: G, start: count, items: items };
  }

  // ---------------------------------------------------------------- state
  var state = {
    colour: "genre", selected: -1, box: null, boxCount: 0, maps: [], legend: [],
    colours: null, paintMs: null
  };

  function categories(mode, run) {
    // per track: an index into the legend (-1: not drawn); legend entries {label, colour}
    var cat = new Int32Array(N), legend = [], i, top = D.top;
    function table(labels, codes) {
      var m = Math.min(top, labels.length);
      for (var j = 0; j < m; j++) legend.push({ label: labels[j], colour: PALETTE[j % PALETTE.length] });
      var other = legend.length; legend.push({ label: "other", colour: OTHER });
      var unknown = legend.length; legend.push({ label: "unknown", colour: UNKNOWN });
      for (i = 0; i < N; i++) cat[i] = codes[i] < 0 ? unknown : codes[i] < m ? codes[i] : other;
    }
    if (mode === "genre") {
      if (chosen) table(chosen.labels, chosen.codes); else table(genres, genreCode);
    }
    else if (mode === "artist") table(artists, artistCode);
    else if (mode === "popularity") {
      D.popularity_labels.forEach(function (l, j) {
        legend.push({ label: l, colour: ["#c6dbef", "#6baed6", "#2171b5", "#08306b", "#000000"][j % 5] });
      });
      for (i = 0; i < N; i++) cat[i] = pop[i];
    } else if (mode === "features") {
      legend.push({ label: "features known", colour: "#2ca02c" }, { label: "features unknown", colour: "#d62728" });
      for (i = 0; i < N; i++) cat[i] = features && features[i] ? 0 : 1;
    } else if (mode === "cold") {
      legend.push({ label: "seen in training", colour: "#9ecae1" }, { label: "cold start (unseen in training)", colour: "#d62728" });
      for (i = 0; i < N; i++) cat[i] = run.cold[i] ? 1 : 0;
    } else {
      legend.push({ label: "embedded by every model shown", colour: "#2ca02c" },
                  { label: "embedded by this model only", colour: "#ff7f0e" });
      for (i = 0; i < N; i++) {
        var all = 1;
        for (var r = 0; r < runs.length; r++) all &= runs[r].avail[i];
        cat[i] = all ? 0 : 1;
      }
    }
    for (i = 0; i < N; i++) if (!run.avail[i]) cat[i] = -1;
    return { cat: cat, legend: legend, rgb: legend.map(function (e) { return rgb(e.colour); }) };
  }

  function setColour(mode) {
    state.colour = mode;
    document.getElementById("colour").value = mode;
    state.colours = runs.map(function (r) { return categories(mode, r); });
    // draw order: grey classes first, coloured ones on top
    state.colours.forEach(function (c) {
      var order = new Int32Array(N), p = 0, grey = {};
      c.legend.forEach(function (e, j) { if (e.colour === OTHER || e.colour === UNKNOWN) grey[j] = 1; });
      for (var i = 0; i < N; i++) if (c.cat[i] >= 0 && grey[c.cat[i]]) order[p++] = i;
      for (i = 0; i < N; i++) if (c.cat[i] >= 0 && !grey[c.cat[i]]) order[p++] = i;
      c.order = order.subarray(0, p);
    });
    renderLegend();
    redraw();
  }

  function renderLegend() {
    var c = state.colours[0], counts = new Int32Array(c.legend.length), i;
    for (i = 0; i < N; i++) if (c.cat[i] >= 0) counts[c.cat[i]]++;
    var html = "";
    c.legend.forEach(function (e, j) {
      if (!counts[j]) return;
      html += '<li data-label="' + esc(e.label) + '"><span class="sw" style="background:' + e.colour +
        '"></span>' + esc(e.label) + '<span class="n">' + counts[j].toLocaleString() + "</span></li>";
    });
    var hidden = 0;
    for (i = 0; i < N; i++) if (!runs[0].avail[i]) hidden++;
    if (hidden) html += '<li class="note">' + hidden.toLocaleString() + " tracks have no embedding in " +
      esc(runs[0].name) + " (not drawn)</li>";
    document.getElementById("legend").innerHTML = html;
    state.legend = c.legend.filter(function (e, j) { return counts[j] > 0; }).map(function (e) { return e.label; });
  }

  // ---------------------------------------------------------------- maps
  function MapView(run) {
    var el = document.createElement("div");
    el.className = "map";
    el.innerHTML = "<h3>" + esc(run.name) + " <small>" + esc(run.meta.method) + "</small></h3>";
    var canvas = document.createElement("canvas");
    canvas.dataset.run = run.index;
    el.appendChild(canvas);
    document.getElementById("maps").appendChild(el);
    this.run = run; this.canvas = canvas; this.ctx = canvas.getContext("2d");
    this.cx = 0.5; this.cy = 0.5; this.zoom = 0.92; this.drag = null; this.rect = null;
    this.attach();
  }
  MapView.prototype.scale = function () { return Math.min(this.canvas.width, this.canvas.height) * this.zoom; };
  MapView.prototype.toScreen = function (i) {
    var s = this.scale();
    return [this.canvas.width / 2 + (this.run.u[i] - this.cx) * s,
            this.canvas.height / 2 - (this.run.v[i] - this.cy) * s];
  };
  MapView.prototype.toData = function (x, y) {
    var s = this.scale();
    return [(x - this.canvas.width / 2) / s + this.cx, (this.canvas.height / 2 - y) / s + this.cy];
  };
  MapView.prototype.resize = function () {
    var w = Math.max(50, this.canvas.clientWidth | 0), h = Math.max(50, this.canvas.clientHeight | 0);
    if (w !== this.canvas.width || h !== this.canvas.height) { this.canvas.width = w; this.canvas.height = h; this.image = null; }
  };
  MapView.prototype.draw = function () {
    this.resize();
    var W = this.canvas.width, H = this.canvas.height, ctx = this.ctx, run = this.run;
    if (!this.image) { this.image = ctx.createImageData(W, H); this.pix = new Uint32Array(this.image.data.buffer); }
    var pix = this.pix, c = state.colours[run.index], order = c.order, cat = c.cat, col = c.rgb;
    pix.fill(0xffffffff);
    var s = this.scale(), ox = W / 2 - this.cx * s, oy = H / 2 + this.cy * s;
    var r = this.zoom > 6 ? 2 : 1, box = state.box, faded = 0xffe6e6e6 | 0;
    var u = run.u, v = run.v;
    for (var o = 0; o < order.length; o++) {
      var i = order[o], x = (ox + u[i] * s) | 0, y = (oy - v[i] * s) | 0;
      if (x < r || y < r || x >= W - r || y >= H - r) continue;
      var colour = box && !box[i] ? faded : col[cat[i]];
      for (var dy = -r + 1; dy <= r - 1 + (r === 1 ? 1 : 0); dy++) {
        var row = (y + dy) * W;
        for (var dx = -r + 1; dx <= r - 1 + (r === 1 ? 1 : 0); dx++) pix[row + x + dx] = colour;
      }
    }
    if (box) {  // selected points on top of the faded ones
      for (o = 0; o < order.length; o++) {
        i = order[o];
        if (!box[i]) continue;
        x = (ox + u[i] * s) | 0; y = (oy - v[i] * s) | 0;
        if (x < 1 || y < 1 || x >= W - 2 || y >= H - 2) continue;
        pix[y * W + x] = pix[y * W + x + 1] = pix[(y + 1) * W + x] = pix[(y + 1) * W + x + 1] = col[cat[i]];
      }
    }
    ctx.putImageData(this.image, 0, 0);
    var sel = state.selected;
    if (sel >= 0 && run.avail[sel]) {
      var p = this.toScreen(sel), k = run.k;
      ctx.strokeStyle = "rgba(0,0,0,0.45)"; ctx.lineWidth = 1;
      for (var j = 0; j < k; j++) {
        var nbi = run.nb[sel * k + j];
        if (nbi < 0) continue;
        var q = this.toScreen(nbi);
        ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke();
        ctx.beginPath(); ctx.arc(q[0], q[1], 4, 0, 2 * Math.PI); ctx.stroke();
      }
      ctx.strokeStyle = "#000"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.arc(p[0], p[1], 7, 0, 2 * Math.PI); ctx.stroke();
    }
    if (this.rect) {
      ctx.strokeStyle = "#000"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1;
      ctx.strokeRect(this.rect[0], this.rect[1], this.rect[2] - this.rect[0], this.rect[3] - this.rect[1]);
      ctx.setLineDash([]);
    }
  };
  MapView.prototype.nearest = function (x, y, radius) {
    var d = this.toData(x, y), s = this.scale(), rr = radius / s, g = this.run.grid, G = g.G;
    var best = -1, bestD = rr * rr, u = this.run.u, v = this.run.v;
    var x0 = Math.max(0, ((d[0] - rr) * G) | 0), x1 = Math.min(G - 1, ((d[0] + rr) * G) | 0);
    var y0 = Math.max(0, ((d[1] - rr) * G) | 0), y1 = Math.min(G - 1, ((d[1] + rr) * G) | 0);
    for (var cx = x0; cx <= x1; cx++) for (var cy = y0; cy <= y1; cy++) {
      var c = cx * G + cy;
      for (var p = g.start[c]; p < g.start[c + 1]; p++) {
        var i = g.items[p], du = u[i] - d[0], dv = v[i] - d[1], dd = du * du + dv * dv;
        if (dd <= bestD) { bestD = dd; best = i; }
      }
    }
    return best;
  };
  MapView.prototype.attach = function () {
    var self = this, cv = this.canvas;
    function pos(e) { var b = cv.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; }
    cv.addEventListener("mousedown", function (e) {
      var p = pos(e);
      self.drag = { x: p[0], y: p[1], cx: self.cx, cy: self.cy, box: e.shiftKey, moved: false };
    });
    window.addEventListener("mousemove", function (e) {
      var p = pos(e), dr = self.drag;
      if (!dr) {
        if (e.target === cv) hover(self, p, e); return;
      }
      if (Math.abs(p[0] - dr.x) + Math.abs(p[1] - dr.y) > 3) dr.moved = true;
      if (dr.box) self.rect = [Math.min(dr.x, p[0]), Math.min(dr.y, p[1]), Math.max(dr.x, p[0]), Math.max(dr.y, p[1])];
      else {
        var s = self.scale();
        self.cx = dr.cx - (p[0] - dr.x) / s; self.cy = dr.cy + (p[1] - dr.y) / s;
        state.maps.forEach(function (m) { if (m !== self) { m.cx = self.cx; m.cy = self.cy; } });
      }
      redraw();
    });
    window.addEventListener("mouseup", function (e) {
      var dr = self.drag;
      if (!dr) return;
      self.drag = null;
      var p = pos(e);
      if (dr.box && self.rect) { boxSelect(self, self.rect); self.rect = null; }
      else if (!dr.moved) {
        var i = self.nearest(p[0], p[1], 8);
        if (i >= 0) select(i, false);
      }
      redraw();
    });
    cv.addEventListener("wheel", function (e) {
      e.preventDefault();
      var p = pos(e), before = self.toData(p[0], p[1]);
      self.zoom = Math.min(4000, Math.max(0.2, self.zoom * Math.exp(-e.deltaY * 0.0015)));
      var after = self.toData(p[0], p[1]);
      self.cx += before[0] - after[0]; self.cy += before[1] - after[1];
      state.maps.forEach(function (m) { if (m !== self) { m.zoom = self.zoom; m.cx = self.cx; m.cy = self.cy; } });
      redraw();
    }, { passive: false });
    cv.addEventListener("mouseleave", function () { document.getElementById("tooltip").hidden = true; });
  };

  function describe(i) {
    var g = genreCode[i] >= 0 ? genres[genreCode[i]] : "no genre";
    var a = artistCode[i] >= 0 ? artists[artistCode[i]] : "unknown artist";
    return { name: names[i] || "(no name)", artist: a, genre: g };
  }
  function hover(map, p, e) {
    var tip = document.getElementById("tooltip"), i = map.nearest(p[0], p[1], 6);
    if (i < 0) { tip.hidden = true; return; }
    var d = describe(i);
    tip.innerHTML = "<b>" + esc(d.name) + "</b><br>" + esc(d.artist) + " · " + esc(d.genre) +
      (map.run.cold[i] ? "<br>cold start" : "");
    tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px";
    tip.hidden = false;
  }

  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; state.maps.forEach(function (m) { m.draw(); }); });
  }

  // ---------------------------------------------------------------- selection
  function select(i, centre) {
    state.selected = i;
    if (centre) state.maps.forEach(function (m) {
      if (m.run.avail[i]) { m.cx = m.run.u[i]; m.cy = m.run.v[i]; m.zoom = Math.max(m.zoom, 4); }
    });
    var d = describe(i);
    document.getElementById("selected").innerHTML = '<div data-track="' + i + '"><b>' + esc(d.name) +
      "</b><br>" + esc(d.artist) + " · " + esc(d.genre) + "</div>";
    var box = document.getElementById("neighbours"), html = "";
    runs.forEach(function (run) {
      html += '<div class="nb-run" data-run="' + run.index + '">' + esc(run.name) + ": nearest in the embedding space</div>";
      if (!run.avail[i]) { html += '<div data-run="' + run.index + '">no embedding in this model</div>'; return; }
      html += '<table data-run="' + run.index + '"><tr><th>#</th><th>track</th><th>artist</th><th>genre</th><th>cos</th></tr>';
      if (D.live) html += '<tr><td colspan="5">asking the service…</td></tr>';
      else for (var j = 0; j < run.k; j++) {
        var t = run.nb[i * run.k + j];
        if (t < 0) continue;
        html += row(j, t, run.cos[i * run.k + j]);
      }
      html += "</table>";
    });
    box.innerHTML = html;
    if (D.live) runs.forEach(function (run) { if (run.avail[i]) live(run, i); });
    document.body.dataset.selected = String(i);
    redraw();
  }
  function row(j, t, cos) {
    var d = describe(t);
    return cells(j, t, D.track_ids ? D.track_ids[t] : "", d.name, d.artist, d.genre, cos);
  }
  function cells(j, t, id, name, artist, genre, cos) {
    return '<tr data-track="' + t + '" data-id="' + esc(id) + '"><td>' + (j + 1) + "</td><td>" + esc(name) +
      "</td><td>" + esc(artist) + "</td><td>" + esc(genre) + '</td><td class="num">' + cos.toFixed(2) + "</td></tr>";
  }
  var rowOf = null;
  function live(run, i) {
    // the service's answer, as it gives it (a track added through POST /tracks is listed
    // too, with data-track -1: it has no point on the map)
    if (!rowOf) { rowOf = {}; D.track_ids.forEach(function (t, j) { rowOf[t] = j; }); }
    var url = "tracks/" + encodeURIComponent(D.track_ids[i]) + "/similar?k=" + run.k + "&model=" + encodeURIComponent(run.name);
    fetch(url).then(function (r) { return r.json(); }).then(function (body) {
      if (state.selected !== i) return;
      var table = document.querySelector('#neighbours table[data-run="' + run.index + '"]');
      var html = '<tr><th>#</th><th>track</th><th>artist</th><th>genre</th><th>cos</th></tr>';
      (body.results || []).forEach(function (it, j) {
        var t = rowOf[it.track_id] === undefined ? -1 : rowOf[it.track_id];
        if (j < run.k) { run.nb[i * run.k + j] = t; run.cos[i * run.k + j] = it.score; }
        html += cells(j, t, it.track_id, it.track_name || "(no name)", it.artist_name || "unknown artist",
                      it.genre || "no genre", it.score);
      });
      if (body.error) html += '<tr><td colspan="5">' + esc(body.error.message) + "</td></tr>";
      table.innerHTML = html;
      table.dataset.loaded = "1";
      redraw();
    }).catch(function (err) { console.warn("neighbour query failed", err); });
  }

  function boxSelect(map, rect) {
    var a = map.toData(rect[0], rect[3]), b = map.toData(rect[2], rect[1]), run = map.run;
    var mask = new Uint8Array(N), n = 0;
    for (var i = 0; i < N; i++) {
      if (run.u[i] >= a[0] && run.u[i] <= b[0] && run.v[i] >= a[1] && run.v[i] <= b[1]) { mask[i] = 1; n++; }
    }
    state.box = n ? mask : null;
    state.boxCount = n;
    var el = document.getElementById("makeup");
    if (!n) { el.textContent = "no tracks in the box"; return; }
    function top(codes, labels, what) {
      var counts = {}, i2;
      for (i2 = 0; i2 < N; i2++) if (mask[i2]) { var c = codes[i2]; counts[c] = (counts[c] || 0) + 1; }
      var keys = Object.keys(counts).sort(function (x, y) { return counts[y] - counts[x]; }).slice(0, 10);
      var h = "<table><tr><th>" + what + '</th><th class="num">tracks</th><th class="num">share</th></tr>';
      keys.forEach(function (k) {
        var label = +k >= 0 ? labels[+k] : "unknown";
        h += "<tr><td>" + esc(label) + '</td><td class="num">' + counts[k] + '</td><td class="num">' +
          (100 * counts[k] / n).toFixed(1) + "%</td></tr>";
      });
      return h + "</table>";
    }
    el.innerHTML = "<div>" + n.toLocaleString() + " tracks selected in " + esc(run.name) +
      " (highlighted in every map)</div>" + top(genreCode, genres, "genre") + top(artistCode, artists, "artist");
  }

  // ---------------------------------------------------------------- search
  var lowerNames = null, lowerArtists = null;
  function search(query) {
    var q = query.trim().toLowerCase(), out = [], exact = [];
    if (!q) return out;
    if (!lowerNames) {
      lowerNames = names.map(function (s) { return (s || "").toLowerCase(); });
      lowerArtists = artists.map(function (s) { return s.toLowerCase(); });
    }
    for (var i = 0; i < N && exact.length + out.length < 2000; i++) {
      var drawn = false;
      for (var r = 0; r < runs.length; r++) drawn = drawn || runs[r].avail[i] === 1;
      if (!drawn) continue;
      var nm = lowerNames[i], ar = artistCode[i] >= 0 ? lowerArtists[artistCode[i]] : "";
      if (nm === q) exact.push(i);
      else if (nm.indexOf(q) >= 0 || ar.indexOf(q) >= 0) out.push(i);
    }
    return exact.concat(out).slice(0, 50);
  }
  function showResults(found) {
    var box = document.getElementById("results-box"), html = "";
    found.forEach(function (i) {
      var d = describe(i);
      html += '<li data-track="' + i + '">' + esc(d.name) + " · " + esc(d.artist) + "</li>";
    });
    document.getElementById("results").innerHTML = html || "<li>no match</li>";
    box.hidden = false;
  }
  var input = document.getElementById("search"), timer = null;
  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { if (input.value.trim()) showResults(search(input.value)); }, 150);
  });
  input.addEventListener("keydown", function (e) {
    if (e.key !== "Enter") return;
    var found = search(input.value);
    showResults(found);
    if (found.length) select(found[0], true);
  });
  document.getElementById("results").addEventListener("click", function (e) {
    var li = e.target.closest("li[data-track]");
    if (li) select(+li.dataset.track, true);
  });
  document.getElementById("colour").addEventListener("change", function (e) { setColour(e.target.value); });
  document.getElementById("reset").addEventListener("click", function () {
    state.maps.forEach(function (m) { m.cx = 0.5; m.cy = 0.5; m.zoom = 0.92; });
    state.box = null; document.getElementById("makeup").textContent = "none: shift+drag on a map";
    redraw();
  });
  window.addEventListener("resize", redraw);

  // ---------------------------------------------------------------- metrics
  (function () {
    var rows = [["projection", "method"], ["projection time (s)", "projection_seconds"], ["coverage", "coverage"]];
    var html = "<table><tr><th></th>" + runs.map(function (r) { return "<th>" + esc(r.name) + "</th>"; }).join("") + "</tr>";
    rows.forEach(function (rw) {
      html += "<tr><td>" + rw[0] + "</td>" + runs.map(function (r) { return '<td class="num">' + esc(r.meta[rw[1]]) + "</td>"; }).join("") + "</tr>";
    });
    [["VRC_genre", "vrc_genre"], ["genre coherence", "genre_coherence"]].forEach(function (m) {
      html += "<tr><td>" + m[0] + "</td>" + runs.map(function (r) {
        var v = r.meta.metrics[m[1]];
        return '<td class="num" data-metric="' + m[1] + '">' + (v === undefined || v === null ? "n/a" : v.toFixed(3)) + "</td>";
      }).join("") + "</tr>";
    });
    document.getElementById("metrics").innerHTML = html + "</table>";
  })();

  runs.forEach(function (r) { state.maps.push(new MapView(r)); });
  setColour("genre");
  requestAnimationFrame(function () {
    state.maps.forEach(function (m) { m.draw(); });
    // time to first paint, from the start of navigation (performance.now's origin)
    state.paintMs = performance.now();
    document.body.dataset.paintMs = state.paintMs.toFixed(1);
    document.body.dataset.scriptMs = (state.paintMs - t0).toFixed(1);
    document.body.dataset.ready = "1";
  });
  window.songspaceExplorer = { state: state, select: select, search: search, setColour: setColour, runs: runs, maps: state.maps };
})();

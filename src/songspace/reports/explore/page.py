"""The explorer page: the genre colouring, the packed JSON payload
(:func:`build_payload`), the self-contained HTML (:func:`explorer_html`) and the
Embedding Atlas Parquet export (:func:`export_parquet`). The packing is described in
:mod:`songspace.reports.explore`."""

from __future__ import annotations

import base64
import difflib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_write_parquet
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.reports.explore.projection import Projection

#: Genres / artists given their own colour; the rest are "other".
TOP_CATEGORIES = 20
#: Popularity buckets (quantiles of the playlist occurrence count).
POPULARITY_BUCKETS = 5


@dataclass
class ExploreRun:
    """One run on the page: its embeddings, projection, neighbours and metrics."""

    name: str
    embeddings: Embeddings
    projection: Projection
    neighbours: np.ndarray
    cosines: np.ndarray
    cold: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


class UnknownGenreError(ParameterError):
    """A genre asked for with ``--genres`` that no track of the dataset carries."""

    def __init__(self, value: str, close: list[str], n_genres: int):
        self.close = close
        hint = (
            f"did you mean {', '.join(repr(c) for c in close)}? "
            if close
            else "no genre of the dataset is close; "
        )
        super().__init__(
            "genres",
            f"genre names the dataset's tracks carry ({n_genres} distinct, matched "
            "case-insensitively against each track's genres)",
            value,
            fix=hint + "pass names as the dataset spells them, comma-separated, "
            'e.g. --genres "jazz,classical,hip hop"',
        )


def _track_genres(dataset: Dataset) -> list[set[str]]:
    """Per track: its genres as the dataset spells them (the ``genres`` list and the
    primary genre), stripped, empty names dropped."""
    t = dataset.tracks
    lists = t["genres"].tolist() if "genres" in t.columns else [[] for _ in range(len(t))]
    prim = t["genre"].tolist() if "genre" in t.columns else [None] * len(t)
    out = []
    for gl, p in zip(lists, prim, strict=True):
        s = {str(g).strip() for g in (gl if gl is not None else [])}
        if isinstance(p, str):
            s.add(p.strip())
        s.discard("")
        out.append(s)
    return out


def parse_genres(genres: str | Sequence[str] | None) -> list[str] | None:
    """``"jazz,classical,hip hop"`` (or a list) -> the distinct names, in order."""
    if genres is None:
        return None
    items = genres.split(",") if isinstance(genres, str) else list(genres)
    names: list[str] = []
    for g in items:
        g = str(g).strip()
        if g and g.lower() not in {n.lower() for n in names}:
            names.append(g)
    if not names:
        raise ParameterError(
            "genres",
            "one or more comma-separated genre names",
            genres,
            fix='e.g. --genres "jazz,classical,hip hop"',
        )
    if len(names) > TOP_CATEGORIES:
        raise ParameterError(
            "genres",
            f"at most {TOP_CATEGORIES} genres (one colour each)",
            len(names),
            fix="pass fewer genres",
        )
    return names


def genre_colouring(dataset: Dataset, genres: str | Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Colour classes for the chosen ``genres``: the labels (the dataset's spelling, in the
    order asked) and a code per track: the first chosen genre, in that order, among the
    track's genres (its ``genres`` list and its primary genre, case-insensitive);
    ``len(labels)`` ("other") for a track with genres but none chosen; -1 ("unknown") for
    a track without genres. Raises :class:`UnknownGenreError` for a name no track carries."""
    names = parse_genres(genres) or []
    per_track = _track_genres(dataset)
    sets = [{g.lower() for g in gs} for gs in per_track]
    spellings: dict[str, dict[str, int]] = {}  # lower-cased -> dataset spelling -> tracks
    for gs in per_track:
        for g in gs:
            d = spellings.setdefault(g.lower(), {})
            d[g] = d.get(g, 0) + 1
    wanted = [n.lower() for n in names]
    for n, w in zip(names, wanted, strict=True):
        if w not in spellings:
            close = difflib.get_close_matches(w, list(spellings), n=5, cutoff=0.6)
            best = [max(spellings[c], key=lambda s: (spellings[c][s], s)) for c in close]
            raise UnknownGenreError(n, best, len(spellings))
    labels = [min(spellings[w], key=lambda s: (-spellings[w][s], s)) for w in wanted]
    codes = np.full(len(sets), -1, np.int16)
    for i, s in enumerate(sets):
        if not s:
            continue
        codes[i] = next((j for j, w in enumerate(wanted) if w in s), len(wanted))
    return labels, codes


# ------------------------------------------------------------------ packing


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode("ascii")


def _pack_ids(ids: np.ndarray, n: int) -> tuple[str, int]:
    """Track indices (-1 = none, stored as the all-ones value) in 3 bytes, or 4 if needed."""
    width = 3 if n < (1 << 24) - 1 else 4
    u = np.where(ids < 0, (1 << (8 * width)) - 1, ids).astype("<u4")
    raw = u.view(np.uint8).reshape(-1, 4)[:, :width]
    return _b64(raw), width


def _categories(values: list[Any], counts_by: np.ndarray, top: int) -> tuple[list[str], np.ndarray]:
    """Codes into a table of distinct strings (index order = most tracks first);
    ``counts_by`` masks which tracks count towards the order."""
    codes = np.full(len(values), -1, np.int32)
    table: dict[str, int] = {}
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v == "":
            continue
        s = str(v)
        codes[i] = table.setdefault(s, len(table))
    names = list(table)
    if not names:
        return [], codes
    weight = np.bincount(codes[(codes >= 0) & counts_by], minlength=len(names))
    order = np.lexsort((np.arange(len(names)), -weight))
    remap = np.empty(len(names), np.int32)
    remap[order] = np.arange(len(names), dtype=np.int32)
    codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
    return [names[j] for j in order], codes


def popularity_buckets(
    counts: np.ndarray, n_buckets: int = POPULARITY_BUCKETS
) -> tuple[np.ndarray, list[str]]:
    """Bucket per track by quantiles of its playlist occurrences (labels give the ranges)."""
    counts = np.asarray(counts, dtype=np.int64)
    edges = np.unique(np.quantile(counts, np.linspace(0, 1, n_buckets + 1)[1:-1]).astype(int))
    bucket = np.searchsorted(edges, counts, side="left").astype(np.int32)
    labels = []
    bounds = [int(counts.min()) if len(counts) else 0, *edges.tolist()]
    for b in range(len(edges) + 1):
        lo = bounds[b] if b == 0 else bounds[b] + 1
        hi = edges[b] if b < len(edges) else (int(counts.max()) if len(counts) else 0)
        labels.append(f"{lo}-{hi} playlists" if lo != hi else f"{lo} playlists")
    return bucket, labels


def _feature_known(dataset: Dataset) -> np.ndarray | None:
    if not dataset.features:
        return None
    known = np.zeros(dataset.n_tracks, bool)
    for g in dataset.features.values():
        if g.name == "popularity":
            continue  # derived from the playlists for every track
        known |= np.asarray(g.known.any(axis=1))
    return known


def build_payload(
    runs: list[ExploreRun],
    dataset: Dataset,
    *,
    live: bool = False,
    title: str = "",
    genres: str | Sequence[str] | None = None,
) -> dict[str, Any]:
    """The JSON the page reads (see the module docstring for the packing). ``genres``
    (names or ``"jazz,classical,hip hop"``): the genre colouring shows only those
    (:func:`genre_colouring`), the rest as "other"."""
    if not runs:
        raise ParameterError("runs", "at least one run", 0)
    chosen = None
    if genres is not None:
        labels, codes = genre_colouring(dataset, genres)
        chosen = {"labels": labels, "codes": _b64(codes.astype("<i2"))}
    n = dataset.n_tracks
    t = dataset.tracks
    drawn = np.zeros(n, bool)
    for r in runs:
        drawn |= r.embeddings.available
    names = (
        ["" if v is None else str(v) for v in t["track_name"].tolist()]
        if ("track_name" in t.columns)
        else [""] * n
    )
    artists, artist_codes = _categories(
        t["artist_name"].tolist() if "artist_name" in t.columns else [None] * n, drawn, 0
    )
    genre_table, genre_codes = _categories(
        t["genre"].tolist() if "genre" in t.columns else [None] * n, drawn, 0
    )
    bucket, bucket_labels = popularity_buckets(dataset.occurrences())
    known = _feature_known(dataset)
    packed_runs = []
    for r in runs:
        xy = r.projection.xy
        ok = ~np.isnan(xy[:, 0])
        lo = np.nanmin(xy, axis=0) if ok.any() else np.zeros(2)
        hi = np.nanmax(xy, axis=0) if ok.any() else np.ones(2)
        span = np.where(hi - lo > 0, hi - lo, 1.0)
        q = np.zeros((n, 2), "<u2")
        q[ok] = np.round((xy[ok] - lo) / span * 65534).astype("<u2")
        q[~ok] = 65535
        kk = r.neighbours.shape[1]
        ids, width = _pack_ids(r.neighbours, n)
        cos = np.clip(np.nan_to_num(r.cosines, neginf=-1.0), -1, 1)
        cos_q = np.round((cos + 1) / 2 * 255).astype(np.uint8)
        packed_runs.append(
            {
                "name": r.name,
                "method": r.projection.method,
                "projection_seconds": round(r.projection.seconds, 3),
                "xy": _b64(q),
                "k": kk,
                "id_width": width,
                "neighbours": ids,
                "cosines": _b64(cos_q),
                "available": _b64(np.packbits(r.embeddings.available, bitorder="little")),
                "cold": _b64(np.packbits(r.cold, bitorder="little")),
                "metrics": {
                    k: (None if np.isnan(v) else round(v, 4)) for k, v in r.metrics.items()
                },
                "coverage": round(r.embeddings.coverage, 4),
            }
        )
    return {
        "version": 1,
        "title": title or " vs ".join(r.name for r in runs),
        "live": live,
        "n": n,
        "track_ids": [str(x) for x in dataset.track_ids.tolist()] if live else None,
        "names": names,
        "artists": artists,
        "artist": _b64(artist_codes.astype("<i4")),
        "genres": genre_table,
        "genre": _b64(genre_codes.astype("<i2" if len(genre_table) < 32000 else "<i4")),
        "genre_width": 2 if len(genre_table) < 32000 else 4,
        "popularity": _b64(bucket.astype(np.uint8)),
        "popularity_labels": bucket_labels,
        "features": None if known is None else _b64(np.packbits(known, bitorder="little")),
        "top": TOP_CATEGORIES,
        "chosen_genres": chosen,
        "runs": packed_runs,
    }


def _asset(name: str) -> str:
    return (
        resources.files("songspace.reports")
        .joinpath("explore_assets", name)
        .read_text(encoding="utf-8")
    )


def explorer_html(payload: dict[str, Any]) -> str:
    """The self-contained page: template with the style, script and data inlined."""
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    # nothing in the JSON may close the script element
    data = data.replace("</", "<\\/").replace("<!--", "<\\!--")
    page = _asset("explore.html")
    title = str(payload["title"]).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        page.replace("/*STYLE*/", _asset("explore.css"))
        .replace("/*SCRIPT*/", _asset("explore.js"))
        .replace("__TITLE__", title)
        .replace("/*DATA*/", data)
    )


def export_parquet(runs: list[ExploreRun], dataset: Dataset, path: str | Path) -> Path:
    """Embedding Atlas table: track id, metadata, ``x``/``y`` and ``neighbors`` (``{"ids",
    "distances"}`` with cosine distance) of the first run; further runs add
    ``x_<name>``/``y_<name>``/``neighbors_<name>``. Rows: tracks available in some run."""
    import pyarrow as pa

    path = Path(path)
    drawn = np.zeros(dataset.n_tracks, bool)
    for r in runs:
        drawn |= r.embeddings.available
    rows = np.flatnonzero(drawn)
    t = dataset.tracks.iloc[rows]
    cols: dict[str, Any] = {}
    for c in ("track_id", "track_name", "artist_name", "genre"):
        if c in t.columns:
            cols[c] = pa.array([None if v is None else str(v) for v in t[c].tolist()], pa.string())
    cols["playlists"] = pa.array(dataset.occurrences()[rows].astype(np.int64))
    ids_arr = dataset.track_ids
    for j, r in enumerate(runs):
        sfx = "" if j == 0 else f"_{r.name}"
        xy = r.projection.xy[rows]
        cols["x" + sfx] = pa.array(xy[:, 0], pa.float32(), from_pandas=True)
        cols["y" + sfx] = pa.array(xy[:, 1], pa.float32(), from_pandas=True)
        neigh = []
        for i in rows:
            ok = r.neighbours[i] >= 0
            neigh.append(
                {
                    "ids": [str(x) for x in ids_arr[r.neighbours[i][ok]].tolist()],
                    "distances": (1.0 - r.cosines[i][ok].astype(np.float64)).tolist(),
                }
                if r.embeddings.available[i]
                else None
            )
        cols["neighbors" + sfx] = pa.array(
            neigh,
            pa.struct([("ids", pa.list_(pa.string())), ("distances", pa.list_(pa.float64()))]),
        )
    return atomic_write_parquet(path, pa.table(cols))

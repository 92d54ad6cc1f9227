"""Serving under load: `songspace serve` against a plain FastAPI + numpy brute-force peer,
and its two-stage recommender's routes against its embedding-only routes.

Both servers run as uvicorn processes on 127.0.0.1 (free ports) in the same run, over
the same vectors, and are driven by the same ``--clients`` concurrent httpx async
clients for a bounded number of requests each (``--requests``), then stopped. The peer
answers the same two routes with the same response fields, scoring ``E @ q`` in numpy
and taking the top k with ``argpartition``.

Reported per server and route: throughput (requests/s), p50/p95/p99 latency (ms), errors
(non-2xx or transport failures), server peak memory (VmHWM) and, for ours, the index's
build time, size and recall@100 against exact search. ``--reload-every`` posts
``/admin/reload`` during the /similar load and counts the requests that failed.

With ``--recommender DIR`` (a fitted two-stage recommender, ``songspace recommender
fit``) the same server also loads it, and the run drives, in turn, the embedding-only
routes (``similar``: ``GET /tracks/{last seed}/similar``; ``complete``: ``POST
/complete`` naming the embedding model) and the re-ranked ones (``next``: ``POST
/next``; ``rerank``: ``POST /complete`` through both stages), at each ``--clients``
level, with the same seeds: up to ``--seeds`` consecutive tracks of a random training
sequence ending at a random position (the tracks a user would play), drawn with
``--seed``. The report states the generators, the neighbour indexes (``GET /models``),
the mean number of candidates stage 2 scores (``--count-candidates`` queries, in this
process, after the server stopped) and the server's peak memory (VmHWM).

    # the MPD-subset Track2Vec run (see README: prepare, train)
    python benchmarks/bench_serving.py --run runs/t2v --data data/mpd --index exact
    # a 2M x 64 synthetic embedding (written to --workdir), exact and HNSW
    python benchmarks/bench_serving.py --synthetic 2000000 --dim 64 --workdir /tmp/bench \\
        --index hnsw --requests 20000 --clients 32 --reload-every 5000
    # re-ranked vs embedding-only routes (BENCHMARKS.md, "two-stage recommender")
    python benchmarks/bench_serving.py --run RUN --data DATA --recommender REC \\
        --clients 1,2,8 --requests 2000 -k 10 --no-peer --out report.json
"""

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import synthetic_embedding

SRC = str(Path(__file__).resolve().parents[1] / "src")
KEY = "bench"


# ----------------------------------------------------------------------------- peer
def peer_app(run: str, data: str):
    """The peer: FastAPI, numpy brute force over the normalised matrix."""
    from fastapi import FastAPI, HTTPException
    from pydantic import BaseModel

    from songspace.data.dataset import Dataset
    from songspace.serving.index import normalise

    ds = Dataset.load(data)
    with np.load(Path(run) / "embeddings.npz") as z:
        avail = z["available"]
        e = normalise(z["embeddings"][avail])
    rows = np.flatnonzero(avail)
    pos = {str(t): i for i, t in enumerate(ds.tracks["track_id"].to_numpy()[rows])}
    ids = ds.tracks["track_id"].to_numpy()[rows].tolist()
    names = ds.tracks["track_name"].to_numpy()[rows].tolist()
    artists = ds.tracks["artist_name"].to_numpy()[rows].tolist()
    app = FastAPI()

    def top(q: np.ndarray, k: int, exclude: list[int]) -> list[dict]:
        scores = e @ q
        scores[exclude] = -np.inf
        part = np.argpartition(-scores, k)[:k]
        part = part[np.argsort(-scores[part])]
        return [
            {
                "track_id": ids[i],
                "track_name": names[i],
                "artist_name": artists[i],
                "score": float(scores[i]),
            }
            for i in part
        ]

    @app.get("/health")
    def health():
        return {"status": "ok"}

    @app.get("/ready")
    def ready():
        return {"status": "ready"}

    @app.get("/tracks/{track_id}/similar")
    def similar(track_id: str, k: int = 20):
        if track_id not in pos:
            raise HTTPException(404, "unknown track")
        i = pos[track_id]
        return {"results": top(e[i], k, [i])}

    class Complete(BaseModel):
        seed_track_ids: list[str]
        k: int = 20

    @app.post("/complete")
    def complete(req: Complete):
        seeds = [pos[t] for t in req.seed_track_ids if t in pos]
        if not seeds:
            raise HTTPException(404, "unknown tracks")
        q = e[seeds].mean(axis=0)
        q /= np.linalg.norm(q)
        return {"results": top(q, req.k, seeds)}

    return app


# ---------------------------------------------------------------------------- procs
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, cmd: list[str], port: int, log: Path, timeout: float = 1800):
        import httpx

        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONPATH": SRC, "SONGSPACE_API_KEY": KEY}
        self.log = open(log, "wb")  # noqa: SIM115 (closed in stop)
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited; log: {log}")
            try:
                if httpx.get(self.url + "/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            self.stop()
            raise SystemExit(f"server not ready after {timeout}s; log: {log}")
        self.startup_s = time.perf_counter() - t0

    def vmhwm_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        """CPU seconds (user + system, every thread) the server has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        self.log.close()


# ---------------------------------------------------------------------------- drive
async def drive(url: str, requests: list, clients: int, reload_every: int = 0) -> dict:
    """``requests``: (method, path, json) triples shared by ``clients`` workers."""
    import httpx

    lat: list[float] = []
    errors: list[str] = []
    reloads: list[int] = []
    it = iter(enumerate(requests))
    limits = httpx.Limits(max_connections=clients + 2, max_keepalive_connections=clients + 2)

    async def worker(c: httpx.AsyncClient) -> None:
        for i, (method, path, body) in it:
            if reload_every and i and i % reload_every == 0:
                asyncio.get_running_loop().create_task(reload(c))
            t0 = time.perf_counter()
            try:
                r = await c.request(method, path, json=body)
                ok = r.status_code < 300
                if not ok:
                    errors.append(f"{r.status_code}: {r.text[:200]}")
            except httpx.HTTPError as exc:
                errors.append(repr(exc))
            lat.append(time.perf_counter() - t0)

    async def reload(c: httpx.AsyncClient) -> None:
        r = await c.post("/admin/reload", headers={"X-API-Key": KEY}, timeout=600)
        reloads.append(r.status_code)

    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
        while reload_every and len(reloads) < (len(requests) - 1) // reload_every:
            await asyncio.sleep(0.2)
    ms = np.array(lat) * 1000
    return {
        "requests": len(requests),
        "clients": clients,
        "wall_s": round(wall, 2),
        "throughput_rps": round(len(requests) / wall, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "errors": len(errors),
        "first_errors": errors[:3],
        "reloads": reloads,
    }


def seed_lists(ds, avail: np.ndarray, n: int, length: int, seed: int) -> list[list[int]]:
    """``n`` seed lists of up to ``length`` consecutive available tracks of a random
    sequence, ending at a random position (the last is the current track); uniform random
    tracks where the dataset has no sequence long enough (the synthetic embedding)."""
    rng = np.random.default_rng(seed)
    rows = np.flatnonzero(avail)
    indptr, indices = np.asarray(ds.indptr), np.asarray(ds.indices)
    long_enough = np.flatnonzero(np.diff(indptr) >= 2)
    if len(long_enough) < 100:
        return [rows[rng.integers(len(rows), size=length)].tolist() for _ in range(n)]
    out: list[list[int]] = []
    while len(out) < n:
        s = int(long_enough[rng.integers(len(long_enough))])
        seq = indices[indptr[s] : indptr[s + 1]]
        seq = seq[avail[seq]]
        if len(seq) == 0:
            continue
        end = int(rng.integers(1, len(seq) + 1))
        out.append(seq[max(0, end - length) : end].tolist())
    return out


def workload(
    ids: list[str], seeds: list[list[int]], k: int, model: str | None = None
) -> dict[str, list]:
    """The requests of each route for the same seed lists (``ids``: track id by row):
    the embedding-only routes name ``model``; ``next`` and ``rerank`` go through the
    two-stage recommender."""
    named = {"model": model} if model else {}

    def body(p: list[int], **extra) -> dict:
        return {"seed_track_ids": [ids[j] for j in p], "k": k, **extra}

    return {
        "similar": [("GET", f"/tracks/{ids[p[-1]]}/similar?k={k}", None) for p in seeds],
        "complete": [("POST", "/complete", body(p, **named)) for p in seeds],
        "next": [("POST", "/next", body(p)) for p in seeds],
        "rerank": [("POST", "/complete", body(p)) for p in seeds],
    }


def count_candidates(
    rec_dir: str, run: Path, data: str, seeds: list[list[int]], opts: dict
) -> dict:
    """Mean / p50 / p99 number of stage-1 candidates (the rows stage 2 scores) over
    ``seeds``, with the recommender loaded in this process as the service loads it: its
    neighbour search chosen by the service's index options ``opts`` (an HNSW index: the
    one the server saved beside the run, reused)."""
    from songspace.data.dataset import Dataset
    from songspace.reports.recommender import load_recommender
    from songspace.serving.index import set_search_threads
    from songspace.serving.recommender import Recommender
    from songspace.serving.twostage import IndexChoice

    set_search_threads(1)
    ds = Dataset.load(data)
    choice = IndexChoice(opts)
    if opts["index"] != "exact":
        choice.shared = [Recommender.from_run(run, ds, store=False, **opts)]
    ranker, _ = load_recommender(rec_dir, ds, search=choice)
    depth = ranker.params["depth"]
    counts = np.array([len(ranker.stage1.candidates(np.array(s), depth)) for s in seeds])
    return {
        "queries": len(counts),
        "depth": depth,
        "indexes": choice.chosen,
        "mean": round(float(counts.mean()), 1),
        "p50": float(np.percentile(counts, 50)),
        "p99": float(np.percentile(counts, 99)),
    }


# ------------------------------------------------------------------------ synthetic
def synthetic_run(workdir: Path, n: int, dim: int, seed: int) -> tuple[Path, Path]:
    """A run directory (embeddings.npz only) and a dataset of ``n`` tracks: 1,000 cluster
    centres plus a shared 16-dimensional latent part plus small isotropic noise, so the
    vectors have the low effective rank of learned embeddings
    (:func:`_common.synthetic_embedding`)."""
    import pandas as pd

    from songspace.data.dataset import Dataset

    run, data = workdir / f"syn-{n}x{dim}", workdir / f"syn-{n}-data"
    if (run / "embeddings.npz").is_file() and (data / "manifest.json").is_file():
        return run, data
    emb = synthetic_embedding(n, dim, seed)
    run.mkdir(parents=True, exist_ok=True)
    np.savez(run / "embeddings.npz", embeddings=emb, available=np.ones(n, dtype=bool))
    ids = [f"t{i:08d}" for i in range(n)]
    tracks = pd.DataFrame(
        {
            "track_id": ids,
            "track_name": [f"Track {i}" for i in range(n)],
            "artist_id": [f"a{i // 10}" for i in range(n)],
            "artist_name": [f"Artist {i // 10}" for i in range(n)],
            "genre": [None] * n,
            "genres": [[] for _ in range(n)],
        }
    )
    ds = Dataset(
        tracks=tracks,
        indptr=np.array([0, 2], dtype=np.int64),
        indices=np.array([0, 1], dtype=np.int64),
        sequence_ids=np.array(["s0"], dtype=object),
        source={"name": "synthetic-embedding"},
    )
    ds.save(data, overwrite=True)
    return run, data


def sweep(run: Path, args: argparse.Namespace) -> None:
    """Recall@100 against exact and single-query latency of the saved HNSW index of
    ``run`` for each efSearch (one thread, in process; 500 seeded queries)."""
    from songspace.serving.index import (
        exact_search,
        file_digest,
        load_or_build,
        recall_at_k,
        set_search_threads,
    )

    set_search_threads(1)
    with np.load(run / "embeddings.npz") as z:
        vectors = z["embeddings"][z["available"]]
    idx = load_or_build(
        vectors,
        run / "serving",
        source_digest=file_digest(run / "embeddings.npz"),
        kind="hnsw",
        m=args.hnsw_m,
        ef_construction=args.ef_construction,
    )
    print(f"build {idx.stats.build_time_s:.1f}s, {idx.stats.memory_bytes / 2**20:.0f} MiB")
    q = idx.vectors[np.random.default_rng(args.seed + 7).choice(idx.n, 500, replace=False)]
    truth = exact_search(idx.vectors, q, 100)  # once, for every efSearch
    print("| efSearch | recall@100 | mean latency (ms, k=100) | p99 (ms) |")
    print("|---|---|---|---|")
    for ef in [int(x) for x in args.sweep_ef.split(",")]:
        idx.set_ef_search(ef)
        r = recall_at_k(idx.search(q, 100)[1], truth)
        lat = []
        for v in q:
            t0 = time.perf_counter()
            idx.search(v[None], 100)
            lat.append(time.perf_counter() - t0)
        ms = np.array(lat) * 1000
        print(f"| {ef} | {r:.4f} | {ms.mean():.2f} | {np.percentile(ms, 99):.2f} |", flush=True)


# ------------------------------------------------------------------------------ main
ROUTE_LABELS = {
    "similar": "GET /tracks/{id}/similar (embedding)",
    "complete": "POST /complete (embedding)",
    "next": "POST /next (re-ranked)",
    "rerank": "POST /complete (re-ranked)",
}


def markdown_table(ours: dict, routes: list[str], levels: list[int]) -> str:
    """BENCHMARKS.md's table of our server's figures: a row per route and client level,
    with the load average when the row finished."""
    lines = [
        "| route | clients | throughput | p50 / p95 / p99 (ms) | server CPU per request (ms) "
        "| errors | load average |",
        "|---|---|---|---|---|---|---|",
    ]
    for route in routes:
        for c in levels:
            r = ours.get(route if c == levels[-1] else f"{route}@{c}")
            if r is None:
                continue
            load = " ".join(f"{x:.1f}" for x in r.get("load_average", ()))
            lines.append(
                f"| {ROUTE_LABELS.get(route, route)} | {c} | {r['throughput_rps']} req/s | "
                f"{r['p50_ms']} / {r['p95_ms']} / **{r['p99_ms']}** | "
                f"{r.get('server_cpu_ms_per_request', '')} | {r['errors']} | {load} |"
            )
    return "\n".join(lines)


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--run")
    ap.add_argument("--data")
    ap.add_argument("--synthetic", type=int, default=0, help="tracks of a synthetic embedding")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--workdir", default="/tmp/songspace-bench-serving")
    ap.add_argument("--index", default="auto", choices=["auto", "exact", "hnsw"])
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument(
        "--clients",
        default="32",
        help="concurrent clients; a comma list (e.g. 1,4,32) drives our server once per value "
        "(the reloads and the peer use the largest)",
    )
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--reload-every", type=int, default=0)
    ap.add_argument(
        "--routes",
        help="comma list of similar, complete, next, rerank (default: similar,complete, "
        "and next,rerank with --recommender)",
    )
    ap.add_argument("--recommender", help="a fitted two-stage recommender directory to serve")
    ap.add_argument("--seeds", type=int, default=5, help="seed tracks per request (at most)")
    ap.add_argument(
        "--count-candidates",
        type=int,
        default=300,
        help="queries to count stage-1 candidates on, after the load (0: skip)",
    )
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--peer-requests", type=int, help="requests per route for the peer")
    ap.add_argument("--sweep-ef", help="efSearch values: recall@k and latency, then exit")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument(
        "--peer-server", nargs=3, metavar=("RUN", "DATA", "PORT"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()

    if args.peer_server:
        import uvicorn

        run, data, port = args.peer_server
        uvicorn.run(peer_app(run, data), host="127.0.0.1", port=int(port), log_level="warning")
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.synthetic:
        run, data = synthetic_run(workdir, args.synthetic, args.dim, args.seed)
    else:
        if not (args.run and args.data):
            raise SystemExit("pass --run and --data, or --synthetic N")
        run, data = Path(args.run), Path(args.data)
    with np.load(run / "embeddings.npz") as z:
        avail = z["available"]
    from songspace.data.dataset import Dataset

    ds = Dataset.load(data)
    ids = [str(t) for t in ds.tracks["track_id"].tolist()]
    if args.sweep_ef:
        sweep(run, args)
        return
    routes = (
        args.routes.split(",")
        if args.routes
        else ["similar", "complete", *(["next", "rerank"] if args.recommender else [])]
    )
    levels = sorted({int(c) for c in str(args.clients).split(",")})
    args.clients = levels[-1]
    seeds = seed_lists(ds, avail, args.requests, args.seeds, args.seed)
    model = run.name if args.recommender else None
    work = workload(ids, seeds, args.k, model)
    peer_seeds = seeds[: args.peer_requests or args.requests]
    peer_work = workload(ids, peer_seeds, args.k)
    warm = workload(
        ids,
        seed_lists(ds, avail, min(500, args.requests), args.seeds, args.seed + 1),
        args.k,
        model,
    )
    del ds

    report: dict = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores",
        "load_average_at_start": os.getloadavg(),
        "commit": _commit(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": " ".join(sys.argv),
        "tracks": len(ids),
        "dim": args.dim if args.synthetic else None,
    }
    port = free_port()
    ours_cmd = [
        sys.executable,
        "-m",
        "songspace",
        "--quiet",
        "serve",
        str(run),
        "--data",
        str(data),
        "--port",
        str(port),
        "--index",
        args.index,
        "--hnsw-m",
        str(args.hnsw_m),
        "--ef-construction",
        str(args.ef_construction),
        "--ef-search",
        str(args.ef_search),
        *(["--recommender", args.recommender] if args.recommender else []),
    ]
    t0 = time.perf_counter()
    ours = Proc(ours_cmd, port, workdir / "ours.log")
    import httpx

    served = httpx.get(ours.url + "/models").json()
    info = served["models"][0]
    report["ours"] = {"startup_s": round(time.perf_counter() - t0, 1), "index": info["index"]}
    if args.recommender:
        report["ours"]["recommender"] = served.get("recommender")
    print(f"ours ready in {ours.startup_s:.1f}s: {info['index']}", flush=True)
    print(f"recommender: {served.get('recommender')}", flush=True)
    try:
        for route in routes:
            asyncio.run(drive(ours.url, warm[route], args.clients))
            for clients in levels:
                top = clients == args.clients
                cpu0 = ours.cpu_s()
                res = asyncio.run(
                    drive(
                        ours.url,
                        work[route],
                        clients,
                        args.reload_every if route == "similar" and top else 0,
                    )
                )
                res["load_average"] = os.getloadavg()
                # the server's CPU per request: what the route costs, whatever the load
                res["server_cpu_ms_per_request"] = round(
                    1000 * (ours.cpu_s() - cpu0) / len(work[route]), 2
                )
                report["ours"][route if top else f"{route}@{clients}"] = res
                print(f"ours {route} ({clients} clients): {res}", flush=True)
        report["ours"]["vmhwm_mib"] = round(ours.vmhwm_mib(), 1)
    finally:
        ours.stop()
    if args.recommender and args.count_candidates:
        opts = {
            "index": args.index,
            "m": args.hnsw_m,
            "ef_construction": args.ef_construction,
            "ef_search": args.ef_search,
        }
        counted = count_candidates(
            args.recommender, run, str(data), seeds[: args.count_candidates], opts
        )
        report["ours"]["candidates"] = counted
        print(f"stage-1 candidates per query: {counted}", flush=True)
    peer_routes = [r for r in routes if r in ("similar", "complete")]
    if not args.no_peer and peer_routes:
        port = free_port()
        peer_cmd = [sys.executable, __file__, "--peer-server", str(run), str(data), str(port)]
        peer = Proc(peer_cmd, port, workdir / "peer.log")
        report["peer"] = {"startup_s": round(peer.startup_s, 1)}
        try:
            for route in peer_routes:
                asyncio.run(drive(peer.url, warm[route], args.clients))
                res = asyncio.run(drive(peer.url, peer_work[route], args.clients))
                report["peer"][route] = res
                print(f"peer {route}: {res}", flush=True)
            report["peer"]["vmhwm_mib"] = round(peer.vmhwm_mib(), 1)
        finally:
            peer.stop()
        for route in peer_routes:
            report[f"{route}_throughput_ratio"] = round(
                report["ours"][route]["throughput_rps"] / report["peer"][route]["throughput_rps"],
                2,
            )
    print(json.dumps(report, indent=2))
    print(markdown_table(report["ours"], routes, levels))
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

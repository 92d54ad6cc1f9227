"""Approximate nearest-neighbour libraries on the same vectors: faiss' HNSW (what
`songspace serve --index hnsw` uses) against hnswlib and USearch (the peers the serving
issue names), same graph parameters, same queries, same exact truth, in the same run.

Each library runs in its own fresh subprocess, so its peak RSS (VmHWM) is its own.
Reported per library: build time (with ``--build-threads`` threads), the serialised index
size, peak RSS, and for each efSearch the recall@k against exact inner-product search
and the single-query latency (one thread, one query at a time, as the service runs it).

The vectors are the serving benchmark's synthetic embedding (1,000 cluster centres + a
16-d latent part + noise, seeded), L2-normalised, so inner product = cosine.

    python benchmarks/bench_ann.py --n 1000000 --dim 64 --ef 64,128,256
    python benchmarks/bench_ann.py --n 20000 --libs faiss,hnswlib   # a quick look

Peers are optional: a library that is not installed is reported as skipped
(``pip install hnswlib usearch``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import _peak_rss_mb, run_worker, synthetic_embedding

LIBS = ("faiss", "hnswlib", "usearch")


def synthetic_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """The serving benchmark's embedding (:func:`_common.synthetic_embedding`), normalised."""
    emb = synthetic_embedding(n, dim, seed)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb


# ---------------------------------------------------------------------------- workers
def _build(lib: str, x: np.ndarray, m: int, efc: int, threads: int):
    if lib == "faiss":
        import faiss

        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = efc
        index.add(x)
        faiss.omp_set_num_threads(1)
        return index
    if lib == "hnswlib":
        import hnswlib

        index = hnswlib.Index(space="ip", dim=x.shape[1])
        index.init_index(max_elements=len(x), M=m, ef_construction=efc, random_seed=0)
        index.add_items(x, np.arange(len(x)), num_threads=threads)
        index.set_num_threads(1)
        return index
    from usearch.index import Index

    index = Index(ndim=x.shape[1], metric="ip", dtype="f32", connectivity=m, expansion_add=efc)
    index.add(np.arange(len(x)), x, threads=threads)
    return index


def _set_ef(lib: str, index, ef: int) -> None:
    if lib == "faiss":
        index.hnsw.efSearch = ef
    elif lib == "hnswlib":
        index.set_ef(ef)
    else:
        index.expansion_search = ef


def _search(lib: str, index, q: np.ndarray, k: int) -> np.ndarray:
    if lib == "faiss":
        return index.search(q, k)[1]
    if lib == "hnswlib":
        return index.knn_query(q, k=k, num_threads=1)[0]
    return np.atleast_2d(index.search(q, k, threads=1).keys)


def _size(lib: str, index) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "index")
        if lib == "faiss":
            import faiss

            faiss.write_index(index, path)
        elif lib == "hnswlib":
            index.save_index(path)
        else:
            index.save(path)
        return os.path.getsize(path)


def worker(lib: str, inputs: str, m: int, efc: int, threads: int, efs: list[int], k: int) -> None:
    with np.load(inputs) as z:
        x, q, truth = z["x"], z["q"], z["truth"]
    t0 = time.perf_counter()
    index = _build(lib, x, m, efc, threads)
    build = time.perf_counter() - t0
    out: dict = {"build_s": round(build, 1), "size_mb": round(_size(lib, index) / 2**20, 1)}
    rows = []
    for ef in efs:
        _set_ef(lib, index, ef)
        found = _search(lib, index, q, k)
        hits = [len(set(f) & set(t)) / k for f, t in zip(found, truth, strict=True)]
        recall = float(np.mean(hits))
        lat = []
        for v in q:
            t1 = time.perf_counter()
            _search(lib, index, v[None], k)
            lat.append(time.perf_counter() - t1)
        ms = np.array(lat) * 1000
        rows.append(
            {
                "ef": ef,
                "recall": round(recall, 4),
                "mean_ms": round(float(ms.mean()), 3),
                "p99_ms": round(float(np.percentile(ms, 99)), 3),
            }
        )
    out["sweep"] = rows
    out["peak_rss_mb"] = round(_peak_rss_mb(), 0)
    print(json.dumps(out))


def _available(lib: str) -> bool:
    import importlib.util

    return importlib.util.find_spec({"usearch": "usearch"}.get(lib, lib)) is not None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--m", type=int, default=16, help="graph degree (M / connectivity)")
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--ef", default="64,128,256", help="efSearch values")
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    args = ap.parse_args()
    efs = [int(e) for e in args.ef.split(",")]
    if args.worker:
        worker(
            args.worker, args.inputs, args.m, args.ef_construction, args.build_threads, efs, args.k
        )
        return

    inputs = Path(args.workdir) / f"ann-{args.n}x{args.dim}-s{args.seed}.npz"
    if not inputs.is_file():
        import faiss

        x = synthetic_vectors(args.n, args.dim, args.seed)
        qi = np.random.default_rng(args.seed + 7).choice(args.n, args.queries, replace=False)
        q = x[qi]
        flat = faiss.IndexFlatIP(args.dim)
        flat.add(x)
        truth = flat.search(q, args.k)[1]
        np.savez(inputs, x=x, q=q, truth=truth)
    report: dict = {
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_at_start": os.getloadavg(),
        "command": " ".join(sys.argv),
        "n": args.n,
        "dim": args.dim,
        "M": args.m,
        "ef_construction": args.ef_construction,
        "build_threads": args.build_threads,
        "k": args.k,
        "libs": {},
    }
    print(
        f"| library | build ({args.build_threads} threads) | index size | peak RSS | "
        f"efSearch | recall@{args.k} | mean / p99 latency (1 thread) |"
    )
    print("|---|---|---|---|---|---|---|")
    for lib in args.libs.split(","):
        if not _available(lib):
            report["libs"][lib] = "not installed"
            print(f"| {lib} | not installed | | | | | |", flush=True)
            continue
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            lib,
            "--inputs",
            str(inputs),
            "--m",
            str(args.m),
            "--ef-construction",
            str(args.ef_construction),
            "--ef",
            args.ef,
            "-k",
            str(args.k),
            "--build-threads",
            str(args.build_threads),
        ]
        res = run_worker(cmd, lib)
        report["libs"][lib] = res
        for i, row in enumerate(res["sweep"]):
            head = (
                f"| {lib} | {res['build_s']:,.1f} s | {res['size_mb']:,.0f} MB | "
                f"{res['peak_rss_mb']:,.0f} MB"
                if i == 0
                else "| | | |"
            )
            print(
                f"{head} | {row['ef']} | {row['recall']:.4f} | "
                f"{row['mean_ms']:.3f} / {row['p99_ms']:.3f} ms |",
                flush=True,
            )
    report["load_average_at_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

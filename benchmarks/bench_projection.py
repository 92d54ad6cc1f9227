"""The explorer's 2-D projection: songspace's UMAP (what `songspace explore --method umap`
runs, `songspace.reports.explore.project`) against openTSNE (FFT-accelerated t-SNE, the
peer the explorer issue names) and PCA, on the same embedding, in the same run.

Each method runs in its own fresh subprocess, so its wall time and peak RSS (VmHWM) are
its own (numba's JIT compilation is included in UMAP's time, as a user pays it). Reported
per method: wall time, CPU time, peak RSS, and how well the map keeps neighbours: for a
seeded sample of tracks, the share of each track's 10 nearest neighbours in the embedding
(cosine) that are among its 10 nearest on the 2-D map (``knn_kept@10``; 1 = perfect).

    python benchmarks/bench_projection.py --run runs/musig           # a trained run
    python benchmarks/bench_projection.py --synthetic 20000          # a quick look

The input is the run's ``embeddings.npz`` (available rows, L2-normalised, as the explorer
projects them). openTSNE is optional (``pip install openTSNE``, extra ``bench``); a
method whose package is missing is reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from _common import _peak_rss_mb, run_worker

METHODS = ("umap", "opentsne", "pca")
PACKAGE = {"umap": "umap", "opentsne": "openTSNE", "pca": "numpy"}


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _project(method: str, x: np.ndarray, seed: int, threads: int) -> np.ndarray:
    if method == "opentsne":
        from openTSNE import TSNE

        tsne = TSNE(
            n_components=2,
            perplexity=30,
            metric="cosine",
            n_jobs=threads,
            random_state=seed,
            negative_gradient_method="fft",
            verbose=False,
        )
        return np.asarray(tsne.fit(x), dtype=np.float32)
    from songspace.reports.explore import project

    return project(x, method, seed=seed)


def worker(method: str, inputs: str, seed: int, threads: int, out: str) -> None:
    with np.load(inputs) as z:
        x = z["x"]
    t0, c0 = time.perf_counter(), _cpu_s()
    xy = _project(method, x, seed, threads)
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    np.save(out, xy)
    rss = round(_peak_rss_mb())
    print(json.dumps({"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "peak_rss_mb": rss}))


def knn_kept(x: np.ndarray, xy: np.ndarray, sample: np.ndarray, k: int = 10) -> float:
    """Mean share of each sampled row's k cosine neighbours in ``x`` kept among its k
    Euclidean neighbours in ``xy`` (the row itself excluded from both)."""
    from scipy.spatial import cKDTree

    high = np.empty((len(sample), k + 1), dtype=np.int64)
    for s in range(0, len(sample), 256):
        scores = x[sample[s : s + 256]] @ x.T
        part = np.argpartition(-scores, k + 1, axis=1)[:, : k + 1]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1)
        high[s : s + 256] = np.take_along_axis(part, order, axis=1)
    _, low = cKDTree(xy).query(xy[sample], k=k + 1)
    kept = []
    for row, h, lo in zip(sample, high, low, strict=True):
        hs = [i for i in h if i != row][:k]
        ls = [i for i in lo if i != row][:k]
        kept.append(len(set(hs) & set(ls)) / k)
    return float(np.mean(kept))


def load_input(args: argparse.Namespace) -> tuple[np.ndarray, str]:
    if args.run:
        path = Path(args.run)
        path = path / "embeddings.npz" if path.is_dir() else path
        with np.load(path, allow_pickle=False) as z:
            vectors = np.asarray(z["embeddings"], dtype=np.float32)
            avail = z["available"] if "available" in z.files else np.ones(len(vectors), bool)
        x = vectors[np.asarray(avail, bool)]
        label = str(path)
    else:
        from bench_ann import synthetic_vectors

        x = synthetic_vectors(args.synthetic, args.dim, args.seed)
        label = f"synthetic {args.synthetic} x {args.dim} (bench_ann generator)"
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1
    return np.ascontiguousarray(x / norms, dtype=np.float32), label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--run", help="a `songspace train` run directory (or its embeddings.npz)")
    src.add_argument("--synthetic", type=int, default=20_000, help="synthetic vectors (no --run)")
    ap.add_argument("--dim", type=int, default=64, help="dimension of the synthetic vectors")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"any of {','.join(METHODS)}")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="openTSNE n_jobs")
    ap.add_argument("--sample", type=int, default=2000, help="rows checked by knn_kept@10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per method")
    ap.add_argument("--workdir", default=tempfile.gettempdir())
    ap.add_argument("--out", help="write the figures as JSON here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--xy", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.inputs, args.seed, args.threads, args.xy)
        return
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        sys.exit(f"--methods: expected some of {', '.join(METHODS)}, got {', '.join(bad)}")
    import importlib.util

    x, label = load_input(args)
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    inputs = work / f"projection-input-{os.getpid()}.npz"
    np.savez(inputs, x=x)
    sample = np.random.default_rng(args.seed).choice(len(x), min(args.sample, len(x)), False)
    report: dict = {
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "load_average_at_start": os.getloadavg(),
        "command": " ".join(sys.argv),
        "input": label,
        "shape": list(x.shape),
        "methods": {},
    }
    print(f"input: {label}, {x.shape[0]} x {x.shape[1]}")
    print("| method | wall | CPU | peak RSS | knn_kept@10 |")
    print("|---|---|---|---|---|")
    try:
        for method in methods:
            if importlib.util.find_spec(PACKAGE[method]) is None:
                report["methods"][method] = {"skipped": f"{PACKAGE[method]} is not installed"}
                print(f"| {method} | skipped: {PACKAGE[method]} is not installed | | | |")
                continue
            xy_path = work / f"projection-{method}-{os.getpid()}.npy"
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                method,
                "--inputs",
                str(inputs),
                "--xy",
                str(xy_path),
                "--seed",
                str(args.seed),
                "--threads",
                str(args.threads),
            ]
            res = run_worker(cmd, method, timeout=args.timeout)
            xy = np.load(xy_path)
            xy_path.unlink()
            res["knn_kept_at_10"] = round(knn_kept(x, xy, sample), 4)
            report["methods"][method] = res
            print(
                f"| {method} | {res['wall_s']} s | {res['cpu_s']} s | "
                f"{res['peak_rss_mb']} MB | {res['knn_kept_at_10']} |",
                flush=True,
            )
    finally:
        inputs.unlink(missing_ok=True)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

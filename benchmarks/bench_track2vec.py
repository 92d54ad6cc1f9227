"""Track2Vec training throughput: songspace (streamed CSR corpus) vs plain gensim Word2Vec.

Both train skip-gram with negative sampling with the same settings and seed on the same
corpus; the peer is ``gensim.models.Word2Vec(sentences, ...)`` with ``sentences`` an
in-memory list of lists of strings (built before its clock starts; the build time is
printed separately). Each method runs in its own fresh subprocess, with 1 and 2
workers, on the prepared MPD subset (``../shared/data/mpd-subset``, skipped with a
message when absent) and on a synthetic dataset. Reports time (best of
``--repeats``), words/s (corpus tokens x epochs / time), peak RSS (VmHWM) and the
overhead of ours vs gensim (target < 10%). With workers=1 the two embeddings must be
identical; this is checked.

    python benchmarks/bench_track2vec.py
    python benchmarks/bench_track2vec.py --epochs 5 --dim 100 --repeats 3 --synthetic 20000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb, run_worker

REPO = Path(__file__).resolve().parents[1]
MPD_SUBSET = REPO.parent / "shared" / "data" / "mpd-subset"
METHODS = ("ours", "gensim")


def prepare(args: argparse.Namespace, out: Path) -> None:
    """Write the benchmark datasets under ``out`` (runs in its own subprocess)."""
    from songspace.data.synthetic import generate

    if MPD_SUBSET.is_dir():
        from songspace.data.mpd import read_mpd

        read_mpd(MPD_SUBSET).save(out / "mpd-subset")
    generate(args.synthetic, args.synthetic, n_genres=10, seed=0).save(out / "synthetic")


def worker(args: argparse.Namespace) -> None:
    import gensim  # noqa: F401  (same imports in every worker: equal baselines)

    from songspace.data.dataset import Dataset
    from songspace.models.track2vec import Track2Vec

    ds = Dataset.load(args.input)
    params = {
        "dim": args.dim,
        "window": args.window,
        "negative": args.negative,
        "epochs": args.epochs,
        "workers": args.workers,
        "seed": 0,
    }
    build_s = 0.0
    if args.worker == "ours":
        base = _peak_rss_mb()
        t0 = time.perf_counter()
        emb = Track2Vec(**params).fit(ds).embeddings_
        seconds = time.perf_counter() - t0
    else:
        from gensim.models import Word2Vec

        base = _peak_rss_mb()
        t0 = time.perf_counter()
        bounds = ds.indptr.tolist()
        sentences = [
            [str(t) for t in ds.indices[a:b].tolist()] for a, b in itertools.pairwise(bounds)
        ]
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        w2v = Word2Vec(
            sentences,
            vector_size=args.dim,
            window=args.window,
            negative=args.negative,
            epochs=args.epochs,
            workers=args.workers,
            seed=0,
            sg=1,
            hs=0,
            min_count=1,
        )
        seconds = time.perf_counter() - t0
        emb = np.zeros((ds.n_tracks, args.dim), dtype=np.float32)
        for key in w2v.wv.index_to_key:
            emb[int(key)] = w2v.wv[key]
    peak = _peak_rss_mb()
    np.save(args.output, emb)
    print(json.dumps({"seconds": seconds, "build_s": build_s, "peak_mb": peak, "base_mb": base}))


def run(method: str, workers: int, data: Path, out: Path, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--input",
        str(data),
        "--output",
        str(out),
        "--workers",
        str(workers),
        "--epochs",
        str(args.epochs),
        "--dim",
        str(args.dim),
        "--window",
        str(args.window),
        "--negative",
        str(args.negative),
    ]
    return run_worker(cmd, method)


def bench(name: str, data: Path, tmp: Path, args: argparse.Namespace) -> None:
    from songspace.data.dataset import Dataset

    ds = Dataset.load(data)
    words = ds.n_entries * args.epochs
    print(
        f"\n{name}: {ds.n_sequences:,} sequences, {ds.n_tracks:,} tracks, "
        f"{ds.n_entries:,} tokens x {args.epochs} epochs"
    )
    del ds
    print(
        f"{'method':<10}{'workers':>8}{'time s':>9}{'words/s':>12}{'peak MB':>9}"
        f"{'base MB':>9}{'list s':>8}{'overhead':>10}"
    )
    for workers in (1, 2):
        res, emb = {}, {}
        for m in METHODS:
            runs = [run(m, workers, data, tmp / f"{m}.npy", args) for _ in range(args.repeats)]
            res[m] = min(runs, key=lambda r: r["seconds"])
            res[m]["peak_mb"] = max(r["peak_mb"] for r in runs)
            emb[m] = np.load(tmp / f"{m}.npy")
        for m in METHODS:
            r = res[m]
            over = r["seconds"] / res["gensim"]["seconds"] - 1.0
            print(
                f"{m:<10}{workers:>8}{r['seconds']:>9.2f}{words / r['seconds']:>12,.0f}"
                f"{r['peak_mb']:>9.0f}{r['base_mb']:>9.0f}{r['build_s']:>8.2f}"
                f"{'' if m == 'gensim' else f'{over:+.1%}':>10}"
            )
        if workers == 1:
            same = np.array_equal(emb["ours"], emb["gensim"])
            print(f"  workers=1 embeddings identical to gensim: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--synthetic", type=int, default=20_000, help="playlists = tracks")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="runs per method; best time kept")
    ap.add_argument("--worker", choices=METHODS)
    ap.add_argument("--input")
    ap.add_argument("--output")
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    import gensim

    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, gensim {gensim.__version__}, "
        f"{os.cpu_count()} CPUs; skip-gram, negative sampling, dim {args.dim}, "
        f"window {args.window}, negative {args.negative}, seed 0; best of {args.repeats}"
    )
    print(
        "time = fit (ours: vocabulary from counts + streamed training) vs Word2Vec(sentences) "
        "(gensim: scan + training); 'list s' = building gensim's list of lists, not in its time"
    )
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        code = (
            "import argparse, sys; from pathlib import Path; "
            f"sys.argv = ['x']; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            "import bench_track2vec as b; "
            f"b.prepare(argparse.Namespace(synthetic={args.synthetic}), Path({tmp_s!r}))"
        )
        subprocess.run([sys.executable, "-c", code], check=True)
        if (tmp / "mpd-subset").is_dir():
            bench("MPD subset", tmp / "mpd-subset", tmp, args)
        else:
            print(f"\nMPD subset: skipped, {MPD_SUBSET} not found")
        bench(f"synthetic ({args.synthetic:,} playlists)", tmp / "synthetic", tmp, args)


if __name__ == "__main__":
    main()

"""Benchmark the co-occurrence graph builder (MUSIG §3.1, SPEC §2) against two peers.

Compare mode (default): on the same input, in one run, time
  * ours   -- songspace.graph.build_cooccurrence (blocked sparse X^T X, symmetric CSR out)
  * pandas -- self-join of the distinct (sequence, track) frame on sequence, keep u < v,
              groupby-count, threshold
  * dict   -- collections.Counter over itertools.combinations of each sequence's sorted
              distinct tracks, threshold
check that all three give the same edges and weights, and print time, peak memory and
the ratio peer/ours. Every method runs in its own fresh subprocess, which reports its
own peak RSS (VmHWM of /proc/self/status, i.e. the resident high-water mark of its own
address space; getrusage ru_maxrss where /proc is absent) right after the method, and
the same high-water mark after imports and loading the input, so "delta" is the
method's own extra memory. Inputs: the real MPD subset
(../shared/data/mpd-subset, skipped with a message when absent) and, with
--synthetic N, a synthetic dataset of N playlists.

Scale mode (--scale): generate >= 1M synthetic playlists with
songspace.data.synthetic.generate, then build the graph in a fresh subprocess and
report its time and peak RSS (target: within 8 GB).

    /tmp/venv/bin/python benchmarks/bench_graph.py
    /tmp/venv/bin/python benchmarks/bench_graph.py --synthetic 20000
    /tmp/venv/bin/python benchmarks/bench_graph.py --scale --playlists 1000000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb, _ru_maxrss_mb, run_worker

REPO = Path(__file__).resolve().parents[1]
MPD_SUBSET = REPO.parent / "shared" / "data" / "mpd-subset"
METHODS = ("ours", "pandas", "dict")


# ------------------------------------------------------------------ methods
def run_ours(
    indptr: np.ndarray, indices: np.ndarray, n_tracks: int, min_weight: int, block_budget: int
):
    from songspace.graph import build_cooccurrence

    return build_cooccurrence(
        (indptr, indices, n_tracks), min_weight=min_weight, block_budget=block_budget
    )


def edges_ours(graph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import scipy.sparse as sp

    upper = sp.triu(graph.adjacency, k=1).tocoo()
    return upper.row, upper.col, upper.data


def run_pandas(indptr: np.ndarray, indices: np.ndarray, n_tracks: int, min_weight: int):
    import pandas as pd

    seq = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    pairs = pd.DataFrame({"seq": seq, "track": indices}).drop_duplicates()
    joined = pairs.merge(pairs, on="seq", suffixes=("_u", "_v"))
    joined = joined[joined["track_u"] < joined["track_v"]]
    weights = joined.groupby(["track_u", "track_v"]).size()
    return weights[weights >= min_weight]


def edges_pandas(weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u = weights.index.get_level_values(0).to_numpy()
    v = weights.index.get_level_values(1).to_numpy()
    return u, v, weights.to_numpy()


def run_dict(indptr: np.ndarray, indices: np.ndarray, n_tracks: int, min_weight: int):
    counts: Counter = Counter()
    seqs = np.split(indices, indptr[1:-1])
    for s in seqs:
        counts.update(itertools.combinations(sorted(set(s.tolist())), 2))
    return {k: w for k, w in counts.items() if w >= min_weight}


def edges_dict(weights: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not weights:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    uv = np.fromiter(itertools.chain.from_iterable(weights), dtype=np.int64, count=2 * len(weights))
    return uv[0::2], uv[1::2], np.fromiter(weights.values(), dtype=np.int64, count=len(weights))


def canonical(u, v, w) -> np.ndarray:
    """Edges as an (E, 3) int64 array sorted by (u, v)."""
    u, v, w = (np.asarray(a, dtype=np.int64) for a in (u, v, w))
    order = np.lexsort((v, u))
    return np.column_stack([u[order], v[order], w[order]])


def worker(args: argparse.Namespace) -> None:
    """Run one method on the input file in this (fresh) process; print a JSON line."""
    import pandas  # noqa: F401  (same imports in every worker: equal baselines)
    import scipy.sparse  # noqa: F401

    import songspace.graph  # noqa: F401

    z = np.load(args.input)
    indptr, indices, n_tracks = z["indptr"], z["indices"], int(z["n_tracks"])
    if args.max_playlists and args.max_playlists < len(indptr) - 1:
        indptr = indptr[: args.max_playlists + 1]
        indices = indices[: indptr[-1]]
    base = _peak_rss_mb()
    t0 = time.perf_counter()
    if args.worker == "ours":
        result = run_ours(indptr, indices, n_tracks, args.min_weight, args.block_budget)
    elif args.worker == "pandas":
        result = run_pandas(indptr, indices, n_tracks, args.min_weight)
    else:
        result = run_dict(indptr, indices, n_tracks, args.min_weight)
    seconds = time.perf_counter() - t0
    peak = _peak_rss_mb()
    ru_peak = _ru_maxrss_mb()
    edges = canonical(
        *{"ours": edges_ours, "pandas": edges_pandas, "dict": edges_dict}[args.worker](result)
    )
    if args.edges_out:
        np.save(args.edges_out, edges)
    print(
        json.dumps(
            {
                "method": args.worker,
                "seconds": seconds,
                "peak_rss_mb": peak,
                "base_rss_mb": base,
                "ru_maxrss_mb": ru_peak,
                "n_edges": len(edges),
                "n_playlists": len(indptr) - 1,
            }
        )
    )


def spawn(
    method: str,
    input_path: Path,
    args: argparse.Namespace,
    *,
    edges_out: Path | None,
    max_playlists: int = 0,
) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        method,
        "--input",
        str(input_path),
        "--min-weight",
        str(args.min_weight),
        "--block-budget",
        str(args.block_budget),
        "--max-playlists",
        str(max_playlists),
    ]
    if edges_out is not None:
        cmd += ["--edges-out", str(edges_out)]
    return run_worker(cmd, method, timeout=args.timeout)


# ------------------------------------------------------------------ modes
def save_input(path: Path, indptr, indices, n_tracks: int) -> None:
    np.savez(
        path,
        indptr=np.asarray(indptr, dtype=np.int64),
        indices=indices,
        n_tracks=np.int64(n_tracks),
    )


def compare(name: str, input_path: Path, args: argparse.Namespace, tmp: Path) -> None:
    z = np.load(input_path)
    n_seq, n_entries = len(z["indptr"]) - 1, int(z["indptr"][-1])
    print(
        f"\n== {name}: {n_seq:,} sequences, {n_entries:,} entries, "
        f"{int(z['n_tracks']):,} tracks, min_weight={args.min_weight}"
    )
    print(
        f"{'method':<8} {'playlists':>10} {'edges':>11} {'time s':>8} {'peak RSS MB':>12} "
        f"{'delta MB':>9} {'time ratio':>10} {'delta ratio':>11}"
    )
    rows = {}
    for method in METHODS:
        if method in args.skip:
            continue
        limit = args.dict_max_playlists if method == "dict" else 0
        edges_path = tmp / f"{name}-{method}.npy"
        rows[method] = res = spawn(
            method, input_path, args, edges_out=edges_path, max_playlists=limit
        )
        res["edges_path"] = edges_path
        if res["n_playlists"] < n_seq:
            # the ours reference for the same subset, so the check and ratio are like for like
            sub = spawn(
                "ours",
                input_path,
                args,
                edges_out=tmp / f"{name}-ours-sub.npy",
                max_playlists=res["n_playlists"],
            )
            sub["edges_path"] = tmp / f"{name}-ours-sub.npy"
            res["ref"] = sub
    ours = rows.get("ours")
    for method, res in rows.items():
        ref = res.get("ref", ours)
        delta = res["peak_rss_mb"] - res["base_rss_mb"]
        t_ratio = d_ratio = ""
        if ref is not None and method != "ours":
            t_ratio = f"{res['seconds'] / ref['seconds']:.1f}x"
            d_ref = ref["peak_rss_mb"] - ref["base_rss_mb"]
            d_ratio = f"{delta / d_ref:.1f}x" if d_ref >= 10 else "n/a"
        print(
            f"{method:<8} {res['n_playlists']:>10,} {res['n_edges']:>11,} "
            f"{res['seconds']:>8.2f} {res['peak_rss_mb']:>12.0f} {delta:>9.0f} "
            f"{t_ratio:>10} {d_ratio:>11}"
        )
        if "ref" in res:
            r = res["ref"]
            print(
                f"{'  ours':<8} {r['n_playlists']:>10,} {r['n_edges']:>11,} "
                f"{r['seconds']:>8.2f} {r['peak_rss_mb']:>12.0f} "
                f"{r['peak_rss_mb'] - r['base_rss_mb']:>9.0f}   (same subset, ratio base)"
            )
    for method, res in rows.items():
        ref = res.get("ref", ours)
        if ref is None or method == "ours":
            continue
        same = np.array_equal(np.load(res["edges_path"]), np.load(ref["edges_path"]))
        subset = f" (first {res['n_playlists']:,} playlists)" if "ref" in res else ""
        verdict = "identical edges and weights" if same else "DIFFERENT"
        print(f"check {method} == ours{subset}: {verdict}")
        if not same:
            raise SystemExit(f"{method} disagrees with ours")
    if "dict" in rows and "ref" in rows["dict"]:
        print(
            f"note: the dict peer ran on the first {rows['dict']['n_playlists']:,} "
            "playlists only (--dict-max-playlists); its ratio is against ours on that subset"
        )


def prepare(args: argparse.Namespace) -> None:
    """Write the input CSR arrays to ``args.input`` (own subprocess); print a JSON line."""
    t0 = time.perf_counter()
    if args.prepare == "mpd":
        from songspace.data.mpd import read_mpd

        ds = read_mpd(MPD_SUBSET)
    else:
        from songspace.data.synthetic import generate

        ds = generate(args.playlists, args.tracks, seed=args.seed)
    seconds = time.perf_counter() - t0
    save_input(Path(args.input), ds.indptr, ds.indices, ds.n_tracks)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "n_entries": ds.n_entries,
                "tracks_used": int(np.count_nonzero(ds.occurrences())),
            }
        )
    )


def spawn_prepare(
    kind: str, path: Path, args: argparse.Namespace, playlists: int, tracks: int
) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--prepare",
        kind,
        "--input",
        str(path),
        "--playlists",
        str(playlists),
        "--tracks",
        str(tracks),
        "--seed",
        str(args.seed),
    ]
    return run_worker(cmd, f"preparing {kind}", timeout=args.timeout)


def scale(args: argparse.Namespace, tmp: Path) -> None:
    input_path = tmp / "scale.npz"
    info = spawn_prepare("synthetic", input_path, args, args.playlists, args.tracks)
    print(
        f"\n== scale: synthetic generate(n_playlists={args.playlists:,}, "
        f"n_tracks={args.tracks:,}, seed={args.seed}) in {info['seconds']:.1f}s: "
        f"{info['n_entries']:,} entries, {info['tracks_used']:,} tracks used"
    )
    res = spawn("ours", input_path, args, edges_out=None)
    print(
        f"build_cooccurrence(min_weight={args.min_weight}, block_budget={args.block_budget:,}): "
        f"{res['seconds']:.1f}s, {res['n_edges']:,} edges; peak RSS {res['peak_rss_mb']:,.0f} MB "
        f"(input loaded: {res['base_rss_mb']:,.0f} MB; the build itself "
        f"+{res['peak_rss_mb'] - res['base_rss_mb']:,.0f} MB); "
        f"target 8 GB: {'met' if res['peak_rss_mb'] <= 8192 else 'MISSED'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--min-weight", type=int, default=2)
    ap.add_argument("--block-budget", type=int, default=20_000_000)
    ap.add_argument(
        "--synthetic",
        type=int,
        default=0,
        metavar="N",
        help="also compare on a synthetic dataset of N playlists",
    )
    ap.add_argument("--synthetic-tracks", type=int, default=20_000)
    ap.add_argument("--no-mpd", action="store_true", help="skip the MPD subset")
    ap.add_argument("--skip", nargs="*", default=[], choices=METHODS)
    ap.add_argument(
        "--dict-max-playlists",
        type=int,
        default=0,
        help="run the dict peer on the first N playlists only (0 = all)",
    )
    ap.add_argument("--scale", action="store_true", help="scale mode (see module docstring)")
    ap.add_argument("--playlists", type=int, default=1_000_000)
    ap.add_argument("--tracks", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=1800)
    # internal: one method in a fresh process
    ap.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--edges-out", help=argparse.SUPPRESS)
    ap.add_argument("--max-playlists", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--prepare", choices=("mpd", "synthetic"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.prepare:
        prepare(args)
        return
    if args.worker:
        worker(args)
        return

    import scipy

    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}"
        f", {os.cpu_count()} CPUs; memory = peak RSS (VmHWM) of each method's own process, "
        "delta = that peak minus the peak after imports and loading the input"
    )
    with tempfile.TemporaryDirectory(prefix="bench_graph-") as tmpdir:
        tmp = Path(tmpdir)
        if args.scale:
            scale(args, tmp)
            return
        if not args.no_mpd:
            if MPD_SUBSET.is_dir():
                spawn_prepare("mpd", tmp / "mpd.npz", args, 0, 0)
                compare("MPD subset", tmp / "mpd.npz", args, tmp)
            else:
                print(f"\n== MPD subset: skipped, not found at {MPD_SUBSET}")
        if args.synthetic:
            spawn_prepare(
                "synthetic", tmp / "synthetic.npz", args, args.synthetic, args.synthetic_tracks
            )
            compare(f"synthetic ({args.synthetic:,} playlists)", tmp / "synthetic.npz", args, tmp)


if __name__ == "__main__":
    main()

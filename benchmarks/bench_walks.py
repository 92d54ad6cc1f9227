"""Benchmark node2vec walk generation: vectorised ``random_walks`` vs ``walks_reference``.

Both run on the same weighted co-occurrence graph with the same p, q and walk
length; the input is the real MPD subset graph (``../shared/data/mpd-subset``,
``--min-weight``, default 3; skipped with a message when absent) and/or, with
``--synthetic N``, the graph of a synthetic dataset of N playlists. ``random_walks``
starts ``--walks-per-node`` walks from every node with an edge; the per-walk Python
reference is slow, so it runs on the first ``--reference-walks`` of those walks
(a prefix of the same start list) and the comparison is in steps per second
(steps = walks x (walk_length - 1)). Prints time, steps/s, the ratio (target
>= 20x) and this process's peak RSS (measured after both runs).

    /tmp/venv/bin/python benchmarks/bench_walks.py
    /tmp/venv/bin/python benchmarks/bench_walks.py --p 0.5 --q 2 --synthetic 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb
from songspace.graph.cooccurrence import build_cooccurrence
from songspace.graph.walks import random_walks, walks_reference

REPO = Path(__file__).resolve().parents[1]
MPD_SUBSET = REPO.parent / "shared" / "data" / "mpd-subset"


def bench(label: str, adjacency, args: argparse.Namespace) -> None:
    starts = np.flatnonzero(np.diff(adjacency.indptr))
    n_edges = adjacency.nnz // 2
    print(f"\n== {label}: {adjacency.shape[0]} nodes, {len(starts)} with edges, {n_edges} edges")
    print(
        f"   p={args.p} q={args.q} walk_length={args.walk_length} "
        f"walks_per_node={args.walks_per_node} seed={args.seed}"
    )
    kw = dict(walk_length=args.walk_length, p=args.p, q=args.q, seed=args.seed)

    t0 = time.perf_counter()
    w = random_walks(adjacency, walks_per_node=args.walks_per_node, start_nodes=starts, **kw)
    t_ours = time.perf_counter() - t0
    steps_ours = np.count_nonzero(w[:, 1:] >= 0)

    ref_starts = np.tile(starts, args.walks_per_node)[: args.reference_walks]
    t0 = time.perf_counter()
    r = walks_reference(adjacency, walks_per_node=1, start_nodes=ref_starts, **kw)
    t_ref = time.perf_counter() - t0
    steps_ref = np.count_nonzero(r[:, 1:] >= 0)

    rate_ours, rate_ref = steps_ours / t_ours, steps_ref / t_ref
    print(f"   {'method':<16}{'walks':>10}{'steps':>12}{'time s':>10}{'steps/s':>14}")
    print(f"   {'random_walks':<16}{len(w):>10}{steps_ours:>12}{t_ours:>10.3f}{rate_ours:>14,.0f}")
    print(f"   {'walks_reference':<16}{len(r):>10}{steps_ref:>12}{t_ref:>10.3f}{rate_ref:>14,.0f}")
    print(
        f"   ratio (steps/s ours / reference): {rate_ours / rate_ref:.1f}x (target >= 20x); "
        f"reference on the first {len(r)} of the {len(w)} walks"
    )
    print(f"   walk array: {w.nbytes / 2**20:.1f} MiB ({w.dtype})")
    print(f"   peak RSS so far: {_peak_rss_mb():.0f} MB")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--min-weight", type=int, default=3)
    ap.add_argument("--walk-length", type=int, default=20)
    ap.add_argument("--walks-per-node", type=int, default=10)
    ap.add_argument("--p", type=float, default=1.0)
    ap.add_argument("--q", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-walks", type=int, default=1000)
    ap.add_argument("--synthetic", type=int, default=0, help="also a synthetic dataset of N")
    ap.add_argument("--no-mpd", action="store_true")
    args = ap.parse_args(argv)

    if not args.no_mpd:
        if MPD_SUBSET.exists():
            from songspace.data.mpd import read_mpd

            ds = read_mpd(MPD_SUBSET)
            g = build_cooccurrence(ds, min_weight=args.min_weight)
            bench(
                f"MPD subset ({ds.n_sequences} playlists, min_weight {g.min_weight})",
                g.adjacency,
                args,
            )
        else:
            print(f"MPD subset not found at {MPD_SUBSET}: skipped (use --synthetic N)")
    if args.synthetic:
        from songspace.data.synthetic import generate

        ds = generate(args.synthetic, max(1000, args.synthetic // 2), seed=args.seed)
        g = build_cooccurrence(ds, min_weight=args.min_weight)
        bench(
            f"synthetic ({args.synthetic} playlists, min_weight {g.min_weight})", g.adjacency, args
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

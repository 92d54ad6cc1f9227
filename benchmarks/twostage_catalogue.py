"""The large synthetic catalogue of the two-stage serving benchmark (issue 30 part 6):
a dataset, an ALS run and a fitted recommender, each step skipped when its output exists
(resumable), written under ``WORK``:

- ``WORK/data``: ``synthetic.generate`` with ``--tracks`` catalogue tracks drawn by
  ``--playlists`` short playlists (mean ``--mean-length``; ``compact``: the tracks no
  playlist drew are dropped, so about 1.95M of 2.3M remain), a flatter popularity law
  (exponent 0.7) and a sequential signal (0.5): short playlists keep the co-occurrence
  counts of item-kNN (pairs grow with the square of a playlist's length) inside a 24 GB
  machine while nearly every track occurs;
- ``WORK/als``: ``songspace train als`` on the 98/1/1 split (``--test-fraction 0.01``);
- ``WORK/als/serving``: the HNSW index `songspace serve` builds for it (faiss, ``--hnsw-m``,
  ``--ef-construction``), saved where the service reuses it;
- ``WORK/rec``: ``fit_recommender`` with that index as the embedding's neighbour search
  (the search the service uses above ``--exact-max``), SKNN and item-kNN at their
  defaults, depth ``--depth``.

Then ``bench_serving.py --run WORK/als --data WORK/data --recommender WORK/rec --index hnsw
--hnsw-m 16 --ef-construction 80`` serves and measures it (BENCHMARKS.md).

    python benchmarks/twostage_catalogue.py /work/runs/servebench/cat2m
"""

import argparse
import json
import resource
import time
from pathlib import Path


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("work")
    ap.add_argument("--tracks", type=int, default=2_300_000)
    ap.add_argument("--playlists", type=int, default=1_000_000)
    ap.add_argument("--mean-length", type=float, default=8.0)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--hnsw-m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=80)
    ap.add_argument("--ef-search", type=int, default=128)
    ap.add_argument("--depth", type=int, default=200)
    ap.add_argument("--next-song-queries", type=int, default=600)
    ap.add_argument("--completion-queries", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2, help="threads of the HNSW build")
    ap.add_argument(
        "--rankers-config",
        help="stage 1's kNN rankers (a `songspace tune-rankers` file; default SKNN and "
        "item-kNN at their defaults)",
    )
    ap.add_argument("--rec", help="the recommender's directory (default WORK/rec)")
    args = ap.parse_args()

    from songspace.data.dataset import Dataset
    from songspace.data.synthetic import generate
    from songspace.models.train import train_model
    from songspace.reports.recommender import fit_recommender
    from songspace.serving.index import set_search_threads
    from songspace.serving.recommender import Recommender
    from songspace.serving.twostage import IndexChoice

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data, run = work / "data", work / "als"
    rec = Path(args.rec) if args.rec else work / "rec"
    t0 = time.perf_counter()
    if not (data / "manifest.json").is_file():
        ds = generate(
            args.playlists,
            args.tracks,
            mean_length=args.mean_length,
            min_length=5,
            max_length=40,
            popularity_exponent=0.7,
            skips=False,
            timestamps=False,
            compact=True,
            sequential=0.5,
            seed=0,
        )
        ds.save(data)
        print(
            f"data: {ds.n_tracks} tracks, {ds.n_sequences} sequences, "
            f"{len(ds.indices)} entries, {time.perf_counter() - t0:.0f}s",
            flush=True,
        )
    if not (run / "embeddings.npz").is_file():
        t = time.perf_counter()
        params = {"dim": args.dim, "iterations": args.iterations}
        train_model("als", data, run, params=params, seed=0, test_fraction=0.01)
        print(f"als: {time.perf_counter() - t:.0f}s", flush=True)
    opts = {
        "index": "hnsw",
        "m": args.hnsw_m,
        "ef_construction": args.ef_construction,
        "ef_search": args.ef_search,
    }
    set_search_threads(args.threads)
    t = time.perf_counter()
    ds = Dataset.load(data)
    model = Recommender.from_run(run, ds, **opts)
    print(f"index: {model.index.stats.describe()} ({time.perf_counter() - t:.0f}s)", flush=True)
    set_search_threads(1)
    if not (rec / "recommender.json").is_file():
        t = time.perf_counter()
        choice = IndexChoice(opts, [model])
        params = {
            "depth": args.depth,
            "num_threads": 1,
            "next_song_queries": args.next_song_queries,
            "completion_queries": args.completion_queries,
        }
        fitted = fit_recommender(
            data,
            {"als": run},
            rec,
            test_fraction=0.01,
            params=params,
            search=choice,
            rankers_config=args.rankers_config,
        )
        print(
            f"recommender: {time.perf_counter() - t:.0f}s, search {choice.chosen}, "
            f"{json.dumps(fitted.description['training']['seconds'])}",
            flush=True,
        )
    print(f"done in {time.perf_counter() - t0:.0f}s, peak {peak_mib():.0f} MiB", flush=True)


if __name__ == "__main__":
    main()

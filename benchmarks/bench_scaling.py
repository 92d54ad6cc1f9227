"""Scaling benchmarks (issue 17): data-parallel GraphSAGE, Track2Vec corpus modes, tuning workers.

Three parts, each comparing with its named peer in the same run, every measured run in its
own fresh subprocess (time, ratio, peak memory VmHWM):

- ``graphsage``: GraphSAGE with 1 process (``songspace train``) vs 2 data-parallel processes
  (``--nproc 2``, gloo over 127.0.0.1) on the same synthetic dataset and split; reports the
  time per epoch (the pass over the anchors; early stopping off), the peak RSS of the worker
  processes (the largest rank's VmHWM, from getrusage of the children), the total training
  time (with data preparation, network set-up, validation and inference), and the completion
  HR of both models on the same protocol with a paired t-test.
- ``track2vec``: gensim ``corpus_file`` mode vs the streamed iterator at 1 and 2 workers
  (same settings and seed); words/s and the same-genre share of the 10 nearest neighbours
  (what both learn). The corpus file is written once before the clocks start (its
  write time is reported separately) and then read from the cache.
- ``tune``: trials completed in the same wall time by 1 and by 2 tuning workers sharing one
  study on a throwaway PostgreSQL server on loopback (dev.py's ``start_postgres``).

    python benchmarks/bench_scaling.py graphsage --playlists 4000 --tracks 3000 --epochs 4
    python benchmarks/bench_scaling.py track2vec --playlists 20000 --tracks 20000
    python benchmarks/bench_scaling.py tune --seconds 60
"""

from __future__ import annotations

import argparse
import atexit
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb, run_worker

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable


def _scratch() -> Path:
    """A temporary directory removed when this script exits."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-scaling-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return tmp


def _children_peak_mb() -> float:
    """Largest peak RSS among waited-for child processes (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


# ------------------------------------------------------------------------- graphsage
def gs_worker(a: argparse.Namespace) -> None:
    import torch

    from songspace.models.train import train_model

    if a.threads:  # one process: torch's intra-op threads (--nproc sets cpu_count // N)
        torch.set_num_threads(a.threads)

    params = {
        "dim": a.dim,
        "hidden": a.hidden,
        "epochs": a.epochs,
        "patience": 0,
        "batch_size": a.batch_size,
        "fanouts": "10,5",
    }
    # Epoch time = the training pass over the anchors (no validation, preparation or
    # inference): one process times EpochLoop.train_epoch; the data-parallel loop records
    # rank 0's epoch time in history_[i]["seconds"].
    epoch_times: list[float] = []
    if a.nproc == 1:
        from songspace.models.graphsage import EpochLoop

        plain = EpochLoop.train_epoch

        def timed(self, *args, **kwargs):
            t0 = time.perf_counter()
            out = plain(self, *args, **kwargs)
            epoch_times.append(time.perf_counter() - t0)
            return out

        EpochLoop.train_epoch = timed  # type: ignore[method-assign]
    m = train_model(
        "graphsage", a.input, a.out, params=params, seed=0, test_fraction=0.05, nproc=a.nproc
    )
    if a.nproc > 1:
        epoch_times = [h["seconds"] for h in m.history_]
    peak = max(_peak_rss_mb(), _children_peak_mb())
    print(
        json.dumps(
            {
                "nproc": a.nproc,
                "threads": max(1, (os.cpu_count() or 1) // a.nproc)
                if a.nproc > 1
                else torch.get_num_threads(),
                "time": m.training_time_,
                "epochs": len(m.history_),
                "per_epoch": sum(epoch_times) / len(epoch_times),
                "epoch_times": epoch_times,
                "peak_mb": peak,
            }
        )
    )


def gs_eval(a: argparse.Namespace) -> None:
    from songspace.data.dataset import Dataset
    from songspace.evaluation.embeddings import load_embeddings
    from songspace.evaluation.protocol import make_protocol
    from songspace.evaluation.results import compare
    from songspace.evaluation.suite import evaluate

    ds = Dataset.load(a.input)
    protocol = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05), min_tracks=a.min_tracks)
    res = []
    for out in a.outs:
        emb = load_embeddings(Path(out) / "embeddings.npz", ds, name=Path(out).name)
        res.append(evaluate(protocol, emb, families=["completion"]))
    c = compare(res[0], res[1], metrics=["completion_hr"])["completion_hr"]
    print(json.dumps({"hr": [c.value_a, c.value_b], "n": c.n, "t": c.t, "p": c.p}))


def graphsage(a: argparse.Namespace) -> None:
    tmp = _scratch()
    ds = tmp / "ds"
    code = (
        "from songspace.data.synthetic import generate;"
        f"generate({a.playlists}, {a.tracks}, n_genres=10, seed=0).save({str(ds)!r})"
    )
    subprocess.run([PY, "-c", code], check=True)
    rows = []
    # (processes, torch threads per process; 0 = torch's default, all cores)
    for nproc, threads in ((1, 0), (1, 1), (2, 0)):
        out = tmp / f"nproc{nproc}-t{threads}"
        cmd = [
            PY,
            __file__,
            "gs-worker",
            "--input",
            str(ds),
            "--out",
            str(out),
            "--nproc",
            str(nproc),
            "--threads",
            str(threads),
            "--epochs",
            str(a.epochs),
            "--dim",
            str(a.dim),
            "--hidden",
            str(a.hidden),
            "--batch-size",
            str(a.batch_size),
        ]
        rows.append(run_worker(cmd, f"graphsage nproc={nproc}"))
        print(json.dumps(rows[-1]), flush=True)
    # completion HR of the default one-process model vs the two-process model
    ev = run_worker(
        [
            PY,
            __file__,
            "gs-eval",
            "--input",
            str(ds),
            "--min-tracks",
            str(a.min_tracks),
            "--outs",
            str(tmp / "nproc1-t0"),
            str(tmp / "nproc2-t0"),
        ],
        "evaluation",
    )
    print(
        f"\nGraphSAGE, synthetic {a.playlists:,} playlists x {a.tracks:,} tracks, "
        f"{a.epochs} epochs, batch {a.batch_size}, dim {a.dim}, hidden {a.hidden}; "
        f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| processes | torch threads each | s/epoch | vs 1 process (default threads) "
        "| total training (s) | peak RSS per process (MB) | completion HR |"
    )
    print("|---|---|---|---|---|---|---|")
    hrs = {0: ev["hr"][0], 2: ev["hr"][1]}
    for i, r in enumerate(rows):
        speed = rows[0]["per_epoch"] / r["per_epoch"]
        hr = f"{hrs[i]:.4f}" if i in hrs else "-"
        print(
            f"| {r['nproc']} | {r['threads']} | {r['per_epoch']:.3f} | {speed:.2f}x "
            f"| {r['time']:.1f} | {r['peak_mb']:.0f} | {hr} |"
        )
    print(
        f"paired t-test on completion HR (n={ev['n']} playlists): t={ev['t']:.3f}, p={ev['p']:.3g}"
    )


# ------------------------------------------------------------------------- track2vec
def t2v_worker(a: argparse.Namespace) -> None:
    import numpy as np

    from songspace.data.dataset import Dataset
    from songspace.models.track2vec import Track2Vec
    from songspace.testing.models import same_genre_share

    ds = Dataset.load(a.input)
    fixed = {"dim": a.dim, "epochs": a.epochs, "workers": a.workers, "corpus": a.mode, "seed": 0}
    m = Track2Vec(**{**Track2Vec.preset_params("paper"), **fixed})
    t0 = time.perf_counter()
    m.fit(ds)
    dt = time.perf_counter() - t0
    peak = _peak_rss_mb()  # before the (quadratic) quality check below
    sample = np.random.default_rng(0).choice(ds.n_tracks, min(3000, ds.n_tracks), replace=False)
    share, chance = same_genre_share(
        m.embeddings_[sample],
        m.available_[sample],
        ds.tracks["genre"].to_numpy(dtype=object)[sample],
    )
    print(
        json.dumps(
            {
                "mode": a.mode,
                "workers": a.workers,
                "time": dt,
                "words_per_s": len(ds.indices) * a.epochs / dt,
                "peak_mb": peak,
                "genre_share": share,
                "chance": chance,
            }
        )
    )


def track2vec(a: argparse.Namespace) -> None:
    tmp = _scratch()
    ds = tmp / "ds"
    os.environ["SONGSPACE_CACHE_DIR"] = str(tmp / "cache")
    code = (
        "import time;from songspace.data.synthetic import generate;"
        "from songspace.models.track2vec import corpus_file;"
        f"d = generate({a.playlists}, {a.tracks}, n_genres=10, seed=0); d.save({str(ds)!r});"
        "t = time.perf_counter(); p = corpus_file(d); "
        "print(time.perf_counter() - t, p.stat().st_size, len(d.indices))"
    )
    out = subprocess.run([PY, "-c", code], check=True, capture_output=True, text=True)
    write_s, size, entries = out.stdout.split()
    rows = []
    for workers in (1, 2):
        for mode in ("iterator", "file"):
            best = None
            for _ in range(a.repeats):
                cmd = [
                    PY,
                    __file__,
                    "t2v-worker",
                    "--input",
                    str(ds),
                    "--mode",
                    mode,
                    "--workers",
                    str(workers),
                    "--epochs",
                    str(a.epochs),
                    "--dim",
                    str(a.dim),
                ]
                r = run_worker(cmd, f"track2vec {mode} workers={workers}")
                best = r if best is None or r["time"] < best["time"] else best
            rows.append(best)
            print(json.dumps(best), flush=True)
    print(
        f"\nTrack2Vec, synthetic {a.playlists:,} playlists x {a.tracks:,} tracks "
        f"({int(entries):,} entries), dim {a.dim}, {a.epochs} epochs, best of {a.repeats}; "
        f"{platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}"
    )
    print(f"corpus file written once: {float(write_s):.2f} s, {int(size) / 1e6:.1f} MB")
    print(
        "| workers | mode | time (s) | words/s | file/iterator | peak RSS (MB) | genre share@10 |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        it = next(x for x in rows if x["workers"] == r["workers"] and x["mode"] == "iterator")
        print(
            f"| {r['workers']} | {r['mode']} | {r['time']:.2f} | {r['words_per_s']:,.0f} | "
            f"{it['time'] / r['time']:.2f}x | {r['peak_mb']:.0f} "
            f"| {r['genre_share']:.3f} |"
        )


# ------------------------------------------------------------------------------ tune
TUNE_WORKER = """
import json, sys, time
from songspace.tuning import tune
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
tune("track2vec", args.pop("dataset"), objectives=["hit_rate"], **args)
print(json.dumps({"wall": time.perf_counter() - t0}))
"""


def tune_bench(a: argparse.Namespace) -> None:
    spec = importlib.util.spec_from_file_location("songspace_dev", REPO / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(dev)
    env, stop = dev.start_postgres()
    try:
        url = env.get(dev.PG_ENV)
        if url is None:
            sys.exit(f"no PostgreSQL server could be started: {env.get(dev.PG_SKIP_ENV)}")
        tmp = _scratch()
        ds = tmp / "ds"
        code = (
            "from songspace.data.synthetic import generate;"
            f"generate({a.playlists}, {a.tracks}, seed=3).save({str(ds)!r})"
        )
        subprocess.run([PY, "-c", code], check=True)
        counts = {}
        for n in (1, 2):
            study = f"bench-{n}-{uuid.uuid4().hex[:6]}"
            args = {
                "dataset": str(ds),
                "storage": url,
                "study": study,
                "trials": 10_000,
                "timeout": a.seconds,
                "params": {"epochs": 5, "window": 5, "negative": 5},
                "heldout_fraction": 0.1,
                "min_tracks": 10,
                "startup_trials": 5,
                "budget_factor": None,
            }
            t0 = time.perf_counter()
            procs = [
                subprocess.Popen(
                    [PY, "-c", TUNE_WORKER, json.dumps(args)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(n)
            ]
            for p in procs:
                _, err = p.communicate()
                if p.returncode != 0:
                    sys.exit(f"tune worker failed:\n{err[-2000:]}")
            wall = time.perf_counter() - t0
            import optuna

            from songspace.tuning.storage import open_storage

            st = optuna.load_study(study_name=study, storage=open_storage(url, heartbeat=None))
            done = sum(t.state.name == "COMPLETE" for t in st.get_trials(deepcopy=False))
            counts[n] = (done, wall)
            print(json.dumps({"workers": n, "complete": done, "wall": wall}), flush=True)
        print(
            f"\nTuning track2vec (5 epochs) on synthetic {a.playlists:,} x {a.tracks:,}, "
            f"one PostgreSQL on loopback, --timeout {a.seconds:g} s per worker; "
            f"{platform.node()}, {os.cpu_count()} cores, "
            f"{time.strftime('%Y-%m-%d')}"
        )
        print("| workers | trials completed | wall (s) | trials/min | vs 1 worker |")
        print("|---|---|---|---|---|")
        for n, (done, wall) in counts.items():
            print(
                f"| {n} | {done} | {wall:.0f} | {60 * done / wall:.1f} | "
                f"{(done / wall) / (counts[1][0] / counts[1][1]):.2f}x |"
            )
    finally:
        stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("graphsage")
    g.add_argument("--playlists", type=int, default=4000)
    g.add_argument("--tracks", type=int, default=3000)
    g.add_argument("--epochs", type=int, default=4)
    g.add_argument("--dim", type=int, default=64)
    g.add_argument("--hidden", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=512)
    g.add_argument("--min-tracks", type=int, default=10)
    w = sub.add_parser("gs-worker")
    for opt in ("--input", "--out"):
        w.add_argument(opt, required=True)
    for opt in ("--nproc", "--threads", "--epochs", "--dim", "--hidden", "--batch-size"):
        w.add_argument(opt, type=int, required=True)
    e = sub.add_parser("gs-eval")
    e.add_argument("--input", required=True)
    e.add_argument("--outs", nargs=2, required=True)
    e.add_argument("--min-tracks", type=int, default=10)
    t = sub.add_parser("track2vec")
    t.add_argument("--playlists", type=int, default=20000)
    t.add_argument("--tracks", type=int, default=20000)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--dim", type=int, default=64)
    t.add_argument("--repeats", type=int, default=2)
    tw = sub.add_parser("t2v-worker")
    tw.add_argument("--input", required=True)
    tw.add_argument("--mode", required=True)
    for opt in ("--workers", "--epochs", "--dim"):
        tw.add_argument(opt, type=int, required=True)
    u = sub.add_parser("tune")
    u.add_argument("--seconds", type=float, default=60.0)
    u.add_argument("--playlists", type=int, default=300)
    u.add_argument("--tracks", type=int, default=400)
    a = ap.parse_args()
    {
        "graphsage": graphsage,
        "gs-worker": gs_worker,
        "gs-eval": gs_eval,
        "track2vec": track2vec,
        "t2v-worker": t2v_worker,
        "tune": tune_bench,
    }[a.cmd](a)


if __name__ == "__main__":
    main()

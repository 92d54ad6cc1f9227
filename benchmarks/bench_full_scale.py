"""The full MPD-shaped pipeline, stage by stage, with the stage's peer where one exists.

generate (``--preset mpd`` at ``--scale``) -> write MPD JSON slices -> read them with the
standard ``json`` (peer) and with orjson -> ``songspace prepare mpd`` -> co-occurrence
graph (``min_weight`` 2) and bigrams -> the same graph by a pandas self-join on a share
that fits (peer) -> ``songspace train track2vec`` -> plain gensim Word2Vec on the same
sequences (peer) -> ``songspace train graphsage`` (``steps_per_epoch``) ->
``songspace evaluate`` (both models plus the random and popularity baselines); then,
unless ``--no-genres``, ``prepare mpd --artists`` with the generator's artist genres (the
MPD has none; users join an artist table such as ``data_w_genres.csv``) and GraphSAGE with
MUSIG's genre and popularity features, evaluated on the same protocol.

Every stage runs in its own fresh subprocess, which reports its wall time and its own
peak RSS (VmHWM); CLI stages run the CLI in-process in that subprocess, so their figures
are what a user's command costs (including imports and the dataset load). The table is
printed and written, with the evaluation summary (``<work>/eval/summary.json``), to
``<work>/full_scale.json``.

    python benchmarks/bench_full_scale.py --scale 0.05 --work /tmp/fullscale
    python benchmarks/bench_full_scale.py --playlists 1000000 --work /data/fullscale

Targets (issue 16) are for scale 1.0; at a smaller scale the table says what was measured
at that size and a linear extrapolation is printed separately, labelled as such.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
#: (stage, target seconds at full size, target peak MB) from issue 16.
TARGETS = {
    "prepare": (15 * 60, 8 * 1024),
    "graph+bigrams": (3 * 60, 16 * 1024),
    "track2vec": (45 * 60, 16 * 1024),
    "graphsage": (60 * 60, 16 * 1024),
    "evaluate": (15 * 60, 16 * 1024),
}


# ------------------------------------------------------------------ workers
def _cli(argv: list[str]) -> None:
    """Run the songspace CLI in this process (so VmHWM is the command's own)."""
    from songspace.cli import app

    try:
        app(argv, standalone_mode=False)
    except SystemExit as exc:  # typer exits 0 on success
        if exc.code not in (0, None):
            raise


def worker(args: argparse.Namespace) -> None:
    w = Path(args.work)
    info: dict = {}
    t0 = time.perf_counter()
    if args.worker == "generate":
        from songspace.data.mpd import write_slices
        from songspace.data.synthetic import generate_preset

        ds = generate_preset("mpd", scale=args.scale, seed=0)
        info["generate_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        write_slices(ds, w / "slices", seed=0, progress=_stderr_progress())
        info["write_s"] = time.perf_counter() - t1
        info["artists_with_genre"] = _write_artist_genres(ds, w / "artists.csv")
        info.update(
            playlists=ds.n_sequences,
            entries=ds.n_entries,
            tracks=ds.n_tracks,
            artists=int(ds.tracks["artist_id"].nunique()),
        )
    elif args.worker == "artists":  # for a work folder generated before artists.csv existed
        from songspace.data.synthetic import generate_preset

        ds = generate_preset("mpd", scale=args.scale, seed=0)
        info["artists_with_genre"] = _write_artist_genres(ds, w / "artists.csv")
    elif args.worker in ("read-json", "read-orjson"):
        from songspace.data.mpd import read_mpd

        ds = read_mpd(_peer_slices(w, args.peer_slices), parser=args.worker.removeprefix("read-"))
        info.update(entries=ds.n_entries, playlists=ds.n_sequences)
    elif args.worker == "graph":
        from songspace.data.dataset import Dataset
        from songspace.graph import build_cooccurrence
        from songspace.graph.bigrams import bigram_counts

        ds = Dataset.load(w / "ds")
        t0 = time.perf_counter()  # the load is not the graph's
        g = build_cooccurrence(ds, min_weight=2)
        info["graph_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        b = bigram_counts(ds)
        info["bigrams_s"] = time.perf_counter() - t1
        info.update(edges=int(g.adjacency.nnz // 2), bigram_pairs=int(b.nnz))
    elif args.worker in ("share-ours", "share-pandas"):
        import bench_graph
        from songspace.data.dataset import Dataset

        ds = Dataset.load(w / "ds")
        n = min(args.share, ds.n_sequences)
        indptr = ds.indptr[: n + 1]
        indices = ds.indices[: indptr[-1]]
        del ds
        t0 = time.perf_counter()
        if args.worker == "share-ours":
            g = bench_graph.run_ours(indptr, indices, int(indices.max()) + 1, 2, 64 << 20)
            info["edges"] = int(g.adjacency.nnz // 2)
        else:
            info["edges"] = len(bench_graph.run_pandas(indptr, indices, 0, 2))
        info["playlists"] = n
    elif args.worker == "gensim":
        import itertools

        from gensim.models import Word2Vec

        from songspace.data.dataset import Dataset
        from songspace.models.track2vec import Track2Vec

        ds = Dataset.load(w / "ds")
        d = Track2Vec.preset_params("paper")  # the configuration `train` runs below
        bounds = ds.indptr.tolist()
        t1 = time.perf_counter()
        sentences = [
            [str(t) for t in ds.indices[a:b].tolist()] for a, b in itertools.pairwise(bounds)
        ]
        info["list_s"] = time.perf_counter() - t1
        t1 = time.perf_counter()
        Word2Vec(
            sentences,
            vector_size=d["dim"],
            window=d["window"],
            negative=d["negative"],
            ns_exponent=d["ns_exponent"],
            epochs=args.gensim_epochs,
            workers=2,
            seed=0,
            sg=1,
            hs=0,
            min_count=1,
        )
        info["train_s"] = time.perf_counter() - t1
        info["epochs"] = args.gensim_epochs
        info["words_per_s"] = ds.n_entries * args.gensim_epochs / info["train_s"]
    elif args.worker == "cli":
        _cli(args.argv)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    info["seconds"] = time.perf_counter() - t0
    info["peak_mb"] = _peak_rss_mb()
    print(json.dumps(info))


def _write_artist_genres(ds, path: Path) -> int:
    """Write the planted genre of every artist as an artist table (``artist_name,genres``).

    The MPD itself has no genres; real users join an artist table such as Kaggle's
    ``data_w_genres.csv`` (``prepare mpd --artists``), which is what MUSIG's genre
    features come from (Table 1). This is that table for the generated catalogue: an
    artist's genre is the most common known genre of its tracks.
    """
    import csv

    t = ds.tracks.dropna(subset=["genre"])
    genre = t.groupby("artist_name")["genre"].agg(lambda g: g.value_counts().index[0])
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["artist_name", "genres"])
        out.writerows((name, repr([g])) for name, g in genre.items())
    tmp.replace(path)
    return len(genre)


def _peer_slices(w: Path, n: int | None) -> Path:
    """The slice folder, or a folder of links to its first ``n`` slices (the readers' share)."""
    if not n:
        return w / "slices"
    share = w / f"slices-first-{n}"
    if not share.exists():
        tmp = share.with_name(share.name + ".tmp")
        tmp.mkdir(exist_ok=True)
        for f in sorted((w / "slices").glob("*.json"))[:n]:
            if not (tmp / f.name).exists():
                (tmp / f.name).symlink_to(f.resolve())
        tmp.rename(share)
    return share


def _stderr_progress():
    state = {"t0": time.perf_counter(), "last": 0.0}

    def progress(done: float, total: float, message: str, /) -> None:
        now = time.perf_counter()
        if now - state["last"] < 10 and done < total:
            return
        state["last"] = now
        el = now - state["t0"]
        eta = el / done * (total - done) if done and total else float("nan")
        print(f"  {message}: {done:.0f}/{total:.0f} {el:.0f}s ETA {eta:.0f}s", file=sys.stderr)

    return progress


# ------------------------------------------------------------------ driver
def run_stage(name: str, args: argparse.Namespace, worker_name: str, *extra: str) -> dict:
    """Run one stage in a fresh subprocess; a stage already done (``--resume``) is reused."""
    done = Path(args.work) / "stages" / (name.replace(" ", "_").replace("/", "-") + ".json")
    if done.exists():
        res = json.loads(done.read_text())
        print(f"  {name}: done before ({res['wall_s']:.1f}s wall), reused", flush=True)
        return res
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        worker_name,
        "--work",
        str(args.work),
        "--scale",
        str(args.scale),
        "--share",
        str(args.share),
        "--epochs",
        str(args.epochs),
        "--gensim-epochs",
        str(args.gensim_epochs),
        "--peer-slices",
        str(args.peer_slices or 0),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    print(f"[{time.strftime('%H:%M:%S')}] {name} ...", flush=True)
    t0 = time.perf_counter()
    log = Path(args.work) / f"{name}.log"
    with open(log, "w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(f"  {name} FAILED (rc {proc.returncode}); see {log}", flush=True)
        return {"stage": name, "failed": True, "wall_s": wall}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res.update(stage=name, wall_s=wall, finished=time.strftime("%H:%M:%S UTC", time.gmtime()))
    done.parent.mkdir(exist_ok=True)
    tmp = done.with_suffix(".tmp")
    tmp.write_text(json.dumps(res))
    tmp.replace(done)
    print(f"  {name}: {wall:.1f}s wall, peak {res['peak_mb']:.0f} MB", flush=True)
    return res


def _write_summary(args: argparse.Namespace, started: str, rows: list[dict]) -> dict:
    """Write ``<work>/full_scale.json`` (atomically) with the rows so far."""
    w = args.work
    n_entries = next((r.get("entries") for r in rows if r.get("entries")), None)
    summary = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "scale": args.scale,
        "started": started,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB, "
        f"load avg at end {os.getloadavg()[0]:.1f}",
        "entries": n_entries,
        "stages": rows,
    }
    res_path = w / "eval" / "summary.json"
    if res_path.exists():
        summary["evaluation"] = json.loads(res_path.read_text())
    tmp = w / "full_scale.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1, default=str))
    tmp.replace(w / "full_scale.json")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=None, help="share of the full MPD size")
    ap.add_argument("--playlists", type=int, default=None, help="instead of --scale")
    ap.add_argument("--work", type=Path, required=False, default=Path("/tmp/songspace-full"))
    ap.add_argument("--share", type=int, default=20_000, help="playlists for the pandas peer")
    ap.add_argument("--epochs", type=int, default=5, help="Track2Vec epochs")
    ap.add_argument("--gs-epochs", type=int, default=5)
    ap.add_argument("--gs-steps", type=int, default=200, help="GraphSAGE steps_per_epoch")
    ap.add_argument(
        "--gensim-epochs",
        type=int,
        default=None,
        help="epochs of the plain-gensim peer (default: --epochs; its words/s is compared)",
    )
    ap.add_argument(
        "--peer-slices",
        type=int,
        default=None,
        help="read only the first N slices in the two reader stages (json vs orjson)",
    )
    ap.add_argument(
        "--eval-args",
        default="",
        help="extra `songspace evaluate` options, e.g. '--max-pairs 10000'",
    )
    ap.add_argument(
        "--no-genres",
        action="store_true",
        help="leave out the GraphSAGE run with genre features (artist table joined)",
    )
    ap.add_argument("--resume", action="store_true", help="reuse the stages done in --work")
    ap.add_argument("--skip", default="", help="comma-separated stages to leave out")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("argv", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.scale is None:
        args.scale = (args.playlists or 50_000) / 1_000_000
    if args.gensim_epochs is None:
        args.gensim_epochs = args.epochs
    if args.worker:
        worker(args)
        return
    w = args.work
    if w.exists() and any(w.iterdir()) and not args.resume:
        sys.exit(f"{w} exists and is not empty; pass an empty --work folder, or --resume")
    w.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    rows: list[dict] = []
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    share = f", first {args.peer_slices} slices" if args.peer_slices else ""
    t2v = ["--preset", "paper", "--param", f"epochs={args.epochs}", "--param", "workers=2"]
    gs = ["--param", f"epochs={args.gs_epochs}", "--param", f"steps_per_epoch={args.gs_steps}"]
    gs_pop = [*gs, "--param", "feature_groups=popularity"]
    gs_genre = [*gs, "--param", "feature_groups=genre,popularity"]
    #: (stage, worker, extra argv, required: the later stages need it)
    plan: list[tuple[str, str, list[str], bool]] = [
        ("generate+write", "generate", [], True),
        (f"read stdlib json (peer){share}", "read-json", [], False),
        (f"read orjson{share}", "read-orjson", [], False),
        (
            "prepare",
            "cli",
            ["--", "--no-progress", "prepare", "mpd", str(w / "slices"), "-o", str(w / "ds")],
            True,
        ),
        ("graph+bigrams", "graph", [], False),
        (f"graph, first {args.share:,} playlists", "share-ours", [], False),
        ("pandas self-join (peer), same share", "share-pandas", [], False),
        (
            "track2vec",
            "cli",
            ["--", "train", "track2vec", str(w / "ds"), "-o", str(w / "t2v"), *t2v],
            False,
        ),
        ("plain gensim (peer)", "gensim", [], False),
        (
            "graphsage",
            "cli",
            ["--", "train", "graphsage", str(w / "ds"), "-o", str(w / "gs"), *gs_pop],
            False,
        ),
        (
            "evaluate",
            "cli",
            [
                "--",
                "evaluate",
                str(w / "ds"),
                str(w / "t2v" / "embeddings.npz"),
                str(w / "gs" / "embeddings.npz"),
                "-o",
                str(w / "eval"),
                *args.eval_args.split(),
            ],
            False,
        ),
    ]
    if not args.no_genres:
        # GraphSAGE with MUSIG's genre features (Table 1), joined from the artist table.
        ds_g = str(w / "ds-genre")
        plan += [
            ("artist genres", "artists", [], True),  # only where generate did not write it
            (
                "prepare with artist genres",
                "cli",
                [
                    "--",
                    "--no-progress",
                    "prepare",
                    "mpd",
                    str(w / "slices"),
                    "-o",
                    ds_g,
                    "--artists",
                    str(w / "artists.csv"),
                ],
                True,
            ),
            (
                "graphsage, genre features",
                "cli",
                ["--", "train", "graphsage", ds_g, "-o", str(w / "gs-genre"), *gs_genre],
                False,
            ),
            (
                "evaluate, genre features",
                "cli",
                [
                    "--",
                    "evaluate",
                    ds_g,
                    str(w / "gs-genre" / "embeddings.npz"),
                    "-o",
                    str(w / "eval-genre"),
                    *args.eval_args.split(),
                ],
                False,
            ),
        ]
    for name, wk, extra, required in plan:
        if wk in skip or name in skip or (wk.startswith("share") and "share" in skip):
            continue
        if wk == "artists" and (w / "artists.csv").exists():
            continue
        needs = {
            "evaluate": ("track2vec", "graphsage"),
            "evaluate, genre features": ("graphsage, genre features",),
        }
        if any(r.get("failed") for r in rows if r["stage"] in needs.get(name, ())):
            print("  evaluate skipped: a model stage failed", flush=True)
            continue
        rows.append(run_stage(name, args, wk, *extra))
        _write_summary(args, started, rows)  # after every stage: a stopped run keeps its rows
        if required and rows[-1].get("failed"):
            print(f"  stopping: the later stages need {name}", flush=True)
            break
    summary = _write_summary(args, started, rows)
    n_entries = summary["entries"]
    print(f"\nMPD-shaped run at scale {args.scale} ({n_entries:,} entries), {started}")
    print(f"{'stage':<40}{'wall s':>9}{'peak MB':>9}  notes")
    for r in rows:
        if r.get("failed"):
            print(f"{r['stage']:<40}{'FAILED':>9}")
            continue
        notes = {k: v for k, v in r.items() if k not in ("stage", "wall_s", "peak_mb", "seconds")}
        note = ", ".join(
            f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in notes.items()
        )
        print(f"{r['stage']:<40}{r['wall_s']:>9.1f}{r['peak_mb']:>9.0f}  {note}")
    print("\nLINEAR EXTRAPOLATION to scale 1.0 (not a measurement; time x 1/scale):")
    for r in rows:
        if r["stage"] in TARGETS and not r.get("failed"):
            t_s, _ = TARGETS[r["stage"]]
            est = r["wall_s"] / args.scale
            print(f"  {r['stage']:<20} ~{est / 60:.0f} min (target {t_s / 60:.0f} min)")


if __name__ == "__main__":
    main()

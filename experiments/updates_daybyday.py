"""Day by day: `songspace update` against a full retrain (issue 31 part 3, docs/updates.md).

One dataset is ordered (by time, a seeded permutation, or each user's line rank), cut
with ``songspace.data.slices`` into a base (the first ``--base`` share), ``--days``
updates of equal size, and a test part (the last ``--test`` share, the newest), each
saved as a prepared dataset of its own (``OUT/data``). Per model:

1. ``songspace train MODEL base --full`` (the starting run; not timed against anything);
2. ``songspace update`` with each day in order (the chain ``day1`` ... ``dayN``);
3. ``songspace train MODEL union --full``, the union being base and every day (the
   retrain a user would otherwise run after the last day).

Every step is a CLI subprocess (as a user runs it): its wall time and CPU time
(user + system of the child, ``getrusage``) and the load average before and after are
recorded in ``OUT/steps.json``. A step whose output exists is skipped (resumable).

The final updated run and the retrain are scored on the test sequences (the newest),
on one vocabulary (the union's tracks, then the test's unknown tracks): next-song
HitRate@100 over every consecutive pair (a pair whose query or target the model has no
vector for is a miss) and playlist completion HR (test sequences with ``--min-tracks``
distinct tracks), with paired t-tests and a bootstrap CI (resampling test sequences) of
the ratio updated / retrain. Coverage of the new tracks: the share of tracks that the
days brought (absent from the base) that have a vector.

The kNN rankers are measured in-process: each built on the base and updated day by day
(``ranker.update``), against one built on the union, all on the evaluation vocabulary
(from the start, so a test query's track is known to them, with no counts until it
occurs): wall and CPU time of this process (``time.process_time``).

    python experiments/updates_daybyday.py melon --data /work/runs/melon-lfm/melon \\
        --order time -o /work/runs/daybyday/melon
    python experiments/updates_daybyday.py --summary /work/runs/daybyday/melon
    python experiments/updates_daybyday.py --fill-docs /work/runs/daybyday   # the docs' tables
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # this checkout's library, as the CLI steps use
RANKERS = ("popularity", "itemknn", "bigram", "sknn", "vsknn", "stan", "vstan")
K = 100


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split(" ")[0:3].__str__()


def commit() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True
    )
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


# --------------------------------------------------------------------------- steps
class Steps:
    """OUT/steps.json: one record per finished step (resumable)."""

    def __init__(self, out: Path, name: str = "steps.json") -> None:
        self.path = out / name
        self.data: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}

    def done(self, name: str) -> bool:
        """Recorded here or by another process into the same OUT (steps*.json)."""
        if name in self.data:
            return True
        return any(name in json.loads(f.read_text()) for f in self.path.parent.glob("steps*.json"))

    def record(self, name: str, rec: dict[str, Any]) -> None:
        self.data[name] = rec
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1))
        tmp.replace(self.path)


def cli(steps: Steps, name: str, args: list[str], out: Path, log: Path) -> None:
    """Run ``songspace ARGS`` once (skipped when ``out`` exists and the step is recorded)."""
    if steps.done(name) and out.exists():
        return
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = Path("/proc/loadavg").read_text().strip()
    t0 = time.perf_counter()
    with log.open("a") as fh:
        fh.write(f"\n=== {name}: songspace {' '.join(args)}\n")
        fh.flush()
        rc = subprocess.run(
            [sys.executable, "-m", "songspace.cli", "--no-progress", *args],
            stdout=fh,
            stderr=fh,
            env=env,
        ).returncode
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if rc != 0:
        raise SystemExit(f"step {name} failed (rc {rc}); see {log}")
    steps.record(
        name,
        {
            "args": args,
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "loadavg_before": load0,
            "loadavg_after": Path("/proc/loadavg").read_text().strip(),
            "commit": commit(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        },
    )
    print(f"{name}: wall {wall:.1f}s cpu {cpu:.1f}s", flush=True)


# --------------------------------------------------------------------------- slices
def order_key(name: str, data: Path, order: str) -> tuple[Any, list[int] | None]:
    """(the ``by`` of slice_dataset, the sequences kept first or None)."""
    if order != "user-lines":
        return order, None
    # LFM-1b: no timestamps; a user's lines are in time order within train500 only.
    # Key: the line's rank among its user's lines / the user's line count.
    from songspace.data.dataset import Dataset

    ds = Dataset.load(data)
    paths = {Path(p).name: Path(p) for p in ds.source["paths"]}
    user_of: dict[str, str] = {}
    with paths["train500"].open() as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                user_of[f"train500:{lineno}"] = line.split(",", 1)[0]
    ids = [str(s) for s in ds.sequence_ids]
    keep = [i for i, s in enumerate(ids) if s in user_of]
    users = np.array([user_of[ids[i]] for i in keep])
    key = np.empty(len(keep))
    for u in np.unique(users):
        rows = np.flatnonzero(users == u)  # in stored (= time) order
        key[rows] = np.arange(len(rows)) / len(rows)
    return key, keep


def make_slices(args: argparse.Namespace, out: Path) -> dict[str, Path]:
    from songspace.data.dataset import Dataset
    from songspace.data.slices import slice_dataset

    d = out / "data"
    bounds = {"base": (0.0, args.base)}
    step = (1 - args.test - args.base) / args.days
    for i in range(args.days):
        bounds[f"day{i + 1}"] = (args.base + i * step, args.base + (i + 1) * step)
    bounds["union"] = (0.0, 1 - args.test)
    bounds["test"] = (1 - args.test, 1.0)
    paths = {k: d / k for k in bounds}
    if all(p.exists() for p in paths.values()):
        return paths
    by, keep = order_key(args.name, args.data, args.order)
    ds = Dataset.load(args.data)
    if keep is not None:
        ds = ds.subset(keep, name="train500")
    # The day slices must end where the next begins: share the same rounding.
    for k, (a, b) in bounds.items():
        if not paths[k].exists():
            part = slice_dataset(ds, round(a, 10), round(b, 10), by=by, seed=args.seed)
            part.save(paths[k])
            print(f"slice {k}: {part.n_sequences} sequences, {part.n_tracks} tracks", flush=True)
    return paths


# --------------------------------------------------------------------------- runs
def model_name(label: str) -> str:
    """``track2vec@replay90`` -> ``track2vec``: a label names a variant of a model's
    updates (its own settings, ``-s LABEL:NAME=VALUE``), sharing the model's base run
    and retrain."""
    return label.split("@", 1)[0]


def run_model(args: argparse.Namespace, model: str, paths: dict[str, Path], out: Path) -> None:
    steps = Steps(out, args.steps)
    name = model_name(model)
    runs = out / "runs" / model
    runs.mkdir(parents=True, exist_ok=True)
    log = out / "logs" / f"{model}.log"
    log.parent.mkdir(exist_ok=True)
    params = [x for p in args.param.get(name, []) for x in ("-p", p)]
    settings = [x for p in args.setting.get(model, []) for x in ("-s", p)]
    seed = ["--seed", str(args.seed)]

    def train(step: str, data: str) -> Path:
        """``songspace train`` of the model on ``paths[data]`` (base or union)."""
        run = out / "runs" / name / step
        args_ = ["train", name, str(paths[data]), "-o", str(run), "--full", *seed, *params]
        cli(steps, f"{name}/{step}", args_, run, log)
        return run

    prev = train("base", "base")
    for i in range(1, args.days + 1):
        nxt = runs / f"day{i}"
        cli(
            steps,
            f"{model}/day{i}",
            ["update", str(prev), str(paths[f"day{i}"]), "-o", str(nxt), *settings],
            nxt,
            log,
        )
        prev = nxt
    train("retrain", "union")


# --------------------------------------------------------------------------- evaluation
def eval_setup(paths: dict[str, Path]) -> dict[str, Any]:
    """The evaluation dataset (union's vocabulary + the test's new tracks, the test
    sequences), next-song pairs (with each pair's sequence) and completion playlists."""
    from songspace.data.dataset import Dataset
    from songspace.data.vocabulary import concat_sequences, extend_vocabulary
    from songspace.evaluation.next_song import next_song_pairs_heldout

    union = Dataset.load(paths["union"])
    test = Dataset.load(paths["test"])
    union_g, test_g = extend_vocabulary(union, test)
    full = concat_sequences(union_g, test_g)
    tests = np.arange(union.n_sequences, full.n_sequences)
    qs, ts, rows = [], [], []
    for r, s in enumerate(tests):
        q, t = next_song_pairs_heldout(full, [s])
        qs.append(q)
        ts.append(t)
        rows.append(np.full(len(q), r))
    base = Dataset.load(paths["base"])
    base_ids = set(base.tracks["track_id"].astype(str))
    new_tracks = [t for t in union.tracks["track_id"].astype(str) if t not in base_ids]
    return {
        "full": full,
        "union_g": union_g,
        "tests": tests,
        "q": np.concatenate(qs),
        "t": np.concatenate(ts),
        "pair_seq": np.concatenate(rows),
        "new_tracks": new_tracks,
        "base_ids": base_ids,
    }


def score(setup: dict[str, Any], emb: Any, min_tracks: int, seed: int) -> dict[str, np.ndarray]:
    from songspace.evaluation.completion import playlist_completion
    from songspace.evaluation.next_song import next_song

    full, tests = setup["full"], setup["tests"]
    ns = next_song(emb, setup["q"], setup["t"], k=K)
    hit = ns[0].per_query
    distinct = np.diff(full.incidence().indptr)[tests]
    pls = tests[distinct >= min_tracks]
    out = {"hit": hit, "pair_seq": setup["pair_seq"]}
    if len(pls):
        comp = playlist_completion(full, emb, pls, seed=seed)
        out["completion_hr"] = comp[0].per_query
    return out


def ratio_ci(
    a: np.ndarray, b: np.ndarray, groups: np.ndarray, seed: int = 0, n: int = 2000
) -> tuple[float, float, float]:
    """mean(a) / mean(b) and its 95% bootstrap CI, resampling ``groups`` (test sequences)."""
    rng = np.random.default_rng(seed)
    ug, inv = np.unique(groups, return_inverse=True)
    sa = np.bincount(inv, weights=a, minlength=len(ug))
    sb = np.bincount(inv, weights=b, minlength=len(ug))
    draws = rng.integers(0, len(ug), size=(n, len(ug)))
    num, den = sa[draws].sum(1), sb[draws].sum(1)
    r = num[den > 0] / den[den > 0]
    lo, hi = np.percentile(r, [2.5, 97.5])
    return float(sa.sum() / sb.sum()) if sb.sum() else float("nan"), float(lo), float(hi)


def paired(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    d = a - b
    if np.allclose(d, 0):
        return 1.0
    return float(stats.ttest_rel(a, b).pvalue)


def compare(setup: dict[str, Any], upd: dict, ret: dict, seed: int) -> dict[str, Any]:
    r, lo, hi = ratio_ci(upd["hit"], ret["hit"], setup["pair_seq"], seed)
    res = {
        "pairs": len(upd["hit"]),
        "test_sequences": len(setup["tests"]),
        "hit_updated": float(upd["hit"].mean()),
        "hit_retrain": float(ret["hit"].mean()),
        "hit_ratio": r,
        "hit_ratio_ci": [lo, hi],
        "hit_p": paired(upd["hit"], ret["hit"]),
    }
    if "completion_hr" in upd:
        a, b = upd["completion_hr"], ret["completion_hr"]
        res.update(
            completion_playlists=len(a),
            completion_updated=float(a.mean()),
            completion_retrain=float(b.mean()),
            completion_p=paired(a, b),
        )
    return res


def new_track_coverage(setup: dict[str, Any], emb: Any) -> float:
    index = setup["full"].track_index()
    rows = [index[t] for t in setup["new_tracks"]]
    return float(emb.available[rows].mean()) if rows else float("nan")


def evaluate_model(args: argparse.Namespace, model: str, setup: dict[str, Any], out: Path) -> None:
    from songspace.evaluation.embeddings import load_embeddings

    target = out / "eval" / f"{model}.json"
    if target.exists():
        return
    runs = out / "runs" / model
    retrain = out / "runs" / model_name(model) / "retrain"
    scored = {}
    cover = {}
    for which, run in (("updated", runs / f"day{args.days}"), ("retrain", retrain)):
        emb = load_embeddings(run / "embeddings.npz", setup["full"], name=which)
        scored[which] = score(setup, emb, args.min_tracks, args.seed)
        cover[which] = new_track_coverage(setup, emb)
    res = compare(setup, scored["updated"], scored["retrain"], args.seed)
    res.update(
        new_tracks=len(setup["new_tracks"]),
        new_track_coverage_updated=cover["updated"],
        new_track_coverage_retrain=cover["retrain"],
        commit=commit(),
        loadavg=Path("/proc/loadavg").read_text().strip(),
    )
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(res, indent=1))
    print(model, json.dumps(res), flush=True)


# --------------------------------------------------------------------------- rankers
def timed(fn: Any) -> tuple[Any, float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def run_rankers(args: argparse.Namespace, paths: dict[str, Path], setup: dict, out: Path) -> None:
    from songspace.data.dataset import Dataset
    from songspace.data.vocabulary import extend_vocabulary
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.rankers import make_ranker

    full = setup["full"]

    def on_vocab(name: str) -> Dataset:
        """The slice on the evaluation vocabulary (every track a test query may name)."""
        return extend_vocabulary(full, Dataset.load(paths[name]))[1]

    base = on_vocab("base")
    days = [on_vocab(f"day{i}") for i in range(1, args.days + 1)]
    union = on_vocab("union")
    for name in args.rankers:
        target = out / "eval" / f"ranker-{name}.json"
        if target.exists():
            continue
        ranker, _, _ = timed(lambda n=name: make_ranker(n, base))
        upd = []
        for day in days:
            ranker, w, c = timed(lambda r=ranker, d=day: r.update(d))
            upd.append({"wall_s": round(w, 3), "cpu_s": round(c, 3)})
        refit, w, c = timed(lambda n=name: make_ranker(n, union))
        scored = {
            which: score(setup, Embeddings.from_ranker(r, full.n_tracks), args.min_tracks, 0)
            for which, r in (("updated", ranker), ("retrain", refit))
        }
        res = compare(setup, scored["updated"], scored["retrain"], args.seed)
        res.update(
            updates=upd,
            retrain={"wall_s": round(w, 3), "cpu_s": round(c, 3)},
            identical_hits=bool(np.array_equal(scored["updated"]["hit"], scored["retrain"]["hit"])),
            commit=commit(),
            loadavg=Path("/proc/loadavg").read_text().strip(),
        )
        target.parent.mkdir(exist_ok=True)
        target.write_text(json.dumps(res, indent=1))
        print("ranker", name, json.dumps(res), flush=True)


# --------------------------------------------------------------------------- summary
def target(ratio: float, low: float, share: float) -> str:
    """The issue's target: >= 0.95 x the retrain's HitRate (shown when the interval's
    lower end is too), in < 20% of its CPU time."""
    quality = "shown" if low >= 0.95 else "met" if ratio >= 0.95 else "missed"
    return f"{quality} / {'met' if share < 0.2 else 'missed'}"


def model_times(runs: Path, days: int) -> str:
    """The model's own time (wall, as the runs record it: ``update_time`` of each update
    in the lineage, ``training_time`` of the retrain's model): mean update / retrain."""
    lineage = json.loads((runs / f"day{days}" / "training.json").read_text())["updates"]
    retrain = runs.parent / model_name(runs.name) / "retrain"
    model = json.loads((retrain / "model" / "model.json").read_text())
    upd = np.mean([u["update_time"] for u in lineage])
    return f"{upd:.1f} s / {model['training_time']:.1f} s"


def summary(out: Path) -> str:
    steps: dict[str, Any] = {}
    for f in sorted(out.glob("steps*.json")):  # one per process that ran models
        steps.update(json.loads(f.read_text()))
    meta = json.loads((out / "meta.json").read_text())
    days = meta["days"]
    lines = [
        "| model | HitRate@100 updated | retrain | ratio (95% CI) | p | completion HR "
        "updated / retrain (p) | new tracks covered upd. / retr. | one update: wall / CPU "
        "(mean) | retrain: wall / CPU | update / retrain (CPU) | model only: update / "
        "retrain (wall) | target: quality / time |",
        "|---|---:|---:|---|---:|---|---|---|---|---:|---|---|",
    ]
    evals = sorted(
        (out / "eval").glob("*.json"), key=lambda f: (f.stem.startswith("ranker-"), f.stem)
    )
    for f in evals:
        name = f.stem
        r = json.loads(f.read_text())
        if name.startswith("ranker-"):
            ups, ret = r["updates"], r["retrain"]
            label = name[len("ranker-") :] + " (ranker)"
            cov = "—"
            inner = "(the same: in-process)"
        else:
            ups = [steps.get(f"{name}/day{i}") for i in range(1, days + 1)]
            ret = steps.get(f"{model_name(name)}/retrain")
            if None in ups or ret is None:
                continue
            label = name
            cov = f"{r['new_track_coverage_updated']:.3f} / {r['new_track_coverage_retrain']:.3f}"
            inner = model_times(out / "runs" / name, days)
        uw = np.mean([u["wall_s"] for u in ups])
        uc = np.mean([u["cpu_s"] for u in ups])
        digits = 3 if name.startswith("ranker-") else 1  # rankers: milliseconds
        share = f"{uc / ret['cpu_s']:.2f}" if ret["cpu_s"] > 0 else "—"
        comp = (
            f"{r['completion_updated']:.3f} / {r['completion_retrain']:.3f} "
            f"({r['completion_p']:.2g})"
            if "completion_updated" in r
            else "—"
        )
        lo, hi = r["hit_ratio_ci"]
        lines.append(
            f"| {label} | {r['hit_updated']:.4f} | {r['hit_retrain']:.4f} | "
            f"{r['hit_ratio']:.3f} ({lo:.3f}-{hi:.3f}) | {r['hit_p']:.2g} | {comp} | {cov} | "
            f"{uw:.{digits}f} s / {uc:.{digits}f} s | "
            f"{ret['wall_s']:.{digits}f} s / {ret['cpu_s']:.{digits}f} s | {share} | {inner} | "
            f"{target(r['hit_ratio'], lo, uc / ret['cpu_s'] if ret['cpu_s'] > 0 else 0.0)} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- docs
DOCS = {"melon": "Melon", "lfm1b": "LFM-1b subset", "mpd": "MPD subset"}


def _between(text: str, tag: str, body: str) -> str:
    """``text`` with what lies between ``<!-- TAG -->`` and ``<!-- /TAG -->`` replaced."""
    pattern = f"<!-- {tag} -->.*?<!-- /{tag} -->"
    return re.sub(pattern, lambda _: f"<!-- {tag} -->\n{body}\n<!-- /{tag} -->", text, flags=re.S)


def fill_docs(root: Path) -> None:
    """Write each dataset's table (``root/NAME``) into docs/updates.md and the time
    columns of all three into BENCHMARKS.md, between their ``daybyday`` markers."""
    docs = REPO / "docs" / "updates.md"
    text = docs.read_text()
    bench = [
        "| dataset | model | one update: wall / CPU | full retrain: wall / CPU | "
        "update / retrain (CPU) | model only: update / retrain (wall) |",
        "|---|---|---|---|---:|---|",
    ]
    for name, label in DOCS.items():
        table = summary(root / name)
        text = _between(text, f"daybyday:{name}", table)
        for line in table.splitlines()[2:]:
            c = [x.strip() for x in line.strip("|").split("|")]
            bench.append(f"| {label} | {c[0]} | {c[7]} | {c[8]} | {c[9]} | {c[10]} |")
    docs.write_text(text)
    path = REPO / "BENCHMARKS.md"
    path.write_text(_between(path.read_text(), "daybyday:bench", "\n".join(bench)))


# --------------------------------------------------------------------------- main
def pairs_by_model(items: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for it in items:
        model, _, kv = it.partition(":")
        out.setdefault(model, []).append(kv)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("name", nargs="?")
    ap.add_argument("--data", type=Path)
    ap.add_argument("-o", "--out", type=Path)
    ap.add_argument("--order", default="time", help="time, seeded, stored or user-lines")
    ap.add_argument("--base", type=float, default=0.8)
    ap.add_argument("--test", type=float, default=0.05)
    ap.add_argument("--days", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-tracks", type=int, default=40)
    ap.add_argument("--models", default="track2vec,node2vec,warp,als,graphsage")
    ap.add_argument("--rankers", default=",".join(RANKERS))
    ap.add_argument("-p", "--param", action="append", default=[], help="MODEL:NAME=VALUE")
    ap.add_argument("-s", "--setting", action="append", default=[], help="MODEL:NAME=VALUE")
    ap.add_argument(
        "--steps",
        default="steps.json",
        help="the step record of this process (another name for a second process running "
        "other models into the same OUT: steps-NAME.json)",
    )
    ap.add_argument("--summary", type=Path, help="print the table of a finished OUT")
    ap.add_argument(
        "--fill-docs",
        type=Path,
        help="ROOT holding melon, lfm1b and mpd: write their tables into docs/updates.md "
        "and BENCHMARKS.md",
    )
    args = ap.parse_args()
    if args.fill_docs:
        fill_docs(args.fill_docs)
        return
    if args.summary:
        print(summary(args.summary))
        return
    args.param = pairs_by_model(args.param)
    args.setting = pairs_by_model(args.setting)
    args.rankers = [r for r in args.rankers.split(",") if r]
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    meta = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    meta["argv"] = sys.argv
    (out / "meta.json").write_text(json.dumps(meta, indent=1))
    paths = make_slices(args, out)
    models = [m for m in args.models.split(",") if m]
    setup = eval_setup(paths)
    for model in models:
        run_model(args, model, paths, out)
        evaluate_model(args, model, setup, out)
    run_rankers(args, paths, setup, out)
    print(summary(out))


if __name__ == "__main__":
    main()

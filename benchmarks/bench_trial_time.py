"""Where a tuning trial's time goes (issue 28, item 10): run a short study and print, phase
by phase, the median wall and CPU seconds of its trained trials and their shares
(:mod:`songspace.tuning.timing`), the study's one-off setup and reference run, and the
load average sampled while it ran (on a shared machine wall times are inflated; the
shares are the point).

    nice -n 5 python benchmarks/bench_trial_time.py DATA --trials 8 --test-fraction 0.02 \\
        --objective hit_rate --storage sqlite:////tmp/trialtime.db --json out.json
    # the breakdown of a study already stored (no training)
    python benchmarks/bench_trial_time.py --show sqlite:////tmp/trialtime.db --study NAME

The study is a plain ``songspace tune`` study (equal-time budget, default settings unless
given); a fresh ``--storage`` gives a fresh study (an existing one is resumed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from songspace.tuning.timing import PHASE_ATTR, StudyPhases, describe, phase_breakdown


class LoadSampler:
    """The 1-minute load average, sampled every ``every`` seconds in a thread."""

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(os.getloadavg()[0])

    def summary(self) -> dict[str, float]:
        s = self.samples
        return {"min": min(s), "mean": sum(s) / len(s), "max": max(s), "n": len(s)}


def commit() -> str:
    """The repository's commit (with ``+dirty`` when the work tree differs), or "?"."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+dirty" if dirty else "")


def breakdown(study: Any) -> dict[str, Any]:
    """The study's phase table (medians over its complete trials, the last column over all
    its finished trials), its reference run's phases and its trial counts."""
    trials = study.get_trials(deepcopy=False)
    found = StudyPhases.of(trials)
    return {
        "complete_trials": len(found.complete),
        "stopped_trials": len(found.stopped),
        "untrained_trials": len(found.untrained),
        "seconds_by_end": {
            k: sum(sum(v["wall"] for v in r.values()) for r in recs)
            for k, recs in (
                ("complete", found.complete),
                ("stopped", found.stopped),
                ("untrained", found.untrained),
            )
        },
        "phases": [vars(r) for r in phase_breakdown(found.complete, found.everything)],
        "prune_per_epoch": _prune_per_epoch(trials),
        "reference": study.user_attrs.get("reference", {}).get(PHASE_ATTR, {}),
        "states": {
            s: sum(t.state.name == s for t in trials) for s in {t.state.name for t in trials}
        },
    }


def _prune_per_epoch(trials: list[Any]) -> dict[str, float] | None:
    """Median wall and CPU seconds of one pruner scoring (a trial's ``prune`` phase over
    the epochs it reported), or None without a pruner."""
    per = [
        (t.user_attrs[PHASE_ATTR]["prune"], len(t.intermediate_values))
        for t in trials
        if "prune" in t.user_attrs.get(PHASE_ATTR, {}) and t.intermediate_values
    ]
    if not per:
        return None
    wall = sorted(p["wall"] / n for p, n in per)
    cpu = sorted(p["cpu"] / n for p, n in per)
    return {"wall": wall[len(wall) // 2], "cpu": cpu[len(cpu) // 2], "trials": len(per)}


def markdown(doc: dict[str, Any]) -> str:
    """The breakdown as the Markdown table of docs/tuning.md."""
    secs = doc["seconds_by_end"]
    lines = [
        f"Complete trials: {doc['complete_trials']} ({secs['complete']:.0f}s wall); stopped "
        f"while training (budget or pruner): {doc['stopped_trials']} ({secs['stopped']:.0f}s); "
        f"rejected before training: {doc['untrained_trials']} ({secs['untrained']:.0f}s).",
        "",
        "| Phase | Complete trials | Median wall (s) | Median CPU (s) | Median share "
        "| Share of all trials' time |",
        "|---|---|---|---|---|---|",
    ]
    for r in doc["phases"]:
        lines.append(
            f"| {r['phase']} | {r['trials']} | {r['wall']:.2f} | {r['cpu']:.2f} "
            f"| {r['share']:.1%} | {r['total_share']:.1%} |"
        )
    out = "\n".join(lines) + "\n"
    if doc.get("reference"):
        ref = doc["reference"]
        out += f"\nReference run (once): {describe(ref, top=len(ref))}\n"
    if doc.get("prune_per_epoch"):
        p = doc["prune_per_epoch"]
        out += (
            f"Pruner scoring per epoch reported: median {p['wall']:.2f}s wall, "
            f"{p['cpu']:.2f} CPU s ({p['trials']} trials)\n"
        )
    if doc.get("setup"):
        out += f"Setup of this run: {describe(doc['setup'], top=len(doc['setup']))}\n"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", nargs="?", help="a prepared dataset directory")
    ap.add_argument("--model", default="track2vec")
    ap.add_argument("--objective", action="append", help="repeatable (default hit_rate)")
    ap.add_argument("--alpha", type=float, default=None)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--test-fraction", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pruner", default="none")
    ap.add_argument("--storage", default=None, help="default: a new SQLite file in /tmp")
    ap.add_argument("--study", default=None)
    ap.add_argument("--show", metavar="STORAGE", help="print a stored study's breakdown only")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args()

    import logging

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("songspace.tuning").setLevel(logging.INFO)  # a line per trial
    if a.show:
        st = optuna.load_study(study_name=a.study, storage=a.show)
        print(markdown(breakdown(st)))
        return
    if not a.data:
        ap.error("give a dataset directory (or --show STORAGE --study NAME)")
    from songspace.tuning import tune

    storage = a.storage or f"sqlite:///{Path('/tmp') / f'trialtime-{os.getpid()}.db'}"
    objectives = a.objective or ["hit_rate"]
    started = time.strftime("%Y-%m-%d %H:%M")
    with LoadSampler() as load:
        res = tune(
            a.model,
            a.data,
            objectives=objectives,
            alpha=a.alpha,
            trials=a.trials,
            heldout_fraction=a.test_fraction,
            seed=a.seed,
            pruner=a.pruner,
            storage=storage,
            study=a.study,
            heartbeat=None,
        )
    st = optuna.load_study(study_name=res.study, storage=storage)
    doc = {
        "study": res.study,
        "storage": storage,
        "commit": commit(),
        "started": started,
        "wall": res.seconds,
        "load": load.summary(),
        "cpus": os.cpu_count(),
        "setup": res.phases,
        **breakdown(st),
    }
    print(
        f"{res.study} on {a.data}: commit {doc['commit']}, started {started}, "
        f"{res.seconds / 60:.1f} min wall; 1-min load average min/mean/max "
        f"{doc['load']['min']:.1f}/{doc['load']['mean']:.1f}/{doc['load']['max']:.1f} "
        f"on {doc['cpus']} CPUs; trial states {doc['states']}"
    )
    print(markdown(doc))
    if a.json is not None:
        a.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()

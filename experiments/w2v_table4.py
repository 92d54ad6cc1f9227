"""W2V Table 4 on the MPD subset: the default and each study's best configuration on test.

The Table 4 studies run one per storage (one SQLite file per study, so two studies never
contend for one database file). ``songspace tune-report`` compares studies of one
storage, so this script copies the named studies, each from its own storage, into a
fresh storage in the output directory (``optuna.copy_study``; the studies' files are only
read), then runs the report there with the HardNeg rule stated for the test split:

    T=runs/tuning
    python experiments/w2v_table4.py runs/tuning/mpd -o runs/table4 --cache $T/cache \\
        --study sqlite:///$T/tune-hit_rate.db=track2vec-hit_rate \\
        --study "sqlite:///$T/tune-lambda_genre_0.01.db=track2vec-hit_rate+vrc_genre-a0.01" \\
        --hardneg-threshold 1000

Writes ``OUT/studies.db`` (the copies, their state when copied), ``OUT/report`` (the
report: ``report.md`` with Table 4, the trials' CPU times and the history plots) and
``OUT/state.json`` (per study: trials by state, trained trials, training CPU-hours, the
best trial and where the best value last improved, so the stopping rule and the
convergence mark can be read).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("w2v_table4")


def commit() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent,  # this checkout's commit, whatever the cwd
    ).stdout.strip()


def check_shared(studies: list[tuple[str, Any]], keys: tuple[str, ...], split: str) -> None:
    """Exit with a message when the studies (name, settings) differ in one of ``keys``: their
    ``split`` queries would not be the same (``tune_report.check_same_settings``)."""
    from songspace.errors import SongspaceError
    from songspace.reports.tune_report import check_same_settings

    try:
        check_same_settings(studies, keys)
    except SongspaceError as e:
        raise SystemExit(f"not one {split} split: {e}") from None


def study_state(study: Any) -> dict[str, Any]:
    """Trials by state, trained trials (complete or stopped while training), training
    CPU-hours, the best trial and the trained trial count at its last improvement."""
    import optuna

    trials = study.get_trials(deepcopy=False)
    states: dict[str, int] = {}
    for t in trials:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    trained = [
        t
        for t in trials
        if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
        and "training_time" in t.user_attrs
    ]
    cpu = sum(float(t.user_attrs["training_time"]) for t in trained)
    out: dict[str, Any] = {
        "states": states,
        "trained": len(trained),
        "training_cpu_hours": cpu / 3600,
    }
    if len(study.directions) == 1:
        best, best_at, sign = None, 0, 1 if study.direction.name == "MAXIMIZE" else -1
        for i, t in enumerate(trained, 1):
            if t.state.name == "COMPLETE" and (best is None or sign * t.value > sign * best.value):
                best, best_at = t, i
        if best is not None:
            out.update(best_trial=best.number, best_value=best.value, improved_at=best_at)
            # the paper's convergence reading: no improvement over the last third
            out["flat_last_third"] = best_at <= len(trained) * 2 / 3
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--study", action="append", required=True, metavar="STORAGE=NAME")
    ap.add_argument("--cache", help="the shared model cache (songspace tune-report --cache)")
    ap.add_argument("--hardneg-threshold", type=float)
    ap.add_argument("--hardneg-min-count", type=int)
    ap.add_argument(
        "--pareto-max", type=int, help="Pareto members per Pareto study (tune-report's)"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import optuna

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    to = f"sqlite:///{(out / 'studies.db').resolve()}"
    names, state = [], {}
    for spec in args.study:
        storage, _, name = spec.rpartition("=")
        optuna.copy_study(from_study_name=name, from_storage=storage, to_storage=to)
        state[name] = study_state(optuna.load_study(study_name=name, storage=to))
        names.append(name)
        log.info("%s: %s", name, state[name])
    record = {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "studies": state,
    }
    (out / "state.json").write_text(json.dumps(record, indent=2) + "\n")
    cmd = [
        sys.executable,
        "-m",
        "songspace.cli",
        "--no-progress",
        "tune-report",
        "--storage",
        to,
        "-o",
        str(out / "report"),
    ]
    cmd += ["--dataset", args.dataset]
    for name in names:
        cmd += ["--study", name]
    if args.cache:
        cmd += ["--cache", args.cache]
    if args.hardneg_threshold is not None:
        cmd += ["--hardneg-threshold", str(args.hardneg_threshold)]
    if args.hardneg_min_count is not None:
        cmd += ["--hardneg-min-count", str(args.hardneg_min_count)]
    if args.pareto_max is not None:
        cmd += ["--pareto-max", str(args.pareto_max)]
    log.info("running %s", " ".join(cmd))
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()

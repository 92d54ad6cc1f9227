"""Multi-fidelity tuning: trials per hour and best value at a fixed wall time, with and
without the pruner (issue 13; SPEC §5).

Each arm runs ``songspace.tuning.tune`` in a fresh subprocess on its own SQLite study,
same data, split, seed and settings (equal-time budget), for ``--minutes`` of wall time;
the arms run one after the other. Reported per arm: finished trials (complete, rejected
for the budget, pruned), trials per hour, and the best validation value among the trials
that finished within the wall time (with the trial number and when it was reached), the
arm's peak resident memory (VmHWM) and the load average before and after it, then the
ratios of the pruner arm to the arm without one.

    python benchmarks/bench_tuning_pruner.py DATA --minutes 10 --sample-rate 0.1

The issue-28 comparison (1 hour per arm, nothing else running; ``--keep`` makes an
interrupted run resume at the first arm without a result):

    python benchmarks/bench_tuning_pruner.py runs/tuning/mpd --minutes 60 --sample-rate 0.1 \
        --keep runs/pruner-1h
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r"""
import json, sys, time
args = json.loads(sys.argv[1])
from songspace.tuning import tune
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
t0 = time.time()
res = tune("track2vec", args["data"], objectives=["hit_rate"], trials=100000,
           timeout=args["seconds"],
           storage=args["storage"], study="bench", sample_rate=args["sample_rate"],
           seed=args["seed"], heldout_fraction=args["heldout_fraction"],
           pruner=args["pruner"], heartbeat=None)
st = optuna.load_study(study_name="bench", storage=args["storage"])
start = min(t.datetime_start.timestamp() for t in st.trials if t.datetime_start)
limit = start + args["seconds"]
rows = []
for t in st.trials:
    if t.datetime_complete is None or t.datetime_complete.timestamp() > limit:
        continue
    ua = t.user_attrs
    kind = ("complete" if t.state.name == "COMPLETE" else
            "pruned" if ua.get("pruned") else
            "rejected" if ua.get("rejected") else t.state.name.lower())
    rows.append({"number": t.number, "kind": kind, "value": t.value,
                 "at": t.datetime_complete.timestamp() - start,
                 "cpu": ua.get("training_time")})
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"rows": rows, "reference": res.reference["training_time"],
                  "seconds": args["seconds"], "wall": time.time() - t0,
                  "peak_rss_mib": hwm / 1024}))
"""


def load_average() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def run_arm(data: str, pruner: str, a: argparse.Namespace, tmp: Path) -> dict:
    """One arm's trials (fresh subprocess, own study); with ``--keep``, an arm whose
    result is already in the directory is not run again (a 1-hour comparison survives an
    interruption between its arms), and a half-run arm's study is started afresh."""
    done = tmp / f"{pruner}.json"
    args = {
        "data": data,
        "pruner": pruner,
        "seconds": a.minutes * 60,
        "storage": f"sqlite:///{tmp / (pruner + '.db')}",
        "sample_rate": a.sample_rate,
        "seed": a.seed,
        "heldout_fraction": a.test_fraction,
    }
    if done.exists() and json.loads(done.read_text()).get("args") == args:
        print(f"arm {pruner}: kept result {done}", file=sys.stderr)
        return json.loads(done.read_text())
    (tmp / f"{pruner}.db").unlink(missing_ok=True)
    load_before = load_average()
    proc = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(args)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        sys.exit(f"arm {pruner} failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load_before"], out["load_after"], out["args"] = load_before, load_average(), args
    done.write_text(json.dumps(out) + "\n")
    return out


def summarise(pruner: str, out: dict) -> dict:
    rows = out["rows"]
    hours = out["seconds"] / 3600
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("complete", "pruned", "rejected")}
    trained = [r for r in rows if r["kind"] in ("complete", "pruned")]
    done = [r for r in rows if r["kind"] == "complete"]
    best = max(done, key=lambda r: r["value"]) if done else None
    return {
        "pruner": pruner,
        **kinds,
        "trials_per_hour": len(rows) / hours,
        "trained_per_hour": len(trained) / hours,
        "best": best["value"] if best else float("nan"),
        "best_trial": best["number"] if best else None,
        "best_at_min": best["at"] / 60 if best else float("nan"),
        "reference_cpu": out["reference"],
        "peak_rss_mib": out.get("peak_rss_mib", float("nan")),
        "load": f"{'/'.join(out.get('load_before', []))} -> {'/'.join(out.get('load_after', []))}",
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="prepared dataset directory (songspace prepare)")
    p.add_argument("--minutes", type=float, default=10.0, help="wall time per arm")
    p.add_argument("--sample-rate", type=float, default=0.1)
    p.add_argument("--test-fraction", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pruner", default="sha", help="the pruner compared with none")
    p.add_argument(
        "--keep",
        help="keep the arms' SQLite studies and results in this directory; a rerun with "
        "the same directory skips the arms already finished",
    )
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(a.keep) if a.keep else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        results = [summarise(pr, run_arm(a.data, pr, a, where)) for pr in ("none", a.pruner)]
    print(json.dumps(results, indent=1))
    print(
        "| pruner | complete | pruned | rejected (budget) | trials/hour | trained/hour "
        "| best validation HitRate (trial, minute) | peak RSS MiB | load avg before -> after |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['pruner']} | {r['complete']} | {r['pruned']} | {r['rejected']} "
            f"| {r['trials_per_hour']:.0f} | {r['trained_per_hour']:.0f} "
            f"| {r['best']:.4f} ({r['best_trial']}, {r['best_at_min']:.1f}) "
            f"| {r['peak_rss_mib']:.0f} | {r['load']} |"
        )
    base, other = results
    print(
        f"ratio {other['pruner']} / none: trained per hour "
        f"{other['trained_per_hour'] / max(base['trained_per_hour'], 1e-9):.2f}x, "
        f"best value {other['best'] / base['best']:.2f}x"
    )


if __name__ == "__main__":
    main()

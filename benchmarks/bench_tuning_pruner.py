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
        --keep runs/pruner-1h --plot docs/tuning-pruner-1h.png

It also prints how many minutes each arm needed to reach the lower of the two final best
values (the speed-up at equal quality); ``--plot`` draws the best value against time.
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


def best_curve(out: dict) -> list[tuple[float, float]]:
    """(minute, best value so far) at each completed trial that raised the best."""
    curve: list[tuple[float, float]] = []
    for r in sorted(out["rows"], key=lambda r: r["at"]):
        if r["kind"] == "complete" and (not curve or r["value"] > curve[-1][1]):
            curve.append((r["at"] / 60, r["value"]))
    return curve


def minutes_to(curve: list[tuple[float, float]], target: float) -> float:
    """The minute at which ``curve`` first reached ``target`` (nan if never)."""
    return next((m for m, v in curve if v >= target), float("nan"))


def plot(curves: dict[str, list[tuple[float, float]]], minutes: float, path: Path) -> None:
    """The best validation value against wall-clock minutes, one step line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for pruner, curve in curves.items():
        xs, ys = [m for m, _ in curve] + [minutes], [v for _, v in curve] + [curve[-1][1]]
        ax.step(xs, ys, where="post", label=f"pruner: {pruner}")
    ax.set(xlabel="wall-clock minutes", ylabel="best validation HitRate so far")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def time_to_target(outs: dict[str, dict], a: argparse.Namespace) -> None:
    """Minutes each arm needed to reach the lower of the two arms' final best values
    (the speed-up at equal quality), and the figure with ``--plot``."""
    curves = {pruner: best_curve(out) for pruner, out in outs.items()}
    (base, c0), (other, c1) = curves.items()
    if not c0 or not c1:
        print("an arm completed no trial: no time to target")
        return
    target = min(c0[-1][1], c1[-1][1])
    m0, m1 = minutes_to(c0, target), minutes_to(c1, target)
    print(
        f"minutes to reach {target:.4f} (the lower final best): {base} {m0:.1f}, "
        f"{other} {m1:.1f}; {other} reached it {m0 / m1:.2f}x as fast"
    )
    if a.plot:
        plot(curves, a.minutes, Path(a.plot))
        print(f"figure: {a.plot}")


def rung_fidelity(db: Path) -> None:
    """How well the pruner arm's first rung predicts the final value: the Spearman
    correlation of first-rung and final values over its completed trials (the survivors
    only, so a biased view), and where the best trial's first-rung value stood among the
    first-rung values of all its trials (successive halving with factor 3 keeps the top
    third)."""
    import optuna
    from scipy.stats import spearmanr

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name="bench", storage=f"sqlite:///{db}").trials
    first = {
        t.number: t.intermediate_values[min(t.intermediate_values)]
        for t in trials
        if t.intermediate_values
    }
    done = [t for t in trials if t.state.name == "COMPLETE" and t.number in first]
    if len(done) < 3:
        return
    rho = spearmanr([first[t.number] for t in done], [t.value for t in done])[0]
    best = max(done, key=lambda t: t.value)
    share = sum(v < first[best.number] for v in first.values()) / len(first)
    print(
        f"first rung vs final value over {len(done)} completed trials: Spearman {rho:.2f}; "
        f"the best trial ({best.number}) was above {share:.1%} of the {len(first)} "
        "first-rung values"
    )
    print(rung_noise(list(first.values())))


def rung_noise(values: list[float]) -> str:
    """The spread of the first-rung values beside the sampling noise of one value: the
    binomial standard error of a HitRate at the top third's threshold over the pruner's
    fidelity sample (at most 2 x FIDELITY_QUERIES validation queries)."""
    import numpy as np

    from songspace.tuning.study import FIDELITY_QUERIES

    median, cut = np.quantile(values, [0.5, 2 / 3])
    n = 2 * FIDELITY_QUERIES
    se = float(np.sqrt(cut * (1 - cut) / n))
    return (
        f"first-rung values: median {median:.4f}, top third from {cut:.4f} "
        f"({cut - median:.4f} apart); the standard error of one value there over "
        f"{n} queries is about {se:.4f}"
    )


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
    p.add_argument("--plot", help="write the best value against wall time to this PNG")
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(a.keep) if a.keep else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        outs = {pr: run_arm(a.data, pr, a, where) for pr in ("none", a.pruner)}
    results = [summarise(pr, out) for pr, out in outs.items()]
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
    time_to_target(outs, a)
    if a.keep and (Path(a.keep) / f"{a.pruner}.db").exists():
        rung_fidelity(Path(a.keep) / f"{a.pruner}.db")


if __name__ == "__main__":
    main()

"""W2V Pareto study (HitRate x VRC_genre): the front, and what it says about lambda(alpha).

The W2V paper (§4.4) picks one point of the HitRate/VRC trade-off with the scalarised
objective ``lambda(alpha) = alpha * HitRate + (1 - alpha) * rVRC`` (eq. 1-2; alpha 0.01 and
0.1). A multi-objective study (``songspace tune ... --objective hit_rate --objective
vrc_genre``, no ``--alpha``) estimates the whole front instead. This script reads the
Pareto study and, optionally, the single-objective and scalarised studies tuned on the
same data and split (their trials record every objective's validation value, so they all
live in one plane), and writes:

* ``OUT/front.png``: every complete trial's validation (HitRate, VRC_genre), one colour
  per study; the Pareto study's front; the front of all studies' trials pooled; each
  study's chosen configuration; the default; and, through each scalarised study's
  choice, its lambda(alpha) iso-line (points above it score higher);
* ``OUT/pareto.md`` (and ``pareto.json``): the front's members with their values and
  rVRC, the interval of alpha over which each member maximises lambda(alpha) among the
  members (its share of the alpha axis), which member alpha = 0.01 and 0.1 pick, and
  each study's choice placed against the Pareto study's front and against the pooled
  front of all studies' trials (inside it, with the HitRate gain that would reach it; on
  it; or beyond it).

The test-split scores of the front's members beside the scalarised rows come from
``experiments/w2v_table4.py`` with the Pareto study among its ``--study`` (and
``--pareto-max``). Validation values only here (the studies chose on them):

    T=runs/tuning
    python experiments/w2v_pareto.py -o runs/pareto-front \\
        --pareto "sqlite:///$T/tune-pareto.db=track2vec-hit_rate+vrc_genre" \\
        --study sqlite:///$T/tune-hit_rate.db=track2vec-hit_rate \\
        --study sqlite:///$T/tune-vrc_genre.db=track2vec-vrc_genre \\
        --study "sqlite:///$T/tune-lambda_genre_0.01.db=track2vec-hit_rate+vrc_genre-a0.01" \\
        --study "sqlite:///$T/tune-lambda_genre_0.1.db=track2vec-hit_rate+vrc_genre-a0.1"
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from w2v_table4 import check_shared, commit, study_state  # the sibling script's helpers

log = logging.getLogger("w2v_pareto")

#: The two validation metrics of the plane (as the trials record them).
HR, VRC = "next_song_hit_rate", "vrc_genre"
#: The settings every study must share (so their validation queries are the same).
SHARED = ("dataset_fingerprint", "seed", "heldout_fraction", "min_tracks", "k", "sample_rate")
#: The paper's alphas (W2V §4.4).
ALPHAS = (0.01, 0.1)


@dataclass
class Point:
    """One complete trial in the (HitRate, VRC_genre) plane."""

    study: str
    trial: int
    hit_rate: float
    vrc: float
    rvrc: float = 0.0


@dataclass
class Loaded:
    """A study, its settings and its complete trials as points."""

    name: str
    study: Any
    settings: Any
    points: list[Point]
    #: best validation HitRate of a study whose trials scored no VRC (a HitRate-only study)
    best_hr: float | None = None


def load(spec: str) -> Loaded:
    """The study ``STORAGE=NAME`` with its complete trials' validation values."""
    import optuna

    from songspace.tuning.settings import StudySettings

    storage, _, name = spec.rpartition("=")
    st = optuna.load_study(study_name=name, storage=storage)
    settings = StudySettings.from_attrs(st.user_attrs["songspace"], name)
    complete = st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    recorded = [(t.number, t.user_attrs.get("metrics", {})) for t in complete]
    points = [
        Point(name, number, float(m[HR]), float(m[VRC]))
        for number, m in recorded
        if HR in m and VRC in m
    ]
    hrs = [float(m[HR]) for _, m in recorded if HR in m]
    return Loaded(name, st, settings, points, None if points or not hrs else max(hrs))


def front(points: list[Point]) -> list[Point]:
    """The non-dominated points (both metrics maximised), by increasing HitRate."""
    kept = [
        p
        for p in points
        if not any(
            q.hit_rate >= p.hit_rate
            and q.vrc >= p.vrc
            and (q.hit_rate, q.vrc) != (p.hit_rate, p.vrc)
            for q in points
        )
    ]
    return sorted(kept, key=lambda p: (p.hit_rate, -p.vrc))


def alpha_shares(members: list[Point], steps: int = 100_001) -> list[dict[str, Any]]:
    """For each member, the alpha interval(s) over which it maximises lambda(alpha) among
    ``members`` (a grid of ``steps`` alphas over [0, 1]); members that win for no alpha
    (inside the front's convex hull) get none."""
    alphas = np.linspace(0.0, 1.0, steps)
    hr = np.array([p.hit_rate for p in members])
    rv = np.array([p.rvrc for p in members])
    winner = np.argmax(alphas[:, None] * hr[None, :] + (1 - alphas[:, None]) * rv[None, :], axis=1)
    out: list[dict[str, Any]] = []
    start = 0
    for i in range(1, steps + 1):
        if i == steps or winner[i] != winner[start]:
            p = members[int(winner[start])]
            out.append(
                {"study": p.study, "trial": p.trial, "from": alphas[start], "to": alphas[i - 1]}
            )
            start = i
    return out


def pick(members: list[Point], alpha: float) -> Point:
    """The member maximising lambda(alpha)."""
    return max(members, key=lambda p: alpha * p.hit_rate + (1 - alpha) * p.rvrc)


def chosen(loaded: Loaded) -> list[Point]:
    """The study's chosen configuration(s): its best trial, or its Pareto set."""
    best = {t.number for t in loaded.study.best_trials}
    return [p for p in loaded.points if p.trial in best]


def distance_inside(p: Point, members: list[Point]) -> float:
    """How far ``p`` lies inside the front, as the smallest relative HitRate gain that would
    put it on the front (0 for a member; the front's HitRate at p's VRC or above)."""
    above = [m.hit_rate for m in members if m.vrc >= p.vrc]
    return max(0.0, (max(above) - p.hit_rate) / p.hit_rate) if above else 0.0


def placement(p: Point, members: list[Point]) -> str:
    """Where ``p`` lies against the front ``members``: inside it (with the HitRate gain
    that would reach it), on it, or beyond it (dominating some of its members)."""
    gain = distance_inside(p, members)
    if gain > 0:
        return f"inside (+{100 * gain:.1f}% HitRate to reach it)"
    beaten = sum(p.hit_rate >= m.hit_rate and p.vrc >= m.vrc for m in members) - (p in members)
    return f"beyond (dominates {beaten} member{'s' * (beaten != 1)})" if beaten else "on it"


def plot(studies: list[Loaded], pareto: Loaded, pooled: list[Point], ref: dict, path: Path) -> None:
    """``front.png``: the trials, both fronts, the choices, the default and the iso-lines."""
    from songspace._optional import pyplot
    from songspace._util import atomic_write_figure

    plt = pyplot("the Pareto figure")
    fig, ax = plt.subplots(figsize=(10.5, 5.5))
    for i, s in enumerate(studies):
        draw_study(ax, s, f"C{i}", ref[VRC], choice=s is not pareto)
    members = front(pareto.points)
    ax.plot(
        [p.hit_rate for p in members],
        [p.vrc for p in members],
        "o-",
        color="C0",  # the Pareto study's colour (it is drawn first)
        markeredgecolor="black",
        lw=2,
        zorder=4,
        label=f"{pareto.name} front ({len(members)})",
    )
    ax.step(
        [p.hit_rate for p in pooled],
        [p.vrc for p in pooled],
        where="pre",
        color="black",
        lw=1,
        ls=":",
        label="front of all studies' trials",
    )
    ax.scatter([ref[HR]], [ref[VRC]], marker="*", s=220, color="grey", zorder=6, label="default")
    ax.set_xlabel("validation next-song HitRate@100")
    ax.set_ylabel("validation VRC_genre")
    ax.set_title("HitRate x VRC_genre: trials, fronts and the lambda(alpha) choices")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the plot
    fig.tight_layout()
    atomic_write_figure(path, fig, dpi=120)
    plt.close(fig)


def draw_study(ax: Any, s: Loaded, colour: str, vrc_ref: float, *, choice: bool) -> None:
    """A study's trials, its choice (a HitRate-only study's: a vertical line) and, for a
    scalarised study, its lambda(alpha) iso-line through the choice."""
    if s.points:
        xs, ys = [p.hit_rate for p in s.points], [p.vrc for p in s.points]
        ax.scatter(xs, ys, s=10, color=colour, alpha=0.35, label=f"{s.name} trials")
    best = chosen(s)
    if choice and best:
        ax.scatter(
            [p.hit_rate for p in best],
            [p.vrc for p in best],
            s=90,
            color=colour,
            edgecolor="black",
            marker="D",
            zorder=5,
            label=f"{s.name} choice",
        )
    if s.best_hr is not None:
        label = f"{s.name} best (VRC not scored)"
        ax.axvline(s.best_hr, color=colour, ls=":", lw=1.5, label=label)
    alpha = s.settings.objective.alpha
    if alpha is not None and best:
        iso_line(ax, best[0], float(alpha), vrc_ref, colour)


def iso_line(ax: Any, p: Point, alpha: float, vrc_ref: float, colour: str) -> None:
    """The lambda(alpha) iso-line through ``p``: VRC = VRC_p - VRC_ref * alpha/(1-alpha) * dHR."""
    lo, hi = ax.get_xlim()
    xs = np.array([lo, hi])
    slope = -vrc_ref * alpha / (1 - alpha) if alpha < 1 else -np.inf
    ax.plot(
        xs,
        p.vrc + slope * (xs - p.hit_rate),
        ls="--",
        lw=1,
        color=colour,
        label=f"lambda({alpha:g}) iso-line",
    )
    ax.set_xlim(lo, hi)


def table(
    members: list[Point], shares: list[dict], studies: list[Loaded], pooled: list[Point]
) -> list[str]:
    """``pareto.md``: the members, the alpha shares, the paper's alphas, each study's choice
    placed against the Pareto study's front and the pooled front of all studies' trials."""
    lines = ["| Member (trial) | HitRate | VRC_genre | rVRC | wins lambda(alpha) for alpha in |"]
    lines.append("|---|---:|---:|---:|---|")
    for p in members:
        won = [f"[{s['from']:.4f}, {s['to']:.4f}]" for s in shares if s["trial"] == p.trial]
        lines.append(
            f"| {p.trial} | {p.hit_rate:.4f} | {p.vrc:.2f} | {p.rvrc:+.3f} | "
            f"{', '.join(won) or 'none (inside the hull)'} |"
        )
    lines += ["", "| alpha | member picked | HitRate | VRC_genre |", "|---:|---|---:|---:|"]
    for a in ALPHAS:
        p = pick(members, a)
        lines.append(f"| {a:g} | trial {p.trial} | {p.hit_rate:.4f} | {p.vrc:.2f} |")
    lines += [
        "",
        "| Study | choice (trial) | HitRate | VRC_genre | against the Pareto study's front "
        "| against the pooled front |",
    ]
    lines.append("|---|---|---:|---:|---|---|")
    for s in studies:
        if s.best_hr is not None:
            lines.append(f"| {s.name} | best | {s.best_hr:.4f} | not scored | - | - |")
        for p in chosen(s):
            lines.append(
                f"| {s.name} | {p.trial} | {p.hit_rate:.4f} | {p.vrc:.2f} | "
                f"{placement(p, members)} | {placement(p, pooled)} |"
            )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--pareto", required=True, metavar="STORAGE=NAME")
    ap.add_argument("--study", action="append", default=[], metavar="STORAGE=NAME")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from songspace._util import atomic_directory
    from songspace.evaluation.clustering import relative_vrc

    pareto = load(args.pareto)
    if pareto.settings.objective.mode != "pareto":
        raise SystemExit(f"--pareto {pareto.name}: not a multi-objective study")
    studies = [pareto, *(load(spec) for spec in args.study)]
    check_shared([(s.name, s.settings) for s in studies], SHARED, "validation")
    ref = pareto.study.user_attrs["reference"]["metrics"]
    for s in studies:
        for p in s.points:
            p.rvrc = relative_vrc(p.vrc, ref[VRC])
    members = front(pareto.points)
    shares = alpha_shares(members)
    pooled = front([p for s in studies for p in s.points])
    notes = [
        f"Validation split of every study (seed {pareto.settings.seed}, held-out share "
        f"{pareto.settings.heldout_fraction}); rVRC against the default's VRC_genre "
        f"{ref[VRC]:.2f} (HitRate {ref[HR]:.4f}). The pooled front of all studies' trials has "
        f"{len(pooled)} points, {sum(p.study == pareto.name for p in pooled)} of them from "
        "the Pareto study.",
    ]
    doc = {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "studies": {s.name: study_state(s.study) for s in studies},
        "reference": {HR: ref[HR], VRC: ref[VRC]},
        "front": [asdict(p) for p in members],
        "alpha_shares": shares,
        "pooled_front": [asdict(p) for p in pooled],
    }
    with atomic_directory(args.out) as tmp:
        plot(studies, pareto, pooled, ref, tmp / "front.png")
        (tmp / "pareto.md").write_text(
            "\n".join([*table(members, shares, studies, pooled), "", *notes]) + "\n"
        )
        (tmp / "pareto.json").write_text(json.dumps(doc, indent=2, default=float) + "\n")
    log.info("wrote %s", Path(args.out) / "pareto.md")


if __name__ == "__main__":
    main()

"""GraphSAGE early stopping before and after its held-out pairs were drawn as training draws
them (issue 28 item 7; docs/results.md, "Early stopping on pairs drawn as training draws").

    python experiments/graphsage_early_stopping.py WORK [--mpd-subset DIR] [--skip-preset]

For each dataset, trains GraphSAGE twice with the same seed, `validation_draw=edges` (before:
held-out edges drawn uniformly, hub anchors) and `validation_draw=anchors` (after: uniform
anchors, the positive by edge weight), then evaluates both runs inside one protocol with
`evaluate --against` (paired t-tests of "anchors" against "edges"). Datasets:

- `preset5`: `prepare synthetic --preset mpd --scale 0.05` (50,000 playlists), GraphSAGE with
  `feature_groups=genre,popularity epochs=10 steps_per_epoch=200` (docs/results.md's 5% runs,
  with room for later epochs);
- `mpd`: the prepared MPD subset (`--mpd-subset`, a `songspace prepare mpd` output), GraphSAGE
  with its defaults (`epochs=10`).

Everything lands under WORK (datasets, runs, evaluations, `summary.md`); existing outputs are
reused, so a stopped run resumes. Each training's per-epoch history (`model/model.json`) gives
the epoch kept.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

DRAWS = ("edges", "anchors")
EVAL = ["--metrics", "completion,next_song,clustering", "--max-pairs", "10000"]


def songspace(*args: str, log: Path | None = None) -> None:
    """Run the CLI; with ``log``, its output is also kept there (COLUMNS wide, unwrapped)."""
    cmd = [sys.executable, "-c", "from songspace.cli import main; main()", "--no-progress", *args]
    print("+ songspace", " ".join(args), flush=True)
    if log is None:
        subprocess.run(cmd, check=True)
        return
    env = {**os.environ, "COLUMNS": "250"}
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    log.write_text(out.stdout + out.stderr)
    print(out.stdout + out.stderr, flush=True)


EPOCH = re.compile(r"epoch (\d+): .*validation=([0-9.]+)")
STOP = re.compile(r"early stop after epoch \d+ \(best (\d+)\)")


def history(log: Path) -> tuple[list[float], int]:
    """The validation loss of every epoch and the epoch kept, from a training's log."""
    text = log.read_text()
    vals = [float(v) for _, v in EPOCH.findall(text)]
    stop = STOP.search(text)
    kept = int(stop.group(1)) if stop else 1 + min(range(len(vals)), key=vals.__getitem__)
    return vals, kept


def one_dataset(work: Path, name: str, data: Path, params: list[str]) -> str:
    runs = {}
    for draw in DRAWS:
        run = work / f"{name}-{draw}"
        if not run.exists():
            songspace(
                "train",
                "graphsage",
                str(data),
                "-o",
                str(run),
                *params,
                "--param",
                f"validation_draw={draw}",
                log=work / f"{name}-{draw}.log",
            )
        runs[draw] = run
    ev = work / f"{name}-eval"
    if not ev.exists():
        songspace(
            "evaluate",
            str(data),
            *(str(r) for r in runs.values()),
            "-o",
            str(ev),
            "--against",
            str(runs["edges"]),
            *EVAL,
        )
    summary = json.loads((ev / "summary.json").read_text())
    lines = [f"## {name}", "", "| draw | epoch kept | validation loss per epoch |", "|---|---|---|"]
    for draw in runs:
        vals, kept = history(work / f"{name}-{draw}.log")
        lines.append(f"| {draw} | {kept} | {', '.join(f'{v:.3f}' for v in vals)} |")
    metrics = [
        "completion_hr",
        "completion_ndcg@10",
        "next_song_in_set_hit_rate",
        "next_song_out_of_set_hit_rate",
        "genre_coherence",
    ]
    lines += ["", "| model | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    tests = summary["tests"]
    for model, values in summary["results"].items():
        cells = []
        for m in metrics:
            v = values.get(m)
            t = tests.get(model, {}).get(runs["edges"].name, {}).get(m)
            p = f" (p_adj={t['p_adjusted']:.2g})" if t else ""
            cells.append("-" if v is None else f"{v:.4f}{p}")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def figure(work: Path, names: list[str], out: Path) -> None:
    """Validation loss per epoch, one panel per dataset, both draws, the kept epoch marked."""
    from songspace._optional import pyplot
    from songspace._util import atomic_write_figure

    plt = pyplot("the early-stopping figure")
    fig, axes = plt.subplots(1, len(names), figsize=(5 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        for draw in DRAWS:
            vals, kept = history(work / f"{name}-{draw}.log")
            epochs = range(1, len(vals) + 1)
            (line,) = ax.plot(epochs, vals, marker="o", label=f"validation_draw={draw}")
            ax.plot([kept], [vals[kept - 1]], marker="*", markersize=16, color=line.get_color())
        ax.set_title(f"{name}: early-stopping loss (star: epoch kept)")
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation loss")
        ax.legend()
    fig.tight_layout()
    atomic_write_figure(out, fig)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--mpd-subset", type=Path, help="a prepared MPD subset (prepare mpd)")
    ap.add_argument("--skip-preset", action="store_true")
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    parts = []
    if not a.skip_preset:
        data = a.work / "preset5"
        if not data.exists():
            songspace("prepare", "synthetic", "--preset", "mpd", "--scale", "0.05", "-o", str(data))
        params = [
            "--param",
            "feature_groups=genre,popularity",
            "--param",
            "epochs=10",
            "--param",
            "steps_per_epoch=200",
        ]
        parts.append(one_dataset(a.work, "preset5", data, params))
        (a.work / "summary.md").write_text("\n".join(parts))
    if a.mpd_subset is not None:
        parts.append(one_dataset(a.work, "mpd", a.mpd_subset, []))
    (a.work / "summary.md").write_text("\n".join(parts))
    names = [n for n in ("preset5", "mpd") if (a.work / f"{n}-edges.log").is_file()]
    figure(a.work, names, a.work / "early_stopping.png")
    print("\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())

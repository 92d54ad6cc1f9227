"""Issue 28 item 8: MUSIG against GraphSAGE, both tuned for the same CPU time (MUSIG Table 2).

The studies (one per model and feature groups) run with ``songspace tune`` on a 25% sample
of the training playlists, on the validation completion HR, with the same training
CPU-hours each (``--cpu-hours``); MUSIG's study starts from the paper's four task-weight
vectors (its default 1-1-1 and three ``--enqueue``). ``experiments/musig_vs_graphsage.sh`` runs
them (one SQLite file per study in WORK=runs/item8) and then this script.

This script then retrains, for each study, the default configuration and the best trial on
100% of the tuning protocol's training view (:func:`songspace.tuning.tuning_protocols`,
the studies' seed and held-out share), scores them on its **test** split (never the
validation queries the studies chose on) and writes ``OUT/tables.md``: Table 2's
completion metrics and next-song HitRate per row, then paired t-tests (Bonferroni over
the tested metrics) of each tuned row against its default and of the tuned MUSIG row
against each tuned GraphSAGE row:

    T=runs/item8
    python experiments/musig_vs_graphsage.py runs/tuning/mpd -o runs/item8-report \\
        --cache $T/cache \\
        --study sqlite:///$T/tune-musig-popularity.db=musig-completion_hr-r0.25 \\
        --study sqlite:///$T/tune-graphsage-audio.db=graphsage-completion_hr-r0.25 \\
        --study sqlite:///$T/tune-graphsage-all.db=graphsage-completion_hr-r0.25

The first study whose model is ``musig`` is the one the others are tested against (tuned
against tuned, default against default).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from w2v_table4 import check_shared, commit, study_state  # the sibling script's helpers

log = logging.getLogger("musig_vs_graphsage")

#: MUSIG Table 2's columns, then next-song HitRate@100 (in-set, out-of-set).
COLUMNS = (
    "completion_hr",
    "completion_mrr",
    "completion_p@1",
    "completion_p@5",
    "completion_p@10",
    "completion_ndcg@1",
    "completion_ndcg@5",
    "completion_ndcg@10",
    "completion_coverage",
    "next_song_in_set_hit_rate",
    "next_song_out_of_set_hit_rate",
)
#: The metrics tested (per-query values; coverage is a property of the embedding).
TESTED = (
    "completion_hr",
    "completion_mrr",
    "completion_p@10",
    "completion_ndcg@10",
    "next_song_in_set_hit_rate",
    "next_song_out_of_set_hit_rate",
)
#: The families scored on the test split.
FAMILIES = ("completion", "next_song")
#: The settings every study must share (so their test splits are the same queries).
SHARED = ("dataset_fingerprint", "seed", "heldout_fraction", "min_tracks", "k")


@dataclass
class Row:
    """One configuration of the table: a study's default or best trial."""

    label: str
    study: str
    model: str
    params: dict[str, Any]
    features: str
    trial: int | None = None
    training_time: float = 0.0
    #: the study's validation value of this configuration (trained on the sample)
    sample_value: float | None = None


def load(spec: str) -> tuple[str, Any, Any]:
    """(name, study, settings) of ``STORAGE=NAME``."""
    import optuna

    from songspace.tuning.settings import StudySettings

    storage, _, name = spec.rpartition("=")
    st = optuna.load_study(study_name=name, storage=storage)
    return name, st, StudySettings.from_attrs(st.user_attrs["songspace"], name)


def trial_value(st: Any, defaults: dict[str, Any], params: dict[str, Any]) -> float | None:
    """The objective value of the study's first complete trial trained with ``params``."""
    import optuna

    for t in st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if {**defaults, **t.user_attrs.get("model_params", {})} == params:
            return float(t.value)
    return None


def study_rows(name: str, st: Any, s: Any) -> tuple[str, list[Row], dict[str, Any]]:
    """The study's tag (model and feature groups: two studies may share a name, in two
    storages), its default and best rows, and its state (trials, training CPU-hours)."""
    from songspace.models.registry import get_model_class
    from songspace.tuning.study import best_trials, reference_config

    klass = get_model_class(s.model)
    groups = s.fixed_params.get("feature_groups", klass.default_params().get("feature_groups"))
    features = ",".join(groups) if isinstance(groups, list | tuple) else str(groups)
    tag = f"{s.model.upper()} {features.upper()}"
    default = reference_config(st, klass, s.fixed_params)
    value = trial_value(st, klass.default_params(), default)
    rows = [Row(f"{tag} default", name, s.model, default, features, sample_value=value)]
    best = best_trials(st, s.objective)
    if best:
        t = best[0]
        params = {**klass.default_params(), **t.user_attrs["model_params"]}
        tuned = Row(f"{tag} tuned", name, s.model, params, features)
        tuned.trial, tuned.sample_value = t.number, t.value
        rows.append(tuned)
    state = {
        **study_state(st),
        "study": name,
        "sample_rate": s.sample_rate,
        "params": rows[-1].params,
    }
    return tag, rows, state


def evaluate_rows(
    rows: list[Row], settings: Any, data: str, cache: str | None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Each row fitted on the tuning protocol's full training view (or loaded from the
    model cache) and evaluated on its test split, by label (tune-report's retraining);
    then the same models' completion on the validation playlists the studies chose on
    (at 100% the validation protocol trains on that same view, so the cache serves it)."""
    from songspace.data.dataset import Dataset
    from songspace.data.fingerprint import fingerprint_matches
    from songspace.reports.tune_report import Configuration, retrain_and_evaluate
    from songspace.tuning.protocols import tuning_protocols

    ds = Dataset.load(data)
    if not fingerprint_matches(ds, settings.dataset_fingerprint):
        raise SystemExit(f"{data} is not the dataset the studies were tuned on")
    protocols = tuning_protocols(
        ds,
        seed=settings.seed,
        heldout_fraction=settings.heldout_fraction,
        min_tracks=settings.min_tracks,
    )
    assert protocols.validation.train is protocols.test.train  # one view: the cache serves both
    configs = [Configuration(r.label, r.model, r.params) for r in rows]
    common = {"seed": settings.seed, "heldout_fraction": settings.heldout_fraction}
    out, times = retrain_and_evaluate(
        configs, protocols.test, ds, cache_dir=cache, families=FAMILIES, **common
    )
    for row in rows:
        row.training_time = times[row.label]
    val, _ = retrain_and_evaluate(
        configs, protocols.validation, ds, cache_dir=cache, families=("completion",), **common
    )
    return out, val, protocols.test.summary()


def tests(a: Any, b: Any) -> dict[str, Any]:
    """Paired t-tests of ``a`` against ``b`` over :data:`TESTED` (Bonferroni)."""
    from songspace.evaluation.results import compare

    return compare(a, b, metrics=[m for m in TESTED if m in a.metrics], alpha=0.01)


def study_table(state: dict[str, dict[str, Any]]) -> list[str]:
    """One line per study: trials by state, trained trials, training CPU-hours, the best
    trial's validation value and the trained trial at its last improvement."""
    lines = [
        "| Study | Trials by state | Trained | Training CPU-h | Best trial | Best (validation)"
        " | Improved at | Flat over the last third |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for tag, st in state.items():
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(st["states"].items()))
        best = f"{st['best_value']:.4f}" if "best_value" in st else "-"
        flat = {True: "yes", False: "no"}.get(st.get("flat_last_third"), "-")
        lines.append(
            f"| {tag} | {states} | {st['trained']} | {st['training_cpu_hours']:.3f} | "
            f"{st.get('best_trial', '-')} | {best} | {st.get('improved_at', '-')} | {flat} |"
        )
    return lines


def transfer_table(rows: list[Row], test: dict, val: dict) -> list[str]:
    """Completion HR of each row where the study measured it (validation playlists, model
    trained on the sample), on the same playlists with the model trained on 100%, and on
    the test split; then tuned minus default at 100% on the validation playlists (paired
    t-test, one metric)."""
    from songspace.evaluation.results import compare

    lines = [
        "| Row | Validation HR, sample (study) | Validation HR, 100% | Test HR, 100% |",
        "|---|---:|---:|---:|",
    ]
    for r in rows:
        sample = "-" if r.sample_value is None else f"{r.sample_value:.4f}"
        v, t = val[r.label].metrics["completion_hr"].value, test[r.label].metrics
        lines.append(f"| {r.label} | {sample} | {v:.4f} | {t['completion_hr'].value:.4f} |")
    lines += ["", "| A | B | validation completion HR at 100%: A - B | p |", "|---|---|---:|---:|"]
    for r in rows:
        if r.trial is not None:
            b = default_of(r)
            c = compare(val[r.label], val[b], metrics=["completion_hr"])["completion_hr"]
            lines.append(f"| {r.label} | {b} | {c.value_a - c.value_b:+.4f} | {c.p_adjusted:.2g} |")
    return lines


def tested_pairs(rows: list[Row]) -> list[tuple[str, str]]:
    """The paired tests: each tuned row against its default; then the first MUSIG study's
    tuned row against every other model's tuned row, and its default against theirs."""
    tuned = [r for r in rows if r.trial is not None]
    pairs = [(r.label, default_of(r)) for r in tuned]
    musig = next((r for r in tuned if r.model == "musig"), None)
    if musig is not None:
        others = [r for r in tuned if r.model != "musig"]
        pairs += [(musig.label, r.label) for r in others]
        pairs += [(default_of(musig), default_of(r)) for r in others]
    return pairs


def default_of(row: Row) -> str:
    """The label of the default row of ``row``'s study."""
    return f"{row.label.rsplit(' ', 1)[0]} default"


def markdown(rows: list[Row], evals: dict, pairs: list[tuple[str, str]], notes: list[str]) -> str:
    """The table, the tests and the notes."""
    head = "| Row | Study (trial) | Training CPU s | " + " | ".join(COLUMNS) + " |"
    lines = [head, "|---|---|---:|" + "---:|" * len(COLUMNS)]
    for r in rows:
        m = evals[r.label].metrics
        cells = " | ".join(f"{m[c].value:.4f}" if c in m else "-" for c in COLUMNS)
        trial = "default" if r.trial is None else f"trial {r.trial}"
        lines.append(f"| {r.label} | {r.study} ({trial}) | {r.training_time:.1f} | {cells} |")
    lines += ["", "| A | B | metric | A - B | p (Bonferroni) | significant at 0.01 |"]
    lines += ["|---|---|---|---:|---:|---|"]
    for a, b in pairs:
        for k, c in tests(evals[a], evals[b]).items():
            sig = "yes" if c.significant else "no"
            diff = c.value_a - c.value_b
            lines.append(f"| {a} | {b} | {k} | {diff:+.4f} | {c.p_adjusted:.2g} | {sig} |")
    return "\n".join([*lines, "", *notes]) + "\n"


def reseeded(rows: list[Row], settings: Any, data: str, seeds: list[int]) -> dict[str, Any]:
    """Each row retrained on the studies' sample (their validation protocol's training
    view) with other model seeds, uncached, and scored on completion there: does a
    configuration's gain in its study survive another seed at the same scale?"""
    from songspace.data.dataset import Dataset
    from songspace.reports.tune_report import Configuration, retrain_and_evaluate

    ds = Dataset.load(data)
    protocol = settings.protocols(ds).validation
    configs = [
        Configuration(f"{r.label} seed {k}", r.model, {**r.params, "seed": k})
        for r in rows
        for k in seeds
    ]
    out, _ = retrain_and_evaluate(
        configs,
        protocol,
        ds,
        seed=settings.seed,
        heldout_fraction=settings.heldout_fraction,
        families=("completion",),
    )
    return out


def seed_table(rows: list[Row], evals: dict[str, Any], seeds: list[int]) -> list[str]:
    """Validation completion HR on the sample in the study, then per model seed (the study's
    trials train with seed 0, so that column repeats the study's), then tuned minus default."""
    head = "| Row | in the study | " + " | ".join(f"seed {k}" for k in seeds) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(seeds)]
    hr = {
        r.label: [evals[f"{r.label} seed {k}"].metrics["completion_hr"].value for k in seeds]
        for r in rows
    }
    for r in rows:
        sample = "-" if r.sample_value is None else f"{r.sample_value:.4f}"
        lines.append(
            f"| {r.label} | {sample} | " + " | ".join(f"{v:.4f}" for v in hr[r.label]) + " |"
        )
    for r in rows:
        if r.trial is not None:
            b = next(d for d in rows if d.label == default_of(r))
            first = "-"  # the study's own difference, where it has both values
            if r.sample_value is not None and b.sample_value is not None:
                first = f"{r.sample_value - b.sample_value:+.4f}"
            diffs = [t - d for t, d in zip(hr[r.label], hr[b.label], strict=True)]
            cells = " | ".join([first, *(f"{d:+.4f}" for d in diffs)])
            lines.append(f"| {r.label} - default | {cells} |")
    return lines


def collect(args: argparse.Namespace) -> tuple[list[Row], dict[str, Any], Any]:
    """The rows of every study, their states by tag, and the first study's settings."""
    loaded = [load(spec) for spec in args.study]
    check_shared([(name, s) for name, _, s in loaded], SHARED, "test")
    if args.sample_seeds:
        check_shared([(name, s) for name, _, s in loaded], ("sample_rate", "replicate"), "sample")
    rows: list[Row] = []
    state: dict[str, Any] = {}
    for name, st, s in loaded:
        tag, r, one = study_rows(name, st, s)
        if tag in state:
            raise SystemExit(f"two studies tune {tag}: {state[tag]['study']} and {name}")
        state[tag] = one
        rows += r
    return rows, state, loaded[0][2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--study", action="append", required=True, metavar="STORAGE=NAME")
    ap.add_argument("--cache", help="the shared model cache (as songspace tune-report --cache)")
    ap.add_argument(
        "--sample-seeds",
        type=lambda v: [int(k) for k in v.split(",")],
        help="instead of the report: retrain each row on the studies' sample with these "
        "model seeds (e.g. 1,2) and write OUT/seeds.md (validation completion HR)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=False)
    rows, state, first = collect(args)
    if args.sample_seeds:
        evals = reseeded(rows, first, args.dataset, args.sample_seeds)
        (out / "seeds.md").write_text("\n".join(seed_table(rows, evals, args.sample_seeds)) + "\n")
        log.info("wrote %s", out / "seeds.md")
        return
    evals, val, summary = evaluate_rows(rows, first, args.dataset, args.cache)
    pairs = tested_pairs(rows)
    notes = [
        f"Test split: {summary.get('completion_playlists')} completion playlists, "
        f"{summary.get('in_set_pairs')} in-set and {summary.get('out_of_set_pairs')} "
        "out-of-set next-song pairs; every row retrained on the full training view.",
    ]
    record = {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
        "studies": state,
        "protocol": summary,
        "training_time": {r.label: r.training_time for r in rows},
        "sample_value": {r.label: r.sample_value for r in rows},
    }
    (out / "state.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    (out / "results").mkdir()
    for label, res in evals.items():
        res.save(out / "results" / f"{label.replace(' ', '_').replace(',', '+')}.json")
    text = markdown(rows, evals, pairs, notes)
    extra = ["", *study_table(state), "", *transfer_table(rows, evals, val)]
    (out / "tables.md").write_text(text + "\n".join(extra) + "\n")
    log.info("wrote %s", out / "tables.md")


if __name__ == "__main__":
    main()

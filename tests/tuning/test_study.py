"""tune(): resumable studies, the time budget, a killed worker, clear errors, the CLI."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.models import get_model_class
from songspace.tuning import StorageError, TimeBudgetExceeded, tune, tuning_protocols
from songspace.tuning.study import fit_config
from tests.tuning.conftest import FAST
from tests.tuning.workers import finish, kill_a_worker_mid_trial, start_worker, trials_of


def _states(trials):
    return [t.state.name for t in trials]


def test_protocols_keep_tuning_and_test_queries_apart(tiny_dataset_dir):
    ds = Dataset.load(tiny_dataset_dir)
    p = tuning_protocols(ds, seed=0, heldout_fraction=0.1)
    assert set(p.validation.split.validation).isdisjoint(p.test.split.test)
    assert p.validation.train is p.test.train  # same training view at rate 1
    # in-set pairs come from disjoint halves of the training sequences
    n_pairs = len(p.validation.in_set[0]) + len(p.test.in_set[0])
    from songspace.data.splits import mask_last

    _, q_all, _ = mask_last(ds, p.test.split.train)
    assert n_pairs == len(q_all)
    half = tuning_protocols(ds, seed=0, heldout_fraction=0.1, sample_rate=0.5)
    assert half.validation.train.n_sequences == pytest.approx(0.5 * p.test.train.n_sequences, 0.02)
    assert half.test.train.n_sequences == p.test.train.n_sequences
    np.testing.assert_array_equal(half.test.in_set[0], p.test.in_set[0])
    np.testing.assert_array_equal(half.validation.out_of_set[0], p.validation.out_of_set[0])


@pytest.mark.slow
def test_resuming_continues_the_study_and_loses_nothing(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    first = tune(
        "track2vec", tiny_dataset_dir, trials=3, storage=url, study="s", budget_factor=None, **FAST
    )
    assert first.counts == {"COMPLETE": 3}
    before = {t.number: (t.params, t.values) for t in trials_of(url, "s")}
    # the first trial is the reference configuration (searched parameters at its values)
    defaults = get_model_class("track2vec").reference_params()
    assert trials_of(url, "s")[0].params == {k: defaults[k] for k in before[0][0]}
    again = tune(
        "track2vec", tiny_dataset_dir, trials=5, storage=url, study="s", budget_factor=None, **FAST
    )
    after = trials_of(url, "s")
    assert again.counts == {"COMPLETE": 5}
    assert sorted(t.number for t in after) == [0, 1, 2, 3, 4]
    assert {t.number: (t.params, t.values) for t in after if t.number < 3} == before
    # the reference was computed once and reused
    assert again.reference == first.reference
    # a finished study is not extended by re-running the same command
    same = tune(
        "track2vec", tiny_dataset_dir, trials=5, storage=url, study="s", budget_factor=None, **FAST
    )
    assert same.counts == {"COMPLETE": 5}


def test_a_fresh_study_run_by_one_process_is_reproducible_from_its_seed(tiny_dataset_dir, tmp_path):
    runs = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / (name + '.db')}"
        tune(
            "track2vec",
            tiny_dataset_dir,
            trials=4,
            storage=url,
            study="s",
            seed=7,
            budget_factor=None,
            **FAST,
        )
        runs.append([t.params for t in trials_of(url, "s")])
    assert runs[0] == runs[1] and len(runs[0]) == 4


def test_resume_with_other_settings_is_refused(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    tune("track2vec", tiny_dataset_dir, trials=1, storage=url, study="s", **FAST)
    with pytest.raises(ParameterError, match="seed"):
        tune("track2vec", tiny_dataset_dir, trials=2, storage=url, study="s", seed=5, **FAST)
    with pytest.raises(ParameterError, match="study"):
        tune(
            "track2vec",
            tiny_dataset_dir,
            objectives=["hit_rate", "vrc_genre"],
            trials=2,
            storage=url,
            study="s",
            **FAST,
        )


def test_a_study_stored_before_budget_modes_resumes_as_reject(tiny_dataset_dir, tmp_path):
    """Stored settings are read as they were written: a study recorded without
    ``budget_mode`` (older code) resumes under ``reject`` and keeps its trials."""
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    tune("track2vec", tiny_dataset_dir, trials=2, storage=url, study="s", **FAST)
    st = optuna.load_study(study_name="s", storage=url)
    legacy = {k: v for k, v in st.user_attrs["songspace"].items() if k != "budget_mode"}
    st.set_user_attr("songspace", legacy)
    before = {t.number: (t.params, t.values) for t in trials_of(url, "s")}
    again = tune("track2vec", tiny_dataset_dir, trials=3, storage=url, study="s", **FAST)
    assert sum(again.counts.values()) == 3  # (trials past the CPU budget end PRUNED)
    assert {t.number: (t.params, t.values) for t in trials_of(url, "s") if t.number < 2} == before


def test_trials_over_the_time_budget_are_marked_not_kept(tiny_dataset_dir, tmp_path):
    import optuna

    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = {**FAST, "storage": url, "study": "s", "budget_factor": 1000.0}
    tune("track2vec", tiny_dataset_dir, trials=1, **kw)
    st = optuna.load_study(study_name="s", storage=url)
    ref = dict(st.user_attrs["reference"])
    ref["training_time"] = 1e-7  # every later trial trains longer than 1000 x this
    st.set_user_attr("reference", ref)
    res = tune("track2vec", tiny_dataset_dir, trials=3, **kw)
    trials = trials_of(url, "s")
    assert _states(trials) == ["COMPLETE", "PRUNED", "PRUNED"]
    for t in trials[1:]:
        assert t.user_attrs["rejected"] == "time budget"
        assert t.values is None
        # the overrun is the samplers' constraint (infeasible, not merely pruned)
        assert t.user_attrs["budget_violation"] > 0
        assert t.system_attrs["constraints"][0] > 0
    assert trials[0].user_attrs["budget_violation"] <= 0
    assert [b["number"] for b in res.best] == [0]


def test_budget_stops_training_from_the_progress_callback(tiny_dataset_dir):
    ds = Dataset.load(tiny_dataset_dir)
    klass = get_model_class("track2vec")
    with pytest.raises(TimeBudgetExceeded, match="budget"):
        fit_config(klass, {"epochs": 3}, ds, budget=0.0)
    messages = []
    model, seconds = fit_config(klass, {"epochs": 2}, ds, budget=None, report=messages.append)
    assert seconds > 0 and model.embeddings_.shape[0] == ds.n_tracks
    assert any("epoch 2/2" in m for m in messages)


def test_track2vec_stops_mid_epoch_when_progress_raises():
    """An error raised by the progress callback ends training (no thread left running)."""
    import threading

    from songspace.data import synthetic

    ds = synthetic.generate(600, 800, seed=0)
    model = get_model_class("track2vec")(epochs=50, window=40, negative=60)
    calls = []

    def progress(done, total, message):
        calls.append((done, message))
        raise TimeBudgetExceeded("stop")

    threads = threading.active_count()
    with pytest.raises(TimeBudgetExceeded):
        model.fit(ds, progress=progress)
    # stopped at the first report (within or at the end of the first of 50 epochs; when the
    # first in-epoch report comes depends on the machine's speed)
    assert len(calls) == 1 and calls[0][0] <= 1
    time.sleep(0.2)
    assert threading.active_count() == threads


#: Each budget mode's worker settings (slow enough trials to be killed mid-training).
KILL_SETTINGS = {
    "none": {},
    "reject": {"budget_mode": "reject", "budget_factor": 1.25},
    # equal-time trials set epochs themselves; a wide window keeps them slow enough
    "equal_time": {
        "budget_mode": "equal_time",
        "budget_factor": 1.25,
        "params": {"window": 40, "negative": 20},
    },
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(KILL_SETTINGS))
def test_a_worker_killed_mid_trial_leaves_the_study_usable(mode, tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = KILL_SETTINGS[mode]
    killed = kill_a_worker_mid_trial(
        lambda: start_worker(tiny_dataset_dir, url, "k", 4, **kw), url, "k"
    )
    time.sleep(3.5)  # the killed worker's heartbeat goes stale (3 x 1 s)
    finish(start_worker(tiny_dataset_dir, url, "k", 4, **kw))
    trials = trials_of(url, "k")
    states = {t.number: t.state.name for t in trials}
    assert states[killed] == "FAIL"
    # no trial lost: the study holds 4 finished trials (complete, or rejected for the budget)
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 4
    assert all(t.state.name == "COMPLETE" or t.user_attrs["rejected"] for t in finished)
    assert "RUNNING" not in states.values()
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == killed]
    assert len(retried) == 1 and retried[0].params == trials[killed].params


def test_storage_errors_are_clear(tiny_dataset_dir, tmp_path):
    with pytest.raises(StorageError, match="could not open the study storage") as err:
        tune("track2vec", tiny_dataset_dir, storage="postgresql://u:secret@127.0.0.1:1/x", **FAST)
    assert "secret" not in str(err.value)
    with pytest.raises(ParameterError, match="directory of the SQLite file exists"):
        tune("track2vec", tiny_dataset_dir, storage=str(tmp_path / "no" / "s.db"), **FAST)
    with pytest.raises(StorageError):
        tune("track2vec", tiny_dataset_dir, storage="nosuchdialect://x/y", **FAST)


def test_bad_arguments_are_clear_errors(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    for kw, match in (
        ({"objectives": ["hitrate"]}, "distinct objectives among 'hit_rate'"),
        ({"objectives": ["hit_rate", "vrc_genre"], "alpha": 1.5}, "0 <= alpha <= 1"),
        ({"trials": 0}, "parameter `trials`: expected an integer >= 1, got 0"),
        ({"sample_rate": 0.0}, "0 < sample_rate <= 1"),
        ({"budget_factor": 0.5}, "parameter `budget_factor`: expected a number >= 1 or None"),
        ({"sampler": "cma"}, "one of"),
        ({"params": {"nope": 1}}, "a parameter of"),
        ({"trails": 3}, "`trails`: expected a tune setting"),
    ):
        with pytest.raises(ParameterError, match=match):
            tune("track2vec", tiny_dataset_dir, storage=url, **{**FAST, **kw})
    with pytest.raises(ParameterError, match="one of"):
        tune("word2vec", tiny_dataset_dir, storage=url, **FAST)


@pytest.mark.slow
def test_cli_tune_and_report(tiny_dataset_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = [
        "--no-progress",
        "tune",
        "track2vec",
        str(tiny_dataset_dir),
        "--trials",
        "3",
        "--startup-trials",
        "2",
        "-p",
        "epochs=1",
        "--test-fraction",
        "0.1",
        "--min-tracks",
        "10",
        "--budget-factor",
        "0",
    ]
    r = runner.invoke(app, base)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "songspace-tune.db").is_file()  # the default SQLite storage
    assert "track2vec-hit_rate" in r.output and "3 complete" in r.output
    r = runner.invoke(
        app, [*base, "--objective", "hit_rate", "--objective", "vrc_genre", "--alpha", "0.1"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--objective", "hit_rate", "--objective", "vrc_genre"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base, "--sample-rate", "0.5", "--sample-rate", "0.25"])
    assert r.exit_code == 0, r.output
    assert "track2vec-hit_rate-r0.5" in r.output and "track2vec-hit_rate-r0.25" in r.output
    studies = [
        "track2vec-hit_rate",
        "track2vec-hit_rate+vrc_genre-a0.1",
        "track2vec-hit_rate+vrc_genre",
        "track2vec-hit_rate-r0.5",
    ]
    args = ["--no-progress", "tune-report", "-o", "rep"]
    for s in studies:
        args += ["--study", s]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| N/A | N/A |" in md and "lambda_genre(0.1)" in md and "Pareto(" in md
    assert "| 0.5 |" in md  # the scale-study row's sample rate
    # every trial's training CPU time beside the reference's
    assert "Trials of track2vec-hit_rate: training CPU time (budget mode none" in md
    ref = trials_of("sqlite:///songspace-tune.db", "track2vec-hit_rate")[0]
    cpu = ref.user_attrs["training_time"]
    assert f"| 0 | complete | - | - | {cpu:.1f} |" in md
    # and where the trials' time went, phase by phase (songspace.tuning.timing)
    assert "Where the trials' time went (track2vec-hit_rate: " in md and "| fit |" in md
    assert (tmp_path / "rep" / "pareto-track2vec-hit_rate_vrc_genre.png").stat().st_size > 0
    assert (tmp_path / "rep" / "history-track2vec-hit_rate.png").stat().st_size > 0
    # W2V Figure 2 on the same test split: the same-bucket table agrees with each row's
    # stored bucket matrix, one heat map per row, one diagonal plot per tuned row
    assert "Same-bucket HitRate@" in md
    saved = json.loads((tmp_path / "rep" / "results" / "default.json").read_text())
    matrix = np.array(saved["metrics"]["popularity_same_bucket_hr"]["info"]["matrix"], float)
    diag = " | ".join("-" if not np.isfinite(v) else f"{v:.3f}" for v in np.diag(matrix))
    assert f"| default | {diag} |" in md
    n_rows = len(json.loads((tmp_path / "rep" / "report.json").read_text())["rows"])
    assert n_rows >= 5  # default, three single-study rows, Pareto members
    assert len(list((tmp_path / "rep").glob("buckets-*.png"))) == n_rows
    assert len(list((tmp_path / "rep").glob("diagonal-*.png"))) == n_rows - 1
    # CliRunner is not a terminal: the table is printed whole, as Markdown
    assert "| Opt. type | Objective |" in r.output
    assert "| Opt. type | Objective |" in md and "| HitRate | NDCG | HardNeg |" in md
    # the shared model cache: a second report with the same cache retrains nothing
    times = []
    for out in ("rep2", "rep3"):
        r = runner.invoke(app, [*args[:3], out, *args[4:], "--cache", "cache"])
        assert r.exit_code == 0, r.output
        rows = json.loads((tmp_path / out / "report.json").read_text())["rows"]
        times.append({row["label"]: row["training_time"] for row in rows})
    assert len(list((tmp_path / "cache").glob("track2vec-*/model/model.json"))) >= 2
    assert times[0] == times[1]  # loaded, so the times of the run that trained them
    first = (tmp_path / "rep2" / "report.json").read_text()
    assert (
        json.loads(first)["rows"][0]["values"]
        == json.loads((tmp_path / "rep3" / "report.json").read_text())["rows"][0]["values"]
    )
    # the HardNeg column's threshold, set for the test split (the studies' found none here)
    assert "hardneg" not in json.loads(first)["rows"][0]["values"]
    extra = ["--cache", "cache", "--hardneg-threshold", "1e9", "--hardneg-min-count", "1"]
    r = runner.invoke(app, [*args[:3], "rep4", *args[4:], *extra])
    assert r.exit_code == 0, r.output
    values = json.loads((tmp_path / "rep4" / "report.json").read_text())["rows"][0]["values"]
    assert 0 <= values["hardneg"] <= 1
    md = (tmp_path / "rep4" / "report.md").read_text()
    assert "chi-squared below 1e+09, adjacent at least 1 times (the studies': chi-squared" in md


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--objective", "hitrate"], "distinct objectives among 'hit_rate'"),
        (
            ["--objective", "hit_rate", "--objective", "vrc_genre", "--alpha", "2"],
            "0 <= alpha <= 1",
        ),
        (["--storage", "postgresql://u@127.0.0.1:1/x"], "could not open the study storage"),
    ],
)
def test_cli_bad_arguments_exit_with_a_message(tiny_dataset_dir, tmp_path, extra, match):
    import subprocess
    import sys

    store = f"sqlite:///{tmp_path / 's.db'}"
    cmd = [
        sys.executable,
        "-m",
        "songspace.cli",
        "--no-progress",
        "tune",
        "track2vec",
        str(tiny_dataset_dir),
        "--storage",
        store,
        *extra,
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "error:" in r.stderr and match in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr


@pytest.mark.slow
def test_scale_study_reports_every_rate_at_full_scale(tiny_dataset_dir, tmp_path):
    from songspace.reports.scale_study import scale_study

    results, report = scale_study(
        "track2vec",
        tiny_dataset_dir,
        rates=(0.25, 0.5),
        trials=2,
        storage=tmp_path / "s.db",
        budget_factor=None,
        out=tmp_path / "rep",
        **FAST,
    )
    assert [r.study for r in results] == ["track2vec-hit_rate-r0.25", "track2vec-hit_rate-r0.5"]
    rows = {r.study: r for r in report.rows}
    assert rows["track2vec-hit_rate-r0.25"].sample_rate == 0.25
    assert rows["track2vec-hit_rate-r0.5"].tuning_seconds > 0
    assert (tmp_path / "rep" / "report.json").is_file()


def test_tuning_unlabelled_sequences_leaves_vrc_out_of_the_reference(tiny_dataset_dir, tmp_path):
    """Listening sequences with no genre or artist labels (LFM-1b-like) tune on HitRate:
    the reference skips the VRCs the data cannot support instead of failing."""
    from songspace.data.lines import read_lines

    ds = Dataset.load(tiny_dataset_dir)
    ids = ds.track_ids
    path = tmp_path / "lines.txt"
    path.write_text(
        "".join(",".join(str(ids[t]) for t in ds.sequence(i)) + "\n" for i in range(ds.n_sequences))
    )
    plain = read_lines(path, user_field=False)
    assert "genre" not in plain.tracks or plain.tracks["genre"].isna().all()
    plain.save(tmp_path / "plain")
    res = tune(
        "track2vec",
        tmp_path / "plain",
        trials=2,
        storage=f"sqlite:///{tmp_path}/s.db",
        study="plain",
        **FAST,
    )
    assert "vrc_genre" not in res.reference["metrics"]
    assert np.isfinite(res.reference["metrics"]["next_song_hit_rate"])
    # the test-split report leaves the clustering family out too
    from songspace.reports.tune_report import tune_report

    report = tune_report(["plain"], tmp_path / "report", storage=f"sqlite:///{tmp_path}/s.db")
    default = report.rows[0].values
    assert "hit_rate" in default and "vrc_genre" not in default


def test_enqueued_configurations_are_tried_first_and_once(tiny_dataset_dir, tmp_path):
    """`enqueue` (MUSIG's paper grid, for one): after the default, each configuration is a
    trial with its values and the default's elsewhere; re-running adds none again."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    starts = [{"window": "3"}, {"dim": 40, "window": 7}]
    tune("track2vec", tiny_dataset_dir, trials=3, storage=url, study="s", enqueue=starts, **FAST)
    trials = trials_of(url, "s")
    default = trials[0].params
    assert trials[1].params == {**default, "window": 3}
    assert trials[2].params == {**default, "dim": 40, "window": 7}
    assert trials[1].user_attrs["enqueued"] == "--enqueue window=3"
    tune("track2vec", tiny_dataset_dir, trials=4, storage=url, study="s", enqueue=starts, **FAST)
    windows = [t.params["window"] for t in trials_of(url, "s")]
    assert len(windows) == 4 and windows[:3] == [default["window"], 3, 7]


@pytest.mark.parametrize(
    ("start", "match"),
    [
        ({"epochs": 3}, "parameters the study searches"),  # the budget sets epochs
        ({"min_count": 2}, "parameters the study searches"),
        ({"window": 1000}, r"values inside the search space \(window: IntParam"),
        ({"window": "wide"}, "window"),
    ],
)
def test_enqueued_configurations_are_checked_before_anything_runs(
    tiny_dataset_dir, tmp_path, start, match
):
    with pytest.raises(ParameterError, match=match):
        tune("track2vec", tiny_dataset_dir, storage=tmp_path / "s.db", enqueue=[start], **FAST)
    assert not (tmp_path / "s.db").exists()


def test_cli_enqueue_parses_configurations():
    from songspace.assignments import parse_configurations

    got = parse_configurations(["task_weights=0.7,0.1,0.2", "window=3; dim=40"], "--enqueue")
    assert got == ({"task_weights": "0.7,0.1,0.2"}, {"window": "3", "dim": "40"})
    with pytest.raises(ParameterError, match="--enqueue NAME=VALUE"):
        parse_configurations(["window"], "--enqueue")


def test_cli_tune_enqueue(tiny_dataset_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--no-progress", "tune", "track2vec", str(tiny_dataset_dir), "--trials", "2"]
    args += ["-p", "epochs=1", "--test-fraction", "0.1", "--min-tracks", "10"]
    args += ["--budget-factor", "0", "--enqueue", "window=3; dim=40", "--study", "e"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    second = trials_of("sqlite:///songspace-tune.db", "e")[1]
    assert (second.params["window"], second.params["dim"]) == (3, 40)
    r = CliRunner().invoke(app, [*args[:-4], "--enqueue", "window=0", "--study", "f"])
    assert r.exit_code != 0 and "values inside the search space" in str(r.exception)


def test_replicates_share_the_split_and_draw_their_own_sample_and_search(tiny_dataset_dir):
    """`replicate`: the same split and test protocol; below rate 1 another sample of the
    training sequences (replicate 0 is the study as it always was)."""
    ds = Dataset.load(tiny_dataset_dir)
    first = tuning_protocols(ds, seed=0, heldout_fraction=0.1, sample_rate=0.5)
    again = tuning_protocols(ds, seed=0, heldout_fraction=0.1, sample_rate=0.5, replicate=0)
    other = tuning_protocols(ds, seed=0, heldout_fraction=0.1, sample_rate=0.5, replicate=1)
    np.testing.assert_array_equal(first.test.in_set[0], other.test.in_set[0])
    np.testing.assert_array_equal(first.validation.out_of_set[0], other.validation.out_of_set[0])
    np.testing.assert_array_equal(first.validation.split.train, other.validation.split.train)
    assert first.validation.train.n_sequences == other.validation.train.n_sequences
    seqs = lambda p: {tuple(p.train.sequence(i)) for i in range(p.train.n_sequences)}  # noqa: E731
    assert seqs(first.validation) == seqs(again.validation)
    assert seqs(first.validation) != seqs(other.validation)
    from songspace.tuning.study import replicate_seed

    assert replicate_seed(7, 0) == 7 and replicate_seed(7, 1) not in (7, replicate_seed(7, 2))


def test_a_replicate_study_is_its_own_study_with_other_trials(tiny_dataset_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    kw = {"trials": 4, "storage": url, "budget_factor": None, **FAST, "startup_trials": 3}
    a = tune("track2vec", tiny_dataset_dir, **kw)
    b = tune("track2vec", tiny_dataset_dir, replicate=1, **kw)
    assert (a.study, b.study) == ("track2vec-hit_rate", "track2vec-hit_rate-rep1")
    assert b.settings.replicate == 1
    pa = [t.params for t in trials_of(url, a.study)]
    pb = [t.params for t in trials_of(url, b.study)]
    assert pa[0] == pb[0]  # both start from the default configuration
    assert pa[1:] != pb[1:]  # and then search with their own draws
    with pytest.raises(ParameterError, match="replicate"):
        tune("track2vec", tiny_dataset_dir, replicate=2, study=b.study, **kw)


def test_retraining_serves_several_models_warms_each_once_and_reuses_the_cache(
    tiny_dataset_dir, tmp_path, monkeypatch
):
    """`retrain_and_evaluate` (tune-report's retraining, also MUSIG against GraphSAGE's):
    configurations of two models, each model warmed up before its first fit only, and a
    second call loads every fit from the model cache (no warm-up, same training times)."""
    from songspace.reports import tune_report as tr

    warmed = []
    monkeypatch.setattr(tr, "warm_up", lambda klass, params, train: warmed.append(klass.name))
    ds = Dataset.load(tiny_dataset_dir)
    protocol = tuning_protocols(ds, seed=0, heldout_fraction=0.1, min_tracks=10).test
    configs = [
        tr.Configuration("t2v a", "track2vec", {"dim": 25, "epochs": 1}),
        tr.Configuration("als", "als", {"dim": 8, "iterations": 2}),
        tr.Configuration("t2v b", "track2vec", {"dim": 30, "epochs": 1}),
    ]
    kw = {
        "seed": 0,
        "heldout_fraction": 0.1,
        "cache_dir": tmp_path / "cache",
        "families": ("next_song",),
    }
    evals, times = tr.retrain_and_evaluate(configs, protocol, ds, **kw)
    assert warmed == ["track2vec", "als"]
    assert set(evals) == set(times) == {"t2v a", "als", "t2v b"}
    assert all("next_song_in_set_hit_rate" in e.metrics for e in evals.values())
    in_set = evals["t2v a"].metrics["next_song_in_set_hit_rate"].per_query
    assert len(in_set) == protocol.summary()["in_set_pairs"]  # scored on the test split
    again, times2 = tr.retrain_and_evaluate(configs, protocol, ds, **kw)
    assert warmed == ["track2vec", "als"] and times2 == times
    for label in evals:
        assert again[label].metrics["next_song_in_set_hit_rate"].value == pytest.approx(
            evals[label].metrics["next_song_in_set_hit_rate"].value
        )


def test_retraining_refuses_the_cache_for_a_protocol_trained_on_a_sample(
    tiny_dataset_dir, tmp_path
):
    """The model cache is keyed by the split, not by a sample of its training sequences:
    a sampled protocol with a cache would be served the 100% model, so it is refused."""
    from songspace.reports import tune_report as tr

    ds = Dataset.load(tiny_dataset_dir)
    sampled = tuning_protocols(ds, seed=0, heldout_fraction=0.1, sample_rate=0.5, min_tracks=10)
    configs = [tr.Configuration("t2v", "track2vec", {"dim": 25, "epochs": 1})]
    kw = {"seed": 0, "heldout_fraction": 0.1, "families": ("next_song",)}
    with pytest.raises(ParameterError, match=r"cache_dir.*sample_rate 0\.5"):
        tr.retrain_and_evaluate(configs, sampled.validation, ds, cache_dir=tmp_path, **kw)
    evals, _ = tr.retrain_and_evaluate(configs, sampled.validation, ds, **kw)  # uncached: fine
    assert "next_song_in_set_hit_rate" in evals["t2v"].metrics


def test_reports_refuse_studies_of_different_setups():
    """`check_same_settings` (tune-report, the Pareto and MUSIG scripts): studies that
    differ in a compared setting are refused, naming the setting, both values and the fix;
    differences in other settings pass."""
    from dataclasses import replace

    from songspace.reports.tune_report import check_same_settings
    from songspace.tuning.settings import StudySettings

    base = StudySettings(
        model="track2vec",
        dataset="d",
        dataset_fingerprint="f",
        objectives=["hit_rate"],
        alpha=None,
        sample_rate=1.0,
        seed=0,
        heldout_fraction=0.02,
        min_tracks=10,
        fixed_params={},
        budget_factor=1.25,
        sampler="tpe",
        startup_trials=10,
        k=10,
        hardneg_min_count=5,
        hardneg_threshold=None,
        budget_mode="equal_time",
        pruner="none",
        replicate=0,
    )
    other = replace(base, objectives=["vrc_genre"], seed=1)
    check_same_settings([("a", base), ("b", other)], ["model", "heldout_fraction"])
    with pytest.raises(ParameterError, match=r"seed.*a: 0.*got 1.*report study 'b'"):
        check_same_settings([("a", base), ("b", other)], ["model", "seed"])

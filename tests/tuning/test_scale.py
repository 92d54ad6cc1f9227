"""Study naming per sample rate and the CLI's `tune` wiring (no training here)."""

import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.errors import ParameterError
from songspace.tuning import TuneSettings, rate_study_name, tune_rates


def test_rate_study_name():
    assert rate_study_name("s", 0.5, 1) == "s"
    assert rate_study_name("s", 0.5, 2) == "s-r0.5"
    assert rate_study_name("s", 0.25, 3) == "s-r0.25"
    assert rate_study_name(None, 0.5, 2) is None


def test_tune_rates_refuses_repeated_rates():
    with pytest.raises(ParameterError, match="distinct sample rates"):
        tune_rates("track2vec", "nowhere", rates=[0.5, 0.5])
    with pytest.raises(ParameterError, match="distinct sample rates"):
        tune_rates("track2vec", "nowhere", rates=[])


def test_tune_cli_calls_tune_rates(monkeypatch):
    import songspace.tuning as tuning

    calls = {}

    def fake(model, dataset, settings, rates, **kwargs):
        calls.update(model=model, settings=settings, rates=rates, **kwargs)
        return []

    monkeypatch.setattr(tuning, "tune_rates", fake)
    res = CliRunner().invoke(
        app,
        [
            "--no-progress",
            "tune",
            "track2vec",
            "data",
            "--test-fraction",
            "0.2",
            "--sample-rate",
            "0.5",
            "--sample-rate",
            "0.25",
            "--study",
            "s",
            "-p",
            "epochs=1",
            "--objective",
            "ndcg",
        ],
    )
    assert res.exit_code == 0, res.output
    settings = calls["settings"]
    assert settings.heldout_fraction == 0.2 and calls["rates"] == [0.5, 0.25]
    assert calls["study"] == "s" and settings.params == {"epochs": "1"}
    assert settings.objectives == ("ndcg",) and calls["progress"] is None
    # every other option at the one home of tune's defaults
    assert settings == TuneSettings(
        objectives=["ndcg"], heldout_fraction=0.2, params={"epochs": "1"}
    )


def test_tune_no_longer_accepts_heldout_fraction():
    """`--heldout-fraction`, the former name of `--test-fraction`, is removed (CHANGELOG)."""
    res = CliRunner().invoke(app, ["tune", "track2vec", "data", "--heldout-fraction", "0.2"])
    assert res.exit_code == 2
    assert "No such option" in res.output and "--heldout-fraction" in res.output

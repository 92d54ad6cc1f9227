"""The metric-family registry: a family added through the registry alone (one
registration line, no edit of the suite, the configs or the CLI) is validated, computed
by ``evaluate`` / ``evaluate_many``, listed with its metrics and default columns, and
reported as unsupported where its data is missing."""

import types

import numpy as np
import pytest

from songspace.data.synthetic import generate
from songspace.evaluation import families
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.results import MetricResult
from songspace.evaluation.suite import (
    FAMILIES,
    FAMILY_METRICS,
    check_families,
    evaluate,
    evaluate_many,
    unsupported,
)

UNAVAILABLE = 7  # rows of the toy model's embeddings left out


def _toy_compute(run):
    """The toy metric: how many tracks the embedding covers (None without vectors)."""
    if not run.emb.has_vectors:
        return None
    return [MetricResult("toy_covered", float(run.emb.available.sum()))]


TOY = types.SimpleNamespace(
    METRICS=("toy_covered",),
    COLUMNS=("toy_covered",),
    unsupported=lambda protocol: None,
    compute=_toy_compute,
)
NEVER = types.SimpleNamespace(
    METRICS=("toy_never",),
    COLUMNS=(),
    unsupported=lambda protocol: "the toy data has no such thing",
    compute=lambda run: pytest.fail("an unsupported family must not be computed"),
)


@pytest.fixture
def toy_families():
    """Register the two toy families for one test, and remove them after it."""
    families.register("toy", TOY)
    families.register("toy_never", NEVER)
    try:
        yield
    finally:
        families.unregister("toy")
        families.unregister("toy_never")


@pytest.fixture(scope="module")
def protocol():
    ds = generate(300, 400, mean_length=20, seed=5)
    return make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05), min_tracks=10)


def _model(ds):
    x = np.random.default_rng(0).normal(size=(ds.n_tracks, 8))
    available = np.ones(ds.n_tracks, dtype=bool)
    available[:UNAVAILABLE] = False
    return Embeddings.from_array(x, ds.n_tracks, available=available, name="toy_model")


def test_a_family_added_through_the_registry_is_listed(toy_families):
    assert FAMILY_METRICS["toy"] == ("toy_covered",)
    assert "toy" in FAMILIES and "toy" in list(FAMILY_METRICS)
    assert families.FAMILY_COLUMNS["toy"] == ("toy_covered",)
    assert families.names()[-2:] == ("toy", "toy_never")


def test_a_family_added_through_the_registry_is_computed(protocol, toy_families):
    ds = protocol.dataset
    res = evaluate(protocol, _model(ds), families=["toy"])
    assert res.values() == {"toy_covered": ds.n_tracks - UNAVAILABLE}
    assert list(res.info["seconds"]) == ["toy"]

    results, _ = evaluate_many(protocol, [_model(ds)], families=["completion", "toy"])
    by = {r.model: r.values() for r in results}
    assert by["toy_model"]["toy_covered"] == ds.n_tracks - UNAVAILABLE
    assert by["random"]["toy_covered"] == ds.n_tracks  # random covers every track
    assert "toy_covered" not in by["popularity"]  # no vectors: the toy does not apply
    assert "completion_hr" in by["toy_model"]


def test_the_default_runs_a_registered_family_unless_its_data_is_missing(protocol, toy_families):
    fams = check_families(None, protocol)
    assert "toy" in fams and "toy_never" not in fams
    assert unsupported(protocol)["toy_never"] == "the toy data has no such thing"


def test_removing_a_family_leaves_the_registry_as_before(protocol):
    before = (families.names(), dict(FAMILY_METRICS))
    families.register("toy", TOY)
    families.unregister("toy")
    assert (families.names(), dict(FAMILY_METRICS)) == before
    assert "toy" not in check_families(None, protocol)
    with pytest.raises(ValueError, match="already registered"):
        families.register("completion", TOY)


def test_the_cli_help_lists_the_registered_families():
    from songspace.cli.evaluate import _families_help

    text = _families_help()
    for name in families.names():
        assert name in text
    for name, why in families.opt_in().items():
        assert f"except {name}, {why}" in text

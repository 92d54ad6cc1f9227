import json

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.synthetic import generate
from songspace.errors import OutputExistsError, ParameterError
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.suite import (
    DEFAULT_SUITE,
    FAMILIES,
    FAMILY_METRICS,
    OPT_IN_FAMILIES,
    SuiteSettings,
    evaluate,
    evaluate_many,
    run_evaluation,
)


@pytest.fixture(scope="module")
def ds():
    return generate(1500, 2000, mean_length=40, seed=11)


def genre_embeddings(ds, noise=0.3, seed=0):
    g = ds.tracks["genre"].fillna("none").to_numpy(dtype=str)
    codes = np.unique(g, return_inverse=True)[1]
    x = np.eye(codes.max() + 1)[codes]
    x = x + np.random.default_rng(seed).normal(0, noise, x.shape)
    return Embeddings.from_array(x, ds.n_tracks, name="genre")


def test_protocol_has_no_leakage(ds):
    p = make_protocol(ds, seed=1, fractions=(0.9, 0.05, 0.05), cold_start_share=0.05)
    assert not np.isin(p.train.indices, p.split.cold_tracks).any()
    assert set(p.train.sequence_ids) <= set(ds.sequence_ids[p.split.train])
    assert np.isin(p.completion, p.split.test).all()
    # every training sequence loses exactly its last entry
    full = ds.subset(p.split.train, drop_tracks=p.split.cold_tracks)
    assert p.train.n_entries == full.n_entries - full.n_sequences + int(np.sum(full.lengths == 1))


def test_all_families_and_known_ordering(ds):
    p = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05))
    results, tests = evaluate_many(p, [genre_embeddings(ds)])
    by = {r.model: r for r in results}
    assert list(by) == ["random", "popularity", "genre"]
    rnd, gen = by["random"].values(), by["genre"].values()
    assert abs(rnd["completion_hr"] - 0.5) < 0.06
    assert gen["completion_hr"] > rnd["completion_hr"] + 0.15
    assert gen["vrc_genre"] > 10 * rnd["vrc_genre"]
    assert gen["play_corr"] > rnd["play_corr"] + 0.05
    assert tests["genre"]["random"]["completion_hr"].significant
    fams = by["genre"].info["families"]
    # the default is every family the data supports, minus the opt-in challenge protocol
    assert fams == [f for f in FAMILIES if f not in OPT_IN_FAMILIES]


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_returns_exactly_the_names_it_declares(ds, family):
    p = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05))
    # a loose hard-negative threshold so that HardNeg is defined on this small dataset
    st = SuiteSettings(hardneg_min_count=2, hardneg_threshold=1e6)
    res = evaluate(p, genre_embeddings(ds), families=[family], settings=st)
    assert sorted(res.metrics) == sorted(FAMILY_METRICS[family])


def test_settings_defaults_are_the_papers():
    assert (DEFAULT_SUITE.k, DEFAULT_SUITE.hardneg_min_count) == (100, 5)
    assert SuiteSettings() == DEFAULT_SUITE


def test_same_seed_same_results(ds):
    a = evaluate(make_protocol(ds, seed=3), genre_embeddings(ds), families=["completion"])
    b = evaluate(make_protocol(ds, seed=3), genre_embeddings(ds), families=["completion"])
    np.testing.assert_array_equal(
        a.metrics["completion_hr"].per_query, b.metrics["completion_hr"].per_query
    )


def test_bad_arguments(ds, tmp_path):
    p = make_protocol(ds, seed=0)
    with pytest.raises(ParameterError, match="metric families among"):
        evaluate(p, genre_embeddings(ds), families=["nope"])
    with pytest.raises(ParameterError, match="one row per track"):
        evaluate(p, Embeddings.random(10, 4))
    (tmp_path / "o").mkdir()
    ds.save(tmp_path / "d")
    with pytest.raises(OutputExistsError):
        run_evaluation(tmp_path / "d", out=tmp_path / "o")


def test_cli_evaluate_writes_results(ds, tmp_path):
    ds.save(tmp_path / "d")
    np.save(tmp_path / "genre.npy", genre_embeddings(ds).vectors)
    out = tmp_path / "ev"
    res = CliRunner().invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(tmp_path / "d"),
            str(tmp_path / "genre.npy"),
            "-o",
            str(out),
            "--test-fraction",
            "0.05",
        ],
    )
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    # the table shows the papers' labels (songspace.reports.tables.METRIC_LABELS)
    for word in ("MRR", "HitRate", "(out-of-set)", "VRC_Genre", "corr.", "genre"):
        assert word in text
    # CliRunner is not a terminal: one Markdown row per model, whatever the width
    assert all(f"| {name} |" in res.output for name in ("random", "popularity", "genre"))
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"random", "popularity", "genre"}
    assert (out / "genre.popularity_buckets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "genre.per_query.npz").is_file()


def test_quadratic_families_run_on_declared_samples_and_say_so(ds):
    p = make_protocol(ds, seed=0, fractions=(0.9, 0.05, 0.05))
    emb = genre_embeddings(ds)
    full = evaluate(p, emb, families=["next_song"])
    n_in, n_out = len(p.in_set[0]), len(p.out_of_set[0])
    assert full.metrics["next_song_in_set_hit_rate"].info["pairs_evaluated"] == n_in
    st = SuiteSettings(next_song_max_pairs=100)
    res = evaluate(p, emb, families=["next_song"], settings=st)
    for part, total in (("in_set", n_in), ("out_of_set", n_out)):
        m = res.metrics[f"next_song_{part}_hit_rate"]
        assert m.info == {**m.info, "pairs_total": total, "pairs_evaluated": 100}
        assert m.per_query.size == 100
    # the sample is a uniform one: its hit rate is near the full one (planted genres)
    full_hr = full.metrics["next_song_out_of_set_hit_rate"].value
    assert abs(res.metrics["next_song_out_of_set_hit_rate"].value - full_hr) < 0.15
    st = SuiteSettings(hardneg_min_count=2, hardneg_threshold=1e6, hardneg_max_queries=20)
    hn = evaluate(p, emb, families=["hardneg"], settings=st).metrics["hardneg"]
    assert hn.info["n_queries"] == hn.per_query.size == 20 < hn.info["n_eligible_queries"]


def test_cli_evaluate_max_pairs_sets_the_declared_sample(ds, tmp_path):
    ds.save(tmp_path / "d")
    np.save(tmp_path / "genre.npy", genre_embeddings(ds).vectors)
    argv = [
        "--no-progress",
        "evaluate",
        str(tmp_path / "d"),
        str(tmp_path / "genre.npy"),
        "--metrics",
        "next_song",
        "--no-baselines",
        "--test-fraction",
        "0.05",
    ]

    def sampled(out: str, *extra: str) -> list[tuple[int, int]]:
        res = CliRunner().invoke(app, [*argv, "-o", str(tmp_path / out), *extra])
        assert res.exit_code == 0, res.output
        metrics = json.loads((tmp_path / out / "genre.json").read_text())["metrics"]
        return [
            (m["info"]["pairs_evaluated"], m["info"]["pairs_total"])
            for name, m in metrics.items()
            if name.endswith(("_in_set_hit_rate", "_out_of_set_hit_rate"))
        ]

    assert [e for e, _ in sampled("a", "--max-pairs", "50")] == [50, 50]
    full = sampled("b", "--max-pairs", "0")
    assert len(full) == 2 and all(e == t > 50 for e, t in full)
    res = CliRunner().invoke(app, [*argv, "-o", str(tmp_path / "c"), "--max-pairs", "-1"])
    assert res.exit_code != 0 and "greater than or equal to 0" in " ".join(res.output.split())


def test_asking_for_some_metrics_leaves_the_coherence_searches_out_not_the_values(ds):
    """Tuning asks for the VRCs alone: the clustering family then skips its two local
    coherences (a k-NN search each), and the VRCs are exactly those of the full family."""
    protocol = make_protocol(ds, seed=0)
    emb = genre_embeddings(ds)
    full = evaluate(protocol, emb, families=["clustering"])
    assert {"genre_coherence", "artist_coherence"} <= set(full.metrics)
    some = evaluate(protocol, emb, families=["clustering"], metrics=["vrc_genre", "vrc_artist"])
    assert set(some.metrics) == {"vrc_genre", "vrc_artist"}
    for m in ("vrc_genre", "vrc_artist"):
        assert some.metrics[m].value == full.metrics[m].value
    # families that compute their metrics together return them all
    both = evaluate(protocol, emb, families=["next_song"], metrics=["next_song_hit_rate"])
    assert set(both.metrics) == set(FAMILY_METRICS["next_song"])

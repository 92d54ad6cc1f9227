import json

import numpy as np
import pytest

pytest.importorskip("torch", reason="the cold-start comparison needs torch (extra `graph`)")
pytest.importorskip("gensim", reason="Track2Vec needs gensim (extra `models`)")

from songspace.cli import app
from songspace.data.synthetic import generate
from songspace.errors import ParameterError
from songspace.evaluation.cold_start import cold_start_protocol
from songspace.models.graphsage import GraphSAGE
from songspace.models.track2vec import Track2Vec
from songspace.reports.cold_start import cold_start_evaluation
from tests.test_cli import flat, runner, songspace

FAST = {"dim": 16, "hidden": 32, "epochs": 4, "batch_size": 128, "fanouts": (8, 4)}


@pytest.fixture(scope="module")
def ds():
    return generate(1500, 800, n_genres=6, mean_length=45, seed=1)


def test_protocol_hides_cold_tracks_and_keeps_their_queries(ds):
    setup = cold_start_protocol(ds, cold_share=0.1, seed=2)
    cold = setup.cold
    assert len(cold) > 0
    assert setup.protocol.train.play_counts()[cold].sum() == 0  # never seen in training
    assert (setup.grown.play_counts()[cold] > 0).all()  # back in the grown view
    np.testing.assert_array_equal(setup.grown.indptr.shape, setup.protocol.train.indptr.shape)
    is_cold = np.isin(np.arange(ds.n_tracks), cold)
    assert len(setup.playlists) > 0
    for p in setup.playlists:
        assert is_cold[ds.sequence(p)].any()
    q, t = setup.pairs
    assert len(q) > 0 and (is_cold[q] | is_cold[t]).all()


@pytest.fixture(scope="module")
def report(ds):
    models = {
        "track2vec": Track2Vec(dim=25, epochs=5),
        "graphsage": GraphSAGE(**FAST),
        "features_only": GraphSAGE(**FAST, aggregate=False),
    }
    return cold_start_evaluation(ds, models, cold_share=0.1, seed=2)


@pytest.mark.slow
def test_transductive_model_cannot_embed_cold_tracks(report):
    r = {x.model: x for x in report.results}
    assert r["track2vec"].info["cold_coverage"] == 0
    assert r["track2vec"].metrics["completion_coverage"].value < 1
    assert r["track2vec"].metrics["next_song_cold_hit_rate"].value < 0.05
    for name in ("graphsage (edges added)", "graphsage (no edges)"):
        assert r[name].info["cold_coverage"] == 1


@pytest.mark.slow
def test_added_edges_improve_the_cold_embeddings(report):
    """What the aggregators learnt: a cold track's new neighbourhood places it better
    than its features alone, and far better than chance."""
    v = {x.model: x.values() for x in report.results}
    grown, alone = v["graphsage (edges added)"], v["graphsage (no edges)"]
    assert grown["next_song_cold_hit_rate"] > alone["next_song_cold_hit_rate"] + 0.05
    assert grown["next_song_cold_hit_rate"] > 2 * v["random"]["next_song_cold_hit_rate"]
    assert grown["completion_hr"] > v["random"]["completion_hr"] + 0.1
    assert report.tests["graphsage (edges added)"]["next_song_cold_hit_rate"].significant


def test_no_cold_queries_is_an_error(ds):
    with pytest.raises(ParameterError, match="cold_share"):
        cold_start_protocol(ds, cold_share=0.0001, test_fraction=0.01)


@pytest.mark.slow
def test_cli_cold_start(tmp_path, ds):
    data = tmp_path / "ds"
    ds.save(data)
    out = tmp_path / "cold"
    args = [
        "--no-progress",
        "cold-start",
        str(data),
        "-o",
        str(out),
        "--model",
        "graphsage",
        "--cold-share",
        "0.1",
        "--param",
        "graphsage.epochs=2",
        "--param",
        "graphsage.fanouts=5,3",
        "--param",
        "features_only.epochs=2",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "graphsage (edges added)" in res.output
    # CliRunner is not a terminal: the table is printed whole, as Markdown
    assert "| graphsage (edges added) | 1.00 |" in res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["models"]["graphsage"]["fanouts"] == [5, 3]
    assert summary["models"]["features_only"]["aggregate"] is False
    assert "| graphsage (edges added) | 1.00 |" in (out / "table.md").read_text()
    bad = songspace(*args[1:4], str(tmp_path / "c2"), "--param", "epochs=2")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert "MODEL.NAME=VALUE" in flat(bad.stderr)
    assert not (tmp_path / "c2").exists()


def test_reference_is_found_by_name(report):
    assert report.reference == "track2vec"  # the first row of the first model given
    assert "track2vec" not in report.tests and "random" in report.tests
    assert set(report.tests) == {r.model for r in report.results} - {"track2vec"}


def test_cold_start_uses_the_shared_model_cache(tmp_path, ds):
    from songspace.reports.cold_start import run_cold_start

    data = tmp_path / "ds"
    ds.save(data)
    kw = dict(
        features_only=False,
        cold_share=0.1,
        seed=2,
        cache_dir=tmp_path / "cache",
        params={"track2vec": {"dim": "25", "epochs": "2"}},
    )
    a = run_cold_start(data, ["track2vec"], out=tmp_path / "a", **kw)
    entries = list((tmp_path / "cache").glob("track2vec-*/model/model.json"))
    assert len(entries) == 1
    b = run_cold_start(data, ["track2vec"], out=tmp_path / "b", **kw)
    assert list((tmp_path / "cache").glob("track2vec-*/model/model.json")) == entries
    assert a.training_time == b.training_time  # loaded: the time of the run that trained it
    assert [r.values() for r in a.results] == [r.values() for r in b.results]


def test_run_cold_start_compares_the_default_models(tmp_path, ds):
    """Without a model list, the library runs the one default list (the CLI's too):
    Track2Vec (the reference row), GraphSAGE and MUSIG."""
    from songspace.reports.cold_start import run_cold_start
    from songspace.reports.defaults import DEFAULT_COLD_START_MODELS

    data = tmp_path / "ds"
    ds.save(data)
    small = {"dim": "16", "hidden": "32", "epochs": "1", "fanouts": "5,3"}
    t2v = {"dim": "25", "epochs": "1"}
    report = run_cold_start(
        data,
        features_only=False,
        cold_share=0.1,
        seed=2,
        params={"track2vec": t2v, "graphsage": small, "musig": small},
    )
    assert DEFAULT_COLD_START_MODELS == ("track2vec", "graphsage", "musig")
    assert [r.model for r in report.results] == [
        "random",
        "popularity",
        "track2vec",
        "graphsage (no edges)",
        "graphsage (edges added)",
        "musig (no edges)",
        "musig (edges added)",
    ]
    assert report.reference == "track2vec"

"""`songspace recommender fit` and `songspace evaluate --recommender`: the command line fits
the library's recommender on `evaluate`'s protocol, and a fitted recommender is scored only
on the dataset and split it was fitted on."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.errors import InvalidValueError, ParameterError
from tests.recommender.conftest import FAST, dataset_of, planted_sequences

pytest.importorskip("lightgbm")
pytest.importorskip("gensim")

runner = CliRunner()
#: the split of the planted protocol (conftest.protocol_of): seed 0, (0.8, 0.1, 0.1)
SPLIT = ["--seed", "0", "--test-fraction", "0.1", "--min-tracks", "10"]
PARAMS = [a for k, v in FAST.items() for a in ("-p", f"{k}={v}")]
T2V = ["-p", "dim=25", "-p", "epochs=2", "-p", "workers=1"]


def invoke(*args):
    return runner.invoke(app, ["--no-progress", *map(str, args)])


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    """(dataset dir, run dir, recommender dir): a Track2Vec run trained on the planted
    data's split, and a recommender fitted with it through the command line."""
    tmp = tmp_path_factory.mktemp("cli-rec")
    data = tmp / "data"
    dataset_of(planted_sequences()).save(data)
    run = tmp / "t2v"
    res = invoke("train", "track2vec", data, "-o", run, *T2V, *SPLIT[:4])
    assert res.exit_code == 0, res.output
    rec = tmp / "rec"
    res = invoke("recommender", "fit", data, "--run", f"t2v={run}", "-o", rec, *SPLIT, *PARAMS)
    assert res.exit_code == 0, (res.output, res.exception)
    assert "wrote" in res.output
    assert "tracks outside stage 1 ordered by " in " ".join(res.output.split())
    return data, run, rec


def test_fit_writes_the_model_and_its_provenance(fitted_dir):
    _, run, rec = fitted_dir
    assert sorted(f.name for f in rec.iterdir()) == ["model.txt", "recommender.json"]
    doc = json.loads((rec / "recommender.json").read_text())
    prov = doc["provenance"]
    assert prov["seed"] == 0 and prov["test_fraction"] == 0.1 and prov["min_tracks"] == 10
    assert prov["runs"] == {"t2v": str(run.resolve())}
    assert prov["dataset_fingerprint"]
    assert doc["params"]["depth"] == FAST["depth"]
    assert list(doc["embeddings"]) == ["t2v"]
    assert any(g["name"] == "t2v.last" for g in doc["generators"])


def test_the_fitted_recommender_is_the_librarys(fitted_dir):
    """The CLI's model equals TwoStageRanker.fit on the same protocol and embeddings."""
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.evaluation.suite import evaluation_protocol, protocol_embeddings
    from songspace.models.apply import RunEmbedder
    from songspace.recommender import TwoStageRanker
    from songspace.reports.recommender import load_recommender

    data, run, rec = fitted_dir
    ds = Dataset.load(data)
    protocol, f = evaluation_protocol(ds, seed=0, test_fraction=0.1, min_tracks=10)
    embedder = RunEmbedder(run)
    embedder.name = "t2v"
    emb = protocol_embeddings(embedder, protocol, DatasetIdentity(ds, data), f)
    mine = TwoStageRanker.fit(protocol, [emb], **FAST)
    loaded, _ = load_recommender(rec, data)
    assert (rec / "model.txt").read_text() == mine.booster.model_to_string()
    for seeds in ([3], [17, 5], [250, 1, 42, 9]):
        np.testing.assert_array_equal(loaded.scores(np.array(seeds)), mine.scores(np.array(seeds)))


def test_fit_refuses_a_run_trained_across_the_test_split(fitted_dir, tmp_path):
    data, run, _ = fitted_dir
    res = invoke(
        "recommender",
        "fit",
        data,
        "--run",
        f"t2v={run}",
        "-o",
        tmp_path / "r",
        "--seed",
        "1",
        "--test-fraction",
        "0.1",
        *PARAMS,
    )
    assert isinstance(res.exception, ParameterError)
    assert "never trained on the protocol's test sequences" in str(res.exception)
    assert not (tmp_path / "r").exists()
    res = invoke("recommender", "fit", data, "--run", f"t2v={data}", "-o", tmp_path / "r")
    assert isinstance(res.exception, ParameterError) and "--run" in str(res.exception)
    res = invoke("recommender", "fit", data, "-o", tmp_path / "r", "-p", "depth=0")
    assert isinstance(res.exception, ParameterError) and "twostage.depth" in str(res.exception)


def test_evaluate_scores_a_fitted_recommender_beside_the_baselines(fitted_dir, tmp_path):
    data, _, rec = fitted_dir
    out = tmp_path / "eval"
    res = invoke(
        "evaluate",
        data,
        "--recommender",
        rec,
        "--metrics",
        "next_song",
        "--k",
        "10",
        "-o",
        out,
        *SPLIT,
    )
    assert res.exit_code == 0, (res.output, res.exception)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["results"]) == {"random", "popularity", "rec"}
    ours = summary["results"]["rec"]["next_song_in_set_hit_rate"]
    assert ours > summary["results"]["popularity"]["next_song_in_set_hit_rate"]
    assert "popularity" in summary["tests"]["rec"]  # tested against the baselines


def test_evaluate_refuses_another_split_or_another_dataset(fitted_dir, tmp_path):
    data, _, rec = fitted_dir
    res = invoke("evaluate", data, "--recommender", rec, "--seed", "1", "--test-fraction", "0.1")
    assert isinstance(res.exception, InvalidValueError)
    assert "split the recommender was fitted on (--seed 0" in str(res.exception)
    res = invoke("evaluate", data, "--recommender", rec, "--seed", "0", "--test-fraction", "0.2")
    assert isinstance(res.exception, InvalidValueError)
    other = tmp_path / "other"
    dataset_of(planted_sequences(seed=1)).save(other)
    res = invoke("evaluate", other, "--recommender", rec, *SPLIT)
    assert isinstance(res.exception, InvalidValueError)
    assert "dataset the recommender was fitted on" in str(res.exception)


def _new_day(tmp, seed=5):
    """A day's playlists: known tracks and ten new ones (ids n0..n9), each new track
    following t7 at least once, as a prepared dataset of its own."""
    from songspace.data.builder import finish_dataset

    rng = np.random.default_rng(seed)
    ids = [f"t{i}" for i in range(300)] + [f"n{i}" for i in range(10)]
    seqs = [[*rng.choice(300, size=8).tolist(), 7, 300 + i, 7, 300 + i] for i in range(10)]
    seqs += [rng.choice(300, size=12).tolist() for _ in range(20)]
    used = sorted({t for s in seqs for t in s})
    remap = {t: j for j, t in enumerate(used)}
    day = finish_dataset(
        track_ids=[ids[t] for t in used],
        indptr=np.cumsum([0] + [len(s) for s in seqs]),
        indices=np.array([remap[t] for s in seqs for t in s]),
        sequence_ids=np.array([f"day{seed}-{i}" for i in range(len(seqs))], dtype=object),
        track_attrs={},
    )
    path = tmp / f"day{seed}"
    day.save(path)
    return path


def test_update_grows_the_recommenders_counts_and_serves_the_new_tracks(fitted_dir, tmp_path):
    """`songspace update REC DAY -o REC2 --run t2v=RUN2`: the model is kept, stage 1 and
    the count features are those built on the union, the new tracks are served."""
    from songspace.evaluation.ranker_params import popularity_of
    from songspace.evaluation.rankers import make_ranker
    from songspace.reports.recommender import load_recommender, read_provenance
    from songspace.reports.recommender_update import updated_views

    data, run, rec = fitted_dir
    day = _new_day(tmp_path)
    res = invoke("update", run, day, "-o", tmp_path / "run2")
    assert res.exit_code == 0, (res.output, res.exception)
    res = invoke("update", rec, day, "-o", tmp_path / "rec2", "--run", f"t2v={tmp_path / 'run2'}")
    assert res.exit_code == 0, (res.output, res.exception)
    assert (tmp_path / "rec2" / "model.txt").read_text() == (rec / "model.txt").read_text()
    prov = read_provenance(tmp_path / "rec2")
    assert [u["sequences"] for u in prov["updates"]] == [30]
    assert prov["base_recommender"] == str(rec.resolve())
    assert prov["runs"] == {"t2v": str((tmp_path / "run2").resolve())}
    ranker, ds = load_recommender(tmp_path / "rec2", data)
    assert ds.n_tracks == 310 and list(ds.track_ids[-10:]) == [f"n{i}" for i in range(10)]
    _, union = updated_views(prov, tmp_path / "rec2")
    np.testing.assert_array_equal(ranker.popularity, popularity_of(union))
    doc = json.loads((tmp_path / "rec2" / "recommender.json").read_text())
    for spec, gen in zip(doc["generators"], ranker.stage1.generators, strict=False):
        if spec["kind"] != "ranker":
            continue
        built = make_ranker(spec["ranker"], union, spec["params"])  # counts of the union
        for seeds in ([7], [3, 7], [250, 1, 42]):
            q = np.array(seeds)
            np.testing.assert_array_equal(gen.ranker.scores(q), built.scores(q))
    # the day's new tracks follow t7: the updated recommender finds them, the base cannot
    top, _ = ranker.recommend(np.array([7]), 50)
    assert set(range(300, 310)) <= set(top.tolist())
    assert ranker.backoff is not None or ranker.description["backoff"]["chosen"] == "popularity"
    # served from the shell (the service's loader): the new tracks by id
    base = ["recommend", "--data", data, "--recommender", tmp_path / "rec2", "-k", "50"]
    res = invoke(*base, "--next", "t7", "--json")
    assert res.exit_code == 0, (res.output, res.exception)
    served = [r["track_id"] for r in json.loads(res.stdout)["results"]]
    assert {f"n{i}" for i in range(10)} <= set(served)
    assert served == [str(ds.track_ids[t]) for t in top.tolist()]
    res = invoke("recommend", "--data", data, "--recommender", rec, "--next", "n3")
    assert res.exit_code != 0 and "n3" in str(res.exception)  # unknown to the base one
    # a chain: REC2 updated again (the run kept as REC2 has it)
    day2 = _new_day(tmp_path, seed=9)
    res = invoke("update", tmp_path / "rec2", day2, "-o", tmp_path / "rec3")
    assert res.exit_code == 0, (res.output, res.exception)
    assert len(read_provenance(tmp_path / "rec3")["updates"]) == 2
    again, ds3 = load_recommender(tmp_path / "rec3", data)
    assert ds3.n_tracks == 310  # day 2 brings no track day 1 did not
    assert again.popularity.sum() > ranker.popularity.sum()
    res = invoke("update", tmp_path / "rec3", day2, "-o", tmp_path / "rec4")
    assert isinstance(res.exception, ParameterError)  # day 2 counted already
    # an updated recommender is served, not evaluated on the base protocol
    res = invoke("evaluate", data, "--recommender", tmp_path / "rec2", *SPLIT)
    assert isinstance(res.exception, InvalidValueError)
    assert "updated one" in str(res.exception)


def test_update_refuses_sequences_it_has_counted_and_leaves_no_output(fitted_dir, tmp_path):
    data, run, rec = fitted_dir
    res = invoke("update", rec, data, "-o", tmp_path / "rec2")  # the base dataset again
    assert isinstance(res.exception, ParameterError)
    assert "already in the dataset it was fitted on" in str(res.exception)
    assert not (tmp_path / "rec2").exists()
    day = _new_day(tmp_path, seed=6)
    res = invoke("update", run, day, "-o", tmp_path / "run2", "--run", f"t2v={run}")
    assert isinstance(res.exception, ParameterError) and "no --run for a model run" in str(
        res.exception
    )
    res = invoke("update", rec, day, "-o", tmp_path / "rec2", "--run", f"other={run}")
    assert isinstance(res.exception, ParameterError) and "'other'" in str(res.exception)
    res = invoke("update", rec, day, "-o", data / "rec2")  # inside the fitted-on dataset
    assert res.exit_code != 0 and not (data / "rec2").exists()
    res = invoke("update", rec, day, "-o", tmp_path / "rec2", "-s", "epochs=2")
    assert isinstance(res.exception, ParameterError) and "no update settings" in str(res.exception)
    assert not (tmp_path / "rec2").exists()

"""Issue 12 item 18: a trained model applied to another dataset (`songspace embed`),
`evaluate --drop-unknown`, and feature groups aligned by column name."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace import Dataset
from songspace._util import ID_BYTES, ID_OFFSETS
from songspace.data.align import align_features
from songspace.data.features import FeatureGroup, encode_genres, genre_group
from songspace.data.synthetic import generate
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.evaluation.clustering import genre_coherence
from songspace.evaluation.embeddings import Embeddings, load_embeddings
from songspace.models.apply import embed_run, training_track_ids
from songspace.models.train import train_model

runner = CliRunner()
SAGE = {"dim": 16, "hidden": 32, "epochs": 4, "batch_size": 64, "fanouts": (6, 4)}


def flat(text: str) -> str:
    return " ".join(text.split())


def with_other_columns(ds: Dataset, top_g: int, drop_audio: tuple[str, ...] = ()) -> Dataset:
    """``ds`` as another preparation would give it: its genre group over its own top
    ``top_g`` genres, and an audio group lacking ``drop_audio``."""
    genres = [list(g) for g in ds.tracks["genres"]]
    features = dict(ds.features)
    features["genre"] = genre_group(genres, ds.occurrences(), top_g=top_g)
    audio = ds.features["audio"]
    keep = [j for j, c in enumerate(audio.columns) if c not in drop_audio]
    features["audio"] = FeatureGroup(
        "audio",
        [audio.columns[j] for j in keep],
        audio.values[:, keep],
        audio.known[:, keep],
        {c: audio.scaling[c] for c in (audio.columns[j] for j in keep) if c in audio.scaling},
    )
    return dataclasses.replace(ds, features=features).validate()


@pytest.fixture(scope="module")
def train_ds() -> Dataset:
    return generate(400, 500, n_genres=10, seed=0)


@pytest.fixture(scope="module")
def new_ds() -> Dataset:
    """Another dataset of the same kind of source: other playlists, other tracks (ids
    t0000000... again but other content), 6 top genres instead of 10, two audio
    columns missing."""
    return with_other_columns(
        generate(400, 500, n_genres=10, seed=1), top_g=6, drop_audio=("tempo", "key")
    )


# ---------------------------------------------------------------- feature alignment
def test_genre_groups_with_different_columns_are_re_encoded_over_the_training_ones(
    train_ds, new_ds
):
    cols = {g: train_ds.features[g].columns for g in ("genre", "audio", "popularity")}
    assert new_ds.features["genre"].columns != cols["genre"]
    aligned, report = align_features(new_ds, cols)
    by = {a.group: a for a in report}
    g = aligned.features["genre"]
    assert g.columns == cols["genre"]
    # Each track: 1 on each of its genres among the training columns, else on other.
    genres = [list(x) for x in new_ds.tracks["genres"]]
    for i in range(0, new_ds.n_tracks, 7):
        hot = {c for c, v in zip(g.columns, g.values[i], strict=True) if v == 1.0}
        if not genres[i]:
            assert not g.known[i].any() and not hot
        else:
            expected = {f"genre:{x}" for x in genres[i] if f"genre:{x}" in cols["genre"]}
            assert hot == (expected or {"genre:other"}) and g.known[i].all()
    # training: 10 genres + other; the new dataset: its top 6 + other
    assert by["genre"].rederived and by["genre"].n_training == 11 and by["genre"].matched == 7
    assert len(by["genre"].missing) == 4 and by["genre"].extra == []
    # Audio: the two missing columns are unknown zeros, the others are the dataset's.
    a = aligned.features["audio"]
    assert a.columns == cols["audio"]
    for c in ("tempo", "key"):
        j = a.columns.index(c)
        assert not a.known[:, j].any() and not a.values[:, j].any()
    j = a.columns.index("energy")
    k = new_ds.features["audio"].columns.index("energy")
    np.testing.assert_array_equal(a.values[:, j], new_ds.features["audio"].values[:, k])
    assert by["audio"].missing == ["key", "tempo"] and by["audio"].extra == []
    assert by["popularity"].exact
    text = by["audio"].describe()
    assert "9 of the 11 training columns" in text and "'key', 'tempo'" in text
    assert "filled as unknown" in text
    aligned.validate()


def test_alignment_by_name_drops_extra_columns_and_errors_only_when_nothing_matches(
    train_ds,
):
    ds = dataclasses.replace(train_ds, features=dict(train_ds.features))
    audio = ds.features["audio"]
    ds.features["audio"] = FeatureGroup(
        "audio",
        [*audio.columns, "bpm_guess"],
        np.hstack([audio.values, np.full((ds.n_tracks, 1), 0.5, np.float32)]),
        np.hstack([audio.known, np.ones((ds.n_tracks, 1), bool)]),
    )
    aligned, report = align_features(ds, {"audio": audio.columns})
    np.testing.assert_array_equal(aligned.features["audio"].values, audio.values)
    assert report[0].extra == ["bpm_guess"] and report[0].matched == 11
    renamed = FeatureGroup("audio", [f"x{j}" for j in range(11)], audio.values, audio.known)
    ds.features["audio"] = renamed
    with pytest.raises(ParameterError, match="sharing columns with the training one"):
        align_features(ds, {"audio": audio.columns})
    with pytest.raises(ParameterError, match="feature group 'acoustic' the model was trained"):
        align_features(dataclasses.replace(train_ds, features={}), {"acoustic": ["a0"]})


def test_encode_genres_marks_unknown_and_other():
    g = encode_genres(
        [["rock"], [], ["jazz", "pop"], ["folk"]], ["genre:pop", "genre:rock", "genre:other"]
    )
    assert g.values.tolist() == [[0, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 1]]
    assert g.known.all(axis=1).tolist() == [True, False, True, True]


# ---------------------------------------------------------------- inductive embed
@pytest.fixture(scope="module")
def sage_run(tmp_path_factory, train_ds):
    pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")
    run = tmp_path_factory.mktemp("emb") / "sage"
    train_model("graphsage", train_ds, run, params=SAGE)
    return run


def test_graphsage_embeds_another_dataset_and_recovers_its_genres(
    sage_run, new_ds, tmp_path, caplog
):
    with caplog.at_level(logging.WARNING, logger="songspace"):
        res = embed_run(sage_run, new_ds, tmp_path / "out")
    text = flat(caplog.text)
    assert "feature group 'genre': 7 of the 11 training columns" in text
    assert "re-encoded from the tracks' genres" in text
    assert "feature group 'audio': 9 of the 11" in text and "'key', 'tempo'" in text
    assert res.inductive and res.n_tracks == new_ds.n_tracks and res.unknown == 0
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "embeddings.npz",
        "embeddings.w2v.txt",
        "projector",
        "embed.json",
    }
    emb = load_embeddings(tmp_path / "out" / "embeddings.npz", new_ds)
    assert emb.available.sum() == res.embedded > 0.8 * new_ds.n_tracks
    learnt = genre_coherence(emb, new_ds, k=10, n=300, seed=0).value
    chance = genre_coherence(
        Embeddings.random(new_ds.n_tracks, 16, seed=0), new_ds, k=10, n=300, seed=0
    ).value
    # planted genres are recovered on a dataset the model never saw, far above chance
    assert learnt > chance + 0.3, (learnt, chance)


def test_graphsage_embed_of_the_training_dataset_matches_its_embeddings(train_ds, tmp_path):
    """Trained on every sequence, embedding the same dataset gives the trained vectors."""
    pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")
    train_model("graphsage", train_ds, tmp_path / "run", params={**SAGE, "epochs": 1}, full=True)
    res = embed_run(tmp_path / "run", train_ds)
    saved = np.load(tmp_path / "run" / "embeddings.npz")
    np.testing.assert_allclose(res.embeddings, saved["embeddings"], atol=1e-5)
    np.testing.assert_array_equal(res.available, saved["available"])


# ---------------------------------------------------------------- transductive mapping
def renamed_and_permuted(ds: Dataset, renamed: np.ndarray, seed: int = 0) -> Dataset:
    """``ds`` with the tracks ``renamed`` given new ids and the vocabulary shuffled
    (sequences re-indexed), so rows only match by id."""
    perm = np.random.default_rng(seed).permutation(ds.n_tracks)  # new row r = old perm[r]
    inv = np.argsort(perm)
    tracks = ds.tracks.copy()
    ids = tracks["track_id"].to_numpy(dtype=object).copy()
    ids[renamed] = [f"new-{i}" for i in renamed]
    tracks["track_id"] = ids
    return Dataset(
        tracks=tracks.iloc[perm].reset_index(drop=True),
        indptr=ds.indptr,
        indices=inv[ds.indices],
        sequence_ids=ds.sequence_ids,
    ).validate()


@pytest.fixture(scope="module")
def t2v_run(tmp_path_factory, train_ds):
    pytest.importorskip("gensim", reason="Track2Vec needs gensim (extra `models`)")
    run = tmp_path_factory.mktemp("emb") / "t2v"
    model = train_model("track2vec", train_ds, run, params={"dim": 25, "epochs": 2})
    return run, model


def test_transductive_model_maps_by_id_with_exact_counts(t2v_run, train_ds, tmp_path, caplog):
    run, model = t2v_run
    renamed = np.arange(0, train_ds.n_tracks, 5)  # 100 tracks the model never saw
    new = renamed_and_permuted(train_ds, renamed)
    with caplog.at_level(logging.INFO, logger="songspace"):
        res = embed_run(run, new, tmp_path / "out")
    seen = np.setdiff1d(np.arange(train_ds.n_tracks), renamed)
    assert res.unknown == len(renamed) == 100
    assert res.no_embedding == int((~model.available_[seen]).sum())
    assert res.embedded == int(model.available_[seen].sum())
    assert res.embedded + res.unknown + res.no_embedding == new.n_tracks
    assert f"{res.unknown} not in the training vocabulary" in flat(caplog.text)
    # each available row is the model's vector of the same track id
    index = {t: i for i, t in enumerate(train_ds.tracks["track_id"])}
    for r in np.flatnonzero(res.available)[:50]:
        old = index[new.tracks["track_id"][r]]
        np.testing.assert_array_equal(res.embeddings[r], model.embeddings_[old])
    # `evaluate` reads OUT, aligned to the new dataset
    emb = load_embeddings(tmp_path / "out" / "embeddings.npz", new)
    assert int(emb.available.sum()) == res.embedded


def test_evaluate_drops_unknown_ids_only_with_the_flag(t2v_run, train_ds, caplog):
    run, model = t2v_run
    renamed = np.arange(0, train_ds.n_tracks, 4)
    new = renamed_and_permuted(train_ds, renamed, seed=1)
    with pytest.raises(InvalidValueError, match="--drop-unknown") as err:
        load_embeddings(run / "embeddings.npz", new)
    assert f"found {len(renamed)} of {train_ds.n_tracks} unknown" in str(err.value)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        emb = load_embeddings(run / "embeddings.npz", new, drop_unknown=True)
    assert f"dropped {len(renamed)} of {train_ds.n_tracks} track ids" in flat(caplog.text)
    seen = np.setdiff1d(np.arange(train_ds.n_tracks), renamed)
    assert int(emb.available.sum()) == int(model.available_[seen].sum())
    # the same dataset, rows in vocabulary order: unchanged behaviour
    same = load_embeddings(run / "embeddings.npz", train_ds)
    np.testing.assert_array_equal(same.available, model.available_)


def test_runs_without_stored_ids_map_through_the_w2v_file(t2v_run, train_ds, tmp_path):
    import shutil

    run, model = t2v_run
    old = tmp_path / "old"
    shutil.copytree(run, old)
    with np.load(old / "embeddings.npz") as z:
        arrays = {k: z[k] for k in z.files if k not in (ID_BYTES, ID_OFFSETS)}
    np.savez(old / "embeddings.npz", **arrays)
    ids = training_track_ids(old, model)
    expected = train_ds.tracks["track_id"].tolist()
    for i in np.flatnonzero(model.available_):
        assert ids[i] == expected[i]
    res = embed_run(old, train_ds)
    assert res.embedded == int(model.available_.sum()) and res.unknown == int(
        (~model.available_).sum()
    )


def test_bad_track_id_arrays_are_a_clear_error(t2v_run, train_ds, tmp_path):
    run, _ = t2v_run
    with np.load(run / "embeddings.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays[ID_OFFSETS] = arrays[ID_OFFSETS][:-3]
    np.savez(tmp_path / "e.npz", **arrays)
    with pytest.raises(FormatError, match="fit together"):
        load_embeddings(tmp_path / "e.npz", train_ds)


# ---------------------------------------------------------------- the command line
def test_cli_embed_then_evaluate(t2v_run, train_ds, tmp_path):
    from songspace.cli import app

    run, _ = t2v_run
    renamed = np.arange(0, train_ds.n_tracks, 10)
    data = tmp_path / "new"
    renamed_and_permuted(train_ds, renamed).save(data)
    res = runner.invoke(
        app, ["--no-progress", "embed", str(run), str(data), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    out = flat(res.output)
    assert f"{len(renamed)} not in the training vocabulary" in out
    assert f"songspace evaluate {data} {run}" in out
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(data),
            str(tmp_path / "o" / "embeddings.npz"),
            "--metrics",
            "completion",
            "--min-tracks",
            "20",
        ],
    )
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(data),
            str(run / "embeddings.npz"),
            "--metrics",
            "completion",
            "--min-tracks",
            "20",
        ],
    )
    assert res.exit_code == 1 and "--drop-unknown" in str(res.exception)  # main() prints it
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "evaluate",
            str(data),
            str(run / "embeddings.npz"),
            "--metrics",
            "completion",
            "--min-tracks",
            "20",
            "--drop-unknown",
        ],
    )
    assert res.exit_code == 0, res.output


def test_cli_embed_refuses_a_missing_run_and_writing_over_its_inputs(t2v_run, train_ds, tmp_path):
    from songspace.cli import app

    run, _ = t2v_run
    data = tmp_path / "d"
    train_ds.save(data)
    res = runner.invoke(
        app, ["embed", str(tmp_path / "nope"), str(data), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 1 and "model/model.json" in str(res.exception)
    res = runner.invoke(app, ["embed", str(run), str(data), "-o", str(data), "--overwrite"])
    assert res.exit_code == 1 and data.is_dir()


# ---------------------------------------------------------------- no leak (issue 27 item 1)
def test_evaluate_a_run_embeds_from_the_protocols_training_view_only(
    sage_run, new_ds, tmp_path, monkeypatch
):
    """`evaluate DATA RUN` must build an inductive model's graph and popularity from the
    protocol's training view: no test sequence, no masked target reaches the embeddings."""
    from songspace.evaluation.protocol import make_protocol
    from songspace.evaluation.suite import run_evaluation
    from songspace.models.apply import RunEmbedder, load_run

    data = tmp_path / "new"
    new_ds.save(data)
    seen: list[Dataset] = []
    klass = type(load_run(sage_run))
    original = klass.embed_all

    def spy(self, dataset):
        seen.append(dataset)
        return original(self, dataset)

    monkeypatch.setattr(klass, "embed_all", spy)
    protocol, results, _ = run_evaluation(
        data,
        [RunEmbedder(sage_run)],
        families=["completion"],
        test_fraction=0.1,
        min_tracks=20,
        baselines=False,
    )
    (view,) = seen
    expected = make_protocol(
        Dataset.load(data), seed=0, fractions=(0.8, 0.1, 0.1), min_tracks=20
    ).train
    np.testing.assert_array_equal(view.indptr, expected.indptr)
    np.testing.assert_array_equal(view.indices, expected.indices)
    test_ids = set(Dataset.load(data).sequence_ids[protocol.split.test])
    assert test_ids and test_ids.isdisjoint(view.sequence_ids)
    assert view.n_sequences < new_ds.n_sequences and results[0].model == "sage"


def test_evaluate_a_run_scores_what_the_training_view_embeds_not_the_leaky_embed(
    sage_run, new_ds, tmp_path
):
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.suite import evaluate_many, run_evaluation
    from songspace.models.apply import RunEmbedder, load_run

    data = tmp_path / "new"
    new_ds.save(data)
    kw = {"families": ["completion", "next_song"], "test_fraction": 0.1, "min_tracks": 20}
    protocol, (honest,), _ = run_evaluation(data, [RunEmbedder(sage_run)], baselines=False, **kw)
    vectors, avail = load_run(sage_run).embed_all(protocol.train)
    by_hand = Embeddings.from_array(vectors, new_ds.n_tracks, available=avail, name="h")
    (expected,), _ = evaluate_many(
        protocol, [by_hand], baselines=False, families=["completion", "next_song"]
    )
    for name, m in honest.metrics.items():
        assert m.value == pytest.approx(expected.metrics[name].value, abs=1e-6), name
    leaky_vectors, _ = load_run(sage_run).embed_all(Dataset.load(data))
    assert not np.allclose(leaky_vectors, vectors)  # the full graph differs from the view


def test_evaluating_an_inductive_embed_output_of_the_same_dataset_is_refused(
    sage_run, t2v_run, new_ds, train_ds, tmp_path
):
    from songspace.cli import app

    data, other = tmp_path / "new", tmp_path / "other"
    new_ds.save(data)
    renamed_and_permuted(train_ds, np.arange(0, train_ds.n_tracks, 10)).save(other)
    res = runner.invoke(
        app, ["--no-progress", "embed", str(sage_run), str(data), "-o", str(tmp_path / "o")]
    )
    assert res.exit_code == 0, res.output
    said = flat(res.output)
    assert f"built from all {new_ds.n_sequences:,} sequences of {data}" in said
    assert f"songspace evaluate {data} {sage_run}" in said
    opts = ["--metrics", "completion", "--min-tracks", "20", "--test-fraction", "0.1"]
    res = runner.invoke(app, ["evaluate", str(data), str(tmp_path / "o" / "embeddings.npz"), *opts])
    assert res.exit_code == 1
    msg = flat(str(res.exception))
    assert "test playlists included" in msg and f"songspace evaluate {data} {sage_run}" in msg
    # the run form scores it honestly
    res = runner.invoke(app, ["--no-progress", "evaluate", str(data), str(sage_run), *opts])
    assert res.exit_code == 0, res.output
    # a transductive embed output (mapped by id) never read the sequences: accepted
    t2v, _ = t2v_run
    assert (
        runner.invoke(
            app, ["--no-progress", "embed", str(t2v), str(other), "-o", str(tmp_path / "t")]
        ).exit_code
        == 0
    )
    res = runner.invoke(
        app,
        ["--no-progress", "evaluate", str(other), str(tmp_path / "t" / "embeddings.npz"), *opts],
    )
    assert res.exit_code == 0, res.output


def test_a_run_that_trained_on_the_protocols_test_sequences_is_refused(train_ds, tmp_path):
    pytest.importorskip("gensim", reason="Track2Vec needs gensim (extra `models`)")
    from songspace.cli import app

    data = tmp_path / "d"
    train_ds.save(data)
    fast = {"dim": 25, "epochs": 1}
    train_model("track2vec", data, tmp_path / "s1", params=fast, seed=1, test_fraction=0.1)
    train_model("track2vec", data, tmp_path / "full", params=fast, full=True)
    opts = ["--metrics", "completion", "--min-tracks", "20", "--test-fraction", "0.1"]
    for run, why in (("s1", "--seed 1 --test-fraction 0.1"), ("full", "--full")):
        for arg in (tmp_path / run, tmp_path / run / "embeddings.npz"):
            res = runner.invoke(app, ["evaluate", str(data), str(arg), *opts])
            assert res.exit_code == 1, (arg, res.output)
            assert why in flat(str(res.exception)), str(res.exception)
    # the run's own split is accepted, as a run directory and as its embeddings file
    for arg in (tmp_path / "s1", tmp_path / "s1" / "embeddings.npz"):
        res = runner.invoke(
            app, ["--no-progress", "evaluate", str(data), str(arg), *opts, "--seed", "1"]
        )
        assert res.exit_code == 0, res.output


def test_embed_refuses_a_run_whose_weights_give_non_finite_vectors(sage_run, new_ds, tmp_path):
    """Issue 27 item 3: NaN encoder weights embedded every track as NaN, with exit 0."""
    import shutil

    from songspace.cli import app
    from songspace.errors import ModelFormatError

    bad = tmp_path / "bad"
    shutil.copytree(sage_run, bad)
    with np.load(bad / "model" / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["encoder.layers.1.bias"] = np.full_like(arrays["encoder.layers.1.bias"], np.nan)
    np.savez(bad / "model" / "arrays.npz", **arrays)
    with pytest.raises(ModelFormatError, match="NaN or inf") as err:
        embed_run(bad, new_ds, tmp_path / "out")
    assert "retrain" in str(err.value) and not (tmp_path / "out").exists()
    # weights that load but give non-finite vectors are refused after embedding too
    from songspace.models.apply import EmbedResult, check_finite_embeddings

    vectors = np.ones((4, 2), np.float32)
    vectors[2, 1] = np.inf
    res = EmbedResult("graphsage", True, vectors, np.ones(4, bool))
    with pytest.raises(InvalidValueError, match="NaN or inf in 1 of 4 rows"):
        check_finite_embeddings(res, sage_run)
    data = tmp_path / "d"
    new_ds.save(data)
    res = runner.invoke(app, ["evaluate", str(data), str(bad), "--metrics", "completion"])
    assert res.exit_code == 1 and "NaN or inf" in str(res.exception)

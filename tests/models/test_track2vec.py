"""Track2Vec and Track2Vec-Feature: the shared model suite plus model-specific checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

pytest.importorskip("gensim")

from songspace.data.builder import finish_dataset
from songspace.data.dataset import FeatureGroup
from songspace.errors import ParameterError
from songspace.models import create, get_model_class
from songspace.models.base import EmbeddingModel
from songspace.models.track2vec import (
    MAX_SENTENCE_LEN,
    CsrCorpus,
    Track2Vec,
    Track2VecFeature,
    auto_epochs,
    auto_window,
    corpus_file,
    corpus_key,
    repeat_share,
    retained_share,
    skipgram_pairs,
    vocabulary_counts,
)
from songspace.testing import ModelTestMixin, planted_dataset
from songspace.testing.models import same_genre_share

FAST = {"dim": 32, "epochs": 5}


class TestTrack2Vec(ModelTestMixin):
    model_class = Track2Vec
    fast_params: ClassVar[dict[str, Any]] = FAST


class TestTrack2VecFeature(ModelTestMixin):
    model_class = Track2VecFeature
    fast_params: ClassVar[dict[str, Any]] = {
        **FAST,
        "feature_groups": ("genre", "popularity", "audio"),
    }


def tiny_dataset(sequences: list[list[int]], n_tracks: int):
    lengths = [len(s) for s in sequences]
    indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    indices = np.array([t for s in sequences for t in s], dtype=np.int64)
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=indptr,
        indices=indices,
        sequence_ids=np.array([f"p{i}" for i in range(len(sequences))], dtype=object),
    )


# ------------------------------------------------------------------ corpus
def test_corpus_yields_exactly_the_sequences_on_every_pass():
    seqs = [[3, 1, 2], [], [0], [2, 2, 4, 1]]
    indptr = np.cumsum([0] + [len(s) for s in seqs])
    corpus = CsrCorpus(indptr, np.array([t for s in seqs for t in s], dtype=np.int32))
    expected = [[str(t) for t in s] for s in seqs if s]
    assert list(corpus) == expected
    assert list(corpus) == expected  # restartable
    assert len(corpus) == len(expected)


def test_corpus_chunks_long_sequences():
    seq = list(range(7)) * 3  # 21 tokens
    corpus = CsrCorpus(np.array([0, 21, 23]), np.array([*seq, 5, 6]), max_len=5)
    chunks = list(corpus)
    assert [len(c) for c in chunks] == [5, 5, 5, 5, 1, 2]
    assert [t for c in chunks[:5] for t in c] == [str(t) for t in seq]
    assert chunks[5] == ["5", "6"]
    assert len(corpus) == 6
    assert MAX_SENTENCE_LEN == 10_000


def test_long_sequence_is_trained_beyond_gensim_cap():
    # One sequence of 25,000 tokens: without chunking, gensim would stop at 10,000.
    rng = np.random.default_rng(0)
    seq = rng.integers(0, 50, 25_000).tolist()
    seq[-5:] = [50, 51, 50, 51, 50]  # tracks that occur only after the cap
    ds = tiny_dataset([seq], 52)
    assert len(CsrCorpus(ds.indptr, ds.indices)) == 3
    m = Track2Vec(dim=25, epochs=1, seed=0).fit(ds)
    assert m.available_.all()
    init = Track2Vec(dim=25, epochs=1, seed=0, alpha=0.001).fit(ds)
    # Track 50 is only after position 10,000: it must have been updated (moved).
    assert not np.allclose(m.embeddings_[50], init.embeddings_[50])


def test_vocabulary_counts_in_first_occurrence_order():
    counts = vocabulary_counts(np.array([4, 1, 4, 2, 1, 4]), 6)
    assert list(counts.items()) == [("4", 3), ("1", 2), ("2", 1)]


# -------------------------------------------------------------- behaviour
def test_min_count_makes_rare_tracks_unavailable():
    seqs = [[0, 1, 2, 0, 1, 2, 3], [0, 1, 2, 4], [2, 1, 0]]  # 3, 4: once; 5: never
    ds = tiny_dataset(seqs, 6)
    m = Track2Vec(dim=25, epochs=2, min_count=2).fit(ds)
    np.testing.assert_array_equal(m.available_, [True, True, True, False, False, False])
    assert not m.embeddings_[3:].any()
    m1 = Track2Vec(dim=25, epochs=2, min_count=1).fit(ds)
    np.testing.assert_array_equal(m1.available_, [True] * 5 + [False])
    with pytest.raises(ParameterError, match="min_count"):
        Track2Vec(dim=25, epochs=1, min_count=100).fit(ds)


def test_equals_plain_gensim_word2vec():
    from gensim.models import Word2Vec

    ds = planted_dataset()
    params = {"dim": 32, "window": 4, "ns_exponent": 0.5, "negative": 7, "alpha": 0.03}
    ours = Track2Vec(**params, epochs=3, seed=7).fit(ds)
    sentences = [
        [str(t) for t in ds.indices[a:b]]
        for a, b in zip(ds.indptr[:-1], ds.indptr[1:], strict=True)
    ]
    ref = Word2Vec(
        sentences,
        vector_size=32,
        window=4,
        ns_exponent=0.5,
        negative=7,
        alpha=0.03,
        epochs=3,
        min_count=1,
        workers=1,
        seed=7,
        sg=1,
        hs=0,
    )
    expected = np.zeros_like(ours.embeddings_)
    for key in ref.wv.index_to_key:
        expected[int(key)] = ref.wv[key]
    np.testing.assert_array_equal(ours.embeddings_, expected)


def test_sample_is_gensims_down_sampling():
    from gensim.models import Word2Vec

    ds = planted_dataset()
    ours = Track2Vec(dim=25, window=5, epochs=2, sample=1e-4, seed=3).fit(ds)
    sentences = [
        [str(t) for t in ds.indices[a:b]]
        for a, b in zip(ds.indptr[:-1], ds.indptr[1:], strict=True)
    ]
    ref = Word2Vec(
        sentences, vector_size=25, epochs=2, sample=1e-4, min_count=1, workers=1, seed=3, sg=1, hs=0
    )
    expected = np.zeros_like(ours.embeddings_)
    for key in ref.wv.index_to_key:
        expected[int(key)] = ref.wv[key]
    np.testing.assert_array_equal(ours.embeddings_, expected)
    # the default stays gensim's 1e-3: default fits are unchanged
    assert Track2Vec().sample == 1e-3
    default = Track2Vec(dim=25, window=5, epochs=2, seed=3).fit(ds).embeddings_
    assert not np.array_equal(default, ours.embeddings_)


def test_retained_share_and_skipgram_pairs_by_hand():
    # no down-sampling below the threshold; gensim's keep probability above it
    assert retained_share(np.ones(1000), 1e-2) == 1.0  # threshold 10 occurrences
    # tiny corpora are down-sampled whole (threshold 0.004: keep = (sqrt(250) + 1) * 0.004)
    assert retained_share(np.ones(4), 1e-3) == pytest.approx((250**0.5 + 1) * 0.004)
    counts = np.array([90, 10])  # threshold 0.1 * 100 = 10: keep(90) = (sqrt(9) + 1) / 9
    assert retained_share(counts, 0.1) == pytest.approx((90 * 4 / 9 + 10) / 100)
    assert retained_share(counts, 0) == 1.0
    # one sequence of 4 tokens, window 1: 3 adjacent pairs, both directions = 6
    assert skipgram_pairs(np.array([4]), 1) == pytest.approx(6.0)
    # window 2: w=1 gives 6, w=2 gives 2 * (1 + 2 + 2 + ... ) = 2 * 5 = 10; mean 8
    assert skipgram_pairs(np.array([4]), 2) == pytest.approx(8.0)


class _EpochProgress:
    """A progress callback with the epoch hook ``epoch_end`` (an EpochProgressCallback)."""

    def __init__(self, epoch_end):
        self.epoch_end = epoch_end

    def __call__(self, done, total, message):
        pass


def test_epoch_hook_of_the_progress_callback_sees_each_epochs_vectors_and_can_stop_training():
    ds = tiny_dataset([[0, 1, 2, 3]] * 20, 4)
    seen = []
    m = Track2Vec(dim=25, epochs=3, sample=0)  # (gensim would down-sample 4 tracks away)
    m.fit(ds, progress=_EpochProgress(lambda e, emb, av: seen.append((e, emb.copy(), av.copy()))))
    assert [e for e, _, _ in seen] == [1, 2, 3]
    assert seen[0][1].shape == (4, 25) and seen[0][2].all()
    np.testing.assert_array_equal(seen[-1][1], m.embeddings_)
    assert not np.array_equal(seen[0][1], seen[-1][1])

    def stop(epoch, emb, avail):
        if epoch == 2:
            raise KeyboardInterrupt("stop")
        seen.append(epoch)

    seen.clear()
    m = Track2Vec(dim=25, epochs=5)
    with pytest.raises(KeyboardInterrupt):
        m.fit(ds, progress=_EpochProgress(stop))
    assert seen == [1]


def test_progress_reports_each_epoch():
    seen = []
    m = Track2Vec(dim=25, epochs=3)
    m.fit(tiny_dataset([[0, 1, 2, 3]] * 20, 4), progress=lambda d, t, msg: seen.append((d, t, msg)))
    assert [(d, t) for d, t, _ in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[0][2].startswith("epoch 1/3 loss ")


@pytest.mark.slow
def test_deterministic_across_processes():
    code = (
        "from songspace.models.track2vec import Track2Vec;"
        "from songspace.testing import planted_dataset;"
        "import hashlib;"
        "e = Track2Vec(dim=25, epochs=1, seed=3).fit(planted_dataset()).embeddings_;"
        "print(hashlib.sha256(e.tobytes()).hexdigest())"
    )
    digests = set()
    for hashseed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
            env={**os.environ, "PYTHONHASHSEED": hashseed},
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_registered_names():
    assert get_model_class("track2vec") is Track2Vec
    assert get_model_class("track2vec_feature") is Track2VecFeature


def test_integer_parameters_checked():
    ds = tiny_dataset([[0, 1]], 2)
    with pytest.raises(ParameterError, match="dim"):
        Track2Vec(dim=32.5).fit(ds)


# ---------------------------------------------------------------- features
def feature_dataset():
    ds = tiny_dataset([[0, 1, 2, 3, 0, 1], [2, 3, 0, 1]], 4)
    known = np.array([[True, True], [False, False], [True, True], [True, False]])
    values = np.array([[0.5, 0.0], [0.0, 0.0], [1.0, 0.25], [0.75, 0.0]], dtype=np.float32)
    ds.features["mood"] = FeatureGroup("mood", ["calm", "dark"], values, known)
    ds.validate()
    return ds


def test_feature_concatenation_layout():
    ds = feature_dataset()
    pop = ds.features["popularity"]
    m = Track2VecFeature(
        dim=25, epochs=2, feature_groups=["mood", "popularity"], feature_weight=2.0
    )
    m.fit(ds)
    assert m.embeddings_.shape == (4, 25 + (2 + 1) + (pop.dim + 1))
    base = Track2Vec(dim=25, epochs=2).fit(ds).embeddings_
    w = base / np.linalg.norm(base, axis=1, keepdims=True)
    np.testing.assert_allclose(m.embeddings_[:, :25], w, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(m.embeddings_[:, :25], axis=1), 1.0, rtol=1e-6)
    mood = m.embeddings_[:, 25:28] / 2.0 * np.sqrt(3)
    expected_mood = np.array(
        [[0.5, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.25, 1.0], [0.75, 0.0, 0.5]], dtype=np.float32
    )
    np.testing.assert_allclose(mood, expected_mood, rtol=1e-6)
    popb = m.embeddings_[:, 28:] / 2.0 * np.sqrt(pop.dim + 1)
    np.testing.assert_allclose(popb[:, :-1], pop.values, rtol=1e-6)
    np.testing.assert_allclose(popb[:, -1], 1.0, rtol=1e-6)
    zero = Track2VecFeature(dim=25, epochs=2, feature_groups=["mood"], feature_weight=0.0).fit(ds)
    assert not zero.embeddings_[:, 25:].any()


def test_unknown_feature_group_lists_available():
    ds = feature_dataset()
    m = Track2VecFeature(dim=25, epochs=1, feature_groups=["mood", "nope"])
    with pytest.raises(ParameterError, match=r"feature_groups.*\['mood', 'popularity'\]"):
        m.fit(ds)


@pytest.mark.parametrize(
    "bad", [{"feature_groups": "genre"}, {"feature_groups": []}, {"feature_weight": -1.0}]
)
def test_feature_parameters_validated(bad):
    name = next(iter(bad))
    with pytest.raises(ParameterError, match=name):
        Track2VecFeature(dim=25, epochs=1, **bad).fit(feature_dataset())


def test_feature_model_round_trip_with_list_groups(tmp_path):
    m = Track2VecFeature(dim=25, epochs=1, feature_groups=["mood"]).fit(feature_dataset())
    m.save(tmp_path / "m")
    assert not (tmp_path / "m" / "feature_groups_is_tuple").exists()
    with np.load(tmp_path / "m" / "arrays.npz") as z:
        assert "feature_groups_is_tuple" not in z.files
    back = EmbeddingModel.load(tmp_path / "m")
    assert back.feature_groups == ("mood",)  # the constraint says tuple
    np.testing.assert_array_equal(back.embeddings_, m.embeddings_)


def test_model_saved_with_the_old_tuple_flag_still_loads(tmp_path):
    m = Track2VecFeature(dim=25, epochs=1, feature_groups=("mood",)).fit(feature_dataset())
    m.save(tmp_path / "m")
    arrays = dict(np.load(tmp_path / "m" / "arrays.npz"))
    np.savez(tmp_path / "m" / "arrays.npz", **arrays, feature_groups_is_tuple=np.array(True))
    back = EmbeddingModel.load(tmp_path / "m")
    assert back.get_params() == m.get_params()
    np.testing.assert_array_equal(back.embeddings_, m.embeddings_)


# ------------------------------------------------------------------ corpus file mode
@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SONGSPACE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "corpus"


def test_corpus_file_holds_the_iterator_sentences_and_is_written_once(cache_dir):
    ds = tiny_dataset([[0, 1, 2], [3], [2, 1, 0, 3] * 3], 4)
    path = corpus_file(ds)
    assert path.parent == cache_dir and corpus_key(ds)[:40] in path.name
    lines = path.read_text().splitlines()
    assert [ln.split(" ") for ln in lines] == list(CsrCorpus(ds.indptr, ds.indices))
    stamp = path.stat().st_mtime_ns
    assert corpus_file(ds) == path and path.stat().st_mtime_ns == stamp  # cached
    other = tiny_dataset([[0, 1, 2], [3]], 4)
    assert corpus_key(other) != corpus_key(ds) and corpus_file(other) != path
    assert sorted(p.name for p in cache_dir.iterdir() if p.name.startswith(".")) == []


def test_corpus_mode_follows_workers():
    assert not Track2Vec(workers=2).uses_corpus_file()
    assert Track2Vec(workers=3).uses_corpus_file()
    assert Track2Vec(workers=1, corpus="file").uses_corpus_file()
    assert not Track2Vec(workers=8, corpus="iterator").uses_corpus_file()
    with pytest.raises(ParameterError, match="corpus"):
        Track2Vec(corpus="disk").check_params()


@pytest.mark.parametrize("workers", [1, 3])
def test_corpus_file_and_iterator_modes_both_learn_the_planted_genres(cache_dir, workers):
    ds = planted_dataset()
    genre = ds.tracks["genre"].to_numpy(dtype=object)
    shares = {}
    for mode in ("iterator", "file"):
        m = Track2Vec(dim=32, epochs=5, workers=workers, corpus=mode, seed=1).fit(ds)
        shares[mode], chance = same_genre_share(m.embeddings_, m.available_, genre)
        assert m.available_.sum() > 0.9 * ds.n_tracks
    assert min(shares.values()) > 0.8 > 3 * chance, shares
    assert abs(shares["file"] - shares["iterator"]) < 0.1, shares
    assert any(cache_dir.iterdir())  # the file mode wrote (and then read) the corpus


# ------------------------------------------------------ presets and adaptive defaults
#: W2V paper Table 3's defaults (d, L, alpha, N, lambda), with Word2Vec's epochs and sample.
TABLE_3 = {
    "dim": 100,
    "window": 5,
    "ns_exponent": 0.75,
    "negative": 5,
    "alpha": 0.025,
    "epochs": 5,
    "sample": 1e-3,
}


def test_paper_preset_gives_exactly_table_3():
    assert Track2Vec.preset_params("paper") == TABLE_3
    assert Track2VecFeature.preset_params("paper") == TABLE_3
    model = create("track2vec", preset="paper")
    assert {k: model.get_params()[k] for k in TABLE_3} == TABLE_3
    # given parameters override the preset's, the rest keep the defaults
    model = create("track2vec", {"dim": "32"}, from_strings=True, preset="paper")
    assert (model.dim, model.window, model.min_count) == (32, 5, 1)
    with pytest.raises(ParameterError, match=r"parameter `preset`: expected a preset of .*'paper'"):
        create("track2vec", preset="tiny")


def test_paper_preset_trains_as_plain_gensim_with_its_defaults():
    """Table 3's values are gensim's Word2Vec defaults: the preset equals plain gensim."""
    from gensim.models import Word2Vec

    ds = tiny_dataset([[i % 7, (i + 1) % 7, (i + 3) % 7, 7 + i % 5] for i in range(60)], 12)
    ours = create("track2vec", {"seed": 4}, preset="paper").fit(ds)
    sentences = [[str(t) for t in ds.sequence(s)] for s in range(ds.n_sequences)]
    ref = Word2Vec(sentences, min_count=1, workers=1, seed=4, sg=1, hs=0)
    expected = np.zeros_like(ours.embeddings_)
    for key in ref.wv.index_to_key:
        expected[int(key)] = ref.wv[key]
    np.testing.assert_array_equal(ours.embeddings_, expected)
    assert ours.fitted_params_ == ours.get_params()  # nothing was left to the data


def test_cli_train_with_the_paper_preset_and_with_the_adaptive_default(tmp_path):
    import json

    from typer.testing import CliRunner

    from songspace.cli import app

    data = tmp_path / "ds"
    tiny_dataset([[i % 9, (i + 1) % 9, (i + 2) % 9, (i + 4) % 9] * 3 for i in range(90)], 9).save(
        data
    )
    base = ["--no-progress", "train", "track2vec", str(data), "--param", "dim=25"]
    res = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "p"), "--preset", "paper"])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "p" / "model" / "model.json").read_text())
    assert {k: doc["params"][k] for k in TABLE_3 if k != "dim"} == {
        k: v for k, v in TABLE_3.items() if k != "dim"
    }
    assert doc["fitted_params"] == doc["params"]
    assert "from the data" not in res.output
    res = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "a" / "model" / "model.json").read_text())
    assert doc["params"]["epochs"] == "auto" and doc["params"]["window"] == "auto"
    used = doc["fitted_params"]
    assert isinstance(used["epochs"], int) and isinstance(used["window"], int)
    assert f"chose window={used['window']}, epochs={used['epochs']} from the data" in " ".join(
        res.output.split()
    )
    res = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "x"), "--preset", "tiny"])
    assert isinstance(res.exception, ParameterError)  # main() prints it without a traceback
    assert "parameter `preset`" in str(res.exception) and "'paper'" in str(res.exception)
    res = CliRunner().invoke(app, ["models"])
    assert "preset 'paper' (the reference of `songspace tune`)" in " ".join(res.output.split())


def test_auto_epochs_by_hand():
    # ceil(10,000,000 / training entries), within [5, 50]
    assert auto_epochs(94_335) == 50  # Melon's training view: ceil(106.0), capped
    assert auto_epochs(326_082) == 31  # the LFM-1b subset's: ceil(30.67)
    assert auto_epochs(497_416) == 21  # the MPD subset's: ceil(20.10)
    assert auto_epochs(1_999_999) == 6
    assert auto_epochs(2_000_000) == 5  # from 2M entries on: the paper's 5
    assert auto_epochs(66_346_428) == 5  # the full MPD


def test_repeat_share_and_auto_window_by_hand():
    playlists = tiny_dataset([[0, 1, 2, 3], [4, 5, 6, 7, 0], [1, 2]], 8)  # no track twice
    assert repeat_share(playlists) == 0.0
    assert auto_window(playlists) == 5
    # 16 entries; 0 again in the first sequence, 3 in the second, 4 in the third: 3 / 16
    sessions = tiny_dataset([[0, 1, 0, 2], [3, 3], [4, 5, 6, 7, 8, 9, 1, 2, 3, 4]], 10)
    assert repeat_share(sessions) == 3 / 16
    assert auto_window(sessions) == 10
    # the threshold: 1 repeat in 20 entries (5%) is sessions, 1 in 21 is playlists
    assert auto_window(tiny_dataset([[0, 1, 0], list(range(2, 19))], 19)) == 10
    assert auto_window(tiny_dataset([[0, 1, 0], list(range(2, 20))], 20)) == 5


def test_auto_is_resolved_from_the_training_data_and_saved(tmp_path):
    import json

    seqs = [[i % 6, (i + 1) % 6, i % 6, 6 + i % 4] for i in range(40)]  # 160 entries, 40 repeats
    ds = tiny_dataset(seqs, 10)
    model = Track2Vec(dim=25, seed=2).fit(ds)
    assert (model.epochs, model.window) == ("auto", "auto")  # the parameters stay as given
    used = model.fitted_params_
    assert (used["epochs"], used["window"]) == (50, 10)
    assert {k: v for k, v in used.items() if k not in ("epochs", "window")} == {
        k: v for k, v in model.get_params().items() if k not in ("epochs", "window")
    }
    explicit = Track2Vec(dim=25, seed=2, epochs=50, window=10).fit(ds)
    np.testing.assert_array_equal(model.embeddings_, explicit.embeddings_)
    assert explicit.fitted_params_ == explicit.get_params()
    # tuning's cost model sees the resolved values
    assert Track2Vec.cost_units({"dim": 25}, ds) == Track2Vec.cost_units(
        {"dim": 25, "window": 10}, ds
    )
    model.save(tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["params"]["epochs"] == "auto" and doc["fitted_params"]["epochs"] == 50
    back = EmbeddingModel.load(tmp_path / "m")
    assert back.get_params() == model.get_params() and back.fitted_params_ == used
    # a model.json written before fitted_params was recorded: its parameters stand for them
    del doc["fitted_params"]
    (tmp_path / "m" / "model.json").write_text(json.dumps(doc))
    assert EmbeddingModel.load(tmp_path / "m").fitted_params_ == model.get_params()


def test_progress_counts_the_resolved_epochs():
    seen = []
    ds = tiny_dataset([[0, 1, 2, 3]] * 20, 4)  # 80 entries: 50 epochs
    Track2Vec(dim=25, sample=0).fit(ds, progress=lambda d, t, m: seen.append(t))
    assert set(seen) == {50}


def test_an_update_continues_with_the_values_the_fit_resolved():
    """An update trains with the window the fit resolved and, by default, its epochs."""
    from songspace.data.vocabulary import extend_vocabulary

    seqs = [[i % 6, (i + 1) % 6, i % 6, 6 + i % 4] for i in range(40)]  # sessions: window 10
    base, extra = tiny_dataset(seqs, 10), tiny_dataset([[0, 10, 1, 11, 0]] * 5, 12)
    history, new = extend_vocabulary(base, extra)
    model = Track2Vec(dim=25, seed=2).fit(base)
    assert model.update_defaults()["epochs"] == model.fitted_params_["epochs"] == 50
    explicit = Track2Vec(dim=25, seed=2, epochs=50, window=10).fit(base)
    model.update(new, history=history, epochs=3)
    explicit.update(new, history=history, epochs=3)
    np.testing.assert_array_equal(model.embeddings_, explicit.embeddings_)
    assert model.available_[10:].all()  # the new tracks were trained

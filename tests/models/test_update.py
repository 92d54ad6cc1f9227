"""EmbeddingModel.update: each model continues training on new sequences (issue 31)."""

from __future__ import annotations

import copy
import importlib.util
from typing import ClassVar

import numpy as np
import pytest

pytest.importorskip("gensim", reason="the updatable models need the `models` extra")
pytest.importorskip("lightfm", reason="the updatable models need the `models` extra")
pytest.importorskip("implicit", reason="the updatable models need the `models` extra")

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.data.synthetic import generate
from songspace.data.vocabulary import concat_sequences, extend_vocabulary, occurring_only
from songspace.errors import ParameterError, UpdateNotSupportedError
from songspace.models import EmbeddingModel, InductiveModel, create
from songspace.models.incremental import replay_indices, update_corpus
from songspace.models.node2vec import changed_nodes
from songspace.models.warp import LIGHTFM_STATE, grow_lightfm_state
from songspace.params import SEED, Constraint

#: name -> (registered model, fast parameters)
MODELS = {
    "track2vec": ("track2vec", {"dim": 32, "epochs": 5}),
    "track2vec_feature": (
        "track2vec_feature",
        {"dim": 32, "epochs": 3, "feature_groups": ("genre",)},
    ),
    "node2vec": ("node2vec", {"dim": 32, "walks_per_node": 5}),
    "warp": ("warp", {"dim": 16, "epochs": 10}),
    "warp_features": ("warp", {"dim": 16, "epochs": 5, "feature_groups": ("genre", "audio")}),
    "als": ("als", {"dim": 16}),
}
if importlib.util.find_spec("torch") is not None:  # the `graph` extra
    _SAGE = {"epochs": 2, "steps_per_epoch": 10, "dim": 16, "hidden": 32}
    MODELS |= {"graphsage": ("graphsage", _SAGE), "musig": ("musig", _SAGE)}


@pytest.fixture(scope="module")
def parts():
    """(base, history, new, union): ``base`` a dataset of its own, ``history`` the same
    sequences and ``new`` the next ones on the vocabulary grown by the tracks only
    ``new`` holds (15 tracks held out of ``base``)."""
    ds = generate(400, 200, n_genres=5, mean_length=20, seed=0)
    cold = np.random.default_rng(0).choice(200, size=15, replace=False)
    base = occurring_only(ds.subset(np.arange(340), drop_tracks=cold))
    history, new = extend_vocabulary(base, occurring_only(ds.subset(np.arange(340, 400))))
    assert new.n_tracks > base.n_tracks
    return base, history, new, concat_sequences(history, new)


@pytest.fixture(scope="module")
def fitted(parts):
    """One fitted model per entry of MODELS (copy before updating)."""
    base = parts[0]
    return {key: create(name, params).fit(base) for key, (name, params) in MODELS.items()}


@pytest.fixture(scope="module")
def retrained(parts):
    """Each model of MODELS fitted on the union (what the update stands in for)."""
    union = parts[3]
    return {key: create(name, params).fit(union) for key, (name, params) in MODELS.items()}


def _updated(fitted, parts, key, **settings):
    model = copy.deepcopy(fitted[key])
    _, history, new, _ = parts
    return model.update(new, history=history, **settings)


def _genre_share_of_new_tracks(model: EmbeddingModel, union: Dataset, n_known: int) -> float:
    """Mean share of each available new track's 10 nearest tracks (cosine) sharing its
    planted genre."""
    x = model.embeddings_ / np.maximum(
        np.linalg.norm(model.embeddings_, axis=1, keepdims=True), 1e-12
    )
    genre = union.tracks["genre"].to_numpy()
    shares = []
    for t in np.flatnonzero(model.available_[n_known:]) + n_known:
        s = x @ x[t]
        s[~model.available_] = -np.inf
        s[t] = -np.inf
        shares.append(np.mean(genre[np.argsort(-s)[:10]] == genre[t]))
    return float(np.mean(shares))


@pytest.mark.parametrize("key", list(MODELS))
def test_a_new_track_gets_a_vector_after_the_update(fitted, retrained, parts, key):
    base, _, new, union = parts
    before = fitted[key]
    model = _updated(fitted, parts, key)
    assert model.embeddings_.shape == (new.n_tracks, before.embeddings_.shape[1])
    assert model.n_tracks_ == new.n_tracks
    new_tracks = np.arange(base.n_tracks, new.n_tracks)
    assert model.available_[new_tracks].any()
    # exactly the tracks a retrain on the union embeds (Node2Vec: those with an edge)
    np.testing.assert_array_equal(model.available_, retrained[key].available_)
    vectors = model.embeddings_[new_tracks[model.available_[new_tracks]]]
    assert np.all(np.abs(vectors).sum(axis=1) > 0)
    # the new vectors are learnt, not random: their neighbours share their planted genre
    # (5 genres: about 0.2 by chance; a full retrain reaches 0.6-0.85 on this data)
    assert _genre_share_of_new_tracks(model, union, base.n_tracks) > 0.45


@pytest.mark.parametrize("key", list(MODELS))
def test_the_known_tracks_keep_their_place(fitted, parts, key):
    """The update continues training (half the rate, a replay sample): the known
    tracks' vectors move little (a restarted or diverging training would scatter them)."""
    before = fitted[key]
    model = _updated(fitted, parts, key)
    n = before.n_tracks_
    both = before.available_ & model.available_[:n]
    a, b = before.embeddings_[:n][both], model.embeddings_[:n][both]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    assert cos.mean() > 0.9


@pytest.mark.parametrize("key", ["track2vec", "node2vec", "warp"])
def test_the_update_is_seeded(fitted, parts, key):
    one = _updated(fitted, parts, key, seed=3)
    two = _updated(fitted, parts, key, seed=3)
    np.testing.assert_array_equal(one.embeddings_, two.embeddings_)
    other = _updated(fitted, parts, key, seed=4)
    assert not np.array_equal(one.embeddings_, other.embeddings_)


@pytest.mark.parametrize("key", list(MODELS))
def test_a_saved_model_updates_as_the_fitted_one(fitted, parts, key, tmp_path):
    """What an update needs is saved with the model (pickle-free)."""
    fitted[key].save(tmp_path / "m")
    loaded = EmbeddingModel.load(tmp_path / "m")
    _, history, new, _ = parts
    loaded.update(new, history=history)
    np.testing.assert_array_equal(loaded.embeddings_, _updated(fitted, parts, key).embeddings_)
    # and the updated model saves and loads again, state included
    loaded.save(tmp_path / "m2")
    again = EmbeddingModel.load(tmp_path / "m2")
    np.testing.assert_array_equal(again.embeddings_, loaded.embeddings_)
    assert set(np.load(tmp_path / "m2" / "arrays.npz").files) == set(
        np.load(tmp_path / "m" / "arrays.npz").files
    )


def _saved_without_state(model: EmbeddingModel, path) -> EmbeddingModel:
    """``model`` saved as a songspace version before updates did (no update state)."""
    model.save(path)
    arrays = dict(np.load(path / "arrays.npz"))
    np.savez(path / "arrays.npz", embeddings=arrays["embeddings"], available=arrays["available"])
    return EmbeddingModel.load(path)


@pytest.mark.parametrize("key", ["track2vec", "node2vec", "warp"])
def test_a_model_saved_before_updates_says_to_retrain(fitted, parts, key, tmp_path):
    old = _saved_without_state(fitted[key], tmp_path / "old")
    _, history, new, _ = parts
    with pytest.raises(UpdateNotSupportedError, match="retrain it once"):
        old.update(new, history=history)


def test_als_saved_before_updates_solves_its_sequence_factors(fitted, parts, tmp_path):
    old = _saved_without_state(fitted["als"], tmp_path / "old")
    assert getattr(old, "user_factors_", None) is None
    _, history, new, _ = parts
    old.update(new, history=history)
    assert old.user_factors_.shape[0] == history.n_sequences + new.n_sequences
    assert old.available_[fitted["als"].n_tracks_ :].any()


class _Fixed(EmbeddingModel):
    """A model with no incremental training (a user's own, say)."""

    name = "fixed"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"seed": SEED}

    def __init__(self, seed: int = 0):
        self.seed = seed

    def _fit(self, dataset, progress):
        return np.ones((dataset.n_tracks, 2), np.float32), np.ones(dataset.n_tracks, bool)


class _Inductive(InductiveModel):
    name = "inductive"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"seed": SEED}

    def __init__(self, seed: int = 0):
        self.seed = seed

    _fit = _Fixed._fit

    def embed(self, dataset, tracks=None):
        return np.ones((dataset.n_tracks, 2), np.float32)


def test_a_model_without_update_says_why_and_what_to_do(parts):
    base, history, new, _ = parts
    for klass, reason in ((_Fixed, "no incremental training"), (_Inductive, "songspace embed")):
        model = klass().fit(base)
        assert not model.can_update()
        with pytest.raises(UpdateNotSupportedError, match=reason) as info:
            model.update(new, history=history)
        assert "Fix: retrain on the old and the new sequences together" in str(info.value)


def test_update_settings_are_checked(fitted, parts):
    _, history, new, _ = parts
    model = copy.deepcopy(fitted["track2vec"])
    with pytest.raises(ParameterError, match="an update setting of Track2Vec"):
        model.update(new, history=history, walks_per_node=3)
    with pytest.raises(ParameterError, match="replay_share"):
        model.update(new, history=history, replay_share=1.0)
    assert model.update_settings({"epochs": "2"}, from_strings=True)["epochs"] == 2
    assert model.n_tracks_ == fitted["track2vec"].n_tracks_  # nothing was trained


def test_the_vocabulary_must_extend_the_models(fitted, parts):
    base, _, new, _ = parts
    model = copy.deepcopy(fitted["als"])
    with pytest.raises(ParameterError, match="extending the model's"):
        model.update(new, history=base)


# ----------------------------------------------------------------------- Track2Vec
def test_the_replay_sample_makes_its_share_of_the_corpus(parts):
    _, history, new, _ = parts
    picked = replay_indices(history.n_sequences, new.n_sequences, 0.25, seed=1)
    assert len(picked) == round(new.n_sequences * 0.25 / 0.75) == 20
    assert len(set(picked.tolist())) == 20
    np.testing.assert_array_equal(picked, replay_indices(history.n_sequences, 60, 0.25, 1))
    assert len(replay_indices(history.n_sequences, 60, 0.0, 1)) == 0
    assert len(replay_indices(10, 60, 0.9, 1)) == 10  # all there is
    corpus = update_corpus(history, new, 0.25, seed=1)
    assert corpus.n_sequences == new.n_sequences + 20
    assert corpus.n_entries == new.n_entries + int(history.lengths[picked].sum())


# ------------------------------------------------------------------------- CF-WARP
def test_lightfm_state_grows_as_lightfm_initialises():
    """Item rows for new tracks go after the old tracks and before the feature rows;
    sequence rows are appended; factors uniform in (-0.5, 0.5) / dim, biases 0,
    AdaGrad accumulators 1; every old value is kept."""
    dim, n_old, n_feat, n_users = 4, 3, 2, 5
    rng = np.random.default_rng(0)
    state = {}
    for name in LIGHTFM_STATE:
        rows = n_old + n_feat if name.startswith("item") else n_users
        shape = (rows, dim) if "embedding" in name else (rows,)
        state[name] = rng.random(shape).astype(np.float32) + 2.0  # old values: >= 2
    grown = grow_lightfm_state(state, n_old, n_old + 2, n_users + 3, dim, seed=0)
    for name, a in grown.items():
        old = state[name]
        if name.startswith("item"):
            assert a.shape[0] == n_old + 2 + n_feat
            np.testing.assert_array_equal(a[:n_old], old[:n_old])
            np.testing.assert_array_equal(a[n_old + 2 :], old[n_old:])  # feature rows
            added = a[n_old : n_old + 2]
        else:
            assert a.shape[0] == n_users + 3
            np.testing.assert_array_equal(a[:n_users], old)
            added = a[n_users:]
        if "gradients" in name:
            np.testing.assert_array_equal(added, 1.0)
        elif name.endswith("embeddings"):
            assert np.all(np.abs(added) < 0.5 / dim) and np.ptp(added) > 0
        else:
            np.testing.assert_array_equal(added, 0.0)


def test_warp_old_sequences_not_replayed_keep_their_factors(fitted, parts):
    _, history, new, _ = parts
    before = fitted["warp"].lightfm_state_["user_embeddings"]
    rested = _updated(fitted, parts, "warp", replay_share=0.0).lightfm_state_
    np.testing.assert_array_equal(rested["user_embeddings"][: len(before)], before)
    assert rested["user_embeddings"].shape[0] == history.n_sequences + new.n_sequences
    replayed = _updated(fitted, parts, "warp", replay_share=0.5).lightfm_state_
    moved = np.any(replayed["user_embeddings"][: len(before)] != before, axis=1)
    assert moved.sum() == round(new.n_sequences * 0.5 / 0.5)  # the replay sample
    # the accumulators kept their sums and grew: AdaGrad's rate for old rows stays low
    grads = fitted["warp"].lightfm_state_["item_embedding_gradients"]
    assert np.all(rested["item_embedding_gradients"][: len(grads)] >= grads)


# ----------------------------------------------------------------------------- ALS
def test_als_keeps_the_factors_of_tracks_the_new_sequences_do_not_hold(fitted, parts):
    _, _, new, _ = parts
    before = fitted["als"]
    model = _updated(fitted, parts, "als")
    untouched = new.occurrences()[: before.n_tracks_] == 0
    assert untouched.any() and (~untouched).any()
    np.testing.assert_array_equal(
        model.embeddings_[: before.n_tracks_][untouched], before.embeddings_[untouched]
    )
    assert np.all(
        model.embeddings_[: before.n_tracks_][~untouched] != before.embeddings_[~untouched]
    )


# ------------------------------------------------------------------------ Node2Vec
def test_changed_nodes_are_those_with_a_new_or_heavier_edge():
    import scipy.sparse as sp

    # union graph edges: 0-1, 1-2, 3-4 (weights as kept by min_weight)
    adj = sp.csr_matrix(
        np.array(
            [
                [0, 2, 0, 0, 0, 0],
                [2, 0, 3, 0, 0, 0],
                [0, 3, 0, 0, 0, 0],
                [0, 0, 0, 0, 2, 0],
                [0, 0, 0, 2, 0, 0],
                [0, 0, 0, 0, 0, 0],
            ],
            dtype=np.float64,
        )
    )
    lengths = [2, 2]  # new sequences: (1, 2) and (4, 5): 1-2 grew; 4-5 is below min_weight
    new = Dataset(
        tracks=make_tracks_table([str(i) for i in range(6)]),
        indptr=np.concatenate([[0], np.cumsum(lengths)]),
        indices=np.array([1, 2, 4, 5]),
        sequence_ids=np.array(["a", "b"], dtype=object),
    )
    np.testing.assert_array_equal(changed_nodes(adj, new), [1, 2])


def test_node2vec_counts_every_walk_trained_on(fitted, parts):
    model = _updated(fitted, parts, "node2vec")
    before = fitted["node2vec"].walk_counts_
    assert model.walk_counts_.sum() > before.sum()
    assert np.all(model.walk_counts_[: len(before)] >= before)
    np.testing.assert_array_equal(model.available_, model.walk_counts_ > 0)


# ------------------------------------------------------------------ GraphSAGE / MUSIG
@pytest.mark.parametrize("key", ["graphsage", "musig"])
def test_graphsage_fine_tune_is_seeded_and_moves_the_encoder(fitted, parts, key):
    if key not in fitted:
        pytest.skip("GraphSAGE needs the `graph` extra (torch)")
    plain = _updated(fitted, parts, key)  # no fine-tune: the trained aggregators
    assert all(
        (a == b).all()
        for a, b in zip(plain.encoder_.parameters(), fitted[key].encoder_.parameters(), strict=True)
    )
    tuned = _updated(fitted, parts, key, fine_tune_steps=4, seed=1)
    again = _updated(fitted, parts, key, fine_tune_steps=4, seed=1)
    np.testing.assert_array_equal(tuned.embeddings_, again.embeddings_)
    assert not np.array_equal(tuned.embeddings_, plain.embeddings_)
    # the trained model is left alone (the fine-tune works on copies)
    assert all(
        (a == b).all()
        for a, b in zip(plain.encoder_.parameters(), fitted[key].encoder_.parameters(), strict=True)
    )


def test_graphsage_saved_before_updates_fine_tunes_fresh_heads(fitted, parts, tmp_path):
    if "graphsage" not in fitted:
        pytest.skip("GraphSAGE needs the `graph` extra (torch)")
    fitted["graphsage"].save(tmp_path / "m")
    arrays = dict(np.load(tmp_path / "m" / "arrays.npz"))
    assert any(k.startswith("heads.") for k in arrays)
    np.savez(
        tmp_path / "m" / "arrays.npz",
        **{k: v for k, v in arrays.items() if not k.startswith("heads.")},
    )
    old = EmbeddingModel.load(tmp_path / "m")
    assert getattr(old, "heads_", None) is None
    _, history, new, _ = parts
    old.update(new, history=history, fine_tune_steps=2)
    assert old.heads_ is not None and old.available_[fitted["graphsage"].n_tracks_ :].any()


def test_als_gives_the_tracks_of_an_all_new_sequence_a_vector(fitted, parts):
    """A new sequence holding only new tracks: from zero starting factors its factor and
    its tracks' would stay zero (seen on the MPD subset); they start as implicit's do."""
    _, history, _, _ = parts
    known = history.tracks["track_id"].astype(str).tolist()
    seqs = [["n1", "n2", "n3"], ["n2", "n3", "n4"], [known[0], known[1], known[2]]]
    ids = ["n1", "n2", "n3", "n4", *known[:3]]
    row = {t: i for i, t in enumerate(ids)}
    day = Dataset(
        tracks=make_tracks_table(ids),
        indptr=np.array([0, 3, 6, 9]),
        indices=np.array([row[t] for s in seqs for t in s]),
        sequence_ids=np.array(["all-new-1", "all-new-2", "known"], dtype=object),
    )
    grown, new = extend_vocabulary(history, day)
    model = copy.deepcopy(fitted["als"]).update(new, history=grown)
    rows = np.arange(history.n_tracks, new.n_tracks)
    assert len(rows) == 4 and model.available_[rows].all()
    assert np.all(np.abs(model.embeddings_[rows]).sum(axis=1) > 0)
    again = copy.deepcopy(fitted["als"]).update(new, history=grown)
    np.testing.assert_array_equal(again.embeddings_, model.embeddings_)  # seeded

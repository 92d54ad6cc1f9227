"""Tests of the CF-WARP model (LightFM WARP factorisation of the sequence-by-track matrix)."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import pytest

from songspace.errors import MissingDependencyError, ParameterError
from songspace.models import get_model_class
from songspace.models.base import EmbeddingModel
from songspace.models.warp import CFWarp
from songspace.testing import ModelTestMixin, planted_dataset

FAST = {"dim": 16, "epochs": 5}


class TestCFWarp(ModelTestMixin):
    model_class = CFWarp
    fast_params = FAST


@pytest.fixture(scope="module")
def dataset():
    return planted_dataset()


def test_registered_under_warp():
    assert get_model_class("warp") is CFWarp


def test_unseen_tracks_unavailable(dataset):
    hidden = np.arange(0, dataset.n_tracks, 10)
    train = dataset.subset(np.arange(dataset.n_sequences), drop_tracks=hidden)
    model = CFWarp(**FAST, seed=0).fit(train)
    assert model.embeddings_.shape[0] == dataset.n_tracks
    expected = train.occurrences() > 0
    np.testing.assert_array_equal(model.available_, expected)
    assert not model.available_[hidden].any()
    assert (model.embeddings_[hidden] == 0).all()
    assert np.abs(model.embeddings_[model.available_]).sum(axis=1).min() > 0


def test_feature_groups_change_embedding(dataset):
    plain = CFWarp(**FAST, seed=0).fit(dataset)
    with_feats = CFWarp(**FAST, feature_groups=("genre", "audio"), seed=0).fit(dataset)
    assert with_feats.embeddings_.shape == plain.embeddings_.shape
    assert np.isfinite(with_feats.embeddings_).all()
    assert not np.allclose(with_feats.embeddings_, plain.embeddings_)
    again = CFWarp(**FAST, feature_groups=("genre", "audio"), seed=0).fit(dataset)
    np.testing.assert_array_equal(again.embeddings_, with_feats.embeddings_)


def test_feature_groups_save_load(dataset, tmp_path):
    model = CFWarp(**FAST, feature_groups=("genre",), seed=0).fit(dataset)
    model.save(tmp_path / "m")
    back = EmbeddingModel.load(tmp_path / "m")
    assert back.get_params() == model.get_params()
    assert back.feature_groups == ("genre",)
    np.testing.assert_array_equal(back.embeddings_, model.embeddings_)


def test_unknown_feature_group_lists_available(dataset):
    with pytest.raises(ParameterError, match="feature_groups") as info:
        CFWarp(**FAST, feature_groups=("nope",)).fit(dataset)
    for name in dataset.features:
        assert name in str(info.value)


@pytest.mark.parametrize("groups", ["audio", ("audio", "audio"), None])
def test_feature_groups_type_checked(dataset, groups):
    with pytest.raises(ParameterError, match="feature_groups"):
        CFWarp(**FAST, feature_groups=groups).fit(dataset)


@pytest.mark.parametrize(
    ("param", "value"), [("dim", 8.5), ("epochs", True), ("seed", -1), ("seed", 1.5)]
)
def test_integer_params_checked(dataset, param, value):
    with pytest.raises(ParameterError, match=param):
        CFWarp(**{**FAST, param: value}).fit(dataset)


def test_progress_once_per_epoch(dataset):
    calls = []
    model = CFWarp(dim=8, epochs=3, seed=0)
    model.fit(dataset, progress=lambda done, total, msg: calls.append((done, total, msg)))
    epochs = [c for c in calls if c[0] > 0]
    assert [c[0] for c in epochs] == [1, 2, 3]
    assert all(c[1] == 3 for c in calls)


def test_missing_lightfm_raises_missing_dependency(dataset, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "lightfm" or name.startswith("lightfm."):
            raise ImportError("No module named 'lightfm'", name="lightfm")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "lightfm", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"songspace\[models\]"):
        CFWarp(**FAST).fit(dataset)

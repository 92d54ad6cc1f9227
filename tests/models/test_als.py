"""Tests of the ALS model (implicit's ALS on the sequence-by-track matrix)."""

from __future__ import annotations

import builtins
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("implicit", reason="the ALS model needs the `models` extra (implicit)")

from songspace.data.dataset import Dataset, make_tracks_table
from songspace.errors import MissingDependencyError, ParameterError
from songspace.models import create, get_model_class
from songspace.models.als import ALS, CG_STEPS, confidence_matrix
from songspace.testing import ModelTestMixin, planted_dataset

FAST = {"dim": 16, "iterations": 5}


class TestALS(ModelTestMixin):
    model_class = ALS
    fast_params = FAST


@pytest.fixture(scope="module")
def dataset():
    return planted_dataset()


def _dataset(seqs: list[list[int]], n_tracks: int) -> Dataset:
    lengths = [len(s) for s in seqs]
    return Dataset(
        tracks=make_tracks_table([f"t{i}" for i in range(n_tracks)]),
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
    )


def test_registered_under_als():
    assert get_model_class("als") is ALS


def test_confidence_is_one_plus_alpha_times_count():
    # sequence 0 holds track 0 twice and track 2 once; sequence 1 holds track 1 once
    ds = _dataset([[0, 2, 0], [1]], n_tracks=4)
    c = confidence_matrix(ds, alpha=2.5).toarray()
    expected = np.array([[1 + 2.5 * 2, 0, 1 + 2.5 * 1, 0], [0, 1 + 2.5, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(c, expected)
    np.testing.assert_array_equal(ds.indices, [0, 2, 0, 1])  # the order is untouched


def test_fit_hands_implicit_the_confidences_unscaled(dataset):
    """ALS(alpha=a) equals implicit's ALS fitted on the hand-built 1 + a * count matrix with
    implicit's own alpha at 1 (so the confidence is not scaled twice)."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    small = dataset.subset(np.arange(200))
    ours = ALS(**FAST, alpha=7.0, regularization=0.1, seed=3).fit(small)
    counts = np.zeros((small.n_sequences, small.n_tracks), dtype=np.float32)
    for s in range(small.n_sequences):
        np.add.at(counts[s], small.sequence(s), 1.0)
    import scipy.sparse as sp

    by_hand = sp.csr_matrix(np.where(counts > 0, 1 + 7.0 * counts, 0).astype(np.float32))
    with threadpool_limits(limits=1, user_api="blas"):
        ref = AlternatingLeastSquares(
            factors=16,
            regularization=0.1,
            alpha=1.0,
            iterations=5,
            num_threads=1,
            random_state=3,
        )
        ref.cg_steps = CG_STEPS
        ref.fit(by_hand, show_progress=False)
    seen = small.occurrences() > 0
    np.testing.assert_allclose(ours.embeddings_[seen], ref.item_factors[seen], rtol=1e-5)


@pytest.mark.parametrize(
    ("dim", "regularization"), [(2, 0.01), (8, 10.0)], ids=["rank-2", "dim-8-penalised"]
)
def test_two_disjoint_blocks_neighbours_stay_in_their_block(dim, regularization):
    """Known answer: tracks 0-9 only ever co-occur with tracks 0-9, tracks 10-19 with
    10-19; each track's 9 nearest neighbours (cosine) are the rest of its block. The
    signal has rank 2: with 2 factors, or with more and a penalty that keeps the spare
    ones from fitting which tracks happened to share a playlist."""
    rng = np.random.default_rng(0)
    seqs = [
        list(rng.choice(np.arange(10) + 10 * (s % 2), size=5, replace=False)) for s in range(120)
    ]
    ds = _dataset(seqs, n_tracks=20)
    model = ALS(dim=dim, iterations=10, regularization=regularization, seed=0).fit(ds)
    x = model.embeddings_ / np.linalg.norm(model.embeddings_, axis=1, keepdims=True)
    sims = x @ x.T
    np.fill_diagonal(sims, -np.inf)
    block = np.arange(20) // 10
    top = np.argsort(-sims, axis=1)[:, :9]
    assert (block[top] == block[:, None]).all()


def test_unseen_tracks_unavailable(dataset):
    hidden = np.arange(0, dataset.n_tracks, 7)
    train = dataset.subset(np.arange(dataset.n_sequences), drop_tracks=hidden)
    model = ALS(**FAST).fit(train)
    np.testing.assert_array_equal(model.available_, train.occurrences() > 0)
    assert not model.embeddings_[hidden].any()


def test_seed_reproducible_and_seed_matters(dataset):
    a = ALS(**FAST, seed=5).fit(dataset)
    b = ALS(**FAST, seed=5).fit(dataset)
    c = ALS(**FAST, seed=6).fit(dataset)
    np.testing.assert_array_equal(a.embeddings_, b.embeddings_)
    assert not np.allclose(a.embeddings_, c.embeddings_)


@pytest.mark.parametrize(
    ("param", "value", "constraint"),
    [
        ("dim", 0, r"an integer in \[1, 4096\]"),
        ("dim", 8.5, r"an integer in \[1, 4096\]"),
        ("iterations", 0, r"an integer in \[1, 1000\]"),
        ("regularization", -0.1, r"a number in \[0, 1e\+06\]"),
        ("alpha", -1.0, r"a number in \[0, 1e\+06\]"),
        ("workers", 0, r"an integer in \[1, 1024\]"),
        ("seed", -1, r"an integer in \[0, "),
    ],
)
def test_bad_parameters_name_the_constraint(dataset, param, value, constraint):
    with pytest.raises(ParameterError, match=rf"parameter `{param}`: expected {constraint}"):
        ALS(**{**FAST, param: value}).fit(dataset)
    with pytest.raises(ParameterError, match=rf"parameter `{param}`"):
        create("als", {param: str(value)}, from_strings=True)


def test_progress_once_per_iteration(dataset):
    calls = []
    ALS(dim=8, iterations=3).fit(dataset, progress=lambda d, t, m: calls.append((d, t, m)))
    assert [c[0] for c in calls] == [0, 1, 2, 3]
    assert all(c[1] == 3 for c in calls)


def test_blas_limited_to_one_thread_inside_fit_only(dataset, monkeypatch):
    """implicit warns when BLAS runs several threads; fit limits BLAS to one thread (as
    implicit recommends) and leaves the process's BLAS settings as they were."""
    import implicit.utils
    from threadpoolctl import threadpool_info, threadpool_limits

    monkeypatch.setattr(implicit.utils, "_checked_blas_config", False)  # it warns only once
    with threadpool_limits(limits=2, user_api="blas"):
        before = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
        if not any(i["user_api"] == "blas" and i["num_threads"] > 1 for i in threadpool_info()):
            pytest.skip("this BLAS cannot run two threads")
        seen: list[int] = []

        def progress(done: float, total: float, message: str) -> None:
            seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            ALS(**FAST).fit(dataset, progress=progress)
        after = [(i["filepath"], i["num_threads"]) for i in threadpool_info()]
    assert seen and set(seen) == {1}
    assert after == before


def test_missing_implicit_raises_missing_dependency(dataset, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "implicit" or name.startswith("implicit."):
            raise ImportError("No module named 'implicit'", name="implicit")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "implicit" or m.startswith("implicit.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(MissingDependencyError, match=r"songspace\[models\]"):
        ALS(**FAST).fit(dataset)


def test_cost_units_grow_with_dim(dataset):
    small = ALS.cost_units({"dim": 16}, dataset)
    big = ALS.cost_units({"dim": 64}, dataset)
    assert 4 < big / small < 16  # linear in the cell term, quadratic in the Gram term


def test_equal_time_tuning_sets_the_iterations(tmp_path):
    pytest.importorskip("optuna", reason="tuning needs the `tune` extra (optuna)")
    from songspace.data import synthetic
    from songspace.tuning import tune
    from tests.tuning.workers import trials_of

    path = tmp_path / "ds"
    synthetic.generate(300, 400, seed=3).save(path)
    url = f"sqlite:///{tmp_path / 's.db'}"
    res = tune(
        "als",
        path,
        trials=3,
        storage=url,
        study="s",
        heldout_fraction=0.1,
        min_tracks=10,
        startup_trials=2,
        heartbeat=None,
    )
    assert res.settings.budget_mode == "equal_time"
    trials = trials_of(url, "s")
    assert len(trials) == 3
    for t in trials[1:]:
        units = t.user_attrs["budget_units"]["iterations"]
        assert isinstance(units, int) and 3 <= units <= 50

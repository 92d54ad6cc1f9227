import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.evaluation.embeddings import Embeddings, load_embeddings
from songspace.evaluation.knn import exact_topk
from songspace.evaluation.results import EvaluationResult, MetricResult, compare


def brute_topk(vectors: np.ndarray, k: int) -> np.ndarray:
    v = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    s = v @ v.T
    np.fill_diagonal(s, -np.inf)
    return np.argsort(-s, axis=1, kind="stable")[:, :k]


def small_dataset(n_tracks: int) -> object:
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=np.array([0, n_tracks]),
        indices=np.arange(n_tracks),
        sequence_ids=np.array(["s"], dtype=object),
    )


def test_known_neighbours_on_a_circle():
    angles = np.array([0.0, 0.1, 0.3, 1.0, 3.0])
    emb = Embeddings.from_array(np.column_stack([np.cos(angles), np.sin(angles)]))
    ids, scores = exact_topk(emb, np.arange(5), 2, backend="numpy")
    assert ids.tolist() == [[1, 2], [0, 2], [1, 0], [2, 1], [3, 2]]
    np.testing.assert_allclose(scores[0], np.cos([0.1, 0.3]), rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "faiss"])
@pytest.mark.parametrize("batch_size", [1, 7, 10_000])
def test_matches_brute_force(backend, batch_size):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 16))
    emb = Embeddings.from_array(x)
    ids, _ = exact_topk(emb, np.arange(300), 10, backend=backend, batch_size=batch_size)
    expected = brute_topk(x, 10)
    # Same neighbour sets (float rounding may swap exact ties in order).
    assert all(set(a) == set(b) for a, b in zip(ids.tolist(), expected.tolist(), strict=True))
    if backend == "numpy":
        np.testing.assert_array_equal(ids, expected)


def test_unavailable_tracks_are_never_neighbours():
    rng = np.random.default_rng(1)
    avail = np.ones(50, bool)
    avail[[3, 7]] = False
    emb = Embeddings.from_array(rng.standard_normal((50, 4)), available=avail)
    ids, scores = exact_topk(emb, np.arange(50), 5, backend="numpy")
    assert not np.isin(ids[avail], [3, 7]).any()
    assert (ids[~avail] == -1).all() and np.isneginf(scores[~avail]).all()
    assert emb.coverage == pytest.approx(48 / 50)


def test_popularity_baseline_ranks_by_occurrences():
    ds = finish_dataset(
        track_ids=["a", "b", "c", "d"],
        indptr=np.array([0, 2, 4, 5]),
        indices=np.array([2, 1, 2, 0, 2]),
        sequence_ids=np.array(["x", "y", "z"], dtype=object),
    )
    pop = Embeddings.popularity_baseline(ds)
    ids, _ = exact_topk(pop, np.array([2, 3]), 2)
    # occurrences a=1, b=1, c=3, d=0; ties by index; the query itself is excluded
    assert ids.tolist() == [[0, 1], [2, 0]]


def test_bad_embeddings_and_k():
    with pytest.raises(InvalidValueError, match="expected 4 rows"):
        Embeddings.from_array(np.ones((3, 2)), 4)
    x = np.ones((4, 2))
    x[2, 0] = np.nan
    with pytest.raises(InvalidValueError, match=r"NaN or inf in 1 of 4 rows \(first: row 2\)"):
        Embeddings.from_array(x, 4)
    emb = Embeddings.from_array(np.eye(4))
    with pytest.raises(ParameterError, match=r"1 <= k <= 3"):
        exact_topk(emb, np.arange(4), 4)


def test_load_npy_npz_parquet(tmp_path):
    import pandas as pd

    ds = small_dataset(4)
    x = np.arange(1, 9, dtype=np.float64).reshape(4, 2)
    np.save(tmp_path / "e.npy", x)
    np.savez(tmp_path / "e.npz", embeddings=x, available=np.array([1, 1, 0, 1], bool))
    pd.DataFrame({"track_id": ["t2", "t0"], "d0": [1.0, 2.0], "d1": [0.0, 1.0]}).to_parquet(
        tmp_path / "e.parquet"
    )
    a = load_embeddings(tmp_path / "e.npy", ds)
    np.testing.assert_allclose(np.linalg.norm(a.vectors, axis=1), 1.0, rtol=1e-6)
    assert load_embeddings(tmp_path / "e.npz", ds).available.tolist() == [1, 1, 0, 1]
    (tmp_path / "run").mkdir()
    np.savez(tmp_path / "run" / "embeddings.npz", embeddings=x)
    assert load_embeddings(tmp_path / "run" / "embeddings.npz", ds).name == "run"
    assert load_embeddings(tmp_path / "e.npy", ds).name == "e"
    c = load_embeddings(tmp_path / "e.parquet", ds)
    assert c.available.tolist() == [True, False, True, False]
    np.testing.assert_allclose(c.vectors[2], [1.0, 0.0])
    pd.DataFrame({"track_id": ["zz"], "d0": [1.0]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InvalidValueError, match="'zz'"):
        load_embeddings(tmp_path / "bad.parquet", ds)
    with pytest.raises(FormatError, match="found nothing"):
        load_embeddings(tmp_path / "missing.npy", ds)


def test_compare_paired_t_test_with_bonferroni():
    from scipy import stats

    rng = np.random.default_rng(3)
    base = rng.random(40)
    a = EvaluationResult("a").add(
        MetricResult.mean_of("m1", base + 0.2), MetricResult.mean_of("m2", base)
    )
    b = EvaluationResult("b").add(
        MetricResult.mean_of("m1", base + rng.normal(0, 0.05, 40)),
        MetricResult.mean_of("m2", base),
    )
    res = compare(a, b)
    t, p = stats.ttest_rel(base + 0.2, b.metrics["m1"].per_query)
    assert res["m1"].p == pytest.approx(p) and res["m1"].t == pytest.approx(t)
    assert res["m1"].p_adjusted == pytest.approx(min(1.0, 2 * p))
    assert res["m1"].significant and not res["m2"].significant
    const = EvaluationResult("c").add(MetricResult.mean_of("m2", base + 0.1))
    assert compare(const, b, metrics=["m2"])["m2"].p == 0.0
    short = EvaluationResult("c").add(MetricResult.mean_of("m1", base[:10]))
    with pytest.raises(ParameterError, match="same queries"):
        compare(a, short, metrics=["m1"])


def test_result_round_trip(tmp_path):
    r = EvaluationResult("x", info={"k": 100}).add(
        MetricResult.mean_of("hr", np.array([1.0, 0.0, 1.0])),
        MetricResult("vrc", 12.5, higher_is_better=True),
    )
    r.save(tmp_path / "res.json")
    back = EvaluationResult.load(tmp_path / "res.json")
    assert back.values() == pytest.approx({"hr": 2 / 3, "vrc": 12.5})
    np.testing.assert_array_equal(back.metrics["hr"].per_query, [1.0, 0.0, 1.0])
    assert (tmp_path / "res.per_query.npz").is_file()


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("backend", ["numpy", "faiss"])
def test_exact_topk_rankings_do_not_change_with_magnitude(backend):
    """Issue 27 item 4: vectors scaled by 1e37 (each row by its own power of ten too)
    give exactly the neighbours of the unscaled ones, without a RuntimeWarning."""
    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 8)).astype(np.float32)
    base = exact_topk(Embeddings.from_array(x), np.arange(60), 10, backend=backend)
    for big in (x * np.float32(2.0**122), x * np.float32(1e37)):
        ids, _ = exact_topk(Embeddings.from_array(big), np.arange(60), 10, backend=backend)
        np.testing.assert_array_equal(ids, base[0])
    per_row = x * (10.0 ** rng.integers(-30, 30, size=(60, 1)))
    ids, _ = exact_topk(Embeddings.from_array(per_row), np.arange(60), 10, backend=backend)
    np.testing.assert_array_equal(ids, base[0])

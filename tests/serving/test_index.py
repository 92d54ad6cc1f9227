import numpy as np
import pytest

from songspace.errors import ParameterError
from songspace.serving.index import (
    build_index,
    exact_search,
    load_or_build,
    normalise,
    recall_at_k,
    resolve_kind,
    set_search_threads,
)

pytest.importorskip("faiss", reason="the serving index needs faiss (extra `fast`)")


def clustered(n=6000, d=32, clusters=60, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, d))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, d))
    return x.astype(np.float32)


def test_recall_at_k_by_hand():
    found = np.array([[1, 2, 3], [4, 5, -1]])
    truth = np.array([[3, 2, 9], [4, 6, 7]])
    assert recall_at_k(found, truth) == pytest.approx((2 / 3 + 1 / 3) / 2)


def test_exact_index_matches_brute_force():
    x = clustered(500)
    idx = build_index(x, kind="exact")
    q = normalise(x[:20])
    _, pos = idx.search(q, 10)
    brute = np.argsort(-(q @ normalise(x).T), axis=1, kind="stable")[:, :10]
    assert recall_at_k(pos, brute) == 1.0
    assert idx.stats.kind == "exact" and idx.stats.recall == 1.0 and idx.stats.memory_bytes > 0


def test_hnsw_recall_against_exact_on_a_seeded_matrix():
    x = clustered()
    idx = build_index(x, kind="hnsw", m=16, ef_construction=100, ef_search=200, recall_k=50)
    # recomputed independently of the index's own measurement
    rng = np.random.default_rng(1)
    q = normalise(x[rng.choice(len(x), 200, replace=False)])
    truth = exact_search(normalise(x), q, 50)
    r = recall_at_k(idx.search(q, 50)[1], truth)
    assert r >= 0.95
    assert idx.stats.recall >= 0.95 and idx.stats.recall_k == 50
    assert idx.stats.params == {"M": 16, "ef_construction": 100, "ef_search": 200}
    # a tiny efSearch and M lose recall: the measurement is not a constant
    weak = build_index(x, kind="hnsw", m=4, ef_construction=8, ef_search=1, recall_k=50)
    assert weak.stats.recall < r


def test_auto_switches_at_exact_max():
    assert resolve_kind("auto", 10, exact_max=10) == "exact"
    assert resolve_kind("auto", 11, exact_max=10) == "hnsw"
    assert build_index(clustered(300), kind="auto", exact_max=100).kind == "hnsw"


@pytest.mark.parametrize(
    "kw", [{"kind": "ivf"}, {"m": 2}, {"ef_search": 0}, {"ef_construction": 1.5}]
)
def test_bad_parameters_are_named(kw):
    with pytest.raises(ParameterError):
        build_index(clustered(50), **kw)


def test_saved_index_is_reused_until_the_source_changes(tmp_path):
    x = clustered(800)
    a = load_or_build(x, tmp_path, source_digest="abc", kind="hnsw", m=8)
    assert not a.stats.reused and (tmp_path / "index-hnsw.faiss").is_file()
    b = load_or_build(x, tmp_path, source_digest="abc", kind="hnsw", m=8)
    assert b.stats.reused and b.stats.recall == a.stats.recall
    q = normalise(x[:5])
    assert np.array_equal(a.search(q, 10)[1], b.search(q, 10)[1])
    c = load_or_build(x, tmp_path, source_digest="other", kind="hnsw", m=8)
    assert not c.stats.reused
    d = load_or_build(x, tmp_path, source_digest="other", kind="hnsw", m=12)
    assert not d.stats.reused


def test_search_threads_limit_numpys_blas_too():
    """One BLAS thread per request as for faiss: OpenBLAS' thread team per single-query
    product costs tens of milliseconds on a loaded machine (docs/serving.md)."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return {
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        }

    before = max(blas_threads(), default=1)
    try:
        set_search_threads(1)
        assert blas_threads() == {1}
    finally:
        threadpoolctl.threadpool_limits(limits=before, user_api="blas")


def test_search_threads_hold_in_the_threads_that_search():
    """OpenMP's thread count is per thread: the service's worker threads start with every
    core, so a search there must apply set_search_threads' value again (measured: 4.3 ms
    of CPU per /similar without it, 0.17 ms with it, on a loaded 2-core machine)."""
    import threading

    faiss = pytest.importorskip("faiss")
    idx = build_index(np.random.default_rng(0).normal(size=(50, 4)), kind="exact")
    seen = []

    def search():
        idx.search(idx.vectors[:1], 3)
        seen.append(faiss.omp_get_max_threads())

    set_search_threads(1)
    worker = threading.Thread(target=search)
    worker.start()
    worker.join()
    assert seen == [1]

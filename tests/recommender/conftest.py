"""A small dataset with a planted sequential signal, and embeddings fitted on a training
view, for the two-stage recommender's tests."""

import numpy as np
import pytest
import scipy.sparse.linalg as sla

from songspace.data.builder import finish_dataset
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol

N_TRACKS = 300
#: Fast settings: shallow stage 1, few queries and rounds, one thread (deterministic).
FAST = {
    "depth": 30,
    "popular": 10,
    "next_song_queries": 400,
    "num_iterations": 60,
    "early_stopping_rounds": 10,
    "min_data_in_leaf": 20,
    "num_threads": 1,
}


def planted_sequences(n_seq=400, length=20, p_next=0.6, seed=0):
    """Each track has one successor (a fixed random permutation); every entry follows its
    predecessor's successor with probability ``p_next``, else it is a popularity-weighted
    draw (Zipf-like). Order carries the signal: popularity alone cannot find it."""
    rng = np.random.default_rng(seed)
    succ = rng.permutation(N_TRACKS)
    w = 1.0 / np.arange(1, N_TRACKS + 1) ** 0.8
    w /= w.sum()
    seqs = []
    for _ in range(n_seq):
        s = [int(rng.choice(N_TRACKS, p=w))]
        for _ in range(length - 1):
            nxt = succ[s[-1]] if rng.random() < p_next else rng.choice(N_TRACKS, p=w)
            s.append(int(nxt))
        seqs.append(s)
    return seqs


def dataset_of(seqs):
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(N_TRACKS)],
        indptr=np.cumsum([0] + [len(s) for s in seqs]),
        indices=np.concatenate(seqs),
        sequence_ids=np.array([f"s{i}" for i in range(len(seqs))], dtype=object),
        track_attrs={
            "artist_id": [f"a{i % 40}" for i in range(N_TRACKS)],
            "genres": [[f"g{i % 7}"] if i % 5 else [] for i in range(N_TRACKS)],
        },
    )


def protocol_of(ds):
    return make_protocol(ds, seed=0, fractions=(0.8, 0.1, 0.1), min_tracks=10)


def svd_embeddings(train, dim=8, name="svd"):
    """Track factors of the training view's sequence x track matrix (a stand-in for a
    trained model: fitted on the training view only)."""
    x = train.incidence().astype(float)
    _, s, vt = sla.svds(x, k=dim, random_state=0)
    seen = np.asarray(x.sum(axis=0)).ravel() > 0
    v = np.where(seen[:, None], vt.T * s, 0.0)
    return Embeddings.from_array(v, train.n_tracks, available=seen, name=name)


@pytest.fixture(scope="session")
def planted():
    """(dataset, protocol, embeddings) of the planted-signal data."""
    ds = dataset_of(planted_sequences())
    p = protocol_of(ds)
    return ds, p, [svd_embeddings(p.train)]


@pytest.fixture(scope="session")
def fitted(planted):
    """A two-stage recommender fitted on the planted data (shared: fitting takes seconds)."""
    pytest.importorskip("lightgbm")
    from songspace.recommender import TwoStageRanker

    _, p, embs = planted
    return TwoStageRanker.fit(p, embs, **FAST)

"""Adjacent-pair (bigram) counts within sequences (W2V §2.1-§2.2, SPEC §2).

They feed next-song statistics and the chi-squared test of false-neighbour
rejection. Only positions ``i, i + 1`` of the same sequence form a pair; pairs
never cross a sequence boundary.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from songspace.graph.cooccurrence import SequencesLike, _as_csr
from songspace.params import Boolean, check_param


def adjacent_pairs(
    dataset: SequencesLike, *, include_self: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``(a, b)`` of every adjacent pair, in entry order (b directly follows a).

    With ``include_self=False`` pairs of a track followed by itself are dropped.
    """
    indptr, indices, _ = _as_csr(dataset)
    n_entries = len(indices)
    if n_entries < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    valid = np.ones(n_entries - 1, dtype=bool)
    starts = indptr[1:-1]
    starts = starts[(starts >= 1) & (starts <= n_entries - 1)]
    valid[starts - 1] = False  # position start-1 is the last entry of the previous sequence
    a = indices[:-1][valid]
    b = indices[1:][valid]
    if not include_self:
        differ = a != b
        a, b = a[differ], b[differ]
    return a, b


def bigram_counts(
    dataset: SequencesLike, *, ordered: bool = True, include_self: bool = False
) -> sp.csr_matrix:
    """Adjacent-pair counts as an ``n_tracks x n_tracks`` CSR matrix of int64 (W2V §2.2).

    ``ordered=True``: ``C[a, b]`` = number of times b directly follows a.
    ``ordered=False``: ``C[a, b] = C[b, a]`` = number of adjacent occurrences of the
    pair {a, b} in either order (each occurrence counted once, stored in both
    cells, so the matrix is symmetric and ``C.sum()`` counts every off-diagonal
    pair twice). With ``include_self=True`` the diagonal ``C[a, a]`` counts "a
    followed by a" once per occurrence in both modes; by default it is empty.
    Every count is a multiplicity: a pair repeated inside a sequence counts each
    time it occurs. Canonical CSR (sorted indices, no duplicates).
    """
    for name, value in (("ordered", ordered), ("include_self", include_self)):
        check_param(name, value, Boolean())
    n_tracks = _as_csr(dataset)[2]
    a, b = adjacent_pairs(dataset, include_self=include_self)
    if not ordered:
        off = a != b
        a, b = np.concatenate([a, b[off]]), np.concatenate([b, a[off]])
    counts = sp.coo_matrix(
        (np.ones(len(a), dtype=np.int64), (a, b)), shape=(n_tracks, n_tracks)
    ).tocsr()  # tocsr sums duplicate (a, b) entries
    counts.sum_duplicates()
    return counts


__all__ = ["adjacent_pairs", "bigram_counts"]

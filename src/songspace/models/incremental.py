"""Helpers the models' incremental updates share (:meth:`EmbeddingModel.update`).

- :func:`replay_indices` / :func:`update_corpus`: the seeded replay sample of old
  sequences mixed into an update's training corpus, so that the known tracks keep being
  trained beside the new ones (without it a continued model drifts towards the new
  sequences and forgets the old ones);
- :func:`saved_before_updates`: the error of a model saved without its update state;
- :func:`grown_rows`: a per-track (or per-sequence) state array grown to more rows, the
  new rows from an initialiser.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from songspace.data.dataset import Dataset
from songspace.data.vocabulary import concat_sequences
from songspace.errors import UpdateNotSupportedError

#: The update settings' constraint for ``replay_share`` (below 1: some new data).
MAX_REPLAY_SHARE = 0.95
#: The default ``replay_share``: old sequences make half of an update's corpus.
DEFAULT_REPLAY_SHARE = 0.5


def saved_before_updates(model: str, what: str) -> UpdateNotSupportedError:
    """The error of a model saved without the ``what`` an update needs (by a songspace
    version before updates): retraining it once makes its runs updatable."""
    return UpdateNotSupportedError(
        model,
        f"this model was saved without {what} (by a songspace version before updates)",
        fix="retrain it once with `songspace train`; its runs can then be updated",
    )


def replay_indices(n_history: int, n_new: int, share: float, seed: int) -> np.ndarray:
    """Indices of the old sequences replayed beside ``n_new`` new ones, so that they make
    ``share`` of the update's corpus: ``round(n_new * share / (1 - share))`` of the
    ``n_history`` old sequences (all of them at most), drawn without replacement with
    ``numpy.random.default_rng(seed)``, in increasing order."""
    if share <= 0 or n_history == 0:
        return np.zeros(0, dtype=np.int64)
    wanted = min(n_history, round(n_new * share / (1.0 - share)))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_history, size=wanted, replace=False)).astype(np.int64)


def update_corpus(history: Dataset, new: Dataset, share: float, seed: int) -> Dataset:
    """The sequences an update trains on: every sequence of ``new`` and a replay sample of
    ``history``'s (:func:`replay_indices`), in a seeded random order (so a learning
    rate that decays over the pass meets old and new sequences alike); on ``new``'s
    vocabulary."""
    picked = replay_indices(history.n_sequences, new.n_sequences, share, seed)
    both = concat_sequences(history.subset(picked), new) if len(picked) else new
    order = np.random.default_rng(seed + 1).permutation(both.n_sequences)
    return both.subset(order, name="update corpus")


def grown_rows(
    state: np.ndarray, n_rows: int, init: Callable[[int], np.ndarray] | None = None
) -> np.ndarray:
    """``state`` with rows appended up to ``n_rows``: ``init(k)`` for the ``k`` new rows
    (zeros by default), in ``state``'s dtype."""
    k = n_rows - state.shape[0]
    if k <= 0:
        return state
    extra = np.zeros((k, *state.shape[1:]), dtype=state.dtype) if init is None else init(k)
    return np.concatenate([state, np.asarray(extra, dtype=state.dtype)])

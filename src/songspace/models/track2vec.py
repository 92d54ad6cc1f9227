"""Track2Vec and Track2Vec-Feature (SPEC §3; W2V paper §4.1 and Table 3; MUSIG §4.2).

Track2Vec is skip-gram Word2Vec with negative sampling (gensim, ``sg=1, hs=0``)
over the dataset's sequences, the tokens being track indices written as strings.

Corpus and vocabulary
    The corpus is streamed from the dataset's CSR arrays by :class:`CsrCorpus`,
    which re-yields ``[str(t) for t in indices[a:b]]`` on every pass: no list of
    all sentences is ever held. The vocabulary is not built by a scan pass but
    from ``np.bincount`` counts via ``build_vocab_from_freq``; the counts are
    inserted in order of each track's first occurrence, which is the order a
    gensim scan would produce, so ties in frequency sort identically and the
    model equals a plain ``gensim.models.Word2Vec`` trained on the list of
    sentences with the same settings and seed (tested).

Long sequences
    gensim's compiled training loop stops a sentence at 10,000 tokens
    (``MAX_SENTENCE_LEN``) and silently drops the rest. Sequences longer than
    :data:`MAX_SENTENCE_LEN` are therefore yielded as consecutive chunks of at
    most that length; a context window never spans a chunk boundary.

Availability
    Tracks seen fewer than ``min_count`` times (including never) get no vector:
    their row of ``embeddings_`` is zero and ``available_`` is False. So do tracks
    that occur only in one-entry sequences (chunks): skip-gram never updates them,
    so their vectors would be the random initialisation.

Determinism
    gensim draws the initial vectors from ``np.random.default_rng(seed)`` and the
    negative/down-sampling draws from its own seeded generator; no string hashing
    is involved (gensim 4), so ``PYTHONHASHSEED`` does not matter. With
    ``workers=1`` two fits with the same seed are identical, also across
    processes. With ``workers > 1`` the threads' interleaving changes the
    updates, so results are not reproducible (a gensim limitation).

``sample`` is gensim's frequent-token down-sampling threshold (gensim's default 1e-3, so
default fits equal plain gensim's); other gensim settings keep gensim's defaults (linear
learning-rate decay to ``min_alpha=1e-4``).

Corpus file mode (many cores)
    gensim's iterator mode feeds its threads from one Python producer and stops scaling
    at a few workers; its ``corpus_file`` mode lets every worker read its own part of a
    plain-text corpus file and scales with cores. ``corpus="auto"`` (the default) uses
    the file when ``workers > 2``; ``"file"`` and ``"iterator"`` force one mode. The file
    (one chunk per line, the tokens of the iterator mode, so both modes train on the
    same sentences) is written once per training view and reused: its name is the
    SHA-256 of the view's sequences (indptr, indices; :func:`corpus_key`), it lives in
    ``$SONGSPACE_CACHE_DIR/corpus`` (default ``~/.cache/songspace/corpus``) and is
    written to a temporary name and renamed, so concurrent fits never read a partial
    file. In file mode gensim reports progress only at epoch ends, so a progress
    callback that raises stops training at the end of the current epoch.

Epoch hook
    When the ``progress`` callback given to ``fit`` is a
    :class:`songspace.progress.EpochProgressCallback` (it also has a method
    ``epoch_end(epoch, embeddings, available)``), it is called after each epoch with the
    vectors so far (multi-fidelity tuning scores them); an exception it raises stops
    training and propagates from ``fit``, like one raised by ``progress``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from songspace._util import atomic_write
from songspace.data.dataset import Dataset
from songspace.data.features import known_share_block
from songspace.data.vocabulary import concat_sequences
from songspace.errors import ParameterError
from songspace.graph.limits import drop_tracks_without_context
from songspace.models.base import EmbeddingModel
from songspace.models.incremental import (
    DEFAULT_REPLAY_SHARE,
    MAX_REPLAY_SHARE,
    saved_before_updates,
    update_corpus,
)
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.params import SEED, AnyOf, Constraint, Interval, Names, Options
from songspace.progress import EpochHook, ProgressCallback, epoch_hook

#: gensim's per-sentence token cap (``MAX_SENTENCE_LEN`` in word2vec_inner.pyx).
MAX_SENTENCE_LEN = 10_000


class CsrCorpus:
    """Restartable iterable of token lists read straight from CSR arrays.

    Each pass yields, per sequence ``s``, ``[str(t) for t in indices[indptr[s]:indptr[s+1]]]``,
    split into consecutive chunks of at most ``max_len`` tokens. Empty sequences
    yield nothing. Setting the ``stop`` event ends the current pass early.
    """

    def __init__(
        self,
        indptr: np.ndarray,
        indices: np.ndarray,
        max_len: int = MAX_SENTENCE_LEN,
        stop: threading.Event | None = None,
    ):
        if max_len < 1:
            raise ParameterError("max_len", "an integer >= 1", max_len)
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices)
        self.max_len = int(max_len)
        #: When set, a pass ends early (training is being stopped mid-epoch).
        self.stop = stop
        n = int(self.indices.max()) + 1 if len(self.indices) else 0
        # One string object per track (not per entry): a sequence's tokens are then a
        # fancy-index of this array, done in C, which keeps the GIL free for gensim's
        # worker threads.
        self._tokens = np.array([str(t) for t in range(n)], dtype=object)

    def __iter__(self) -> Iterator[list[str]]:
        tokens, indices, step, stop = self._tokens, self.indices, self.max_len, self.stop
        bounds = self.indptr.tolist()
        for a, b in pairwise(bounds):
            if stop is not None and stop.is_set():
                return
            for lo in range(a, b, step):
                yield tokens[indices[lo : min(lo + step, b)]].tolist()

    def __len__(self) -> int:
        """Number of sentences (chunks) one pass yields."""
        lengths = np.diff(self.indptr)
        return int((-(-lengths // self.max_len)).sum())


#: Bumped when the corpus file's content for the same sequences changes.
CORPUS_FORMAT = 1
CORPUS_MODES = ("auto", "iterator", "file")


def corpus_key(dataset: Dataset, max_len: int = MAX_SENTENCE_LEN) -> str:
    """SHA-256 (hex) of the sequences a corpus file holds (and of its format)."""
    h = hashlib.sha256(f"songspace-corpus {CORPUS_FORMAT} {int(max_len)}".encode())
    for arr in (dataset.indptr, dataset.indices):
        a = np.ascontiguousarray(arr, dtype=np.int64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def corpus_cache_dir() -> Path:
    """``$SONGSPACE_CACHE_DIR/corpus``, default ``~/.cache/songspace/corpus``."""
    root = os.environ.get("SONGSPACE_CACHE_DIR") or Path.home() / ".cache" / "songspace"
    return Path(root).expanduser() / "corpus"


def corpus_file(dataset: Dataset, directory: str | Path | None = None) -> Path:
    """The cached corpus file of ``dataset``'s sequences (written if absent, atomically):
    one line per :class:`CsrCorpus` sentence, tokens separated by spaces."""
    d = Path(directory) if directory is not None else corpus_cache_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"track2vec-{corpus_key(dataset)[:40]}.txt"
    if path.is_file():
        return path

    def write(fh: Any) -> None:
        for sentence in CsrCorpus(dataset.indptr, dataset.indices):
            fh.write(" ".join(sentence))
            fh.write("\n")

    return atomic_write(path, write, encoding="ascii")


def retained_share(counts: np.ndarray, sample: float, min_count: int = 1) -> float:
    """Expected share of token occurrences gensim keeps after down-sampling with ``sample``
    (gensim's ``Word2Vec.prepare_vocab`` keep probability), over tracks seen ``min_count`` times."""
    c = np.asarray(counts, dtype=np.float64)
    c = c[c >= max(1, min_count)]
    total = c.sum()
    if total <= 0 or not sample:
        return 1.0
    threshold = sample * total if sample < 1.0 else int(sample * (3 + np.sqrt(5)) / 2)
    keep = np.minimum((np.sqrt(c / threshold) + 1.0) * (threshold / c), 1.0)
    return float((c * keep).sum() / total)


def skipgram_pairs(lengths: np.ndarray, window: int, retained: float = 1.0) -> float:
    """Expected (centre, context) pairs of one skip-gram pass: gensim draws each centre's
    window uniformly from 1..``window``; down-sampling shortens sequences by ``retained``."""
    n = np.asarray(lengths, dtype=np.float64) * retained
    total = 0.0
    for w in range(1, int(window) + 1):
        # sum over positions i of min(w, i), for positions 0..n-1 (both sides: x 2)
        side = np.where(n - 1 <= w, n * (n - 1) / 2, w * (w + 1) / 2 + (n - 1 - w) * w)
        total += 2.0 * float(np.clip(side, 0, None).sum())
    return total / int(window)


def vocabulary_counts(indices: np.ndarray, n_tracks: int) -> dict[str, int]:
    """Token -> count for every track that occurs, in order of first occurrence.

    This is the dict a gensim scan pass would build (same insertion order), so
    gensim's stable sort by frequency gives the same vocabulary order.
    """
    indices = np.asarray(indices)
    counts = np.bincount(indices, minlength=n_tracks)
    present, first = np.unique(indices, return_index=True)
    order = present[np.argsort(first, kind="stable")]
    return {str(t): int(c) for t, c in zip(order.tolist(), counts[order].tolist(), strict=True)}


#: The value of ``epochs`` and ``window`` that :meth:`Track2Vec.resolve_params` sets from
#: the training data.
AUTO = "auto"

#: W2V paper Table 3's defaults (``dim`` d, ``window`` L, ``ns_exponent`` alpha,
#: ``negative`` N, ``alpha`` lambda) with gensim's ``epochs`` and ``sample``, which the
#: paper leaves at Word2Vec's defaults: Track2Vec's defaults before they adapted to the
#: corpus, and the reference configuration of ``songspace tune``.
PAPER_PRESET: dict[str, Any] = {
    "dim": 100,
    "window": 5,
    "ns_exponent": 0.75,
    "negative": 5,
    "alpha": 0.025,
    "epochs": 5,
    "sample": 1e-3,
}


#: Training tokens (entries x epochs) ``epochs="auto"`` aims at.
AUTO_TOKENS = 10_000_000
#: The most epochs ``epochs="auto"`` chooses.
AUTO_MAX_EPOCHS = 50
#: ``window="auto"`` for playlists (the paper's 5) and for listening sessions.
PLAYLIST_WINDOW = 5
SESSION_WINDOW = 10
#: Listening sessions replay tracks, playlists seldom list one twice: sequences whose
#: entries repeat a track already in the same sequence this often (or more) are sessions.
SESSION_REPEAT_SHARE = 0.05


def auto_epochs(n_tokens: int) -> int:
    """``epochs="auto"`` for a corpus of ``n_tokens`` training entries: enough passes for
    about :data:`AUTO_TOKENS` tokens (``ceil(AUTO_TOKENS / n_tokens)``), never fewer than the
    paper's 5 (so a corpus of 2M entries or more trains as the paper's configuration does)
    nor more than :data:`AUTO_MAX_EPOCHS`."""
    passes = -(-AUTO_TOKENS // max(int(n_tokens), 1))
    return int(min(max(passes, PAPER_PRESET["epochs"]), AUTO_MAX_EPOCHS))


def repeat_share(dataset: Dataset) -> float:
    """The share of entries whose track already occurred earlier in the same sequence
    (0 for playlists that never list a track twice; 0.07 on the LFM-1b subset's
    listening lines, 0.014 on the MPD subset's playlists)."""
    n = dataset.n_entries
    if n == 0:
        return 0.0
    seq = np.repeat(np.arange(dataset.n_sequences, dtype=np.int64), dataset.lengths)
    pairs = seq * np.int64(max(dataset.n_tracks, 1)) + np.asarray(dataset.indices, np.int64)
    return (n - len(np.unique(pairs))) / n


def auto_window(dataset: Dataset) -> int:
    """``window="auto"``: :data:`SESSION_WINDOW` for listening sessions (a
    :func:`repeat_share` of at least :data:`SESSION_REPEAT_SHARE`), else
    :data:`PLAYLIST_WINDOW`, the paper's."""
    return SESSION_WINDOW if repeat_share(dataset) >= SESSION_REPEAT_SHARE else PLAYLIST_WINDOW


def resolve_auto(params: dict[str, Any], dataset: Dataset) -> dict[str, Any]:
    """``params`` with ``epochs="auto"`` (:func:`auto_epochs` of the dataset's entries)
    and ``window="auto"`` (:func:`auto_window`) resolved; other values unchanged."""
    out = dict(params)
    if out.get("epochs") == AUTO:
        out["epochs"] = auto_epochs(dataset.n_entries)
    if out.get("window") == AUTO:
        out["window"] = auto_window(dataset)
    return out


class _TrainingWatch:
    """What gensim's progress hooks share during one Track2Vec fit.

    A progress callback that raises (e.g. a tuning time budget) stops training: gensim
    reports progress about once a second from the main thread (``_log_progress``); the
    error is kept, the corpus stops yielding (:attr:`stop`) and the queued jobs are
    dropped, so the worker threads finish the epoch early, and the error is raised at the
    epoch's end (:meth:`epoch_end`), with no thread left running. ``vectors(wv)`` turns
    gensim's vectors into the model's (embeddings, available) for the epoch hook.
    """

    def __init__(
        self,
        progress: ProgressCallback | None,
        epochs: int,
        on_epoch: EpochHook | None,
        vectors: Callable[[Any], tuple[np.ndarray, np.ndarray]],
    ) -> None:
        self.progress = progress
        self.epochs = epochs
        self.on_epoch = on_epoch
        self.vectors = vectors
        #: Set once the progress callback raised: the corpus ends its pass early.
        self.stop = threading.Event()
        self.failure: list[BaseException] = []
        self.epoch = 0
        self.previous_loss = 0.0

    def report(self, done: float, message: str) -> None:
        """Pass progress on; keep what the callback raises and set :attr:`stop`."""
        if self.stop.is_set():
            return
        try:
            if self.progress is not None:
                self.progress(done, int(self.epochs), message)
        except BaseException as exc:
            self.failure.append(exc)
            self.stop.set()

    def log_progress(self, job_queue: Any, cur_epoch: int, example_count: int, total: int) -> None:
        """gensim's periodic progress report: the share of the epoch done so far (lets a
        caller project the total time); once stopped, the queued jobs are dropped."""
        share = min(example_count / total, 1.0) if total else 0.0
        self.report(cur_epoch + share, f"epoch {cur_epoch + 1}/{self.epochs} {share:.0%}")
        if self.stop.is_set():  # drop the queued jobs; keep the workers' end markers
            with contextlib.suppress(queue.Empty):
                while True:
                    job = job_queue.get_nowait()
                    if job is None:
                        job_queue.put(None)
                        break

    def epoch_end(self, w2v: Any) -> None:
        """After each epoch: report the epoch's loss, raise a kept failure, call the hook."""
        self.epoch += 1
        total = w2v.get_latest_training_loss()  # cumulative over the run
        loss, self.previous_loss = total - self.previous_loss, total
        self.report(self.epoch, f"epoch {self.epoch}/{self.epochs} loss {loss:.4g}")
        if self.failure:
            raise self.failure[0]
        if self.on_epoch is not None:
            self.on_epoch(self.epoch, *self.vectors(w2v.wv))

    def epoch_callback(self) -> Any:
        """A gensim callback calling :meth:`epoch_end`."""
        from gensim.models.callbacks import CallbackAny2Vec

        watch = self

        class _EpochEnd(CallbackAny2Vec):
            def on_epoch_end(self, w2v: Any) -> None:
                watch.epoch_end(w2v)

        return _EpochEnd()


def _watched_word2vec(watch: _TrainingWatch, **settings: Any) -> Any:
    """An untrained gensim ``Word2Vec(**settings)`` whose progress reports go to ``watch``."""
    from gensim.models import Word2Vec

    class _Word2Vec(Word2Vec):
        def _log_progress(self, *args, **kwargs) -> None:
            # gensim's signature: (job_queue, progress_queue, cur_epoch, example_count,
            # total_examples, raw_word_count, total_words, trained_word_count, elapsed)
            super()._log_progress(*args, **kwargs)
            watch.log_progress(args[0], *args[2:5])

    return _Word2Vec(**settings)


def word2vec_state(w2v: Any, n_tracks: int) -> tuple[np.ndarray, np.ndarray]:
    """(output weights ``syn1neg``, input vectors) of a gensim Word2Vec whose tokens are
    track indices, one row per track (zero for tracks out of its vocabulary)."""
    wv = w2v.wv
    rows = np.fromiter((int(k) for k in wv.index_to_key), dtype=np.int64, count=len(wv))
    syn1neg = np.zeros((n_tracks, wv.vector_size), dtype=np.float32)
    vectors = np.zeros((n_tracks, wv.vector_size), dtype=np.float32)
    syn1neg[rows] = w2v.syn1neg
    vectors[rows] = wv.vectors
    return syn1neg, vectors


def _state_rows(arrays: dict[str, np.ndarray], name: str, rows: int, dim: int) -> np.ndarray:
    """``arrays[name]`` as float32 when it is a (rows, dim) matrix; ValueError otherwise
    (a saved model whose state does not fit its parameters)."""
    a = arrays[name]
    if a.ndim != 2 or a.shape != (rows, dim):
        raise ValueError(f"{name} of shape {a.shape}, expected ({rows}, {dim})")
    return a.astype(np.float32)


def restore_word2vec(
    w2v: Any, vectors: np.ndarray, trained: np.ndarray, syn1neg: np.ndarray
) -> None:
    """Set, in a gensim Word2Vec whose vocabulary was just built (fresh, seeded random
    vectors and zero output weights), the state a model kept: the input ``vectors`` of
    the tracks marked ``trained`` and the output weights ``syn1neg`` of every track
    the model had (one row per track; rows past them are new tracks and keep their
    fresh state)."""
    wv = w2v.wv
    rows = np.fromiter((int(k) for k in wv.index_to_key), dtype=np.int64, count=len(wv))
    old = rows < len(trained)
    where = np.flatnonzero(old)
    w2v.syn1neg[where] = syn1neg[rows[where]]
    kept = where[trained[rows[where]]]
    wv.vectors[kept] = vectors[rows[kept]]


@register
class Track2Vec(EmbeddingModel):
    """Skip-gram Word2Vec with negative sampling over sequences (see the module docstring).

    Parameters (ranges of W2V paper Table 3 where it gives one): ``dim`` d,
    ``window`` L, ``ns_exponent`` alpha (0 uniform, > 0 popularity, < 0 inverse
    popularity negative sampling), ``negative`` N, ``alpha`` initial learning
    rate lambda; ``epochs``; ``sample`` (gensim's frequent-track down-sampling
    threshold, 0 disables); ``min_count`` (rarer tracks are unavailable);
    ``workers`` (gensim threads; only 1 is reproducible); ``corpus`` ("auto": a cached
    corpus file when ``workers > 2``, else the streamed iterator; "file"; "iterator");
    ``seed``.
    """

    name = "track2vec"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 25, 200),
        "window": AnyOf(Interval(int, 1, 40), Options((AUTO,))),
        "ns_exponent": Interval(float, -1.0, 1.0),
        "negative": Interval(int, 1, 100),
        "alpha": Interval(float, 0.001, 0.1),
        "epochs": AnyOf(Interval(int, 1, 1000), Options((AUTO,))),
        "sample": Interval(float, 0.0, 1.0),
        "min_count": Interval(int, 1, None),
        "workers": Interval(int, 1, 64),
        "corpus": Options(CORPUS_MODES),
        "seed": SEED,
    }
    #: W2V paper Table 3: d, L, alpha (ns_exponent), N, lambda (learning rate, log scale);
    #: plus ``epochs`` and ``sample`` (beyond Table 3, see :attr:`search_notes`).
    search_space: ClassVar[SearchSpace] = {
        "dim": IntParam(25, 200),
        "window": IntParam(1, 40),
        "ns_exponent": FloatParam(-1.0, 1.0),
        "negative": IntParam(1, 100),
        "alpha": FloatParam(0.001, 0.1, log=True),
        "epochs": IntParam(1, 50, log=True),
        "sample": FloatParam(1e-5, 1e-1, log=True),
    }
    search_notes: ClassVar[dict[str, str]] = {
        "epochs": "beyond W2V Table 3 (Caselles-Dupre et al. 2018); set by the budget "
        "in equal-time tuning",
        "sample": "beyond W2V Table 3 (Caselles-Dupre et al. 2018)",
    }
    budget_param: ClassVar[str | None] = "epochs"
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": PAPER_PRESET}
    #: Tuning measures against the paper's configuration (W2V §4: equal time to it).
    reference_preset: ClassVar[str | None] = "paper"

    @classmethod
    def cost_units(cls, params: dict, dataset: Dataset) -> float:
        """Skip-gram work of one epoch: expected pairs after down-sampling x (negative + 1)
        x dim (gensim's inner loop does one dim-sized update per pair and sample)."""
        p = resolve_auto({**cls.default_params(), **params}, dataset)
        counts = np.bincount(np.asarray(dataset.indices), minlength=dataset.n_tracks)
        kept = retained_share(counts, float(p["sample"]), int(p["min_count"]))
        pairs = skipgram_pairs(np.diff(np.asarray(dataset.indptr)), int(p["window"]), kept)
        return pairs * (int(p["negative"]) + 1) * int(p["dim"])

    def __init__(
        self,
        dim: int = 100,
        window: int | str = AUTO,
        ns_exponent: float = 0.75,
        negative: int = 5,
        alpha: float = 0.025,
        epochs: int | str = AUTO,
        min_count: int = 1,
        workers: int = 1,
        seed: int = 0,
        sample: float = 1e-3,
        corpus: str = "auto",
    ):
        self.dim = dim
        self.window = window
        self.ns_exponent = ns_exponent
        self.negative = negative
        self.alpha = alpha
        self.epochs = epochs
        self.sample = sample
        self.min_count = min_count
        self.workers = workers
        self.corpus = corpus
        self.seed = seed

    def resolve_params(self, dataset: Dataset) -> dict[str, Any]:
        """The parameters with ``epochs="auto"`` and ``window="auto"`` set from ``dataset``
        (:func:`resolve_auto`)."""
        return resolve_auto(self.get_params(), dataset)

    def uses_corpus_file(self) -> bool:
        """True when training reads a corpus file (``corpus``; "auto": workers > 2)."""
        return self.corpus == "file" or (self.corpus == "auto" and int(self.workers) > 2)

    def _word2vec_settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """The gensim ``Word2Vec`` settings of ``params`` (this model's parameters with
        ``"auto"`` resolved: :meth:`resolve_params` for a fit, ``fitted_params_`` for an
        update)."""
        return {
            "vector_size": int(params["dim"]),
            "window": int(params["window"]),
            "ns_exponent": float(params["ns_exponent"]),
            "negative": int(params["negative"]),
            "alpha": float(params["alpha"]),
            "epochs": int(params["epochs"]),
            "sample": float(params["sample"]),
            "min_count": int(params["min_count"]),
            "workers": int(params["workers"]),
            "seed": int(params["seed"]),
            "sg": 1,
            "hs": 0,
        }

    def _train_word2vec(self, dataset: Dataset, progress: ProgressCallback | None):
        """Train the gensim model on the streamed corpus (or the cached corpus file, see
        :meth:`uses_corpus_file`) with the parameters resolved for it; return it."""
        p = self.resolve_params(dataset)
        watch = _TrainingWatch(
            progress, p["epochs"], epoch_hook(progress), lambda wv: self._full_vectors(wv, dataset)
        )
        corpus = CsrCorpus(dataset.indptr, dataset.indices, stop=watch.stop)
        w2v = _watched_word2vec(watch, **self._word2vec_settings(p))
        counts = vocabulary_counts(dataset.indices, dataset.n_tracks)
        w2v.build_vocab_from_freq(counts, corpus_count=len(corpus))
        if len(w2v.wv) == 0:
            raise ParameterError(
                "min_count",
                "at least one track occurring min_count times",
                self.min_count,
                fix="lower min_count",
            )
        self._run_word2vec(w2v, watch, dataset, corpus, progress)
        return w2v

    def _run_word2vec(
        self,
        w2v: Any,
        watch: _TrainingWatch,
        dataset: Dataset,
        corpus: CsrCorpus,
        progress: ProgressCallback | None,
    ) -> None:
        """``w2v.train`` over ``dataset``'s sequences (``corpus``, or their cached corpus
        file, see :meth:`uses_corpus_file`) for ``w2v.epochs`` epochs, its learning rate
        decaying linearly from ``w2v.alpha`` to ``w2v.min_alpha``."""
        source: dict[str, Any] = {"corpus_iterable": corpus}
        if self.uses_corpus_file():
            source = {
                "corpus_file": str(corpus_file(dataset)),
                "total_words": len(dataset.indices),
            }
        w2v.train(
            **source,
            total_examples=w2v.corpus_count,
            epochs=w2v.epochs,
            # The loss costs time in gensim's inner loop: only when someone is watching.
            compute_loss=progress is not None,
            callbacks=[watch.epoch_callback()] if progress is not None else [],
        )

    def _word_vectors(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        w2v = self._train_word2vec(dataset, progress)
        self._keep_state(w2v, dataset.n_tracks)
        return self._full_vectors(w2v.wv, dataset)

    def _keep_state(self, w2v: Any, n_tracks: int) -> None:
        """Keep what :meth:`update` needs beyond the embeddings: gensim's output weights
        (``syn1neg_``, one row per track, zero for tracks out of the vocabulary)."""
        self.syn1neg_, vectors = word2vec_state(w2v, n_tracks)
        self._keep_vectors(vectors)

    def _keep_vectors(self, vectors: np.ndarray) -> None:
        """Keep gensim's input vectors where ``embeddings_`` does not hold them (Track2Vec:
        it does, on every available track)."""

    def _gensim_vectors(self) -> np.ndarray:
        """gensim's input vectors, one row per track (Track2Vec: its embeddings)."""
        return self.embeddings_

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """The update state, when the model has it (models saved before updates existed
        load without it, and cannot be updated)."""
        if getattr(self, "syn1neg_", None) is None:
            return {}
        return {"syn1neg": self.syn1neg_, **self._vector_state()}

    def _vector_state(self) -> dict[str, np.ndarray]:
        """The input vectors saved beside the embeddings (none for Track2Vec)."""
        return {}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        if "syn1neg" not in arrays:
            return
        self.syn1neg_ = _state_rows(arrays, "syn1neg", self.n_tracks_, int(self.dim))
        self._restore_vectors(arrays)

    def _restore_vectors(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`_vector_state` saved (nothing for Track2Vec)."""

    # ---------------------------------------------------------------- updates
    update_constraints: ClassVar[dict[str, Constraint]] = {
        "epochs": Interval(int, 1, 1000),
        "alpha": Interval(float, 1e-5, 0.1),
        "replay_share": Interval(float, 0.0, MAX_REPLAY_SHARE),
        "seed": SEED,
    }

    def update_defaults(self) -> dict[str, Any]:
        """The epochs the model trained with, half its learning rate (the vectors are trained;
        new tracks still learn at a real rate), old sequences half of the corpus, its
        seed."""
        return {
            "epochs": int(self.fitted_params_["epochs"]),  # the epochs it trained with
            "alpha": float(self.alpha) / 2,
            "replay_share": DEFAULT_REPLAY_SHARE,
            "seed": int(self.seed),
        }

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Grow the vocabulary to the union's counts, keep the trained vectors and output
        weights, train on ``new`` plus a replay sample of ``history`` (docs/updates.md)."""
        if getattr(self, "syn1neg_", None) is None:
            raise saved_before_updates(self.name, "its output weights")
        union = concat_sequences(history, new)
        data = update_corpus(history, new, settings["replay_share"], settings["seed"])
        epochs = int(settings["epochs"])
        watch = _TrainingWatch(progress, epochs, None, lambda wv: self._full_vectors(wv, union))
        corpus = CsrCorpus(data.indptr, data.indices, stop=watch.stop)
        options = {"alpha": settings["alpha"], "epochs": epochs, "seed": settings["seed"]}
        # the settings it trained with (window="auto" as resolved then), the update's options
        trained = self._word2vec_settings(self.fitted_params_)
        w2v = _watched_word2vec(watch, **{**trained, **options})
        w2v.build_vocab_from_freq(
            vocabulary_counts(union.indices, union.n_tracks), corpus_count=len(corpus)
        )
        restore_word2vec(w2v, self._gensim_vectors(), self.available_, self.syn1neg_)
        self._run_word2vec(w2v, watch, data, corpus, progress)
        self._keep_state(w2v, union.n_tracks)
        return self._updated_vectors(w2v, union)

    def _updated_vectors(self, w2v: Any, union: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, available) after an update (Track2Vec: the gensim vectors)."""
        return self._full_vectors(w2v.wv, union)

    def _full_vectors(self, wv: Any, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        emb = np.zeros((dataset.n_tracks, int(self.dim)), dtype=np.float32)
        available = np.zeros(dataset.n_tracks, dtype=bool)
        rows = np.fromiter((int(k) for k in wv.index_to_key), dtype=np.int64, count=len(wv))
        emb[rows] = wv.vectors
        available[rows] = True
        # a track seen only in one-entry sequences kept its random initialisation
        available = drop_tracks_without_context(dataset, available, max_len=MAX_SENTENCE_LEN)
        return emb, available

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._word_vectors(dataset, progress)


@register
class Track2VecFeature(Track2Vec):
    """Track2Vec concatenated with the normalised feature groups (MUSIG §4.2).

    ``embeddings_[t] = [w / ||w|| ; feature_weight * block_g(t) for g in feature_groups]``
    where ``w`` is the Track2Vec vector and, for a group with ``c`` columns,
    ``block_g(t) = [values_g[t] ; known_share_g[t]] / sqrt(c + 1)``: the group's
    [0, 1] values with unknown cells left at 0 (nothing is imputed), then one
    known-indicator column (the share of the group's columns known for the track:
    1 when known, 0 when unknown) so that "unknown" is not confused with a true 0.
    The ``1 / sqrt(c + 1)`` factor bounds each block's norm by 1, like the
    unit-norm Track2Vec part, so wide groups do not dominate. The dimension is
    ``dim + sum(c_g + 1)``. Availability is Track2Vec's.
    """

    name = "track2vec_feature"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **Track2Vec.parameter_constraints,
        "feature_groups": Names(min_len=1, what="feature-group names"),
        "feature_weight": Interval(float, 0.0, None),
    }
    #: Track2Vec's space (W2V Table 3) plus the weight of the feature part.
    search_space: ClassVar[SearchSpace] = {
        **Track2Vec.search_space,
        "feature_weight": FloatParam(0.0, 2.0),
    }

    def __init__(
        self,
        dim: int = 100,
        window: int | str = AUTO,
        ns_exponent: float = 0.75,
        negative: int = 5,
        alpha: float = 0.025,
        epochs: int | str = AUTO,
        min_count: int = 1,
        workers: int = 1,
        seed: int = 0,
        sample: float = 1e-3,
        feature_groups: Sequence[str] = ("genre", "popularity", "audio"),
        feature_weight: float = 1.0,
        corpus: str = "auto",
    ):
        super().__init__(
            dim=dim,
            window=window,
            ns_exponent=ns_exponent,
            negative=negative,
            alpha=alpha,
            epochs=epochs,
            min_count=min_count,
            workers=workers,
            seed=seed,
            sample=sample,
            corpus=corpus,
        )
        self.feature_groups = feature_groups
        self.feature_weight = feature_weight

    def _check_groups(self, dataset: Dataset) -> None:
        missing = [g for g in self.feature_groups if g not in dataset.features]
        if missing:
            raise ParameterError(
                "feature_groups",
                f"feature groups the dataset has ({sorted(dataset.features)})",
                list(self.feature_groups),
                fix=f"drop or rename {missing}",
            )

    def feature_block(self, dataset: Dataset) -> np.ndarray:
        """The (n_tracks, sum(c_g + 1)) feature part, before ``feature_weight``."""
        self._check_groups(dataset)
        blocks = []
        for g in self.feature_groups:
            block = known_share_block(dataset.features[g])
            blocks.append(block / np.float32(np.sqrt(block.shape[1])))
        return np.hstack(blocks).astype(np.float32)

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_groups(dataset)  # fail before training
        emb, available = self._word_vectors(dataset, progress)
        return self._with_features(emb, dataset), available

    def _with_features(self, emb: np.ndarray, dataset: Dataset) -> np.ndarray:
        """``[w / ||w|| ; feature_weight * feature_block]`` (the class docstring)."""
        norms = np.linalg.norm(emb, axis=1, keepdims=True)
        emb = np.divide(emb, norms, out=np.zeros_like(emb), where=norms > 0)
        feats = np.float32(self.feature_weight) * self.feature_block(dataset)
        return np.hstack([emb, feats])

    # Its embeddings are normalised and extended: the gensim vectors are kept apart.
    def _keep_vectors(self, vectors: np.ndarray) -> None:
        self.w2v_vectors_ = vectors

    def _gensim_vectors(self) -> np.ndarray:
        return self.w2v_vectors_

    def _vector_state(self) -> dict[str, np.ndarray]:
        return {"w2v_vectors": self.w2v_vectors_}

    def _restore_vectors(self, arrays: dict[str, np.ndarray]) -> None:
        self.w2v_vectors_ = _state_rows(arrays, "w2v_vectors", self.n_tracks_, int(self.dim))

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        self._check_groups(new)  # fail before training
        return super()._update(new, history, progress, settings)

    def _updated_vectors(self, w2v: Any, union: Dataset) -> tuple[np.ndarray, np.ndarray]:
        emb, available = self._full_vectors(w2v.wv, union)
        return self._with_features(emb, union), available

"""ALS: implicit-feedback matrix factorisation of the sequence-by-track matrix (SPEC §3).

The field's standard matrix factorisation (weighted regularised MF, "WRMF"; Hu, Koren and
Volinsky 2008), fitted by implicit's conjugate-gradient ALS
(``implicit.cpu.als.AlternatingLeastSquares``; Takács, Pilászy and Tikk 2011). Sequences
play the role of users, tracks of items, and a track's embedding is its item factor
vector. It is the main candidate generator of the RecSys Challenge 2018 winner (vl6).

Confidence weighting
    ``r_st`` is the number of times track ``t`` occurs in sequence ``s`` (a track repeated
    in a playlist or a listening session counts each time). The preference is
    ``p_st = 1`` where ``r_st > 0`` and 0 elsewhere; its confidence is
    ``c_st = 1 + alpha * r_st`` (Hu et al. eq. 3; 1 for every unobserved cell). implicit
    (>= 0.5) reads the matrix values it is given as the confidences themselves, so the
    model hands it ``1 + alpha * r`` and leaves implicit's own ``alpha`` at 1.

Tracks that never occur in a training sequence are unavailable (as CF-WARP): they have
no observed cell, so their factors carry no information about them.

Threads and determinism
    ``workers`` is implicit's ``num_threads`` (default 1). Everything random (the initial
    factors) comes from ``seed`` through implicit's ``random_state``; with ``workers=1``
    two fits with the same seed give bit-identical embeddings (tested). With several
    threads implicit solves the rows in parallel and does not promise reproducibility.
    Following implicit's advice (its ``check_blas_config`` warning), BLAS's own thread
    pool is limited to one thread with ``threadpoolctl`` for the duration of ``fit`` only;
    the process's previous BLAS settings are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._optional import optional_import
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.models.base import EmbeddingModel
from songspace.models.incremental import grown_rows
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.params import SEED, Constraint, Interval
from songspace.progress import ProgressCallback, report

#: Conjugate-gradient steps per row and half-iteration (implicit's ``cg_steps``, fixed).
CG_STEPS = 3
#: implicit's ``fit`` starts every factor uniform in [0, this); an update starts new tracks so.
IMPLICIT_INIT_SCALE = 0.01


def _implicit() -> tuple[Any, Any]:
    """(implicit's CPU ALS class, threadpoolctl's ``threadpool_limits``), or
    MissingDependencyError naming the extra (threadpoolctl comes with implicit)."""
    als = optional_import("implicit.cpu.als", "the model 'als'")
    threadpoolctl = optional_import("threadpoolctl", "the model 'als'")
    return als.AlternatingLeastSquares, threadpoolctl.threadpool_limits


def confidence_matrix(dataset: Dataset, alpha: float) -> sp.csr_matrix:
    """Sequence-by-track CSR matrix of confidences ``1 + alpha * count`` (float32) on the
    cells where the track occurs in the sequence (``count`` times); empty elsewhere."""
    counts = sp.csr_matrix(
        (
            np.ones(dataset.n_entries, dtype=np.float32),
            np.array(dataset.indices, copy=True),  # sum_duplicates sorts in place
            np.array(dataset.indptr, copy=True),
        ),
        shape=(dataset.n_sequences, dataset.n_tracks),
    )
    counts.sum_duplicates()
    counts.data = (1.0 + float(alpha) * counts.data).astype(np.float32)
    return counts


@register
class ALS(EmbeddingModel):
    """implicit's ALS on the sequence-by-track matrix; embedding = item factors.

    Parameters
    ----------
    dim: number of latent factors (implicit's ``factors``).
    iterations: ALS sweeps (sequence factors, then track factors); progress is reported
        once per iteration.
    regularization: L2 penalty on both factor matrices.
    alpha: confidence slope: an observed cell's confidence is ``1 + alpha * count``.
    workers: implicit's ``num_threads``; only ``workers=1`` is promised reproducible.
    seed: seeds implicit's ``random_state`` (the initial factors).
    """

    name: ClassVar[str] = "als"
    inductive: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 1, 4096),
        "iterations": Interval(int, 1, 1000),
        "regularization": Interval(float, 0.0, 1e6),
        "alpha": Interval(float, 0.0, 1e6),
        "workers": Interval(int, 1, 1024),
        "seed": SEED,
    }
    #: The usual WRMF ranges, penalty and confidence slope on a log scale.
    search_space: ClassVar[SearchSpace] = {
        "dim": IntParam(16, 256, log=True),
        "iterations": IntParam(3, 50, log=True),
        "regularization": FloatParam(1e-3, 100.0, log=True),
        "alpha": FloatParam(0.1, 100.0, log=True),
    }
    search_notes: ClassVar[dict[str, str]] = {
        "iterations": "a cost knob; set by the budget in equal-time tuning",
    }
    budget_param: ClassVar[str | None] = "iterations"

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Work per iteration of the conjugate-gradient solver: for each of the N =
        sequences + tracks rows, (CG_STEPS + 1) products with the dim x dim Gram matrix
        plus two dim-sized updates per observed cell in each, and one Gram matrix per
        half-iteration: ``dim * (4 (CG_STEPS + 1) nnz + (CG_STEPS + 2) N dim)``, with
        ``nnz`` taken as the number of entries (a rough guess the measured trials
        correct)."""
        p = {**cls.default_params(), **params}
        dim = int(p["dim"])
        rows = dataset.n_sequences + dataset.n_tracks
        return float(dim * (4 * (CG_STEPS + 1) * dataset.n_entries + (CG_STEPS + 2) * rows * dim))

    def __init__(
        self,
        dim: int = 64,
        iterations: int = 15,
        regularization: float = 0.01,
        alpha: float = 40.0,
        workers: int = 1,
        seed: int = 0,
    ):
        self.dim = dim
        self.iterations = iterations
        self.regularization = regularization
        self.alpha = alpha
        self.workers = workers
        self.seed = seed

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        als_class, threadpool_limits = _implicit()
        confidences = confidence_matrix(dataset, float(self.alpha))
        total = int(self.iterations)

        def on_iteration(iteration: int, elapsed: float, loss: float | None) -> None:
            done = iteration + 1
            report(progress, done, total, f"als: iteration {done}/{total}")

        with threadpool_limits(limits=1, user_api="blas"):
            report(progress, 0, total, "als: training")
            model = self._implicit_model(als_class, total)
            model.fit(confidences, show_progress=False, callback=on_iteration)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        embeddings = np.asarray(model.item_factors, dtype=np.float32)
        available = dataset.occurrences() > 0
        return embeddings, available

    def _implicit_model(self, als_class: Any, iterations: int) -> Any:
        """An unfitted implicit ALS model with this model's parameters."""
        model = als_class(
            factors=int(self.dim),
            regularization=float(self.regularization),
            alpha=1.0,  # the confidences are already 1 + alpha * count
            dtype=np.float32,
            use_cg=True,
            iterations=iterations,
            calculate_training_loss=False,
            num_threads=int(self.workers),
            random_state=int(self.seed),
        )
        model.cg_steps = CG_STEPS
        return model

    # ------------------------------------------------------------- the state
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """The sequence factors, when the model has them (an update reads them; a model
        saved before updates existed has none: an update recomputes them)."""
        users = getattr(self, "user_factors_", None)
        return {} if users is None else {"user_factors": users}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        if "user_factors" not in arrays:
            return
        users = arrays["user_factors"]
        if users.ndim != 2 or users.shape[1] != int(self.dim) or users.dtype.kind != "f":
            raise ValueError(f"user_factors of {users.dtype} {users.shape}, expected (n, dim)")
        self.user_factors_ = users.astype(np.float32)

    # --------------------------------------------------------------- updates
    update_constraints: ClassVar[dict[str, Constraint]] = {
        "iterations": Interval(int, 1, 1000),
        "seed": SEED,
    }

    def update_defaults(self) -> dict[str, Any]:
        """Two rounds: the second refines the new sequences with the new tracks' factors;
        the model's seed draws the new tracks' starting factors."""
        return {"iterations": 2, "seed": int(self.seed)}

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        """implicit's ``partial_fit_users`` for the new sequences, then
        ``partial_fit_items`` for every track they hold, over all sequences, per round
        (docs/updates.md)."""
        als_class, threadpool_limits = _implicit()
        alpha = float(self.alpha)
        both = sp.vstack([confidence_matrix(history, alpha), confidence_matrix(new, alpha)])
        both = both.tocsr()
        users = np.arange(history.n_sequences, both.shape[0])
        items = np.flatnonzero(new.occurrences() > 0)
        by_item = both.T.tocsr()[items]
        total = int(settings["iterations"])
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._implicit_model(als_class, total)
            model.item_factors = grown_rows(
                self.embeddings_.copy(), new.n_tracks, _initial_factors(settings["seed"], self.dim)
            )
            model.user_factors = self._sequence_factors(model, history, both)
            for done in range(1, total + 1):
                model.partial_fit_users(users, both[users])
                model.partial_fit_items(items, by_item)
                report(progress, done, total, f"als: update round {done}/{total}")
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        available = (history.occurrences() + new.occurrences()) > 0
        return np.asarray(model.item_factors, dtype=np.float32), available

    def _sequence_factors(self, model: Any, history: Dataset, both: sp.csr_matrix) -> np.ndarray:
        """The old sequences' factors: stored, or for a model saved before updates
        existed, solved from the item factors (one exact half-iteration)."""
        stored = getattr(self, "user_factors_", None)
        if stored is not None and stored.shape[0] == history.n_sequences:
            return np.array(stored, dtype=np.float32)
        if stored is not None:
            raise ParameterError(
                "history",
                f"the {stored.shape[0]} sequences the model was trained on",
                f"{history.n_sequences} sequences",
                fix="update the run with the data it was trained on (songspace update)",
            )
        old = np.arange(history.n_sequences)
        return np.asarray(model.recalculate_user(old, both[old]), dtype=np.float32)


def _initial_factors(seed: int, dim: int) -> Callable[[int], np.ndarray]:
    """New tracks' starting factors as implicit's ``fit`` draws them (uniform in
    [0, 0.01)), seeded. Not zeros: a new sequence of new tracks only would solve to a
    zero factor from zero track factors, and its tracks to zero from it, round after
    round (their vectors all-zero)."""

    def draw(k: int) -> np.ndarray:
        rng = np.random.default_rng(int(seed))
        return rng.random((k, int(dim)), dtype=np.float32) * IMPLICIT_INIT_SCALE

    return draw

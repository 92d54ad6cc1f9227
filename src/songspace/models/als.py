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

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._optional import optional_import
from songspace.data.dataset import Dataset
from songspace.models.base import EmbeddingModel
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.params import SEED, Constraint, Interval
from songspace.progress import ProgressCallback, report

#: Conjugate-gradient steps per row and half-iteration (implicit's ``cg_steps``, fixed).
CG_STEPS = 3


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
            model = als_class(
                factors=int(self.dim),
                regularization=float(self.regularization),
                alpha=1.0,  # the confidences are already 1 + alpha * count
                dtype=np.float32,
                use_cg=True,
                iterations=total,
                calculate_training_loss=False,
                num_threads=int(self.workers),
                random_state=int(self.seed),
            )
            model.cg_steps = CG_STEPS
            model.fit(confidences, show_progress=False, callback=on_iteration)
        embeddings = np.asarray(model.item_factors, dtype=np.float32)
        available = dataset.occurrences() > 0
        return embeddings, available

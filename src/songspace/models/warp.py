"""CF-WARP: matrix factorisation of the sequence-by-track matrix with WARP loss (SPEC §3).

The binary sequence-by-track incidence matrix (a track repeated in a sequence
counts once) is factorised by LightFM with the WARP ranking loss (Weston et al.,
2011): sequences play the role of users, tracks of items, and a track's
embedding is its item factor vector.

With ``feature_groups``, every track is described by its own identity feature
(a per-track latent vector, as without features) plus the chosen groups'
values (unknown cells are 0) and one indicator column per group holding the
share of that group's columns known for the track (1 or 0 whenever a group is
known or unknown as a whole). The embedding is then LightFM's item
representation: the sum of the feature factors weighted by the feature values.

Tracks that never occur in a training sequence are unavailable: their identity
factor never receives a gradient and stays at its random initialisation.

Determinism: with ``workers=1`` LightFM's training is sequential and every
random draw (epoch shuffles, WARP negative sampling) comes from a generator
seeded by ``seed``, so two fits with the same seed give bit-identical
embeddings. With ``workers > 1`` LightFM trains Hogwild-style (lock-free
parallel SGD) and results vary from run to run.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._optional import optional_import
from songspace.data.dataset import Dataset
from songspace.data.features import known_share_block
from songspace.errors import ParameterError
from songspace.models.base import EmbeddingModel
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.params import SEED, Constraint, Interval, Names
from songspace.progress import ProgressCallback, report


def _lightfm_class() -> Any:
    return optional_import("lightfm", "the model 'warp'").LightFM


@register
class CFWarp(EmbeddingModel):
    """LightFM WARP factorisation of the sequence-by-track matrix; embedding = item factors.

    Parameters
    ----------
    dim: number of latent components.
    epochs: passes over the interactions (progress is reported once per epoch).
    learning_rate: initial AdaGrad learning rate.
    max_sampled: most negatives WARP samples per positive before giving up.
    item_alpha, user_alpha: L2 penalties on item and sequence factors.
    feature_groups: names of the dataset's feature groups to use as item features
        (empty: pure collaborative filtering).
    workers: LightFM threads; only ``workers=1`` is reproducible.
    seed: seeds LightFM's random state.
    """

    name: ClassVar[str] = "warp"
    inductive: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 1, 4096),
        "epochs": Interval(int, 1, 10_000),
        "learning_rate": Interval(float, 1e-6, 10.0),
        "max_sampled": Interval(int, 1, 100_000),
        "item_alpha": Interval(float, 0.0, 1.0),
        "user_alpha": Interval(float, 0.0, 1.0),
        "feature_groups": Names(what="feature-group names"),
        "workers": Interval(int, 1, 1024),
        "seed": SEED,
    }
    #: LightFM's usual tuning ranges; L2 penalties on a log scale (0 = the default is
    #: outside: a tuned model always has some regularisation).
    search_space: ClassVar[SearchSpace] = {
        "dim": IntParam(16, 200),
        "learning_rate": FloatParam(0.005, 0.2, log=True),
        "max_sampled": IntParam(5, 100),
        "item_alpha": FloatParam(1e-9, 1e-4, log=True),
        "user_alpha": FloatParam(1e-9, 1e-4, log=True),
        "epochs": IntParam(5, 100, log=True),
    }
    search_notes: ClassVar[dict[str, str]] = {
        "epochs": "a cost knob; set by the budget in equal-time tuning",
    }
    budget_param: ClassVar[str | None] = "epochs"

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Work per epoch: dim x sqrt(max_sampled) (a WARP update is dim-sized; the number
        of negatives drawn per positive falls as training goes, bounded by max_sampled: a
        rough guess that the measured trials correct)."""
        p = {**cls.default_params(), **params}
        return float(int(p["dim"]) * max(int(p["max_sampled"]), 1) ** 0.5)

    def __init__(
        self,
        dim: int = 64,
        epochs: int = 20,
        learning_rate: float = 0.05,
        max_sampled: int = 10,
        item_alpha: float = 0.0,
        user_alpha: float = 0.0,
        feature_groups: tuple[str, ...] = (),
        workers: int = 1,
        seed: int = 0,
    ):
        self.dim = dim
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.max_sampled = max_sampled
        self.item_alpha = item_alpha
        self.user_alpha = user_alpha
        self.feature_groups = feature_groups
        self.workers = workers
        self.seed = seed

    def _check_groups(self, dataset: Dataset) -> list[str]:
        groups = list(self.feature_groups)
        available = sorted(dataset.features)
        for g in groups:
            if g not in dataset.features:
                raise ParameterError(
                    "feature_groups",
                    f"feature groups the dataset has ({available})",
                    tuple(groups),
                )
        return groups

    # -------------------------------------------------------------- training
    def _item_features(self, dataset: Dataset, groups: list[str]) -> sp.csr_matrix | None:
        """Identity | group values | per-group known share, or None without groups."""
        if not groups:
            return None
        n = dataset.n_tracks
        blocks: list[sp.spmatrix] = [sp.identity(n, dtype=np.float32, format="csr")]
        for g in groups:
            blocks.append(sp.csr_matrix(known_share_block(dataset.features[g])))
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        groups = self._check_groups(dataset)
        light_fm = _lightfm_class()

        interactions = dataset.incidence().astype(np.float32).tocoo()
        item_features = self._item_features(dataset, groups)
        model = light_fm(
            loss="warp",
            no_components=int(self.dim),
            learning_rate=float(self.learning_rate),
            item_alpha=float(self.item_alpha),
            user_alpha=float(self.user_alpha),
            max_sampled=int(self.max_sampled),
            random_state=int(self.seed),
        )
        total = int(self.epochs)
        report(progress, 0, total, "warp: training")
        for epoch in range(1, total + 1):
            model.fit_partial(
                interactions,
                item_features=item_features,
                epochs=1,
                num_threads=int(self.workers),
            )
            report(progress, epoch, total, f"warp: epoch {epoch}/{total}")

        if item_features is None:
            embeddings = np.array(model.item_embeddings, dtype=np.float32)
        else:
            _, embeddings = model.get_item_representations(item_features)
            embeddings = np.asarray(embeddings, dtype=np.float32)
        available = dataset.occurrences() > 0
        return embeddings, available

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
from songspace.models.incremental import (
    DEFAULT_REPLAY_SHARE,
    MAX_REPLAY_SHARE,
    replay_indices,
    saved_before_updates,
)
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace
from songspace.params import SEED, Constraint, Interval, Names
from songspace.progress import ProgressCallback, report


def _lightfm_class() -> Any:
    return optional_import("lightfm", "the model 'warp'").LightFM


#: LightFM's state an update needs (AdaGrad: factors, biases, squared-gradient sums).
LIGHTFM_STATE = (
    "item_embeddings",
    "item_embedding_gradients",
    "item_biases",
    "item_bias_gradients",
    "user_embeddings",
    "user_embedding_gradients",
    "user_biases",
    "user_bias_gradients",
)


def check_lightfm_state(
    state: dict[str, np.ndarray], dim: int, n_tracks: int, with_features: bool
) -> None:
    """ValueError unless ``state`` fits a model of ``dim`` components over ``n_tracks``
    tracks (item rows: one per track, plus the feature columns with features)."""
    items, users = state["item_embeddings"].shape[0], state["user_embeddings"].shape[0]
    if items < n_tracks or (items != n_tracks and not with_features):
        raise ValueError(f"{items} item factor rows for {n_tracks} tracks")
    for name, a in state.items():
        rows = items if name.startswith("item") else users
        shape = (rows, dim) if "embedding" in name else (rows,)
        if a.shape != shape or a.dtype.kind != "f":
            raise ValueError(f"{name} of {a.dtype} {a.shape}, expected float {shape}")


def grow_lightfm_state(
    state: dict[str, np.ndarray], n_old: int, n_tracks: int, n_users: int, dim: int, seed: int
) -> dict[str, np.ndarray]:
    """LightFM's ``state`` grown to ``n_tracks`` tracks and ``n_users`` sequences, as
    LightFM initialises them: factors uniform in ``(-0.5, 0.5) / dim``, biases 0,
    AdaGrad accumulators 1. New track rows go after the ``n_old`` old ones, before the
    feature columns' rows (item features are [identity | feature groups])."""
    rng = np.random.RandomState(seed)
    out = {}
    for name, a in state.items():
        item = name.startswith("item")
        k = (n_tracks - n_old) if item else n_users - a.shape[0]
        if "gradients" in name:
            extra = np.ones((k, *a.shape[1:]), dtype=np.float32)
        elif name.endswith("embeddings"):
            extra = ((rng.rand(k, dim) - 0.5) / dim).astype(np.float32)
        else:
            extra = np.zeros(k, dtype=np.float32)
        at = n_old if item else a.shape[0]
        out[name] = np.concatenate([a[:at], extra, a[at:]]).astype(np.float32)
    return out


def restore_lightfm(model: Any, state: dict[str, np.ndarray]) -> None:
    """Give an unfitted LightFM model ``state`` (and zero momentum, unused by AdaGrad),
    so ``fit_partial`` continues from it."""
    for name, a in state.items():
        setattr(model, name, np.ascontiguousarray(a, dtype=np.float32))
        momentum = name.replace("gradients", "momentum")
        if momentum != name:
            setattr(model, momentum, np.zeros_like(a, dtype=np.float32))


def update_interactions(history: Dataset, new: Dataset, replayed: np.ndarray) -> sp.coo_matrix:
    """The incidence matrix an update trains on: one row per sequence, ``history``'s then
    ``new``'s, holding the ``replayed`` old sequences and every new one (the other old
    rows empty, so their factors rest)."""
    keep = np.zeros(history.n_sequences, dtype=np.float32)
    keep[replayed] = 1.0
    old = sp.diags(keep) @ history.incidence().astype(np.float32)
    old.eliminate_zeros()
    both = sp.vstack([old, new.incidence().astype(np.float32)], format="coo")
    return both.astype(np.float32)


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

    def _light_fm(self, seed: int) -> Any:
        """An unfitted LightFM WARP model with this model's parameters."""
        return _lightfm_class()(
            loss="warp",
            no_components=int(self.dim),
            learning_rate=float(self.learning_rate),
            item_alpha=float(self.item_alpha),
            user_alpha=float(self.user_alpha),
            max_sampled=int(self.max_sampled),
            random_state=seed,
        )

    def _train_epochs(
        self,
        model: Any,
        interactions: sp.coo_matrix,
        item_features: sp.csr_matrix | None,
        total: int,
        progress: ProgressCallback | None,
    ) -> None:
        """``total`` epochs of ``fit_partial``, progress reported after each."""
        report(progress, 0, total, "warp: training")
        for epoch in range(1, total + 1):
            model.fit_partial(
                interactions,
                item_features=item_features,
                epochs=1,
                num_threads=int(self.workers),
            )
            report(progress, epoch, total, f"warp: epoch {epoch}/{total}")

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        groups = self._check_groups(dataset)

        interactions = dataset.incidence().astype(np.float32).tocoo()
        item_features = self._item_features(dataset, groups)
        model = self._light_fm(int(self.seed))
        self._train_epochs(model, interactions, item_features, int(self.epochs), progress)
        self._keep_state(model)
        available = dataset.occurrences() > 0
        return self._item_vectors(model, item_features), available

    @staticmethod
    def _item_vectors(model: Any, item_features: sp.csr_matrix | None) -> np.ndarray:
        """The tracks' vectors: the item factors, or with features LightFM's item
        representations (the feature factors weighted by the feature values)."""
        if item_features is None:
            return np.array(model.item_embeddings, dtype=np.float32)
        _, embeddings = model.get_item_representations(item_features)
        return np.asarray(embeddings, dtype=np.float32)

    # ------------------------------------------------------------- the state
    def _keep_state(self, model: Any) -> None:
        """Keep LightFM's state for :meth:`update`: every factor, bias and AdaGrad
        accumulator (``lightfm_state_``; the momentum arrays are unused by AdaGrad)."""
        self.lightfm_state_ = {k: np.array(getattr(model, k)) for k in LIGHTFM_STATE}

    def _extra_arrays(self) -> dict[str, np.ndarray]:
        """The update state, when the model has it (models saved before updates existed
        load without it, and cannot be updated)."""
        state = getattr(self, "lightfm_state_", None)
        return {} if state is None else {f"lightfm_{k}": v for k, v in state.items()}

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        names = {k: f"lightfm_{k}" for k in LIGHTFM_STATE}
        if not any(n in arrays for n in names.values()):
            return
        state = {k: arrays[n] for k, n in names.items()}  # KeyError: a missing array
        check_lightfm_state(state, int(self.dim), self.n_tracks_, bool(self.feature_groups))
        self.lightfm_state_ = state

    # --------------------------------------------------------------- updates
    update_constraints: ClassVar[dict[str, Constraint]] = {
        "epochs": Interval(int, 1, 10_000),
        "replay_share": Interval(float, 0.0, MAX_REPLAY_SHARE),
        "seed": SEED,
    }

    def update_defaults(self) -> dict[str, Any]:
        """The model's epochs, old sequences half of the interactions, its seed."""
        return {
            "epochs": int(self.epochs),
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
        """``fit_partial`` on ``new``'s sequences and a replay sample of ``history``'s,
        the item and sequence factors, biases and accumulators grown first."""
        groups = self._check_groups(new)
        state = getattr(self, "lightfm_state_", None)
        if state is None:
            raise saved_before_updates(self.name, "LightFM's state")
        self._check_sequences(state, history)
        seed = int(settings["seed"])
        share = float(settings["replay_share"])
        picked = replay_indices(history.n_sequences, new.n_sequences, share, seed)
        interactions = update_interactions(history, new, picked)
        model = self._light_fm(seed)
        grown = grow_lightfm_state(
            state, self.n_tracks_, new.n_tracks, interactions.shape[0], int(self.dim), seed
        )
        restore_lightfm(model, grown)
        item_features = self._item_features(new, groups)
        self._train_epochs(model, interactions, item_features, int(settings["epochs"]), progress)
        self._keep_state(model)
        available = (history.occurrences() + new.occurrences()) > 0
        return self._item_vectors(model, item_features), available

    def _check_sequences(self, state: dict[str, np.ndarray], history: Dataset) -> None:
        """The stored sequence factors must be those of ``history``'s sequences."""
        if state["user_embeddings"].shape[0] != history.n_sequences:
            raise ParameterError(
                "history",
                f"the {state['user_embeddings'].shape[0]} sequences the model was trained on",
                f"{history.n_sequences} sequences",
                fix="update the run with the data it was trained on (songspace update)",
            )

"""GraphSAGE and MUSIG: inductive track embeddings from the co-occurrence graph.

MUSIG §3.3-3.5 (SPEC §3). One encoder, K mean-aggregator layers

    h_v^k = sigma(W^k [h_v^{k-1} ; mean_{u in N(v)} h_u^{k-1}]),   z_v = h_v^K / ||h_v^K||

over uniformly sampled neighbourhoods (fan-outs 25, 10), with h^0 = the chosen feature
groups of the track (unknown cells 0 plus one known-indicator per group) and the
track's log-degree. Training pairs (i, j): j a neighbour of i drawn in proportion to
the edge weight (a one-step weighted random walk), and ``negatives`` tracks per
mini-batch drawn by degree^0.75, paired with every anchor of the batch. Three heads:

- playlist (eq. 6, L_playlist): logit = s * z_i.z_j + b, binary cross-entropy of
  "j is a neighbour of i" against the negatives (s > 0, so ranking by cosine is
  unaffected);
- genre (L_genre): logit = w_g . (z_i * z_j) + b_g, binary cross-entropy of "same
  primary genre", on pairs whose genres are both known;
- audio (L_audio): w_a . (z_i * z_j) + b_a regressed (root mean squared error) on the
  inner product of the two tracks' standardised, L2-normalised ``regression_target``
  vectors ("audio" or "acoustic"), on pairs where both are fully known.

L = c1 L_playlist + c2 L_genre + c3 L_audio; a term with weight 0 is not computed, so
its head receives no gradient. ``GraphSAGE`` is MUSIG with (1, 0, 0).

Early stopping watches the same loss on held-out edges (``validation_share`` of the
edges, removed from the training graph), drawn uniformly over those edges
(``validation_draw="edges"``; ``"anchors"`` draws them as training draws its pairs, which
measured no better: see :func:`validation_pairs`); the best epoch's weights are kept. Final
embeddings come from layer-wise inference over the whole graph with full
neighbourhood means (the expectation of the sampled mean), never per-node sampling.
:meth:`GraphSAGE.embed` runs the trained aggregators on a grown graph: new tracks and
their edges, no retraining.

Code layout: the torch networks (:class:`~songspace.models.graphsage_modules.SAGEEncoder`,
:class:`~songspace.models.graphsage_modules.MultiTaskHeads`, which computes eq. 6) live
in :mod:`songspace.models.graphsage_modules`; the pair samplers in
:mod:`songspace.graph.sampling`. Training is split into :meth:`GraphSAGE.prepare`
(graph, validation edges, inputs, targets; numpy only), :meth:`GraphSAGE.build_training`
(seeded network, optimiser, device tensors), :meth:`GraphSAGE.train_epoch`,
:meth:`GraphSAGE.validation_loss` and :class:`EarlyStopping`, so that another loop (e.g.
data-parallel) can reuse the parts.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._optional import optional_import
from songspace._util import atomic_directory, check_not_input, check_seed
from songspace.data.dataset import Dataset
from songspace.data.features import known_share_block
from songspace.errors import (
    NotFittedError,
    OutputIsInputError,
    ParameterError,
)
from songspace.graph.sampling import (
    DegreeNegativeSampler,
    WeightedNeighbourSampler,
    mean_adjacency,
    sample_blocks,
)
from songspace.graph.tables import cooccurrence_graph
from songspace.models.base import InductiveModel
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace, TupleParam
from songspace.params import (
    SEED,
    AnyOf,
    Boolean,
    Constraint,
    Device,
    Interval,
    Names,
    NoneValue,
    Options,
    Text,
    Tuple,
)
from songspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    import torch as torch_

    from songspace.models.graphsage_modules import MultiTaskHeads, SAGEEncoder, TaskTargets

logger = logging.getLogger(__name__)

#: The task-weight grid of MUSIG §4.2, runnable by name (``task_weights="0.7-0.1-0.2"``).
PAPER_TASK_WEIGHTS: dict[str, tuple[float, float, float]] = {
    "1-1-1": (1.0, 1.0, 1.0),
    "1-0-0": (1.0, 0.0, 0.0),
    "0.7-0.1-0.2": (0.7, 0.1, 0.2),
    "0.4-0.2-0.4": (0.4, 0.2, 0.4),
}
FEATURE_GROUPS = ("genre", "popularity", "audio", "acoustic")
REGRESSION_TARGETS = ("audio", "acoustic")
TASKS = ("playlist", "genre", "audio")
#: What a ``checkpoint_dir`` holds: the marker (model, epoch, loss) and the weights.
CHECKPOINT_MARKER, CHECKPOINT_WEIGHTS = "checkpoint.json", "encoder.npz"
CHECKPOINT_FORMAT = "songspace-checkpoint"


def _checkpoint_of(path: Path) -> str | None:
    """The model name of the checkpoint in ``path`` (``checkpoint.json``: ``model`` and
    ``epoch``, and ``format`` since issue 27); None when it holds none."""
    try:
        doc = json.loads((path / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str) or "epoch" not in doc:
        return None
    if doc.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        return None
    return doc["model"]


def check_checkpoint_dir(
    path: str | Path, model: str, inputs: Iterable[str | Path | None] = ()
) -> Path:
    """``path`` as a Path when a checkpoint of ``model`` may be written there; else a
    ParameterError on ``checkpoint_dir``.

    A checkpoint replaces its directory as a whole (:func:`atomic_directory`), so the
    directory must be new, empty, or hold only a previous checkpoint of the same model
    (``checkpoint.json`` naming it, and ``encoder.npz``). It must not be, contain or lie
    inside one of ``inputs`` (the command's dataset, config and output): the model does
    not know them, the command passes them (:meth:`GraphSAGE.check_write_paths`).
    """
    path = Path(path)
    try:
        check_not_input(path, inputs, inside=True)
    except OutputIsInputError as exc:
        raise ParameterError(
            "checkpoint_dir",
            "a directory outside the command's inputs and output",
            str(path),
            fix=f"it {exc.how} {exc.source} (an input or the output of this command), which "
            "the checkpoint would replace or write into; choose a checkpoint_dir outside it",
        ) from None
    if not path.exists():
        return path
    expected = (
        f"a new or empty directory, or one holding only a previous {model} checkpoint "
        f"({CHECKPOINT_MARKER}, {CHECKPOINT_WEIGHTS}), since a checkpoint replaces its directory"
    )
    fix = "choose a new checkpoint_dir"
    if not path.is_dir():
        raise ParameterError("checkpoint_dir", expected, f"{path} (found a file)", fix=fix)
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return path
    owner = _checkpoint_of(path)
    if owner == model and set(names) <= {CHECKPOINT_MARKER, CHECKPOINT_WEIGHTS}:
        return path
    if owner is not None and owner != model:
        found = f"{path} (a checkpoint of {owner})"
        raise ParameterError(
            "checkpoint_dir",
            expected,
            found,
            fix=f"{fix}: it holds a checkpoint of {owner}, not {model}",
        )
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise ParameterError("checkpoint_dir", expected, f"{path} (holding {shown})", fix=fix)


def _torch():
    return optional_import("torch", "GraphSAGE and MUSIG")


def _modules():
    """:mod:`songspace.models.graphsage_modules` (imports torch, hence lazily)."""
    _torch()
    from songspace.models import graphsage_modules

    return graphsage_modules


# ----------------------------------------------------------------------------- inputs
def node_features(dataset: Dataset, groups: Sequence[str], degree: np.ndarray | None) -> np.ndarray:
    """h^0: per group its values (unknown cells 0) and the share of known columns,
    then, unless ``degree`` is None, ``log1p(degree) / log1p(1000)`` (graph
    structure, available inductively; left out of the features-only encoder)."""
    blocks = [np.zeros((dataset.n_tracks, 0), dtype=np.float32)]
    blocks += [known_share_block(dataset.features[g]) for g in groups]
    if degree is not None:
        blocks.append((np.log1p(degree) / np.log1p(1000.0)).astype(np.float32)[:, None])
    return np.hstack(blocks).astype(np.float32)


def genre_codes(dataset: Dataset) -> np.ndarray:
    """Primary genre of every track as an integer code, -1 where unknown."""
    genre = dataset.tracks["genre"].to_numpy(dtype=object)
    known = np.array([g is not None and g == g for g in genre], dtype=bool)
    codes = np.full(len(genre), -1, dtype=np.int64)
    if known.any():
        codes[known] = np.unique(genre[known].astype(str), return_inverse=True)[1]
    return codes


def similarity_vectors(dataset: Dataset, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Standardised, L2-normalised vectors of ``group`` and the fully-known mask.

    Standardising (per column, over known tracks) centres the [0, 1] values, so the
    inner product of two vectors spans [-1, 1] instead of crowding near 1.
    """
    fg = dataset.features[group]
    known = fg.known.all(axis=1)
    v = np.zeros(fg.values.shape, dtype=np.float32)
    if known.any():
        x = fg.values[known].astype(np.float64)
        std = x.std(axis=0)
        x = (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        v[known] = (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)
    return v, np.asarray(known, dtype=bool)


#: How early stopping's held-out pairs are drawn (the ``validation_draw`` parameter).
VALIDATION_DRAWS = ("anchors", "edges")
#: Held-out pairs scored after every epoch.
VALIDATION_PAIRS = 4096


def validation_pairs(
    adj: sp.csr_matrix,
    held: np.ndarray,
    rng: np.random.Generator,
    *,
    how: str = "edges",
    n: int = VALIDATION_PAIRS,
) -> np.ndarray:
    """Up to ``n`` held-out (anchor, positive) pairs for early stopping.

    ``how="edges"`` (the default) takes held-out edges uniformly, so a track appears in
    proportion to its held-out degree: on the 5% MPD-shaped preset the anchors' mean degree
    was 2,187 against training's 190, and the loss on such pairs rose from epoch 3 while
    the loss on pairs drawn as in training kept falling. ``how="anchors"`` draws them as
    training draws its pairs: distinct anchors uniformly over the tracks with a held-out
    edge, then one positive per anchor in proportion to the edge weight (``adj``'s weights)
    among its held-out edges. Measured (docs/results.md, "Early stopping on pairs drawn as
    training draws them"): "anchors" keeps later epochs, and those rank no better; on the
    preset, next-song HitRate fell from 0.060 to 0.048 (significant), completion unchanged.
    The evaluation's targets are drawn in proportion to popularity, as held-out edges are,
    so the edge-uniform loss is the better stopping signal here.
    """
    if len(held) == 0 or how == "edges":
        return held if len(held) <= n else held[rng.choice(len(held), size=n, replace=False)]
    u, v = held[:, 0], held[:, 1]
    w = np.asarray(adj[u, v], dtype=np.float64).ravel()
    both = sp.coo_matrix(
        (np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))),
        shape=adj.shape,
    ).tocsr()
    both.sort_indices()
    nodes = np.flatnonzero(np.diff(both.indptr) > 0)
    anchors = rng.choice(nodes, size=min(n, len(nodes)), replace=False)
    positives = WeightedNeighbourSampler(both.indptr, both.indices, both.data).sample(anchors, rng)
    return np.stack([anchors, positives], axis=1).astype(np.int64)


def _split_edges(
    adj: sp.csr_matrix, share: float, rng: np.random.Generator
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Remove ``share`` of the undirected edges; return (training graph, held-out (u, v))."""
    upper = sp.triu(adj, k=1).tocoo()
    n_val = round(share * upper.nnz)
    if n_val == 0:
        return adj, np.zeros((0, 2), dtype=np.int64)
    pick = np.zeros(upper.nnz, dtype=bool)
    pick[rng.choice(upper.nnz, size=n_val, replace=False)] = True
    held = np.stack([upper.row[pick], upper.col[pick]], axis=1).astype(np.int64)
    keep = sp.coo_matrix((upper.data[~pick], (upper.row[~pick], upper.col[~pick])), shape=adj.shape)
    train = (keep + keep.T).tocsr()
    train.sort_indices()
    return train, held


# ------------------------------------------------------------------- training parts
@dataclass
class TrainingData:
    """Everything a training loop needs from the dataset (:meth:`GraphSAGE.prepare`).

    ``full_adj``: the co-occurrence graph (inference); ``indptr``/``indices``: the
    training graph (validation edges removed); ``held``: held-out edges (u, v);
    ``anchors``: tracks with a training edge; ``x``: h^0 for every track;
    ``targets``: the auxiliary tasks' per-track targets (numpy, moved to the device
    by :meth:`GraphSAGE.build_training`).
    """

    full_adj: sp.csr_matrix
    indptr: np.ndarray
    indices: np.ndarray
    held: np.ndarray
    anchors: np.ndarray
    x: np.ndarray
    genres: np.ndarray
    similarity: np.ndarray
    similarity_known: np.ndarray
    positives: WeightedNeighbourSampler
    negatives: DegreeNegativeSampler
    n_edges: int


@dataclass
class TrainingState:
    """The network, optimiser and device tensors of one training run."""

    encoder: SAGEEncoder
    heads: MultiTaskHeads
    optimizer: Any
    x: torch_.Tensor
    targets: TaskTargets
    device: Any


class EarlyStopping:
    """Keeps the best weights; says when ``patience`` epochs passed without improvement
    (0 disables stopping). An improvement is a metric lower than the best by 1e-6."""

    def __init__(self, patience: int):
        self.patience = int(patience)
        self.best = math.inf
        self.best_state: dict[str, Any] | None = None
        self.best_epoch: int | None = None
        self.stale = 0

    def update(self, metric: float, epoch: int, module: Any) -> bool:
        """Record an epoch's metric; True when it improved (the weights are kept)."""
        if metric < self.best - 1e-6:
            self.best, self.stale, self.best_epoch = metric, 0, epoch
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience > 0 and self.stale >= self.patience


# ------------------------------------------------------------------------------ model
#: Rows per block of layer-wise inference (bounds its memory on millions of tracks).
INFER_BLOCK = 65_536


@register
class GraphSAGE(InductiveModel):
    """Unsupervised GraphSAGE with mean aggregators (MUSIG §3.4; Hamilton et al. 2017).

    Parameters: ``dim`` (output size), ``hidden`` (inner layer size), ``num_layers``
    (K), ``fanouts`` (neighbours sampled per layer, first for the targets),
    ``feature_groups`` (input feature groups; formerly ``features``, still accepted
    with a DeprecationWarning), ``min_weight`` (graph edge threshold),
    ``aggregate`` (False: a features-only encoder, same training, no neighbours),
    ``epochs``, ``batch_size`` (anchors per batch), ``steps_per_epoch`` (None: an
    epoch is one pass over all anchors; a number: an epoch is that many batches of
    anchors drawn afresh without replacement, so on a large graph an epoch is a
    sample), ``learning_rate`` (Adam), ``negatives`` (shared per batch), ``patience``
    (epochs without validation improvement before stopping; 0 disables),
    ``validation_share`` (held-out edges), ``supervision_share`` (share of the training
    edges kept out of the sampled neighbourhoods and used only as positive pairs; 0: every
    training edge is both, as in the papers; see :meth:`GraphSAGE.prepare`),
    ``validation_draw`` (how early stopping's held-out pairs are drawn: "edges", uniformly
    over the held-out edges, which favours hub anchors, or "anchors", as training draws its
    pairs; see :func:`validation_pairs`),
    ``checkpoint_dir`` (write the best weights there after every improvement; a new or
    empty directory or a previous checkpoint of this model, outside the command's inputs
    and output, see :func:`check_checkpoint_dir`),
    ``device`` (``cpu``, ``cuda``, ``cuda:N`` or ``mps``: where torch trains), ``seed``.
    """

    name = "graphsage"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval(int, 2, 4096),
        "hidden": Interval(int, 2, 8192),
        "num_layers": Interval(int, 1, 4),
        "fanouts": Tuple(Interval(int, 1, None)),
        "feature_groups": Names(FEATURE_GROUPS, what="feature-group names"),
        "min_weight": Interval(int, 1, None),
        "aggregate": Boolean(),
        "epochs": Interval(int, 1, 10_000),
        "batch_size": Interval(int, 1, 1_000_000),
        "steps_per_epoch": AnyOf(NoneValue(), Interval(int, 1, None)),
        "learning_rate": Interval(float, 1e-6, 1.0),
        "negatives": Interval(int, 1, 100_000),
        "patience": Interval(int, 0, 10_000),
        "validation_share": Interval(float, 0.0, 0.5),
        "supervision_share": Interval(float, 0.0, 0.9),
        "validation_draw": Options(VALIDATION_DRAWS),
        "checkpoint_dir": AnyOf(NoneValue(), Text("a directory path", path=True)),
        "device": Device(),
        "seed": SEED,
    }
    renamed_params: ClassVar[dict[str, str]] = {"features": "feature_groups"}
    #: Searched by `songspace tune` (SPEC §5): layer and sample sizes, learning rate.
    search_space: ClassVar[SearchSpace] = {
        "dim": IntParam(16, 256, log=True),
        "hidden": IntParam(32, 512, log=True),
        "fanouts": TupleParam((IntParam(5, 50), IntParam(2, 25))),
        "learning_rate": FloatParam(1e-4, 0.05, log=True),
        "negatives": IntParam(5, 100, log=True),
        "epochs": IntParam(2, 30, log=True),
    }
    search_notes: ClassVar[dict[str, str]] = {
        "epochs": "a cost knob (upper bound: early stopping); set by the budget in "
        "equal-time tuning",
    }
    budget_param: ClassVar[str | None] = "epochs"

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Work per epoch: sampled neighbourhood size fanouts[0] x (1 + fanouts[1]) x
        (hidden + dim) (the mean aggregators' matrix products) plus negatives x dim."""
        p = {**cls.default_params(), **params}
        f = [int(x) for x in p["fanouts"]] + [0, 0]
        return float(
            f[0] * (1 + f[1]) * (int(p["hidden"]) + int(p["dim"]))
            + int(p["negatives"]) * int(p["dim"])
        )

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        num_layers: int = 2,
        fanouts: Sequence[int] = (25, 10),
        feature_groups: Sequence[str] = ("genre", "popularity", "audio"),
        min_weight: int = 2,
        aggregate: bool = True,
        epochs: int = 10,
        batch_size: int = 512,
        steps_per_epoch: int | None = None,
        learning_rate: float = 0.005,
        negatives: int = 20,
        patience: int = 2,
        validation_share: float = 0.02,
        supervision_share: float = 0.0,
        validation_draw: str = "edges",
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        seed: int = 0,
        **deprecated: Any,
    ):
        if deprecated:
            renamed = self._renamed(deprecated)
            unknown = sorted(set(renamed) - {"feature_groups"})
            if unknown:
                raise TypeError(
                    f"{type(self).__name__}() got unexpected keyword arguments {unknown}"
                )
            feature_groups = renamed["feature_groups"]
        self.dim = dim
        self.hidden = hidden
        self.num_layers = num_layers
        self.fanouts = fanouts
        self.feature_groups = feature_groups
        self.min_weight = min_weight
        self.aggregate = aggregate
        self.epochs = epochs
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.learning_rate = learning_rate
        self.negatives = negatives
        self.patience = patience
        self.validation_share = validation_share
        self.supervision_share = supervision_share
        self.validation_draw = validation_draw
        self.checkpoint_dir = checkpoint_dir
        self.device = device
        self.seed = seed

    @property
    def features(self) -> Sequence[str]:
        """Deprecated name of ``feature_groups``."""
        import warnings

        warnings.warn(
            "`features` is deprecated, use `feature_groups`", DeprecationWarning, stacklevel=2
        )
        return self.feature_groups

    # ---------------------------------------------------------------- parameters
    def task_weights_(self) -> tuple[float, float, float]:
        """(c1, c2, c3) of MUSIG eq. 6; GraphSAGE is single-task (1, 0, 0)."""
        return (1.0, 0.0, 0.0)

    def _regression_group(self) -> str:
        return "audio"

    def _fanouts(self) -> tuple[int, ...]:
        return tuple(int(x) for x in self.fanouts)

    def _check_param_rules(self) -> None:
        """One fan-out per layer; the device exists (needs torch)."""
        if len(self.fanouts) != self.num_layers:
            raise ParameterError(
                "fanouts",
                f"one fan-out per layer (num_layers={self.num_layers})",
                self.fanouts,
                fix="give one sample size per layer, e.g. fanouts=25,10 for num_layers=2",
            )
        torch = _torch()
        dev = torch.device(self.device)  # the Device constraint admits only valid names
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        mps = getattr(torch.backends, "mps", None)
        if dev.type == "cuda" and (dev.index or 0) >= count:
            raise ParameterError(
                "device",
                f"a CUDA device present on this machine ({count} found)",
                self.device,
                fix="use device=cpu, or device=cuda:N with N < the number of GPUs",
            )
        if dev.type == "mps" and not (mps is not None and mps.is_available()):
            raise ParameterError(
                "device", "an available device (no MPS here)", self.device, fix="use device=cpu"
            )

    def required_feature_groups(self) -> tuple[str, ...]:
        """The input groups, and the regression target when the audio task is on."""
        need = list(self.feature_groups)
        if self.task_weights_()[2] > 0:
            need.append(self._regression_group())
        return tuple(dict.fromkeys(need))

    def _check_dataset(self, dataset: Dataset) -> None:
        missing = sorted({g for g in self.required_feature_groups() if g not in dataset.features})
        if missing:
            raise ParameterError(
                "feature_groups",
                f"feature groups the dataset has ({sorted(dataset.features)})",
                missing,
                fix="drop them from `feature_groups` (or choose another regression_target)",
            )

    # ------------------------------------------------------------------ training
    def prepare(self, dataset: Dataset, rng: np.random.Generator) -> TrainingData:
        """The graph, the validation split (drawn from ``rng``), inputs, targets and
        pair samplers; no torch involved.

        With ``supervision_share`` > 0, that share of the training edges (drawn from
        ``rng`` after the validation edges) is removed from the graph the neighbourhoods
        are sampled from and is the only source of positive pairs, so a positive is never
        in its anchor's sampled neighbourhood (PyG's ``RandomLinkSplit`` with
        ``disjoint_train_ratio``; DGL's edge-prediction samplers exclude such edges).
        Otherwise a positive is drawn from the same edges the neighbourhoods use, as in
        MUSIG §3.4, and the encoder can score a pair by finding one track among the
        other's sampled neighbours, which held-out edges do not allow. Negatives follow
        the training graph's degrees either way; inference uses the whole graph.
        """
        self._check_dataset(dataset)
        graph = cooccurrence_graph(dataset, min_weight=int(self.min_weight))
        full_adj = graph.adjacency
        train_adj, held = _split_edges(full_adj, float(self.validation_share), rng)
        deg = np.diff(train_adj.indptr)
        if float(self.supervision_share) > 0:
            mp_adj, _ = _split_edges(train_adj, float(self.supervision_share), rng)
            sup_adj = (train_adj - mp_adj).tocsr()
            sup_adj.eliminate_zeros()
            sup_adj.sort_indices()
            del train_adj
        else:
            mp_adj = sup_adj = train_adj
        indptr, indices = mp_adj.indptr.astype(np.int64), mp_adj.indices.astype(np.int64)
        anchors = np.flatnonzero(np.diff(sup_adj.indptr) > 0)
        if len(anchors) == 0:
            raise ParameterError(
                "min_weight",
                "a graph with at least one edge",
                f"min_weight={self.min_weight} leaves no edge",
                fix="lower min_weight",
            )
        x = self._inputs(dataset, full_adj)
        if x.shape[1] == 0:
            raise ParameterError(
                "feature_groups",
                "at least one feature group when aggregate is false",
                self.feature_groups,
            )
        if self.task_weights_()[2] > 0:
            sim_v, sim_known = similarity_vectors(dataset, self._regression_group())
        else:
            sim_v = np.zeros((dataset.n_tracks, 1), np.float32)
            sim_known = np.zeros(dataset.n_tracks, bool)
        return TrainingData(
            full_adj=full_adj,
            indptr=indptr,
            indices=indices,
            held=held,
            anchors=anchors,
            x=x,
            genres=genre_codes(dataset),
            similarity=sim_v,
            similarity_known=sim_known,
            positives=WeightedNeighbourSampler(
                sup_adj.indptr, sup_adj.indices, sup_adj.data.astype(np.float64)
            ),
            negatives=DegreeNegativeSampler(deg),
            n_edges=graph.n_edges,
        )

    def build_training(self, data: TrainingData) -> TrainingState:
        """A fresh network (seeded by ``seed``, torch's global RNG left untouched), the
        Adam optimiser and the device tensors."""
        torch = _torch()
        modules = _modules()
        dev = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            enc, heads = modules.build_network(
                data.x.shape[1],
                int(self.hidden),
                int(self.dim),
                int(self.num_layers),
                bool(self.aggregate),
            )
        enc.to(dev)
        heads.to(dev)
        opt = torch.optim.Adam(
            [*enc.parameters(), *heads.parameters()], lr=float(self.learning_rate)
        )
        targets = modules.TaskTargets(
            genres=torch.from_numpy(data.genres).to(dev),
            similarity=torch.from_numpy(data.similarity).to(dev),
            similarity_known=torch.from_numpy(data.similarity_known).to(dev),
        )
        return TrainingState(enc, heads, opt, torch.from_numpy(data.x).to(dev), targets, dev)

    def batch_loss(
        self,
        state: TrainingState,
        data: TrainingData,
        anchors: np.ndarray,
        positives: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[Any, dict[str, float]]:
        """Loss of one batch: negatives drawn, K-hop blocks sampled, encoded, scored."""
        torch = _torch()
        fanouts = self._fanouts()
        negatives = data.negatives.sample(int(self.negatives), rng)
        nodes = np.concatenate([anchors, positives, negatives])
        blocks = (
            sample_blocks(data.indptr, data.indices, nodes, fanouts, rng)
            if self.aggregate
            else [nodes]
        )
        xs = [state.x[torch.from_numpy(b).to(state.device)] for b in blocks]
        z = state.encoder(xs, fanouts)
        b = len(anchors)
        return state.heads(
            z[:b],
            z[b : 2 * b],
            z[2 * b :],
            anchors=anchors,
            positives=positives,
            negatives=negatives,
            targets=state.targets,
            weights=self.task_weights_(),
        )

    def train_epoch(
        self,
        state: TrainingState,
        data: TrainingData,
        epoch: int,
        rng: np.random.Generator,
        *,
        progress: ProgressCallback | None = None,
        step: int = 0,
        total_steps: int = 0,
    ) -> dict[str, float]:
        """One pass over the anchors in a random order (or ``steps_per_epoch`` batches of
        it); the mean loss per task."""
        order = data.anchors[rng.permutation(len(data.anchors))]
        means, _ = self.run_batches(
            state,
            data,
            order,
            self.batches_per_epoch(len(order)),
            int(self.batch_size),
            rng,
            progress=progress,
            step=step,
            total_steps=total_steps,
            describe=lambda _step, shown: f"epoch {epoch}/{self.epochs} {shown}",
        )
        return means

    def run_batches(
        self,
        state: TrainingState,
        data: TrainingData,
        order: np.ndarray,
        n_batches: int,
        batch_size: int,
        rng: np.random.Generator,
        *,
        progress: ProgressCallback | None = None,
        step: int = 0,
        total_steps: int = 0,
        describe: Callable[[int, str], str] | None = None,
    ) -> tuple[dict[str, float], int]:
        """``n_batches`` optimiser steps over consecutive ``batch_size`` slices of the anchor
        ``order``: the mean loss per task and the step count after them. One loop for the
        single-process fit and each rank of the data-parallel one (``state`` may hold
        DDP-wrapped modules)."""
        weights = self.task_weights_()
        sums = dict.fromkeys(TASKS, 0.0)
        for bi in range(n_batches):
            a = order[bi * batch_size : (bi + 1) * batch_size]
            loss, parts = self.batch_loss(state, data, a, data.positives.sample(a, rng), rng)
            state.optimizer.zero_grad()
            loss.backward()
            state.optimizer.step()
            for t, v in parts.items():
                sums[t] += v
            step += 1
            if progress is not None and (bi % 10 == 0 or bi == n_batches - 1):
                shown = " ".join(
                    f"{t} {sums[t] / (bi + 1):.4f}"
                    for t, c in zip(TASKS, weights, strict=True)
                    if c > 0
                )
                text = describe(step, shown) if describe is not None else shown
                report(progress, step, total_steps, text)
        return {t: sums[t] / max(n_batches, 1) for t in TASKS}, step

    def end_epoch(
        self, stopper: EarlyStopping, state: TrainingState, epoch: int, metric: float
    ) -> bool:
        """Early stopping's bookkeeping after ``epoch`` (best epoch, checkpoint); True when
        training should stop. Shared by the single-process and data-parallel fits."""
        if stopper.update(metric, epoch, state.encoder):
            self.best_epoch_ = epoch
            if self.checkpoint_dir is not None:
                self._write_checkpoint(state.encoder, epoch, metric)
        elif stopper.should_stop:
            logger.info(
                "%s: early stop after epoch %d (best %d)", self.name, epoch, self.best_epoch_
            )
            return True
        return False

    def batches_per_epoch(self, n_anchors: int) -> int:
        """Batches in one epoch: all anchors, or at most ``steps_per_epoch`` batches."""
        n = math.ceil(n_anchors / int(self.batch_size))
        return n if self.steps_per_epoch is None else min(n, int(self.steps_per_epoch))

    def validation_loss(
        self, state: TrainingState, data: TrainingData, held: np.ndarray, seed: int
    ) -> float | None:
        """The training loss on held-out edges (same negatives for every epoch)."""
        if len(held) == 0:
            return None
        torch = _torch()
        r = np.random.default_rng(seed)
        total, count = 0.0, 0
        state.encoder.eval()
        with torch.no_grad():
            for s in range(0, len(held), int(self.batch_size)):
                chunk = held[s : s + int(self.batch_size)]
                loss, _ = self.batch_loss(state, data, chunk[:, 0], chunk[:, 1], r)
                total += float(loss) * len(chunk)
                count += len(chunk)
        state.encoder.train()
        return total / count

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        weights = self.task_weights_()
        rng = check_seed(self.seed)
        data = self.prepare(dataset, rng)
        self.columns_ = {g: list(dataset.features[g].columns) for g in self.feature_groups}
        self.in_dim_ = data.x.shape[1]
        logger.info(
            "%s: graph of %d tracks, %d edges (min_weight %d); %d input features; task weights %s",
            self.name,
            len(data.anchors),
            data.n_edges,
            self.min_weight,
            self.in_dim_,
            weights,
        )
        state = self.build_training(data)
        val_seed = int(rng.integers(2**32))
        held = validation_pairs(data.full_adj, data.held, rng, how=str(self.validation_draw))

        n_batches = self.batches_per_epoch(len(data.anchors))
        total_steps = int(self.epochs) * n_batches
        stopper = EarlyStopping(int(self.patience))
        self.history_: list[dict[str, Any]] = []
        for epoch in range(1, int(self.epochs) + 1):
            means = self.train_epoch(
                state,
                data,
                epoch,
                rng,
                progress=progress,
                step=(epoch - 1) * n_batches,
                total_steps=total_steps,
            )
            val = self.validation_loss(state, data, held, val_seed)
            self.history_.append({"epoch": epoch, **means, "val": val})
            logger.info(
                "%s epoch %d: %s%s",
                self.name,
                epoch,
                " ".join(f"{t}={means[t]:.4f}" for t, c in zip(TASKS, weights, strict=True) if c),
                "" if val is None else f" validation={val:.4f}",
            )
            metric = (
                val
                if val is not None
                else sum(c * means[t] for t, c in zip(TASKS, weights, strict=True))
            )
            if self.end_epoch(stopper, state, epoch, metric):
                break
        if stopper.best_state is not None:
            state.encoder.load_state_dict(stopper.best_state)
        self.encoder_ = state.encoder.to("cpu").eval()
        self.heads_ = state.heads.to("cpu")  # for inspection only; embedding needs the encoder
        # free the training graph, samplers and optimiser before full-graph inference:
        # at 2M tracks they are several GB that inference does not need
        x, full_adj = data.x, data.full_adj
        del data, state, stopper
        a_mean = mean_adjacency(full_adj.indptr, full_adj.indices, dataset.n_tracks)
        available = (np.diff(full_adj.indptr) > 0) | self._has_features(dataset)
        del full_adj
        emb = self._infer(x, a_mean)
        return emb, available

    def check_write_paths(self, inputs: Iterable[str | Path | None] = ()) -> None:
        """``checkpoint_dir`` may be written (:func:`check_checkpoint_dir`)."""
        if self.checkpoint_dir is not None:
            check_checkpoint_dir(self.checkpoint_dir, self.name, inputs)

    def _write_checkpoint(self, enc, epoch: int, metric: float) -> None:
        state = {k: v.detach().cpu().numpy() for k, v in enc.state_dict().items()}
        assert self.checkpoint_dir is not None
        path = check_checkpoint_dir(self.checkpoint_dir, self.name)  # still ours to replace
        doc = {"format": CHECKPOINT_FORMAT, "model": self.name, "epoch": epoch}
        with atomic_directory(path, overwrite=True) as tmp:
            np.savez(tmp / CHECKPOINT_WEIGHTS, **state)
            (tmp / CHECKPOINT_MARKER).write_text(
                json.dumps({**doc, "validation_loss": metric}) + "\n"
            )

    def _inputs(self, dataset: Dataset, adj: sp.csr_matrix) -> np.ndarray:
        degree = np.diff(adj.indptr) if self.aggregate else None
        return node_features(dataset, list(self.feature_groups), degree)

    def _has_features(self, dataset: Dataset) -> np.ndarray:
        out = np.zeros(dataset.n_tracks, dtype=bool)
        for g in self.feature_groups:
            out |= dataset.features[g].known.any(axis=1)
        return out

    # ----------------------------------------------------------------- inference
    def _infer(self, x: np.ndarray, a_mean: sp.csr_matrix, targets: np.ndarray | None = None):
        """Layer-wise inference with full neighbourhood means, for all rows of ``x`` or
        only ``targets`` (then over their K-hop receptive field only)."""
        torch = _torch()
        enc = self.encoder_
        k_layers = len(enc.layers)
        if targets is None:
            sets = [np.arange(x.shape[0])] * (k_layers + 1)
        else:
            sets = [np.unique(np.asarray(targets, dtype=np.int64))]
            for _ in range(k_layers):
                last = sets[-1]
                sets.append(np.union1d(last, a_mean[last].indices))
        # sets[d] = nodes needed at depth d; layer k maps depth (K-k+1) -> depth (K-k)
        h = torch.from_numpy(np.ascontiguousarray(x[sets[k_layers]]))
        with torch.no_grad():
            for k in range(k_layers):
                rows, cols = sets[k_layers - k - 1], sets[k_layers - k]
                sub = a_mean[rows][:, cols] if targets is not None else a_mean
                pos = np.searchsorted(cols, rows) if targets is not None else None
                # rows in blocks, so the layer's intermediates (the concatenated self and
                # neighbour inputs, the hidden activations) stay at INFER_BLOCK rows
                parts = []
                for lo in range(0, len(rows), INFER_BLOCK):
                    hi = min(lo + INFER_BLOCK, len(rows))
                    neigh = None
                    if self.aggregate:
                        neigh = torch.from_numpy(
                            np.asarray(sub[lo:hi] @ h.numpy(), dtype=np.float32)
                        )
                    self_rows = h[lo:hi] if pos is None else h[torch.from_numpy(pos[lo:hi])]
                    parts.append(enc.layer(k, self_rows, neigh))
                h = torch.cat(parts) if parts else h[:0]
            z = torch.nn.functional.normalize(h, dim=1).numpy()
        if targets is None:
            return z
        return z[np.searchsorted(sets[0], np.asarray(targets, dtype=np.int64))]

    def _embedding_inputs(self, dataset: Dataset):
        """(aligned dataset, adjacency, h^0, mean adjacency) of ``dataset`` for inference."""
        self.check_fitted()
        if not hasattr(self, "encoder_"):
            raise NotFittedError(
                f"{type(self).__name__} with its encoder (this one holds embeddings only)",
                fix="load a model saved by this songspace version",
            )
        dataset = self.align(dataset)
        graph = cooccurrence_graph(dataset, min_weight=int(self.min_weight))
        adj = graph.adjacency
        x = self._inputs(dataset, adj)
        if x.shape[1] != self.in_dim_:
            raise ParameterError(
                "dataset",
                f"{self.in_dim_} input features, as in training",
                x.shape[1],
                fix="prepare the dataset with the same metadata options as the training one",
            )
        return dataset, adj, x, mean_adjacency(adj.indptr, adj.indices, dataset.n_tracks)

    def align(self, dataset: Dataset) -> Dataset:
        """``dataset`` with its input feature groups in the training columns, matched by
        name (:func:`songspace.data.align.align_features`); a warning says what does
        not match."""
        from songspace.data.align import align_features

        aligned, report = align_features(dataset, self.columns_)
        for a in report:
            if not a.exact:
                logger.warning("%s: %s", self.name, a.describe())
        return aligned

    def embed(self, dataset: Dataset, tracks: Sequence[int] | np.ndarray | None = None):
        """Embeddings of ``tracks`` (indices into ``dataset``; default all) computed on
        ``dataset``'s co-occurrence graph with the trained aggregators, no retraining.

        ``dataset`` may hold tracks and sequences never seen in training (the graph
        has grown), or be another dataset prepared from the same kind of source: its
        feature groups are matched to the training columns by name (:meth:`align`).
        """
        dataset, _, x, a_mean = self._embedding_inputs(dataset)
        if tracks is None:
            return self._infer(x, a_mean)
        t = np.asarray(tracks, dtype=np.int64)
        if len(t) and (t.min() < 0 or t.max() >= dataset.n_tracks):
            raise ParameterError(
                "tracks", f"indices in [0, {dataset.n_tracks})", f"[{t.min()}, {t.max()}]"
            )
        return self._infer(x, a_mean, t)

    def embed_all(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """(embeddings, available) of every track of ``dataset``: available where the
        track has an edge at ``min_weight`` or a known input feature, as in ``fit``."""
        dataset, adj, x, a_mean = self._embedding_inputs(dataset)
        available = (np.diff(adj.indptr) > 0) | self._has_features(dataset)
        emb = self._infer(x, a_mean)
        emb[~available] = 0.0
        return emb, available

    # -------------------------------------------------------------------- saving
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "encoder_"):
            return {}
        out = {f"encoder.{k}": v.numpy() for k, v in self.encoder_.state_dict().items()}
        out["meta"] = np.array(
            json.dumps(
                {
                    "in_dim": self.in_dim_,
                    "columns": self.columns_,
                    "history": self.history_,
                }
            )
        )
        return out

    def _restore_extra(self, arrays: dict[str, np.ndarray]) -> None:
        if "meta" not in arrays:
            raise KeyError("the encoder's arrays are missing: expected 'meta' and 'encoder.*'")
        torch = _torch()
        meta = json.loads(str(arrays["meta"]))
        self.in_dim_ = int(meta["in_dim"])
        self.columns_ = meta["columns"]
        self.history_ = meta["history"]
        enc = _modules().SAGEEncoder(
            self.in_dim_,
            int(self.hidden),
            int(self.dim),
            int(self.num_layers),
            bool(self.aggregate),
        )
        state = {
            k[len("encoder.") :]: torch.from_numpy(v)
            for k, v in arrays.items()
            if k.startswith("encoder.")
        }
        enc.load_state_dict(state)
        self.encoder_ = enc.eval()


@register
class MUSIG(GraphSAGE):
    """Multi-task GraphSAGE (MUSIG §3.5): L = c1 L_playlist + c2 L_genre + c3 L_audio.

    ``task_weights``: (c1, c2, c3), or the name of one of the paper's triples
    (:data:`PAPER_TASK_WEIGHTS`: "1-1-1", "1-0-0", "0.7-0.1-0.2", "0.4-0.2-0.4").
    ``regression_target``: the group whose similarity the audio head regresses,
    "audio" or "acoustic" (MUSIG Table 3 crosses it with ``features``).
    """

    name = "musig"
    #: GraphSAGE's space plus the task weights (c1, c2, c3) of MUSIG eq. 6.
    search_space: ClassVar[SearchSpace] = {
        **GraphSAGE.search_space,
        "task_weights": TupleParam((FloatParam(0.0, 1.0),) * 3),
    }

    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **GraphSAGE.parameter_constraints,
        "task_weights": AnyOf(
            Tuple(Interval(float, 0.0, None), length=3), Options(PAPER_TASK_WEIGHTS)
        ),
        "regression_target": Options(REGRESSION_TARGETS),
    }

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        num_layers: int = 2,
        fanouts: Sequence[int] = (25, 10),
        feature_groups: Sequence[str] = ("genre", "popularity", "audio"),
        min_weight: int = 2,
        aggregate: bool = True,
        epochs: int = 10,
        batch_size: int = 512,
        steps_per_epoch: int | None = None,
        learning_rate: float = 0.005,
        negatives: int = 20,
        patience: int = 2,
        validation_share: float = 0.02,
        supervision_share: float = 0.0,
        validation_draw: str = "edges",
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        seed: int = 0,
        *,
        task_weights: Sequence[float] | str = (1.0, 1.0, 1.0),
        regression_target: str = "audio",
        **deprecated: Any,
    ):
        # GraphSAGE's parameters with the same defaults (a test checks that the two
        # signatures agree), then MUSIG's own two.
        super().__init__(
            dim=dim,
            hidden=hidden,
            num_layers=num_layers,
            fanouts=fanouts,
            feature_groups=feature_groups,
            min_weight=min_weight,
            aggregate=aggregate,
            epochs=epochs,
            batch_size=batch_size,
            steps_per_epoch=steps_per_epoch,
            learning_rate=learning_rate,
            negatives=negatives,
            patience=patience,
            validation_share=validation_share,
            supervision_share=supervision_share,
            validation_draw=validation_draw,
            checkpoint_dir=checkpoint_dir,
            device=device,
            seed=seed,
            **deprecated,
        )
        self.task_weights = task_weights
        self.regression_target = regression_target

    def task_weights_(self) -> tuple[float, float, float]:
        tw = self.task_weights
        if isinstance(tw, list | tuple) and len(tw) == 1 and isinstance(tw[0], str):
            tw = tw[0]
        if isinstance(tw, str):
            if tw not in PAPER_TASK_WEIGHTS:
                raise ParameterError(
                    "task_weights",
                    f"three numbers or one of the paper's triples {list(PAPER_TASK_WEIGHTS)}",
                    tw,
                )
            return PAPER_TASK_WEIGHTS[tw]
        try:
            c = tuple(float(v) for v in tw)
        except (TypeError, ValueError):
            raise ParameterError("task_weights", "three numbers (c1, c2, c3)", tw) from None
        if len(c) != 3 or not all(math.isfinite(v) and v >= 0 for v in c) or sum(c) == 0:
            raise ParameterError(
                "task_weights",
                "three finite numbers >= 0, not all 0",
                tw,
                fix="e.g. task_weights=0.7,0.1,0.2 or task_weights=1-1-1",
            )
        return c[0], c[1], c[2]

    def _regression_group(self) -> str:
        return self.regression_target

    def _check_param_rules(self) -> None:
        """GraphSAGE's rules, and task weights that are not all 0."""
        super()._check_param_rules()
        self.task_weights_()

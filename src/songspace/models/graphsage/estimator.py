"""The GraphSAGE and MUSIG estimators: parameters, the composition of a training run from
the data (:mod:`~songspace.models.graphsage.data`), the loader
(:mod:`~songspace.models.graphsage.loader`), the network
(:mod:`~songspace.models.graphsage.module`) and the loop
(:mod:`~songspace.models.graphsage.loop`), inference and saving. See
:mod:`songspace.models.graphsage` for the method."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import NotFittedError, ParameterError
from songspace.graph.sampling import mean_adjacency
from songspace.graph.tables import cooccurrence_graph
from songspace.models.base import InductiveModel
from songspace.models.graphsage.checkpoint import check_checkpoint_dir, write_checkpoint
from songspace.models.graphsage.data import (
    VALIDATION_DRAWS,
    TrainingData,
    model_inputs,
    training_data,
    validation_pairs,
)
from songspace.models.graphsage.loader import LinkNeighbourLoader, ShuffledAnchors
from songspace.models.graphsage.loop import (
    EarlyStopping,
    EpochLoop,
    Monitor,
    TrainingRun,
    TrainingState,
    _modules,
    _torch,
)
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
from songspace.progress import ProgressCallback

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


@register
class GraphSAGE(InductiveModel):
    """Unsupervised GraphSAGE with mean aggregators (MUSIG §3.4; Hamilton et al. 2017).

    Parameters: ``dim`` (output size), ``hidden`` (inner layer size), ``num_layers``
    (K), ``fanouts`` (neighbours sampled per layer, first for the targets),
    ``feature_groups`` (input feature groups; ``model.json`` files of older versions
    call it ``features``, and load), ``min_weight`` (graph edge threshold),
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
    stored_renames: ClassVar[dict[str, str]] = {"features": "feature_groups"}
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
    ):
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
        """The graph, the validation split (drawn from ``rng``), inputs, targets and pair
        samplers; no torch involved (:func:`~songspace.models.graphsage.data.training_data`).

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
        return training_data(
            dataset,
            rng,
            groups=self.feature_groups,
            aggregate=bool(self.aggregate),
            min_weight=int(self.min_weight),
            validation_share=float(self.validation_share),
            supervision_share=float(self.supervision_share),
            regression_group=self._regression_group() if self.task_weights_()[2] > 0 else None,
        )

    def build_training(
        self,
        data: TrainingData,
        *,
        network: tuple[Any, Any] | None = None,
        learning_rate: float | None = None,
    ) -> TrainingState:
        """A fresh network (seeded by ``seed``, torch's global RNG left untouched), or the
        given ``network`` (encoder, heads: a fine-tune), the Adam optimiser (at
        ``learning_rate``, default the parameter) and the device tensors."""
        torch = _torch()
        modules = _modules()
        dev = torch.device(self.device)
        if network is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.seed))
                network = modules.build_network(
                    data.x.shape[1],
                    int(self.hidden),
                    int(self.dim),
                    int(self.num_layers),
                    bool(self.aggregate),
                )
        enc, heads = network
        enc.to(dev)
        heads.to(dev)
        rate = float(self.learning_rate if learning_rate is None else learning_rate)
        opt = torch.optim.Adam([*enc.parameters(), *heads.parameters()], lr=rate)
        targets = modules.TaskTargets(
            genres=torch.from_numpy(data.genres).to(dev),
            similarity=torch.from_numpy(data.similarity).to(dev),
            similarity_known=torch.from_numpy(data.similarity_known).to(dev),
        )
        return TrainingState(enc, heads, opt, torch.from_numpy(data.x).to(dev), targets, dev)

    def loader(self, data: TrainingData, batch_size: int | None = None) -> LinkNeighbourLoader:
        """The mini-batch loader of ``data``'s training graph, with ``batch_size`` anchors
        per batch (default: the parameter)."""
        return LinkNeighbourLoader(
            indptr=data.indptr,
            indices=data.indices,
            positives=data.positives,
            negatives=data.negatives,
            fanouts=self._fanouts(),
            num_negatives=int(self.negatives),
            aggregate=bool(self.aggregate),
            batch_size=int(self.batch_size) if batch_size is None else batch_size,
            steps_per_epoch=None if self.steps_per_epoch is None else int(self.steps_per_epoch),
        )

    def start_training(self, dataset: Dataset) -> TrainingRun:
        """The seeded start of every training loop: :meth:`prepare` from a generator
        seeded by ``seed``, the network (:meth:`build_training`), then the held-out pairs
        (continuing the generator's draws) and the :class:`Monitor` of validation, early
        stopping and checkpoints, whose history is ``history_``. The run's ``rng``
        continues the draws (the one-process loop shuffles and samples from it)."""
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
            self.task_weights_(),
        )
        state = self.build_training(data)
        val_seed = int(rng.integers(2**32))
        held = validation_pairs(data.full_adj, data.held, rng, how=str(self.validation_draw))
        monitor = Monitor(
            self.name,
            state,
            self.loader(data),
            held,
            val_seed,
            int(self.batch_size),
            self.task_weights_(),
            EarlyStopping(int(self.patience)),
            checkpoint=None if self.checkpoint_dir is None else self._write_checkpoint,
        )
        self.history_: list[dict[str, Any]] = monitor.history
        return TrainingRun(rng, data, state, monitor)

    def finish_training(self, run: TrainingRun, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        """Keep the best epoch's weights as ``encoder_``, free the run, and embed every
        track by layer-wise inference over the whole graph: (embeddings, available)."""
        stopper = run.monitor.stopper
        if stopper.best_state is not None:
            run.state.encoder.load_state_dict(stopper.best_state)
        if stopper.best_epoch is not None:
            self.best_epoch_ = stopper.best_epoch
        self.encoder_ = run.state.encoder.to("cpu").eval()
        self.heads_ = run.state.heads.to("cpu")  # for inspection only; embedding needs the encoder
        x, full_adj = run.data.x, run.data.full_adj
        # free the training graph, samplers and optimiser before full-graph inference:
        # at 2M tracks they are several GB that inference does not need
        run.close()
        a_mean = mean_adjacency(full_adj.indptr, full_adj.indices, dataset.n_tracks)
        available = (np.diff(full_adj.indptr) > 0) | self._has_features(dataset)
        del full_adj
        return self._infer(x, a_mean), available

    def _fit(
        self, dataset: Dataset, progress: ProgressCallback | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One process: the run's anchors shuffled and sampled from its generator."""
        run = self.start_training(dataset)
        EpochLoop(
            self.loader(run.data),
            ShuffledAnchors(run.data.anchors, run.rng),
            int(self.epochs),
            self.task_weights_(),
        ).run(run.state, progress, run.monitor)
        return self.finish_training(run, dataset)

    def check_write_paths(self, inputs: Iterable[str | Path | None] = ()) -> None:
        """``checkpoint_dir`` may be written (:func:`check_checkpoint_dir`)."""
        if self.checkpoint_dir is not None:
            check_checkpoint_dir(self.checkpoint_dir, self.name, inputs)

    def _write_checkpoint(self, encoder: Any, epoch: int, metric: float) -> None:
        """Write ``encoder``'s weights after ``epoch`` to ``checkpoint_dir``."""
        assert self.checkpoint_dir is not None
        write_checkpoint(self.checkpoint_dir, self.name, encoder, epoch, metric)

    def _inputs(self, dataset: Dataset, adj: sp.csr_matrix) -> np.ndarray:
        return model_inputs(dataset, adj, self.feature_groups, bool(self.aggregate))

    def _has_features(self, dataset: Dataset) -> np.ndarray:
        out = np.zeros(dataset.n_tracks, dtype=bool)
        for g in self.feature_groups:
            out |= dataset.features[g].known.any(axis=1)
        return out

    # ----------------------------------------------------------------- inference
    def _infer(
        self, x: np.ndarray, a_mean: sp.csr_matrix, targets: np.ndarray | None = None
    ) -> np.ndarray:
        """Layer-wise inference with the trained encoder, for all rows of ``x`` or only
        ``targets`` (:func:`~songspace.models.graphsage.module.layerwise_inference`)."""
        return _modules().layerwise_inference(self.encoder_, x, a_mean, targets)

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

    # ------------------------------------------------------------------- updates
    update_constraints: ClassVar[dict[str, Constraint]] = {
        "fine_tune_steps": Interval(int, 0, 10_000_000),
        "learning_rate": Interval(float, 1e-7, 1.0),
        "seed": SEED,
    }

    def update_defaults(self) -> dict[str, Any]:
        """No fine-tune (the trained aggregators embed the grown graph as they are); a
        tenth of the training rate when one is asked for; the model's seed."""
        return {
            "fine_tune_steps": 0,
            "learning_rate": float(self.learning_rate) / 10,
            "seed": int(self.seed),
        }

    def _update(
        self,
        new: Dataset,
        history: Dataset,
        progress: ProgressCallback | None,
        settings: dict[str, Any],
    ) -> tuple[np.ndarray, np.ndarray]:
        """The grown graph (the history's sequences and the new ones), an optional
        fine-tune of the encoder on it, then every track embedded inductively
        (:func:`~songspace.models.graphsage.incremental.fine_tune`; docs/updates.md)."""
        from songspace.data.vocabulary import concat_sequences
        from songspace.models.graphsage.incremental import fine_tune

        self._check_dataset(new)
        union = concat_sequences(history, new)
        if settings["fine_tune_steps"]:
            fine_tune(
                self,
                union,
                steps=int(settings["fine_tune_steps"]),
                learning_rate=float(settings["learning_rate"]),
                seed=int(settings["seed"]),
                progress=progress,
            )
        return self.embed_all(union)

    # -------------------------------------------------------------------- saving
    def _extra_arrays(self) -> dict[str, np.ndarray]:
        if not hasattr(self, "encoder_"):
            return {}
        out = {f"encoder.{k}": v.numpy() for k, v in self.encoder_.state_dict().items()}
        heads = getattr(self, "heads_", None)  # a fine-tune continues them (optional)
        if heads is not None:
            out |= {f"heads.{k}": v.detach().numpy() for k, v in heads.state_dict().items()}
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
        heads = {
            k[len("heads.") :]: torch.from_numpy(v)
            for k, v in arrays.items()
            if k.startswith("heads.")
        }
        if heads:  # saved since updates exist; older models fine-tune fresh heads
            self.heads_ = _modules().MultiTaskHeads(int(self.dim))
            self.heads_.load_state_dict(heads)


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

"""The training loop of GraphSAGE and MUSIG, in the role of a PyG training script.

- :class:`EpochLoop` runs the epochs: per epoch the anchor order
  (:class:`~songspace.models.graphsage.loader.AnchorOrder`), one optimiser step per batch
  of the :class:`~songspace.models.graphsage.loader.LinkNeighbourLoader`, progress, then
  an :class:`EpochEnd` hook that says whether to stop;
- :class:`Monitor` is the epoch end of a training run: the loss on held-out pairs, the
  history, early stopping (:class:`EarlyStopping`: the best weights) and checkpoints;
- :class:`TrainingRun` holds one run's parts (:meth:`GraphSAGE.start_training
  <songspace.models.graphsage.GraphSAGE.start_training>`).

The one-process fit and each rank of the data-parallel one
(:mod:`songspace.models.distributed`) run the same loop; a rank passes DDP-wrapped modules,
its shard of the anchors and an epoch end that gathers the ranks' losses. torch is
imported only when a loop runs.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from songspace._optional import optional_import
from songspace.models.graphsage.data import TrainingData
from songspace.models.graphsage.loader import AnchorOrder, Batch, LinkNeighbourLoader
from songspace.progress import ProgressCallback, report

if TYPE_CHECKING:
    import torch as torch_

    from songspace.models.graphsage.module import MultiTaskHeads, SAGEEncoder, TaskTargets

logger = logging.getLogger(__name__)

#: The tasks of MUSIG eq. 6, in the order of the task weights (c1, c2, c3).
TASKS = ("playlist", "genre", "audio")


def _torch() -> ModuleType:
    return optional_import("torch", "GraphSAGE and MUSIG")


def _modules() -> ModuleType:
    """:mod:`songspace.models.graphsage.module` (imports torch, hence lazily)."""
    _torch()
    from songspace.models.graphsage import module

    return module


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


def batch_loss(
    state: TrainingState,
    batch: Batch,
    fanouts: tuple[int, ...],
    weights: tuple[float, float, float],
) -> tuple[Any, dict[str, float]]:
    """The loss of one batch (MUSIG eq. 6) and its per-task values: the sampled blocks
    encoded, the anchors, positives and negatives scored by the heads."""
    torch = _torch()
    xs = [state.x[torch.from_numpy(b).to(state.device)] for b in batch.blocks]
    z = state.encoder(xs, fanouts)
    b = len(batch.anchors)
    return state.heads(
        z[:b],
        z[b : 2 * b],
        z[2 * b :],
        anchors=batch.anchors,
        positives=batch.positives,
        negatives=batch.negatives,
        targets=state.targets,
        weights=weights,
    )


def validation_loss(
    state: TrainingState,
    loader: LinkNeighbourLoader,
    pairs: np.ndarray,
    seed: int,
    batch_size: int,
    weights: tuple[float, float, float],
) -> float | None:
    """The training loss on the (anchor, positive) ``pairs``, in eval mode, in chunks of
    ``batch_size``, negatives and blocks drawn from a generator seeded by ``seed`` (the
    same draws every epoch); None without pairs."""
    if len(pairs) == 0:
        return None
    torch = _torch()
    r = np.random.default_rng(seed)
    total, count = 0.0, 0
    state.encoder.eval()
    with torch.no_grad():
        for s in range(0, len(pairs), batch_size):
            chunk = pairs[s : s + batch_size]
            batch = loader.sample(chunk[:, 0], chunk[:, 1], r)
            loss, _ = batch_loss(state, batch, loader.fanouts, weights)
            total += float(loss) * len(chunk)
            count += len(chunk)
    state.encoder.train()
    return total / count


def describe_losses(means: dict[str, float], weights: tuple[float, float, float]) -> str:
    """``playlist=0.6931 audio=0.1000``: the mean loss of each weighted task."""
    return " ".join(f"{t}={means[t]:.4f}" for t, c in zip(TASKS, weights, strict=True) if c)


class EpochEnd(Protocol):
    """Called by :class:`EpochLoop` after each epoch with its number (from 1), the mean
    loss per task and the epoch's seconds; True stops training."""

    def __call__(self, epoch: int, means: dict[str, float], seconds: float, /) -> bool: ...


@dataclass
class Monitor:
    """The epoch end of a training run (an :class:`EpochEnd`): the loss on the ``held``
    pairs (:func:`validation_loss` on the unwrapped ``state``, seeded by ``seed``) or,
    without them, the weighted training loss is the metric of :class:`EarlyStopping`; each
    epoch is appended to ``history``; ``checkpoint(encoder, epoch, metric)``, when given,
    writes the weights of every improvement."""

    name: str
    state: TrainingState
    loader: LinkNeighbourLoader
    held: np.ndarray
    seed: int
    batch_size: int
    weights: tuple[float, float, float]
    stopper: EarlyStopping
    checkpoint: Callable[[Any, int, float], None] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, epoch: int, means: dict[str, float], seconds: float, /) -> bool:
        return self.review(epoch, means)

    def review(self, epoch: int, means: dict[str, float], **extra: Any) -> bool:
        """Validate, record ``epoch`` in the history (with ``extra``), log it, update early
        stopping; True when training should stop."""
        val = validation_loss(
            self.state, self.loader, self.held, self.seed, self.batch_size, self.weights
        )
        self.history.append({"epoch": epoch, **means, "val": val, **extra})
        logger.info(
            "%s epoch %d: %s%s",
            self.name,
            epoch,
            describe_losses(means, self.weights),
            "" if val is None else f" validation={val:.4f}",
        )
        metric = (
            val
            if val is not None
            else sum(c * means[t] for t, c in zip(TASKS, self.weights, strict=True))
        )
        return self.update(epoch, metric)

    def update(self, epoch: int, metric: float) -> bool:
        """Early stopping's bookkeeping after ``epoch`` (best weights, checkpoint); True
        when training should stop."""
        stopper = self.stopper
        if stopper.update(metric, epoch, self.state.encoder):
            if self.checkpoint is not None:
                self.checkpoint(self.state.encoder, epoch, metric)
        elif stopper.should_stop:
            logger.info(
                "%s: early stop after epoch %d (best %s)", self.name, epoch, stopper.best_epoch
            )
            return True
        return False


@dataclass
class TrainingRun:
    """One training run's parts: ``rng`` (continues the seeded draws of the data
    preparation and validation pairs), the ``data``, the network ``state`` and the
    ``monitor`` of its epochs."""

    rng: np.random.Generator
    data: TrainingData
    state: TrainingState
    monitor: Monitor

    def close(self) -> None:
        """Drop every part (the training graph, samplers and optimiser: several GB at 2M
        tracks), e.g. before full-graph inference."""
        vars(self).clear()


@dataclass
class EpochLoop:
    """Up to ``epochs`` epochs of optimiser steps: each epoch visits the anchors in the
    order ``anchors`` gives, in the ``loader``'s batches, then asks the epoch end whether
    to stop. ``weights``: the task weights (c1, c2, c3); ``describe(epoch, step, shown)``:
    the progress message (``shown``: the running mean losses)."""

    loader: LinkNeighbourLoader
    anchors: AnchorOrder
    epochs: int
    weights: tuple[float, float, float]
    describe: Callable[[int, int, str], str] | None = None

    def run(
        self, state: TrainingState, progress: ProgressCallback | None, end_epoch: EpochEnd
    ) -> None:
        """Train ``state``'s modules (DDP-wrapped ones on a rank of a data-parallel run);
        progress counts optimiser steps over all epochs."""
        total_steps = self.epochs * self.loader.n_batches(self.anchors.size)
        step = 0
        for epoch in range(1, self.epochs + 1):
            started = time.perf_counter()
            order, rng = self.anchors.order(epoch)
            means, step = self.train_epoch(
                state, order, rng, epoch, progress=progress, step=step, total_steps=total_steps
            )
            if end_epoch(epoch, means, time.perf_counter() - started):
                break

    def train_epoch(
        self,
        state: TrainingState,
        order: np.ndarray,
        rng: np.random.Generator,
        epoch: int,
        *,
        progress: ProgressCallback | None = None,
        step: int = 0,
        total_steps: int = 0,
    ) -> tuple[dict[str, float], int]:
        """One optimiser step per batch of the anchor ``order`` (draws from ``rng``): the
        mean loss per task and the step count after them."""
        n_batches = self.loader.n_batches(len(order))
        sums = dict.fromkeys(TASKS, 0.0)
        for bi, batch in enumerate(self.loader.batches(order, rng)):
            loss, parts = batch_loss(state, batch, self.loader.fanouts, self.weights)
            state.optimizer.zero_grad()
            loss.backward()
            state.optimizer.step()
            for t, v in parts.items():
                sums[t] += v
            step += 1
            if progress is not None and (bi % 10 == 0 or bi == n_batches - 1):
                shown = " ".join(
                    f"{t} {sums[t] / (bi + 1):.4f}"
                    for t, c in zip(TASKS, self.weights, strict=True)
                    if c > 0
                )
                report(progress, step, total_steps, self.message(epoch, step, shown))
        return {t: sums[t] / max(n_batches, 1) for t in TASKS}, step

    def message(self, epoch: int, step: int, shown: str) -> str:
        """The progress message of ``step`` in ``epoch``."""
        if self.describe is not None:
            return self.describe(epoch, step, shown)
        return f"epoch {epoch}/{self.epochs} {shown}"

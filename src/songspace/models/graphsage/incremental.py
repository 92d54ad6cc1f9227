"""Fine-tuning a trained GraphSAGE or MUSIG on a grown graph (``songspace update``).

An update of GraphSAGE/MUSIG (:meth:`GraphSAGE._update
<songspace.models.graphsage.GraphSAGE>`) builds the graph of every sequence trained on so
far plus the new ones, optionally fine-tunes the encoder on it for a given number of
optimiser steps (:func:`fine_tune`), then embeds every track inductively with the
(fine-tuned) aggregators, as ``songspace embed`` does.

The fine-tune is the training loop of ``fit`` (the same :class:`EpochLoop
<songspace.models.graphsage.loop.EpochLoop>`, pairs and losses, MUSIG eq. 6) started
from the trained encoder and heads (heads saved before updates existed start fresh,
seeded) with a new Adam optimiser at the update's learning rate, for a fixed number of
steps: no validation and no early stopping.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from typing import TYPE_CHECKING

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.errors import ParameterError
from songspace.models.graphsage.loader import ShuffledAnchors
from songspace.models.graphsage.loop import EpochLoop, _modules, _torch
from songspace.progress import ProgressCallback

if TYPE_CHECKING:
    from songspace.models.graphsage.estimator import GraphSAGE


def fine_tune(
    model: GraphSAGE,
    union: Dataset,
    *,
    steps: int,
    learning_rate: float,
    seed: int,
    progress: ProgressCallback | None = None,
) -> None:
    """About ``steps`` optimiser steps (rounded up to whole epochs of equal length, each
    at most one pass over the anchors) of ``model``'s training on ``union``'s graph,
    from its trained encoder and heads, at ``learning_rate``; ``model.encoder_`` and
    ``heads_`` are then the fine-tuned ones. Draws come from ``seed``."""
    rng = check_seed(seed)
    data = model.prepare(model.align(union), rng)
    if data.x.shape[1] != model.in_dim_:
        raise ParameterError(
            "new",
            f"{model.in_dim_} input features, as in training",
            data.x.shape[1],
            fix="prepare the new data with the same metadata options as the training data",
        )
    state = model.build_training(data, network=_network(model, seed), learning_rate=learning_rate)
    per_pass = model.loader(data).n_batches(len(data.anchors))
    epochs = math.ceil(steps / max(per_pass, 1))
    loader = dataclasses.replace(model.loader(data), steps_per_epoch=math.ceil(steps / epochs))
    EpochLoop(
        loader,
        ShuffledAnchors(data.anchors, rng),
        epochs,
        model.task_weights_(),
        describe=lambda epoch, step, shown: f"fine-tune step {step}/{steps} {shown}",
    ).run(state, progress, _keep_going)
    model.encoder_ = state.encoder.to("cpu").eval()
    model.heads_ = state.heads.to("cpu")


def _network(model: GraphSAGE, seed: int) -> tuple[object, object]:
    """Copies of the trained encoder and heads (fresh heads, seeded, when the model has
    none: saved before updates existed)."""
    encoder = copy.deepcopy(model.encoder_).train()
    heads = getattr(model, "heads_", None)
    if heads is None:
        torch = _torch()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            heads = _modules().MultiTaskHeads(int(model.dim))
    return encoder, copy.deepcopy(heads)


def _keep_going(epoch: int, means: dict[str, float], seconds: float, /) -> bool:
    """The fine-tune's epoch end: a fixed number of steps, no early stopping."""
    return False

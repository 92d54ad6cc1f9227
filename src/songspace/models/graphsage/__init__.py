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

Code layout (the parts of PyG's ``SAGEConv`` + ``LinkNeighborLoader`` + a training
script), one module each:

- :mod:`~songspace.models.graphsage.module`: the torch networks (:class:`SAGEEncoder
  <songspace.models.graphsage.module.SAGEEncoder>`, :class:`MultiTaskHeads
  <songspace.models.graphsage.module.MultiTaskHeads>`, which computes eq. 6) and
  layer-wise inference; the only module that imports torch at import time;
- :mod:`~songspace.models.graphsage.data`: h^0, the task targets, the validation split
  and pairs, :class:`TrainingData` (numpy);
- :mod:`~songspace.models.graphsage.loader`: the anchor order of an epoch (shuffled, or
  one rank's shard) and the pair, negative and neighbourhood draws of each batch (the
  samplers themselves are in :mod:`songspace.graph.sampling`);
- :mod:`~songspace.models.graphsage.loop`: the epochs (:class:`EpochLoop`), validation,
  history, early stopping and checkpoints (:class:`Monitor`);
- :mod:`~songspace.models.graphsage.checkpoint`: the ``checkpoint_dir`` files;
- :mod:`~songspace.models.graphsage.estimator`: :class:`GraphSAGE` and :class:`MUSIG`
  (parameters, :meth:`GraphSAGE.start_training` → the loop → :meth:`GraphSAGE.finish_training`,
  inference, saving).

The one-process ``fit`` and each rank of the data-parallel fit
(:mod:`songspace.models.distributed`: DDP-wrapped modules, :class:`ShardedAnchors`, an
epoch end that gathers the ranks' losses) compose the same parts.
"""

from songspace.models.graphsage.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_MARKER,
    CHECKPOINT_WEIGHTS,
    check_checkpoint_dir,
)
from songspace.models.graphsage.data import (
    VALIDATION_DRAWS,
    VALIDATION_PAIRS,
    TrainingData,
    genre_codes,
    node_features,
    similarity_vectors,
    validation_pairs,
)
from songspace.models.graphsage.estimator import (
    FEATURE_GROUPS,
    MUSIG,
    PAPER_TASK_WEIGHTS,
    REGRESSION_TARGETS,
    GraphSAGE,
)
from songspace.models.graphsage.loader import (
    Batch,
    LinkNeighbourLoader,
    ShardedAnchors,
    ShuffledAnchors,
)
from songspace.models.graphsage.loop import (
    TASKS,
    EarlyStopping,
    EpochEnd,
    EpochLoop,
    Monitor,
    TrainingRun,
    TrainingState,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_MARKER",
    "CHECKPOINT_WEIGHTS",
    "FEATURE_GROUPS",
    "MUSIG",
    "PAPER_TASK_WEIGHTS",
    "REGRESSION_TARGETS",
    "TASKS",
    "VALIDATION_DRAWS",
    "VALIDATION_PAIRS",
    "Batch",
    "EarlyStopping",
    "EpochEnd",
    "EpochLoop",
    "GraphSAGE",
    "LinkNeighbourLoader",
    "Monitor",
    "ShardedAnchors",
    "ShuffledAnchors",
    "TrainingData",
    "TrainingRun",
    "TrainingState",
    "check_checkpoint_dir",
    "genre_codes",
    "node_features",
    "similarity_vectors",
    "validation_pairs",
]

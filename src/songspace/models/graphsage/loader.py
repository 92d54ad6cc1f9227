"""The mini-batch loader of GraphSAGE and MUSIG (numpy, no torch), in the role of PyG's
``LinkNeighborLoader``: which anchors an epoch visits and in what order
(:class:`ShuffledAnchors` for one process, :class:`ShardedAnchors` for one rank of a
data-parallel run, as torch's ``DistributedSampler``), and per batch the pair, negative and
neighbourhood draws (:class:`LinkNeighbourLoader`).

Every draw comes from the generator the caller passes, in a fixed order per batch: the
positives of the anchors, then the shared negatives, then the K-hop neighbourhood blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from songspace.graph.sampling import DegreeNegativeSampler, WeightedNeighbourSampler, sample_blocks


@dataclass
class Batch:
    """One mini-batch: ``anchors`` and one positive each, the ``negatives`` shared by
    every anchor, and ``blocks``: the nodes of each depth of the sampled neighbourhoods
    of ``[anchors; positives; negatives]`` (``blocks[l+1]`` holds ``fanouts[l]`` rows per
    row of ``blocks[l]``; only ``blocks[0]`` without aggregation)."""

    anchors: np.ndarray
    positives: np.ndarray
    negatives: np.ndarray
    blocks: list[np.ndarray]


@dataclass
class LinkNeighbourLoader:
    """Draws the mini-batches of link prediction on the training graph.

    ``indptr``/``indices``: the graph neighbourhoods are sampled from; ``positives``: the
    positive-pair sampler (in proportion to the edge weight); ``negatives``: the negative
    sampler (degree^0.75); ``fanouts``: neighbours sampled per layer (unused when
    ``aggregate`` is False); ``num_negatives`` per batch; ``batch_size`` anchors per batch;
    ``steps_per_epoch``: at most that many batches per epoch (None: all).
    """

    indptr: np.ndarray
    indices: np.ndarray
    positives: WeightedNeighbourSampler
    negatives: DegreeNegativeSampler
    fanouts: tuple[int, ...]
    num_negatives: int
    aggregate: bool
    batch_size: int
    steps_per_epoch: int | None = None

    def n_batches(self, n_anchors: int) -> int:
        """Batches in one epoch over ``n_anchors``: all of them, or at most
        ``steps_per_epoch`` batches."""
        n = math.ceil(n_anchors / self.batch_size)
        return n if self.steps_per_epoch is None else min(n, self.steps_per_epoch)

    def sample(self, anchors: np.ndarray, positives: np.ndarray, rng: np.random.Generator) -> Batch:
        """The batch of the given pairs: negatives drawn, then K-hop blocks sampled."""
        negatives = self.negatives.sample(self.num_negatives, rng)
        nodes = np.concatenate([anchors, positives, negatives])
        blocks = (
            sample_blocks(self.indptr, self.indices, nodes, self.fanouts, rng)
            if self.aggregate
            else [nodes]
        )
        return Batch(anchors, positives, negatives, blocks)

    def batches(self, order: np.ndarray, rng: np.random.Generator) -> Iterator[Batch]:
        """The epoch's batches: consecutive ``batch_size`` slices of the anchor ``order``
        (:meth:`n_batches` of them), each with its positives drawn, then :meth:`sample`."""
        size = self.batch_size
        for bi in range(self.n_batches(len(order))):
            anchors = order[bi * size : (bi + 1) * size]
            yield self.sample(anchors, self.positives.sample(anchors, rng), rng)


class AnchorOrder(Protocol):
    """Which anchors an epoch visits, in what order, and the generator its batches draw
    from. ``size``: the length of every epoch's order."""

    @property
    def size(self) -> int: ...

    def order(self, epoch: int) -> tuple[np.ndarray, np.random.Generator]: ...


@dataclass
class ShuffledAnchors:
    """One process: every epoch all ``anchors`` in a random order drawn from ``rng``, whose
    draws the epoch's batches then continue."""

    anchors: np.ndarray
    rng: np.random.Generator

    @property
    def size(self) -> int:
        return len(self.anchors)

    def order(self, epoch: int) -> tuple[np.ndarray, np.random.Generator]:
        return self.anchors[self.rng.permutation(len(self.anchors))], self.rng


@dataclass
class ShardedAnchors:
    """Rank ``rank`` of ``world``: every epoch the anchors shuffled by a permutation seeded
    by ``(seed, epoch)`` (the same on every rank), padded by wrapping to a multiple of
    ``world``, and this rank's shard ``order[rank::world]``; its batches draw from a
    generator seeded by ``(seed, rank, epoch)``."""

    anchors: np.ndarray
    seed: int
    rank: int
    world: int

    @property
    def size(self) -> int:
        return math.ceil(len(self.anchors) / self.world)

    def order(self, epoch: int) -> tuple[np.ndarray, np.random.Generator]:
        n = len(self.anchors)
        order = self.anchors[np.random.default_rng([self.seed, epoch]).permutation(n)]
        mine = np.resize(order, self.size * self.world)[self.rank :: self.world]
        return mine, np.random.default_rng([self.seed, self.rank, epoch])

"""The torch networks of GraphSAGE and MUSIG (MUSIG §3.4-3.5), at module level.

:class:`SAGEEncoder` is K mean-aggregator layers (GraphSAGE alg. 2),
:class:`MultiTaskHeads` the three heads and the weighted loss of MUSIG eq. 6. Both
follow PyG's ``SAGEConv`` conventions (``forward``, ``reset_parameters``,
``__repr__``) and are plain module-level ``nn.Module`` classes, so a fitted model
pickles and a data-parallel wrapper can hold them. :func:`layerwise_inference` runs a
trained encoder over a whole graph with full neighbourhood means. This module imports
torch; the rest of :mod:`songspace.models.graphsage` imports it only when training or
loading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

from songspace.models.graphsage.loop import TASKS

#: Rows per block of layer-wise inference (bounds its memory on millions of tracks).
INFER_BLOCK = 65_536


class SAGEEncoder(nn.Module):
    """``h_v^k = sigma(W^k [h_v^{k-1} ; mean_{u in N(v)} h_u^{k-1}])``, ``z = h^K / ||h^K||``.

    ``aggregate=False`` drops the neighbour half (a features-only encoder). The last
    layer has no non-linearity.
    """

    def __init__(self, in_dim: int, hidden: int, dim: int, num_layers: int, aggregate: bool = True):
        super().__init__()
        self.in_dim = int(in_dim)
        self.hidden = int(hidden)
        self.dim = int(dim)
        self.num_layers = int(num_layers)
        self.aggregate = bool(aggregate)
        dims = [self.in_dim] + [self.hidden] * (self.num_layers - 1) + [self.dim]
        width = 2 if self.aggregate else 1
        self.layers = nn.ModuleList(
            nn.Linear(width * dims[i], dims[i + 1]) for i in range(self.num_layers)
        )

    def reset_parameters(self) -> None:
        for layer in self.layers:
            assert isinstance(layer, nn.Linear)
            layer.reset_parameters()

    def layer(self, k: int, h: torch.Tensor, neigh: torch.Tensor | None) -> torch.Tensor:
        """Layer ``k`` on self rows ``h`` and neighbour means ``neigh`` (None when not
        aggregating); used by sampled training and by full-graph inference."""
        x = h if neigh is None else torch.cat([h, neigh], dim=1)
        out = self.layers[k](x)
        return torch.relu(out) if k < self.num_layers - 1 else out

    def forward(self, xs: Sequence[torch.Tensor], fanouts: Sequence[int]) -> torch.Tensor:
        """Encode ``xs[0]``'s nodes from the sampled blocks ``xs`` (``xs[l+1]`` holds
        ``fanouts[l]`` rows per row of ``xs[l]``); returns unit-norm rows."""
        h = list(xs)
        for k in range(self.num_layers):
            if not self.aggregate:
                h = [self.layer(k, h[0], None)]
                continue
            h = [
                self.layer(k, h[lv], h[lv + 1].view(h[lv].shape[0], fanouts[lv], -1).mean(1))
                for lv in range(len(h) - 1)
            ]
        return F.normalize(h[0], dim=1)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.in_dim}, {self.dim}, hidden={self.hidden}, "
            f"num_layers={self.num_layers}, aggregate={self.aggregate})"
        )


@dataclass
class TaskTargets:
    """Per-track targets of the auxiliary tasks, on the training device.

    ``genres``: primary-genre code, -1 unknown; ``similarity``: standardised,
    L2-normalised regression-group vectors; ``similarity_known``: fully-known mask.
    """

    genres: torch.Tensor
    similarity: torch.Tensor
    similarity_known: torch.Tensor


class MultiTaskHeads(nn.Module):
    """The playlist, genre and audio heads and the weighted loss (MUSIG eq. 4-6).

    - playlist: ``logit = s * z_i.z_j + b`` (``s = exp(playlist_log_scale) > 0``), binary
      cross-entropy of positives against every negative of the batch;
    - genre: ``logit = w_g . (z_i * z_j) + b_g``, "same primary genre", pairs with both
      genres known;
    - audio: ``w_a . (z_i * z_j) + b_a`` regressed (RMSE) on the inner product of the
      two tracks' similarity vectors, pairs with both fully known.

    A task with weight 0 is not computed, so its head receives no gradient.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.dim = int(dim)
        self.playlist_log_scale = nn.Parameter(torch.tensor(math.log(5.0)))
        self.playlist_bias = nn.Parameter(torch.tensor(0.0))
        self.genre = nn.Linear(self.dim, 1)
        self.audio = nn.Linear(self.dim, 1)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.playlist_log_scale.fill_(math.log(5.0))
            self.playlist_bias.zero_()
        self.genre.reset_parameters()
        self.audio.reset_parameters()

    def forward(
        self,
        za: torch.Tensor,
        zp: torch.Tensor,
        zn: torch.Tensor,
        *,
        anchors: np.ndarray,
        positives: np.ndarray,
        negatives: np.ndarray,
        targets: TaskTargets,
        weights: tuple[float, float, float],
    ) -> tuple[torch.Tensor, dict[str, float]]:
        """``L = c1 L_playlist + c2 L_genre + c3 L_audio`` of one batch and the
        per-task values. ``za``/``zp``: embeddings of ``anchors``/``positives`` (one
        positive per anchor), ``zn``: of the shared ``negatives``."""
        c1, c2, c3 = weights
        b, q = za.shape[0], zn.shape[0]
        dev = za.device
        parts: dict[str, float] = {}
        loss = za.new_zeros(())
        if c1 > 0:
            scale = self.playlist_log_scale.exp()
            pos = scale * (za * zp).sum(1) + self.playlist_bias
            neg = scale * (za @ zn.T) + self.playlist_bias
            lp = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)) + (
                F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
            )
            loss = loss + c1 * lp
            parts["playlist"] = lp.item()
        if c2 > 0 or c3 > 0:
            # every (anchor, positive) and (anchor, negative) pair of the batch
            prod = torch.cat([za * zp, (za[:, None, :] * zn[None, :, :]).reshape(b * q, -1)])
            ia = torch.from_numpy(np.concatenate([anchors, np.repeat(anchors, q)])).to(dev)
            ib = torch.from_numpy(np.concatenate([positives, np.tile(negatives, b)])).to(dev)
            if c2 > 0:
                ga, gb = targets.genres[ia], targets.genres[ib]
                ok = (ga >= 0) & (gb >= 0)
                if bool(ok.any()):
                    logit = self.genre(prod[ok]).squeeze(1)
                    lg = F.binary_cross_entropy_with_logits(logit, (ga[ok] == gb[ok]).float())
                    loss = loss + c2 * lg
                    parts["genre"] = lg.item()
            if c3 > 0:
                known, sim = targets.similarity_known, targets.similarity
                ok = known[ia] & known[ib]
                if bool(ok.any()):
                    target = (sim[ia[ok]] * sim[ib[ok]]).sum(1)
                    pred = self.audio(prod[ok]).squeeze(1)
                    la = torch.sqrt(F.mse_loss(pred, target) + 1e-12)
                    loss = loss + c3 * la
                    parts["audio"] = la.item()
        return loss, parts

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.dim}, tasks={list(TASKS)})"


def build_network(
    in_dim: int, hidden: int, dim: int, num_layers: int, aggregate: bool
) -> tuple[SAGEEncoder, MultiTaskHeads]:
    """A fresh encoder and heads, initialised in that order from torch's global RNG
    (the caller seeds it)."""
    return SAGEEncoder(in_dim, hidden, dim, num_layers, aggregate), MultiTaskHeads(dim)


def layerwise_inference(
    encoder: SAGEEncoder,
    x: np.ndarray,
    a_mean: sp.csr_matrix,
    targets: np.ndarray | None = None,
) -> np.ndarray:
    """Layer-wise inference with full neighbourhood means (the expectation of the sampled
    mean): the unit-norm embeddings of all rows of ``x`` (h^0) on the graph whose
    row-normalised adjacency is ``a_mean``, or only of ``targets`` (then over their K-hop
    receptive field only). Rows go in blocks of :data:`INFER_BLOCK`."""
    k_layers = len(encoder.layers)
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
                if encoder.aggregate:
                    neigh = torch.from_numpy(np.asarray(sub[lo:hi] @ h.numpy(), dtype=np.float32))
                self_rows = h[lo:hi] if pos is None else h[torch.from_numpy(pos[lo:hi])]
                parts.append(encoder.layer(k, self_rows, neigh))
            h = torch.cat(parts) if parts else h[:0]
        z = F.normalize(h, dim=1).numpy()
    if targets is None:
        return z
    return z[np.searchsorted(sets[0], np.asarray(targets, dtype=np.int64))]


__all__ = [
    "INFER_BLOCK",
    "TASKS",
    "MultiTaskHeads",
    "SAGEEncoder",
    "TaskTargets",
    "build_network",
    "layerwise_inference",
]

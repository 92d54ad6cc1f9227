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
edges, removed from the training graph); the best epoch's weights are kept. Final
embeddings come from layer-wise inference over the whole graph with full
neighbourhood means (the expectation of the sampled mean), never per-node sampling.
:meth:`GraphSAGE.embed` runs the trained aggregators on a grown graph: new tracks and
their edges, no retraining.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from songspace._util import atomic_directory, check_seed
from songspace.data.dataset import Dataset
from songspace.errors import MissingDependencyError, ParameterError
from songspace.graph.cooccurrence import build_cooccurrence
from songspace.graph.sampling import mean_adjacency, sample_blocks
from songspace.models.base import EmbeddingModel
from songspace.models.registry import register
from songspace.models.space import FloatParam, IntParam, SearchSpace, TupleParam

logger = logging.getLogger("songspace")

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


def _torch():
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError("torch", "graph", "GraphSAGE and MUSIG") from exc
    return torch


# ----------------------------------------------------------------------------- inputs
def node_features(dataset: Dataset, groups: Sequence[str], degree: np.ndarray | None) -> np.ndarray:
    """h^0: per group its values (unknown cells 0) and the share of known columns,
    then, unless ``degree`` is None, ``log1p(degree) / log1p(1000)`` (graph
    structure, available inductively; left out of the features-only encoder)."""
    blocks = [np.zeros((dataset.n_tracks, 0), dtype=np.float32)]
    for g in groups:
        group = dataset.features[g]
        blocks.append(np.where(group.known, group.values, 0.0).astype(np.float32))
        blocks.append(group.known.mean(axis=1, dtype=np.float32)[:, None])
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
    return v, known


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


# ---------------------------------------------------------------------------- network
def _build_network(torch, in_dim: int, hidden: int, dim: int, num_layers: int, aggregate: bool):
    nn = torch.nn

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            dims = [in_dim] + [hidden] * (num_layers - 1) + [dim]
            width = 2 if aggregate else 1
            self.layers = nn.ModuleList(
                nn.Linear(width * dims[i], dims[i + 1]) for i in range(num_layers)
            )

        def _layer(self, k: int, h, neigh):
            x = torch.cat([h, neigh], dim=1) if aggregate else h
            out = self.layers[k](x)
            return torch.relu(out) if k < num_layers - 1 else out

        def forward(self, xs: list, fanouts: Sequence[int]):
            """Encode ``xs[0]``'s nodes from the sampled blocks ``xs`` (GraphSAGE alg. 2)."""
            h = list(xs)
            for k in range(num_layers):
                if not aggregate:
                    h = [self._layer(k, h[0], None)]
                    continue
                h = [
                    self._layer(k, h[lv], h[lv + 1].view(h[lv].shape[0], fanouts[lv], -1).mean(1))
                    for lv in range(len(h) - 1)
                ]
            return torch.nn.functional.normalize(h[0], dim=1)

    class Heads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.playlist_log_scale = nn.Parameter(torch.tensor(math.log(5.0)))
            self.playlist_bias = nn.Parameter(torch.tensor(0.0))
            self.genre = nn.Linear(dim, 1)
            self.audio = nn.Linear(dim, 1)

    return Encoder(), Heads()


# ------------------------------------------------------------------------------ model
@register
class GraphSAGE(EmbeddingModel):
    """Unsupervised GraphSAGE with mean aggregators (MUSIG §3.4; Hamilton et al. 2017).

    Parameters: ``dim`` (output size), ``hidden`` (inner layer size), ``num_layers``
    (K), ``fanouts`` (neighbours sampled per layer, first for the targets),
    ``features`` (input feature groups), ``min_weight`` (graph edge threshold),
    ``aggregate`` (False: a features-only encoder, same training, no neighbours),
    ``epochs``, ``batch_size`` (anchors per batch), ``learning_rate`` (Adam),
    ``negatives`` (shared per batch), ``patience`` (epochs without validation
    improvement before stopping; 0 disables), ``validation_share`` (held-out edges),
    ``checkpoint_dir`` (write the best weights there after every improvement),
    ``device`` ("cpu" or a torch device), ``seed``.
    """

    name = "graphsage"
    inductive = True
    param_ranges: ClassVar[dict[str, tuple[float, float]]] = {
        "dim": (2, 4096),
        "hidden": (2, 8192),
        "num_layers": (1, 4),
        "min_weight": (1, 10**9),
        "epochs": (1, 10_000),
        "batch_size": (1, 1_000_000),
        "learning_rate": (1e-6, 1.0),
        "negatives": (1, 100_000),
        "patience": (0, 10_000),
        "validation_share": (0.0, 0.5),
    }
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
    integer_params = (
        "dim",
        "hidden",
        "num_layers",
        "min_weight",
        "epochs",
        "batch_size",
        "negatives",
        "patience",
    )

    @classmethod
    def cost_units(cls, params: dict[str, Any], dataset: Dataset) -> float:
        """Work per epoch: sampled neighbourhood size fanouts[0] x (1 + fanouts[1]) x
        (hidden + dim) (the mean aggregators' matrix products) plus negatives x dim."""
        p = {**cls.default_params(), **params}
        f = [int(x) for x in p["fanouts"]] + [0, 0]
        return float(f[0] * (1 + f[1]) * (int(p["hidden"]) + int(p["dim"])) +
                     int(p["negatives"]) * int(p["dim"]))  # fmt: skip

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        num_layers: int = 2,
        fanouts: Sequence[int] = (25, 10),
        features: Sequence[str] = ("genre", "popularity", "audio"),
        min_weight: int = 2,
        aggregate: bool = True,
        epochs: int = 10,
        batch_size: int = 512,
        learning_rate: float = 0.005,
        negatives: int = 20,
        patience: int = 2,
        validation_share: float = 0.02,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        seed: int = 0,
    ):
        self.dim = dim
        self.hidden = hidden
        self.num_layers = num_layers
        self.fanouts = fanouts
        self.features = features
        self.min_weight = min_weight
        self.aggregate = aggregate
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.negatives = negatives
        self.patience = patience
        self.validation_share = validation_share
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
        try:
            f = tuple(int(x) for x in self.fanouts)
        except (TypeError, ValueError):
            raise ParameterError(
                "fanouts", "a list of num_layers integers >= 1, like (25, 10)", self.fanouts
            ) from None
        if len(f) != self.num_layers or min(f, default=0) < 1:
            raise ParameterError(
                "fanouts",
                f"`len(fanouts) == num_layers` ({self.num_layers}) and every fan-out >= 1",
                self.fanouts,
                fix="give one sample size per layer, e.g. fanouts=25,10 for num_layers=2",
            )
        return f

    def _validate_params(self) -> None:
        super()._validate_params()
        self._fanouts()
        fs = self.features
        if isinstance(fs, str) or not isinstance(fs, list | tuple):
            raise ParameterError("features", "a list or tuple of feature-group names", fs)
        bad = [g for g in fs if g not in FEATURE_GROUPS]
        if bad or len(set(fs)) != len(fs):
            raise ParameterError(
                "features", f"distinct names among {list(FEATURE_GROUPS)}", list(fs)
            )
        if not isinstance(self.aggregate, bool | np.bool_):
            raise ParameterError("aggregate", "`aggregate` is true or false", self.aggregate)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str | Path):
            raise ParameterError("checkpoint_dir", "a directory path or None", self.checkpoint_dir)
        torch = _torch()
        try:
            dev = torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ParameterError(
                "device", "a torch device such as 'cpu' or 'cuda'", self.device
            ) from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise ParameterError("device", "an available device", self.device, fix="use device=cpu")

    def _check_dataset(self, dataset: Dataset) -> None:
        need = list(self.features)
        if self.task_weights_()[2] > 0:
            need.append(self._regression_group())
        missing = sorted({g for g in need if g not in dataset.features})
        if missing:
            raise ParameterError(
                "features",
                f"feature groups the dataset has ({sorted(dataset.features)})",
                missing,
                fix="drop them from `features` (or choose another regression_target)",
            )

    # ------------------------------------------------------------------ training
    def _fit(self, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
        torch = _torch()
        self._check_dataset(dataset)
        fanouts = self._fanouts()
        weights = self.task_weights_()
        rng = check_seed(self.seed)
        graph = build_cooccurrence(dataset, min_weight=int(self.min_weight))
        full_adj = graph.adjacency
        train_adj, held = _split_edges(full_adj, float(self.validation_share), rng)
        indptr, indices = train_adj.indptr.astype(np.int64), train_adj.indices.astype(np.int64)
        edge_w = train_adj.data.astype(np.float64)
        deg = np.diff(indptr)
        anchors = np.flatnonzero(deg > 0)
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
                "features", "at least one feature group when aggregate is false", self.features
            )
        self.columns_ = {g: list(dataset.features[g].columns) for g in self.features}
        self.in_dim_ = x.shape[1]
        logger.info(
            "%s: graph of %d tracks, %d edges (min_weight %d); %d input features; task weights %s",
            self.name,
            len(anchors),
            graph.n_edges,
            self.min_weight,
            self.in_dim_,
            weights,
        )
        dev = torch.device(self.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(self.seed))
            enc, heads = _build_network(
                torch,
                self.in_dim_,
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
        xt = torch.from_numpy(x).to(dev)
        genres = torch.from_numpy(genre_codes(dataset)).to(dev)
        sim_v, sim_known = (
            similarity_vectors(dataset, self._regression_group())
            if (weights[2] > 0)
            else (np.zeros((dataset.n_tracks, 1), np.float32), np.zeros(dataset.n_tracks, bool))
        )
        sim_vt, sim_kt = torch.from_numpy(sim_v).to(dev), torch.from_numpy(sim_known).to(dev)

        neg_cdf = np.cumsum(deg.astype(np.float64) ** 0.75)
        neg_cdf /= neg_cdf[-1]
        edge_cdf = np.cumsum(edge_w)

        def positives(a: np.ndarray, r: np.random.Generator) -> np.ndarray:
            lo = np.where(indptr[a] > 0, edge_cdf[indptr[a] - 1], 0.0)
            u = lo + r.random(len(a)) * (edge_cdf[indptr[a + 1] - 1] - lo)
            pos = np.searchsorted(edge_cdf, u, side="right")
            return indices[np.clip(pos, indptr[a], indptr[a + 1] - 1)]

        def negatives(r: np.random.Generator) -> np.ndarray:
            return np.minimum(
                np.searchsorted(neg_cdf, r.random(int(self.negatives)), side="right"),
                len(neg_cdf) - 1,
            )

        def batch_loss(a: np.ndarray, p: np.ndarray, r: np.random.Generator):
            n = negatives(r)
            targets = np.concatenate([a, p, n])
            blocks = (
                sample_blocks(indptr, indices, targets, fanouts, r) if self.aggregate else [targets]
            )
            xs = [xt[torch.from_numpy(b).to(dev)] for b in blocks]
            z = enc(xs, fanouts)
            b = len(a)
            za, zp, zn = z[:b], z[b : 2 * b], z[2 * b :]
            return self._loss(torch, heads, weights, za, zp, zn, a, p, n, genres, sim_vt, sim_kt)

        val_rng_seed = int(rng.integers(2**32))
        if len(held) > 4096:
            held = held[rng.choice(len(held), size=4096, replace=False)]

        def validation_loss() -> float | None:
            if len(held) == 0:
                return None
            r = np.random.default_rng(val_rng_seed)
            total, count = 0.0, 0
            enc.eval()
            with torch.no_grad():
                for s in range(0, len(held), int(self.batch_size)):
                    chunk = held[s : s + int(self.batch_size)]
                    loss, _ = batch_loss(chunk[:, 0], chunk[:, 1], r)
                    total += float(loss) * len(chunk)
                    count += len(chunk)
            enc.train()
            return total / count

        bs = int(self.batch_size)
        n_batches = math.ceil(len(anchors) / bs)
        total_steps = int(self.epochs) * n_batches
        best, best_state, stale = math.inf, None, 0
        self.history_: list[dict[str, Any]] = []
        step = 0
        for epoch in range(1, int(self.epochs) + 1):
            order = anchors[rng.permutation(len(anchors))]
            sums = dict.fromkeys(TASKS, 0.0)
            for bi in range(n_batches):
                a = order[bi * bs : (bi + 1) * bs]
                loss, parts = batch_loss(a, positives(a, rng), rng)
                opt.zero_grad()
                loss.backward()
                opt.step()
                for t, v in parts.items():
                    sums[t] += v
                step += 1
                if bi % 10 == 0 or bi == n_batches - 1:
                    shown = " ".join(
                        f"{t} {sums[t] / (bi + 1):.4f}"
                        for t, c in zip(TASKS, weights, strict=True)
                        if c > 0
                    )
                    self._report(step, total_steps, f"epoch {epoch}/{self.epochs} {shown}")
            val = validation_loss()
            record = {"epoch": epoch, **{t: sums[t] / n_batches for t in TASKS}, "val": val}
            self.history_.append(record)
            logger.info(
                "%s epoch %d: %s%s",
                self.name,
                epoch,
                " ".join(
                    f"{t}={sums[t] / n_batches:.4f}"
                    for t, c in zip(TASKS, weights, strict=True)
                    if c
                ),
                "" if val is None else f" validation={val:.4f}",
            )
            metric = (
                val
                if val is not None
                else sum(c * sums[t] / n_batches for t, c in zip(TASKS, weights, strict=True))
            )
            if metric < best - 1e-6:
                best, stale = metric, 0
                best_state = {k: v.detach().clone() for k, v in enc.state_dict().items()}
                self.best_epoch_ = epoch
                if self.checkpoint_dir is not None:
                    self._write_checkpoint(enc, epoch, metric)
            else:
                stale += 1
                if int(self.patience) > 0 and stale >= int(self.patience):
                    logger.info(
                        "%s: early stop after epoch %d (best %d)",
                        self.name,
                        epoch,
                        self.best_epoch_,
                    )
                    break
        if best_state is not None:
            enc.load_state_dict(best_state)
        self.encoder_ = enc.to("cpu").eval()
        self.heads_ = heads.to("cpu")  # for inspection only; embedding needs the encoder
        emb = self._infer(x, mean_adjacency(full_adj.indptr, full_adj.indices, dataset.n_tracks))
        available = (np.diff(full_adj.indptr) > 0) | self._has_features(dataset)
        return emb, available

    @staticmethod
    def _loss(torch, heads, weights, za, zp, zn, a, p, n, genres, sim_v, sim_known):
        """Weighted multi-task loss of one batch (MUSIG eq. 4-6); terms with weight 0
        are skipped. Returns (loss, per-task values)."""
        f = torch.nn.functional
        c1, c2, c3 = weights
        b, q = za.shape[0], zn.shape[0]
        dev = za.device
        parts: dict[str, float] = {}
        loss = za.new_zeros(())
        if c1 > 0:
            scale = heads.playlist_log_scale.exp()
            pos = scale * (za * zp).sum(1) + heads.playlist_bias
            neg = scale * (za @ zn.T) + heads.playlist_bias
            lp = f.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)) + (
                f.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
            )
            loss = loss + c1 * lp
            parts["playlist"] = lp.item()
        if c2 > 0 or c3 > 0:
            # every (anchor, positive) and (anchor, negative) pair of the batch
            prod = torch.cat([za * zp, (za[:, None, :] * zn[None, :, :]).reshape(b * q, -1)])
            ia = torch.from_numpy(np.concatenate([a, np.repeat(a, q)])).to(dev)
            ib = torch.from_numpy(np.concatenate([p, np.tile(n, b)])).to(dev)
            if c2 > 0:
                ga, gb = genres[ia], genres[ib]
                ok = (ga >= 0) & (gb >= 0)
                if bool(ok.any()):
                    logit = heads.genre(prod[ok]).squeeze(1)
                    lg = f.binary_cross_entropy_with_logits(logit, (ga[ok] == gb[ok]).float())
                    loss = loss + c2 * lg
                    parts["genre"] = lg.item()
            if c3 > 0:
                ok = sim_known[ia] & sim_known[ib]
                if bool(ok.any()):
                    target = (sim_v[ia[ok]] * sim_v[ib[ok]]).sum(1)
                    pred = heads.audio(prod[ok]).squeeze(1)
                    la = torch.sqrt(f.mse_loss(pred, target) + 1e-12)
                    loss = loss + c3 * la
                    parts["audio"] = la.item()
        return loss, parts

    def _write_checkpoint(self, enc, epoch: int, metric: float) -> None:
        state = {k: v.detach().cpu().numpy() for k, v in enc.state_dict().items()}
        with atomic_directory(Path(self.checkpoint_dir), overwrite=True) as tmp:
            np.savez(tmp / "encoder.npz", **state)
            (tmp / "checkpoint.json").write_text(
                json.dumps({"model": self.name, "epoch": epoch, "validation_loss": metric}) + "\n"
            )

    def _inputs(self, dataset: Dataset, adj: sp.csr_matrix) -> np.ndarray:
        degree = np.diff(adj.indptr) if self.aggregate else None
        return node_features(dataset, list(self.features), degree)

    def _has_features(self, dataset: Dataset) -> np.ndarray:
        out = np.zeros(dataset.n_tracks, dtype=bool)
        for g in self.features:
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
                neigh = None
                if self.aggregate:
                    sub = a_mean[rows][:, cols] if targets is not None else a_mean
                    neigh = torch.from_numpy(np.asarray(sub @ h.numpy(), dtype=np.float32))
                self_rows = (
                    h[torch.from_numpy(np.searchsorted(cols, rows))] if (targets is not None) else h
                )
                h = enc._layer(k, self_rows, neigh)
            z = torch.nn.functional.normalize(h, dim=1).numpy()
        if targets is None:
            return z
        return z[np.searchsorted(sets[0], np.asarray(targets, dtype=np.int64))]

    def embed(self, dataset: Dataset, tracks: Sequence[int] | np.ndarray | None = None):
        """Embeddings of ``tracks`` (indices into ``dataset``; default all) computed on
        ``dataset``'s co-occurrence graph with the trained aggregators, no retraining.

        ``dataset`` may hold tracks and sequences never seen in training (the graph
        has grown); its feature groups must have the training columns.
        """
        self.check_fitted()
        if not hasattr(self, "encoder_"):
            raise ParameterError(
                "model",
                "a model with its encoder",
                "embeddings only",
                fix="load a model saved by this songspace version",
            )
        self._check_dataset(dataset)
        for g, cols in self.columns_.items():
            if list(dataset.features[g].columns) != cols:
                raise ParameterError(
                    "dataset",
                    f"feature group '{g}' with the training columns ({len(cols)})",
                    f"{len(dataset.features[g].columns)} other columns",
                    fix="prepare the grown dataset with the same feature settings "
                    "(e.g. Dataset.subset of one prepared dataset)",
                )
        graph = build_cooccurrence(dataset, min_weight=int(self.min_weight))
        adj = graph.adjacency
        x = self._inputs(dataset, adj)
        a_mean = mean_adjacency(adj.indptr, adj.indices, dataset.n_tracks)
        if tracks is None:
            return self._infer(x, a_mean)
        t = np.asarray(tracks, dtype=np.int64)
        if len(t) and (t.min() < 0 or t.max() >= dataset.n_tracks):
            raise ParameterError(
                "tracks", f"indices in [0, {dataset.n_tracks})", f"[{t.min()}, {t.max()}]"
            )
        return self._infer(x, a_mean, t)

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
            return
        torch = _torch()
        meta = json.loads(str(arrays["meta"]))
        self.in_dim_ = int(meta["in_dim"])
        self.columns_ = meta["columns"]
        self.history_ = meta["history"]
        enc, _ = _build_network(
            torch,
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

    def __init__(
        self,
        dim: int = 64,
        hidden: int = 128,
        num_layers: int = 2,
        fanouts: Sequence[int] = (25, 10),
        features: Sequence[str] = ("genre", "popularity", "audio"),
        min_weight: int = 2,
        aggregate: bool = True,
        epochs: int = 10,
        batch_size: int = 512,
        learning_rate: float = 0.005,
        negatives: int = 20,
        patience: int = 2,
        validation_share: float = 0.02,
        checkpoint_dir: str | None = None,
        device: str = "cpu",
        seed: int = 0,
        task_weights: Sequence[float] | str = (1.0, 1.0, 1.0),
        regression_target: str = "audio",
    ):
        super().__init__(
            dim=dim,
            hidden=hidden,
            num_layers=num_layers,
            fanouts=fanouts,
            features=features,
            min_weight=min_weight,
            aggregate=aggregate,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            negatives=negatives,
            patience=patience,
            validation_share=validation_share,
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
        return c  # type: ignore[return-value]

    def _regression_group(self) -> str:
        return self.regression_target

    def _validate_params(self) -> None:
        super()._validate_params()
        self.task_weights_()
        if self.regression_target not in REGRESSION_TARGETS:
            raise ParameterError(
                "regression_target", f"one of {list(REGRESSION_TARGETS)}", self.regression_target
            )

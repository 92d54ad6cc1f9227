"""Why GraphSAGE's validation loss rises while its training loss falls (docs/results.md).

Per epoch, the early-stopping loss in eval mode (``graphsage.loop.validation_loss``) on four
sets of 4,096 pairs: (a) the held-out edges (the validation loss itself); (b) training
edges drawn uniformly over edges, as the held-out ones were; (c) training pairs drawn as
training draws them (anchor uniform over the tracks with an edge, positive by edge
weight); (d) held-out pairs drawn that way (anchor uniform over the held-out edges'
tracks, positive uniform among its held-out edges). Trains on all of DATA.

    python benchmarks/graphsage_validation_gap.py DATA
"""

import logging
import sys

import numpy as np
import scipy.sparse as sp

from songspace._util import check_seed
from songspace.data.dataset import Dataset
from songspace.models.graphsage import EpochLoop, ShuffledAnchors
from songspace.models.graphsage.loop import validation_loss
from songspace.models.registry import create

logging.basicConfig(level=logging.WARNING)
ds = Dataset.load(sys.argv[1])
m = create(
    "graphsage", {"epochs": 5, "steps_per_epoch": 200, "feature_groups": ["genre", "popularity"]}
)
rng = check_seed(m.seed)
data = m.prepare(ds, rng)
state = m.build_training(data)
val_seed = int(rng.integers(2**32))
held = data.held
if len(held) > 4096:
    held = held[rng.choice(len(held), size=4096, replace=False)]
r = np.random.default_rng(7)
tr = sp.triu(
    sp.csr_matrix(
        (np.ones(len(data.indices)), data.indices, data.indptr), shape=(ds.n_tracks, ds.n_tracks)
    ),
    k=1,
).tocoo()
pick = r.choice(tr.nnz, 4096, replace=False)
uniform_train = np.stack([tr.row[pick], tr.col[pick]], 1).astype(np.int64)
a = data.anchors[r.integers(len(data.anchors), size=4096)]
weighted_train = np.stack([a, data.positives.sample(a, r)], 1).astype(np.int64)
hu = np.concatenate([data.held, data.held[:, ::-1]])
hadj = sp.csr_matrix((np.ones(len(hu)), (hu[:, 0], hu[:, 1])), shape=(ds.n_tracks,) * 2)
hadj.sum_duplicates()
h_nodes = np.flatnonzero(np.diff(hadj.indptr))
ha = h_nodes[r.integers(len(h_nodes), size=4096)]
deg = np.diff(hadj.indptr)[ha]
hp = hadj.indices[hadj.indptr[ha] + (r.random(4096) * deg).astype(np.int64)]
anchor_held = np.stack([ha, hp], 1).astype(np.int64)
degree = [
    np.diff(data.indptr)[p[:, 0]].mean() for p in (held, uniform_train, weighted_train, anchor_held)
]
print(
    "mean training degree of the anchors: held-out edges' {:.0f}, uniform training edges' "
    "{:.0f}, training draws' {:.0f}, anchor-uniform held-out {:.0f}".format(*degree),
    flush=True,
)
loop = EpochLoop(m.loader(data), ShuffledAnchors(data.anchors, rng), 5, m.task_weights_())
print("epoch  train(reported)  held-out  train-uniform-edges  train-as-drawn  held-anchor-uniform")
for epoch in range(1, 6):
    means, _ = loop.train_epoch(state, *loop.anchors.order(epoch), epoch)
    vals = [
        validation_loss(state, loop.loader, p, val_seed, int(m.batch_size), m.task_weights_())
        for p in (held, uniform_train, weighted_train, anchor_held)
    ]
    print(epoch, f"{means['playlist']:.4f}", *(f"{v:.4f}" for v in vals), flush=True)

"""Benchmark one GraphSAGE training epoch: our encoder vs PyG's ``SAGEConv``.

Both encoders are 2-layer mean-aggregator GraphSAGE with the same sizes
(``in -> hidden -> dim``, ReLU between, L2-normalised output; PyG's SAGEConv has
``lin_l`` on the neighbour mean and ``lin_r`` on the node itself, the same
parameters as our ``W [h ; mean]``). They are fed the **same** mini-batches from
songspace's sampler (fan-outs 25, 10; sampled once, before timing, so neither side
pays for sampling; sampling time is reported on its own): PyG's encoder gets each
hop as a bipartite ``edge_index`` block, the way its NeighborLoader would hand it
over. Same loss (the playlist task of MUSIG), same Adam step. Each side runs in
its own process, which reports its epoch time and peak RSS; the script prints the
ratio (target: ours not slower) and full-graph inference time over all tracks
(ours: layer-wise sparse means; PyG: SAGEConv over the whole edge_index).

Input: the training view of the MPD subset (``../shared/data/mpd-subset``, graph
min_weight 2; skipped with a message when absent) or ``--synthetic N`` playlists.

    pip install torch==2.13.0 torch_geometric     # the `bench` extra
    python benchmarks/bench_graphsage.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import _peak_rss_mb, run_worker

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def load_dataset(args: argparse.Namespace):
    from songspace.data.prepare import MetadataSpec, prepare_mpd
    from songspace.data.splits import split_sequences
    from songspace.data.synthetic import generate

    if args.synthetic:
        ds = generate(args.synthetic, args.synthetic * 10, n_genres=20, seed=0)
    else:
        meta = MetadataSpec(
            tracks=SHARED / "spotify-tracks-114k" / "tracks.csv",
            artists=SHARED / "spotify-artists" / "data_w_genres.csv",
        )
        ds = prepare_mpd(SHARED / "mpd-subset", metadata=meta)
    return split_sequences(ds, (0.98, 0.01, 0.01), seed=0).training_view(ds)


def worker(args: argparse.Namespace) -> None:
    import torch

    from songspace.graph.cooccurrence import build_cooccurrence
    from songspace.graph.sampling import mean_adjacency, sample_blocks
    from songspace.models.graphsage import GraphSAGE, node_features
    from songspace.models.graphsage.module import TaskTargets, build_network

    torch.manual_seed(0)
    ds = load_dataset(args)
    adj = build_cooccurrence(ds, min_weight=args.min_weight).adjacency
    indptr, indices = adj.indptr.astype(np.int64), adj.indices.astype(np.int64)
    deg = np.diff(indptr)
    x = torch.from_numpy(node_features(ds, ["genre", "popularity", "audio"], deg))
    anchors = np.flatnonzero(deg > 0)
    rng = np.random.default_rng(0)
    order = anchors[rng.permutation(len(anchors))]
    fanouts = (25, 10)
    neg_p = deg.astype(np.float64) ** 0.75
    neg_p /= neg_p.sum()

    t0 = time.perf_counter()
    batches = []
    for s in range(0, len(order), args.batch_size):
        a = order[s : s + args.batch_size]
        p = indices[indptr[a] + (rng.random(len(a)) * deg[a]).astype(np.int64)]
        n = rng.choice(len(deg), size=20, p=neg_p)
        targets = np.concatenate([a, p, n])
        blocks = [
            torch.from_numpy(b) for b in sample_blocks(indptr, indices, targets, fanouts, rng)
        ]
        batches.append((a, p, n, blocks))
    t_sample = time.perf_counter() - t0

    in_dim, hidden, dim = x.shape[1], 128, 64
    torch.manual_seed(0)
    if args.worker == "ours":
        enc, heads = build_network(in_dim, hidden, dim, 2, True)

        def encode(blocks):
            return enc([x[b] for b in blocks], fanouts)

    else:
        from torch_geometric.nn import SAGEConv

        _, heads = build_network(in_dim, hidden, dim, 2, True)
        enc = torch.nn.ModuleList(
            [SAGEConv(in_dim, hidden, aggr="mean"), SAGEConv(hidden, dim, aggr="mean")]
        )
        bipartite = {}

        def edges(n_dst: int, f: int):
            if (n_dst, f) not in bipartite:
                src = torch.arange(n_dst * f)
                dst = torch.arange(n_dst).repeat_interleave(f)
                bipartite[(n_dst, f)] = torch.stack([src, dst])
            return bipartite[(n_dst, f)]

        def encode(blocks):
            h = [x[b] for b in blocks]
            for k, conv in enumerate(enc):
                new = []
                for lv in range(len(h) - 1):
                    n_dst, n_src = h[lv].shape[0], h[lv + 1].shape[0]
                    out = conv((h[lv + 1], h[lv]), edges(n_dst, fanouts[lv]), size=(n_src, n_dst))
                    new.append(out.relu() if k == 0 else out)
                h = new
            return torch.nn.functional.normalize(h[0], dim=1)

    opt = torch.optim.Adam([*enc.parameters(), *heads.parameters()], lr=0.005)
    empty = torch.zeros(0)
    t0 = time.perf_counter()
    total = 0.0
    for a, p, n, blocks in batches:
        z = encode(blocks)
        b = len(a)
        loss, _ = heads(
            z[:b],
            z[b : 2 * b],
            z[2 * b :],
            anchors=a,
            positives=p,
            negatives=n,
            targets=TaskTargets(empty, empty, empty),
            weights=(1.0, 0.0, 0.0),
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        total += float(loss)
    t_epoch = time.perf_counter() - t0

    # full-graph inference over every track
    t0 = time.perf_counter()
    with torch.no_grad():
        if args.worker == "ours":
            model = GraphSAGE(dim=dim, hidden=hidden)
            model.encoder_ = enc.eval()
            a_mean = mean_adjacency(indptr, indices, len(deg))
            emb = model._infer(x.numpy(), a_mean)
        else:
            iso = np.flatnonzero(deg == 0)
            rows = np.repeat(np.arange(len(deg)), deg)
            ei = torch.from_numpy(
                np.stack([np.concatenate([indices, iso]), np.concatenate([rows, iso])])
            )
            h = x
            for k, conv in enumerate(enc):
                h = conv(h, ei)
                h = h.relu() if k == 0 else h
            emb = torch.nn.functional.normalize(h, dim=1).numpy()
    t_infer = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "tracks": len(deg),
                "graph_nodes": len(anchors),
                "edges": int(adj.nnz // 2),
                "batches": len(batches),
                "sample_s": t_sample,
                "epoch_s": t_epoch,
                "mean_loss": total / len(batches),
                "infer_s": t_infer,
                "emb_norm_mean": float(np.linalg.norm(emb, axis=1).mean()),
                "peak_rss_mb": _peak_rss_mb(),
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--synthetic", type=int, default=0, help="N synthetic playlists instead")
    ap.add_argument("--min-weight", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--worker", choices=["ours", "pyg"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args)
        return
    if not args.synthetic and not (SHARED / "mpd-subset").is_dir():
        print(f"skipped: {SHARED / 'mpd-subset'} is absent; use --synthetic N")
        return
    try:
        import torch_geometric  # noqa: F401
    except ImportError:
        sys.exit("the peer needs torch_geometric: pip install 'songspace[bench]'")
    base = [
        sys.executable,
        __file__,
        "--min-weight",
        str(args.min_weight),
        "--batch-size",
        str(args.batch_size),
        "--synthetic",
        str(args.synthetic),
    ]
    res = {}
    for side in ("ours", "pyg"):
        res[side] = run_worker([*base, "--worker", side], side)
    o, p = res["ours"], res["pyg"]
    label = f"synthetic {args.synthetic}" if args.synthetic else "MPD subset training view"
    print(
        f"== {label}: {o['tracks']:,} tracks, graph {o['graph_nodes']:,} nodes / "
        f"{o['edges']:,} edges (min_weight {args.min_weight}); {o['batches']} batches of "
        f"{args.batch_size} anchors; fan-outs 25, 10; torch threads {o['threads']}"
    )
    print(f"   sampling all batches (shared sampler): {o['sample_s']:.2f} s")
    print(f"   {'encoder':<22}{'epoch s':>10}{'infer s':>10}{'peak MB':>10}{'mean loss':>11}")
    for name, r in (("songspace", o), ("PyG SAGEConv", p)):
        print(
            f"   {name:<22}{r['epoch_s']:>10.2f}{r['infer_s']:>10.2f}"
            f"{r['peak_rss_mb']:>10.0f}{r['mean_loss']:>11.4f}"
        )
    print(
        f"   epoch ratio PyG/ours: {p['epoch_s'] / o['epoch_s']:.2f}x  "
        f"(target >= 1.0); inference ratio PyG/ours: {p['infer_s'] / o['infer_s']:.2f}x"
    )


if __name__ == "__main__":
    main()

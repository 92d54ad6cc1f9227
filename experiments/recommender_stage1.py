"""Where the gap lies (issue 30, part 3): the segment breakdown and stage-1 recall.

On one prepared dataset, with the evaluation split (seed 0, 90/5/5 by default) and a
uniform sample of the test split's out-of-set next-song pairs (3,000 by default):

1. the share of targets in each segment: co-occurred with the query in training, never
   did, or unseen in training (``songspace.evaluation.segments``);
2. HitRate@100 and stage-1 recall@200 per segment of SKNN (its defaults, and the settings
   of ``--rankers-config`` when given) and of a Track2Vec with the docs' playlist
   configuration (docs/models.md: negative=1, window=3, epochs=12, alpha=0.1, sample=0.03),
   trained on the protocol's training view;
3. stage-1 recall against N for the union of the kNN rankers (SKNN and item-kNN, with the
   settings of ``--rankers-config`` when given), the successors of the query, the
   Track2Vec neighbours of the last seed and of the seed mean, and the 50 most popular
   tracks (``songspace.evaluation.candidates.CandidateUnion``), with the mean number of
   candidates at each N and the recall per segment.

    python experiments/recommender_stage1.py DATASET_DIR -o OUT.json \\
        [--rankers-config rankers-next.json] [--pairs 3000] [--test-fraction 0.05] [--seed 0]

Prepare the MPD subset as docs/results.md says (``songspace prepare mpd ... -o data/mpd``).
Writes ``OUT.json`` and prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_write_text, to_jsonable
from songspace.data.dataset import Dataset
from songspace.evaluation.candidates import (
    CandidateUnion,
    EmbeddingNeighbours,
    PopularityCandidates,
    RankerCandidates,
    successors,
)
from songspace.evaluation.defaults import SuiteSettings
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.families import FamilyInput
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.ranker_params import popularity_of
from songspace.evaluation.rankers import make_ranker, read_ranker_settings
from songspace.evaluation.segments import SEGMENTS, segment_breakdown, segment_codes
from songspace.evaluation.stage1 import part_queries, stage1_recall
from songspace.models import create

log = logging.getLogger("recommender_stage1")

PART = "next_song_out_of_set"
#: docs/models.md, "Starting configurations for Track2Vec": short playlists (MPD-like).
TRACK2VEC_PLAYLISTS = {"negative": 1, "window": 3, "epochs": 12, "alpha": 0.1, "sample": 0.03}
DEPTHS = (10, 50, 100, 200, 500, 1000)
POPULAR = 50


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("-o", "--out", required=True, help="the JSON file to write")
    ap.add_argument("--rankers-config", help="tuned settings (songspace tune-rankers)")
    ap.add_argument("--pairs", type=int, default=3000, help="sampled out-of-set test pairs")
    ap.add_argument("--test-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    ds = Dataset.load(args.dataset)
    h = args.test_fraction
    protocol = make_protocol(ds, seed=args.seed, fractions=(1 - 2 * h, h, h))
    settings = SuiteSettings(next_song_max_pairs=args.pairs)
    queries = part_queries(protocol, PART, settings)
    log.info("%d of %d out-of-set test pairs", len(queries), queries.info["pairs_total"])

    t0 = time.perf_counter()
    t2v = create("track2vec", {**TRACK2VEC_PLAYLISTS, "seed": args.seed}).fit(protocol.train)
    train_s = time.perf_counter() - t0
    emb = Embeddings.from_array(
        t2v.embeddings_, ds.n_tracks, available=t2v.available_, name="track2vec"
    )
    log.info("track2vec trained in %.0f s", train_s)

    tuned = read_ranker_settings(args.rankers_config) if args.rankers_config else {}
    rows: dict[str, Embeddings] = {
        "sknn (default)": Embeddings.from_ranker(make_ranker("sknn", protocol.train), ds.n_tracks)
    }
    if "sknn" in tuned:
        sknn = make_ranker("sknn", protocol.train, tuned["sknn"])
        rows["sknn (tuned)"] = Embeddings.from_ranker(sknn, ds.n_tracks)
    rows["track2vec (playlists)"] = emb
    rows["popularity"] = Embeddings.popularity_baseline(protocol.train)

    codes = segment_codes(protocol, PART, settings)
    shares = {seg: float(np.mean(codes == c)) for c, seg in enumerate(SEGMENTS)}
    per_ranker: dict[str, dict[str, float]] = {}
    for label, e in rows.items():
        t = time.perf_counter()
        res = segment_breakdown(FamilyInput(protocol, e, settings), PART)
        per_ranker[label] = {r.name.removeprefix(f"segments_{PART}_"): r.value for r in res}
        log.info("%s: segments in %.0f s", label, time.perf_counter() - t)

    pop = popularity_of(protocol.train)
    union_rankers = {name: tuned.get(name, {}) for name in ("sknn", "itemknn")}
    generators = [
        RankerCandidates(make_ranker(name, protocol.train, p)) for name, p in union_rankers.items()
    ]
    generators += [
        successors(protocol.train),
        EmbeddingNeighbours(emb, "last"),
        EmbeddingNeighbours(emb, "mean"),
        PopularityCandidates(pop),
    ]
    union = CandidateUnion(generators, limits={"popular": POPULAR})
    t = time.perf_counter()
    found = stage1_recall(union, queries.seeds, queries.targets, DEPTHS)
    union_s = time.perf_counter() - t
    union_rows = {}
    for n in DEPTHS:
        reached = (found.ranks > 0) & (found.ranks <= n)
        union_rows[n] = {
            "recall": float(found.recall[n].mean()),
            "candidates": float(found.candidates[n].mean()),
            **{seg: float(reached[codes == c].mean()) for c, seg in enumerate(SEGMENTS)},
        }
    # each generator alone, read off the same calls: its own rank of each target
    alone = {
        name: {
            n: float(np.mean((r > 0) & (r <= n)))
            for n in DEPTHS
            if n <= union.limits.get(name, n) or n == min(DEPTHS)
        }
        for name, r in found.by_generator.items()
    }

    doc: dict[str, Any] = {
        "dataset": str(args.dataset),
        "protocol": protocol.summary(),
        "pairs": queries.info,
        "track2vec": {"params": t2v.get_params(), "train_seconds": train_s},
        "rankers_config": args.rankers_config,
        "union_rankers": union_rankers,
        "segment_share": shares,
        "segments": per_ranker,
        "union": {"generators": list(union.names), "popular": POPULAR, "by_depth": union_rows},
        "union_seconds": union_s,
        "generator_recall": alone,
    }
    atomic_write_text(Path(args.out), json.dumps(to_jsonable(doc), indent=2) + "\n")
    print(_tables(doc))


def _tables(doc: dict[str, Any]) -> str:
    shares = doc["segment_share"]
    lines = [
        f"{doc['pairs']['pairs_evaluated']} of {doc['pairs']['pairs_total']} out-of-set "
        "test pairs.",
        "",
        "| segment | share | "
        + " | ".join(f"{r} HR@100 / recall@200" for r in doc["segments"])
        + " |",
        "|---|---|" + "---|" * len(doc["segments"]),
    ]
    for seg in SEGMENTS:
        cells = [
            f"{v[f'hit_rate_{seg}']:.3f} / {v[f'stage1_recall@200_{seg}']:.3f}"
            for v in doc["segments"].values()
        ]
        lines.append(f"| {seg} | {shares[seg]:.3f} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Union of " + ", ".join(doc["union"]["generators"]) + f" (popular: top {POPULAR}):",
        "",
        "| N | recall | candidates | " + " | ".join(SEGMENTS) + " |",
        "|---|---|---|" + "---|" * len(SEGMENTS),
    ]
    for n, row in doc["union"]["by_depth"].items():
        segs = " | ".join(f"{row[s]:.3f}" for s in SEGMENTS)
        lines.append(f"| {n} | {row['recall']:.3f} | {row['candidates']:.0f} | {segs} |")
    lines += ["", "Each generator alone (recall of its own top N):", ""]
    lines += ["| generator | " + " | ".join(f"N={n}" for n in DEPTHS) + " |"]
    lines += ["|---|" + "---|" * len(DEPTHS)]
    for g, by_n in doc["generator_recall"].items():
        cells = [f"{by_n[n]:.3f}" if n in by_n else "" for n in DEPTHS]
        lines.append(f"| {g} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

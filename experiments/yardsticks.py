"""Honest yardsticks (issue 18): every model against the simple baselines, three datasets.

For one prepared dataset: a seeded split (``--test-fraction`` held out for testing),
every model trained on the protocol's training view, and next-song, playlist
completion and (where it applies) the RecSys Challenge 2018 protocol scored for the
models and for the random, popularity, ItemKNN, SKNN, V-SKNN and bigram baselines,
with paired t-tests against the strongest simple baseline of each metric.

    python experiments/yardsticks.py DATASET_DIR -o OUT [--models track2vec,warp,...]
        [--test-fraction 0.05] [--seed 0] [--no-challenge] [--param MODEL.NAME=VALUE]

Writes ``OUT/results.json`` (values, per-query arrays excluded) and ``OUT/tables.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

from songspace.assignments import parse_model_assignments
from songspace.data.dataset import Dataset
from songspace.evaluation.challenge import challenge_cases
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.rankers import BASELINE_RANKERS
from songspace.evaluation.results import compare
from songspace.evaluation.suite import evaluate_many
from songspace.models import create

log = logging.getLogger("yardsticks")

MAIN = (
    "next_song_hit_rate",
    "next_song_in_set_hit_rate",
    "next_song_out_of_set_hit_rate",
    "next_song_out_of_set_ndcg",
    "completion_hr",
    "challenge_r_precision",
    "challenge_ndcg",
    "challenge_clicks",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("-o", "--out", required=True)
    ap.add_argument("--models", default="track2vec,warp,node2vec,graphsage,musig")
    ap.add_argument("--test-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-challenge", action="store_true")
    ap.add_argument("--param", action="append", default=[])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = Dataset.load(args.dataset)
    h = args.test_fraction
    proto = make_protocol(ds, seed=args.seed, fractions=(1 - 2 * h, h, h))
    log.info("protocol: %s", proto.summary())
    fams = ["completion", "next_song"] if len(proto.completion) else ["next_song"]
    cases = None
    if not args.no_challenge:
        # the same cases the suite's challenge family builds (seeded by the protocol)
        cases = challenge_cases(ds, proto.split.test, seed=args.seed)
        log.info("challenge: %d playlists; skipped %s", len(cases.cases), cases.skipped)
    params = parse_model_assignments(args.param)
    train_time: dict[str, float] = {}
    embs = []
    for name in [m for m in args.models.split(",") if m]:
        model = create(name, params.get(name, {}), from_strings=True)
        t0 = time.perf_counter()
        model.fit(proto.train)
        train_time[name] = time.perf_counter() - t0
        log.info("%s trained in %.0fs", name, train_time[name])
        embs.append(
            Embeddings.from_array(
                model.embeddings_, ds.n_tracks, available=model.available_, name=name
            )
        )
    if cases is not None:
        fams = [*fams, "challenge"]
    res_list, _ = evaluate_many(proto, embs, families=fams, rankers=list(BASELINE_RANKERS))
    n_base = len(res_list) - len(embs)
    results = {r.model: r for r in res_list}
    kinds = {r.model: ("baseline" if i < n_base else "model") for i, r in enumerate(res_list)}
    write(out, ds, proto, results, kinds, train_time, cases, args)


def write(out, ds, proto, results, kinds, train_time, cases, args) -> None:
    metrics = [m for m in MAIN if all(m in r.metrics for r in results.values())]
    baselines = [n for n, k in kinds.items() if k == "baseline" and n != "random"]
    lines = [
        f"Dataset `{ds.source.get('name')}` ({ds.n_sequences:,} sequences, "
        f"{ds.n_tracks:,} tracks); protocol {json.dumps(proto.summary())}.",
        "",
    ]
    if cases is not None:
        lines += [
            f"Challenge playlists: {len(cases.cases)}; skipped categories: "
            f"{cases.skipped or 'none'}.",
            "",
        ]
    lines += [
        "| ranker | kind | " + " | ".join(metrics) + " |",
        "|---|---|" + "---|" * len(metrics),
    ]
    best_base = {}
    for m in metrics:
        hib = results[baselines[0]].metrics[m].higher_is_better
        vals = {b: results[b].metrics[m].value for b in baselines}
        best_base[m] = max(vals, key=vals.get) if hib else min(vals, key=vals.get)
    testable = [m for m in metrics if results[baselines[0]].metrics[m].per_query.size > 1]
    doc = {
        "protocol": proto.summary(),
        "train_seconds": train_time,
        "rows": {},
        "strongest_baseline": best_base,
        "command": vars(args),
        "tested": testable,
    }
    for name, res in results.items():
        cells, row = [], {}
        for m in metrics:
            mr = res.metrics[m]
            mark = ""
            if name == best_base[m]:
                mark = "◆"
                row[m] = {"value": mr.value}
            elif m in testable:
                c = compare(res, results[best_base[m]], metrics=testable, alpha=0.01)[m]
                better = (mr.value > c.value_b) == mr.higher_is_better
                if c.significant:
                    mark = "▲" if better else "▼"
                row[m] = {"value": mr.value, "p_adj_vs_best_baseline": c.p_adjusted}
            else:
                row[m] = {"value": mr.value}
            cells.append(f"{mr.value:.4f}{mark}")
        doc["rows"][name] = {"kind": kinds[name], **row}
        lines.append(f"| {name} | {kinds[name]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "◆ strongest simple baseline (not random) of the column; ▲/▼ significantly "
        "better/worse than it (paired t-test, Bonferroni over the tested columns, p < 0.01); "
        "next_song_hit_rate is the mean of in-set and out-of-set, not tested.",
    ]
    if cases is not None:
        cats = sorted({c.category for c in cases.cases})
        lines += [
            "",
            "Challenge R-precision per category:",
            "",
            "| ranker | " + " | ".join(cats) + " |",
            "|---|" + "---|" * len(cats),
        ]
        for name, res in results.items():
            per = res.metrics["challenge_r_precision"].info["per_category"]
            lines.append(
                f"| {name} | " + " | ".join(f"{per[c]['r_precision']:.4f}" for c in cats) + " |"
            )
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(doc, indent=2, default=float) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

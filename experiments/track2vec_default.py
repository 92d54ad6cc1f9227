"""Track2Vec's default against popularity and the paper's preset (issue 30, part 4).

One prepared dataset, the tuning protocols' seeded split (``--heldout-fraction`` each for
validation and test, seed 0: 90/5/5 as in docs/results.md): every configuration trains
once on the shared training view, then next-song HitRate@100 and NDCG (in-set and
out-of-set) are scored on the validation pairs; with ``--test`` also on the test pairs.

    python experiments/track2vec_default.py DATASET -o OUT [--config NAME=k=v,k=v ...]
        [--grid epochs=5,10,20 --grid window=3,5,10] [--test] [--heldout-fraction 0.05]

Rows: ``popularity`` (always), ``default`` (``create("track2vec")``: the adaptive
default), ``paper`` (``create("track2vec", preset="paper")``: W2V Table 3), each
``--config NAME=PARAMS`` and every point of the ``--grid``
(``--rows`` chooses among default and paper) (given on top of the defaults).
Each trained row records the parameters it trained with (``auto`` resolved).

Choosing a rule: run the grid without ``--test`` (validation only); then, once, the
chosen default with ``--test``. ``--summary NAME=OUT ...`` prints the table of
docs/results.md from finished runs. Results are appended to ``OUT/rows.jsonl`` as each row
finishes (a row already there is not trained again), the tables go to ``OUT/tables.md``,
and the paired t-tests against popularity (Bonferroni over the four columns) to
``OUT/tests.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

from songspace.assignments import parse_assignments
from songspace.data.dataset import Dataset
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.results import EvaluationResult, compare
from songspace.evaluation.suite import evaluate
from songspace.models import create
from songspace.tuning.protocols import tuning_protocols

log = logging.getLogger("track2vec_default")

COLUMNS = (
    "next_song_in_set_hit_rate",
    "next_song_in_set_ndcg",
    "next_song_out_of_set_hit_rate",
    "next_song_out_of_set_ndcg",
)
LABELS = ("in-set HR@100", "in-set NDCG", "out-of-set HR@100", "out-of-set NDCG")


def configurations(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Row name -> keyword arguments of ``create("track2vec", ...)``."""
    fixed: dict[str, dict[str, Any]] = {"default": {}, "paper": {"preset": "paper"}}
    rows = {k: v for k, v in fixed.items() if k in args.rows.split(",")}
    for spec in args.config:
        name, _, params = spec.partition("=")
        rows[name] = {"params": parse_assignments([p for p in params.split(",") if p], "--config")}
    if args.grid:
        axes = [g.partition("=") for g in args.grid]
        names = [a[0] for a in axes]
        for values in itertools.product(*[a[2].split(",") for a in axes]):
            label = ",".join(f"{n}={v}" for n, v in zip(names, values, strict=True))
            rows[label] = {"params": dict(zip(names, values, strict=True))}
    return rows


def train(ds: Dataset, train_view: Dataset, name: str, how: dict[str, Any], workers: int):
    """Fit one configuration on the training view; (Embeddings, resolved params, seconds)."""
    params = {**how.get("params", {}), "workers": str(workers)}
    model = create("track2vec", params, from_strings=True, preset=how.get("preset"))
    t0 = time.process_time()
    model.fit(train_view)
    seconds = time.process_time() - t0
    emb = Embeddings.from_array(
        model.embeddings_, ds.n_tracks, available=model.available_, name=name
    )
    return emb, model.fitted_params_, seconds


def scores(protocol: Protocol, emb: Embeddings) -> dict[str, EvaluationResult]:
    """Next-song results of ``emb`` and of the popularity baseline on ``protocol``."""
    popularity = Embeddings.popularity_baseline(protocol.train)
    return {e.name: evaluate(protocol, e, families=["next_song"]) for e in (emb, popularity)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?")
    ap.add_argument("-o", "--out")
    ap.add_argument(
        "--summary",
        nargs="+",
        metavar="NAME=OUT",
        help="print the docs/results.md table of earlier runs' OUT directories and exit",
    )
    ap.add_argument("--config", action="append", default=[], help="NAME=k=v,k=v")
    ap.add_argument("--grid", action="append", default=[], help="PARAM=v1,v2,... (product)")
    ap.add_argument("--rows", default="default,paper", help="which of default,paper to run")
    ap.add_argument("--test", action="store_true", help="also score the test split")
    ap.add_argument("--heldout-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    if args.summary:
        print(summary([spec.partition("=")[::2] for spec in args.summary]))
        return
    if args.dataset is None or args.out is None:
        ap.error("DATASET and -o OUT are required (or --summary)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = Dataset.load(args.dataset)
    protocols = tuning_protocols(ds, seed=args.seed, heldout_fraction=args.heldout_fraction)
    parts = {"validation": protocols.validation}
    if args.test:
        parts["test"] = protocols.test
    rows_path = out / "rows.jsonl"
    done = {}
    if rows_path.is_file():
        for line in rows_path.read_text().splitlines():
            row = json.loads(line)
            done[(row["name"], row["part"])] = row
    wanted = configurations(args)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    results: dict[str, dict[str, EvaluationResult]] = {p: {} for p in parts}
    for name, how in wanted.items():
        missing = {p: protocol for p, protocol in parts.items() if (name, p) not in done}
        if not missing:
            continue
        emb, resolved, seconds = train(ds, protocols.validation.train, name, how, args.workers)
        log.info("%s trained in %.0f CPU s: %s", name, seconds, resolved)
        for part, protocol in missing.items():
            res = scores(protocol, emb)
            results[part][name] = res[name]
            results[part]["popularity"] = res["popularity"]
            row = {
                "name": name,
                "part": part,
                "params": resolved,
                "asked": how,
                "cpu_seconds": seconds,
                "metrics": {m: res[name].metrics[m].value for m in COLUMNS},
                "popularity": {m: res["popularity"].metrics[m].value for m in COLUMNS},
                "commit": commit,
                "date": time.strftime("%Y-%m-%d"),
            }
            with rows_path.open("a") as fh:
                fh.write(json.dumps(row, default=float) + "\n")
            done[(name, part)] = row
            log.info("%s %s: %s", name, part, row["metrics"])
    write_tables(out, done, parts, results, protocols, args)


def paired(results: dict[str, EvaluationResult], name: str, ref: str, metric: str):
    """The paired t-test of row ``name`` against row ``ref`` on ``metric`` (Bonferroni over
    the four columns), or None when either was not scored in this run."""
    if name == ref or name not in results or ref not in results:
        return None
    return compare(results[name], results[ref], metrics=list(COLUMNS), alpha=0.01)[metric]


def write_tables(out, done, parts, results, protocols, args) -> None:
    """``OUT/tables.md``: per part, popularity and every row; ``OUT/tests.json``."""
    lines = [f"protocol: {json.dumps(protocols.test.summary())}", ""]
    tests: dict[str, Any] = {}
    for part in parts:
        rows = [r for (n, p), r in done.items() if p == part]
        if not rows:
            continue
        pop = rows[0]["popularity"]
        lines += [
            f"## {part}",
            "",
            "| row | " + " | ".join(LABELS) + " | CPU s | parameters |",
            "|---|" + "---:|" * (len(LABELS) + 1) + "---|",
            "| popularity | " + " | ".join(f"{pop[m]:.4f}" for m in COLUMNS) + " | | |",
        ]
        for r in rows:
            cells = []
            for m in COLUMNS:
                mark = ""
                for ref, up, down in (("popularity", "▲", "▼"), ("paper", "†", "‡")):
                    c = paired(results[part], r["name"], ref, m)
                    if c is None:
                        continue
                    tests.setdefault(part, {}).setdefault(r["name"], {}).setdefault(ref, {})[m] = {
                        "value": c.value_a,
                        ref: c.value_b,
                        "p_adjusted": c.p_adjusted,
                        "significant": bool(c.significant),
                    }
                    if c.significant:
                        mark += up if c.value_a > c.value_b else down
                cells.append(f"{r['metrics'][m]:.4f}{mark}")
            p = r["params"]
            shown = ", ".join(
                f"{k}={p[k]}"
                for k in ("epochs", "window", "negative", "alpha", "sample", "dim")
                if k in p
            )
            lines.append(
                f"| {r['name']} | " + " | ".join(cells) + f" | {r['cpu_seconds']:.0f} | {shown} |"
            )
        lines.append("")
    lines.append(
        "▲/▼: significantly above/below popularity, †/‡: above/below the paper preset "
        "(paired t-tests over the queries, Bonferroni over the four columns, p < 0.01); "
        "shown for rows scored in this run."
    )
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    if tests:
        (out / "tests.json").write_text(json.dumps(tests, indent=2, default=float) + "\n")
    print("\n".join(lines))


def summary(runs: list[tuple[str, str]]) -> str:
    """The default, the paper preset and popularity of each run directory: validation; test
    values, the test's marks against popularity (▲/▼) and the paper preset (†/‡)."""
    lines = [
        "| dataset | row | epochs, window | CPU s | "
        + " | ".join(f"{label} (val.; test)" for label in LABELS)
        + " |",
        "|---|---|---|---:|" + "---|" * len(LABELS),
    ]
    for dataset, out in runs:
        rows = {}
        for line in (Path(out) / "rows.jsonl").read_text().splitlines():
            row = json.loads(line)
            rows[(row["name"], row["part"])] = row
        tests = json.loads((Path(out) / "tests.json").read_text())["test"]
        pop = {p: rows[("default", p)]["popularity"] for p in ("validation", "test")}
        cells = [f"{pop['validation'][m]:.4f}; {pop['test'][m]:.4f}" for m in COLUMNS]
        lines.append(f"| {dataset} | popularity | | | " + " | ".join(cells) + " |")
        for name in ("paper", "default"):
            val, test = rows[(name, "validation")], rows[(name, "test")]
            cells = []
            for m in COLUMNS:
                mark = ""
                for ref, up, down in (("popularity", "▲", "▼"), ("paper", "†", "‡")):
                    t = tests.get(name, {}).get(ref, {}).get(m)
                    if t is not None and t["significant"]:
                        mark += up if t["value"] > t[ref] else down
                cells.append(f"{val['metrics'][m]:.4f}; {test['metrics'][m]:.4f}{mark}")
            p = test["params"]
            lines.append(
                f"| {dataset} | {name} | {p['epochs']}, {p['window']} | "
                f"{test['cpu_seconds']:.0f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The "Recommender" tables of docs/results.md (issue 30): tuned baselines, embeddings, the
two-stage recommender and its ablations, validation and test side by side.

    python experiments/recommender_results.py DATASET -o OUT \\
        --next-settings NEXT.json --completion-settings COMPLETION.json \\
        [--models track2vec,als] [--pairs 3000] [--challenge] [--parts validation,test]
    python experiments/recommender_results.py --table OUT [--title NAME]

Protocol: the tuning protocols' seeded split (seed 0, ``--heldout-fraction`` for validation
and for test: 90/5/5), the split the ranker settings were tuned on. Everything is fitted on
the shared training view only:

1. **Embeddings** (``--models``): each model with its defaults (Track2Vec: its adaptive
   default), seed 0, one worker; ``OUT/embeddings/NAME.npz`` (+ ``.json``: CPU seconds).
2. **Recommenders**: ``TwoStageRanker`` with the parameters declared below
   (:data:`RECOMMENDER`; chosen before any test figure was read), stage 1's kNN rankers
   with their tuned next-song settings (``--stage1-rankers``), fitted on queries of the
   validation sequences; then the ablations (``songspace.recommender.ablations``): without
   any embedding and without each in turn. ``OUT/recommenders/NAME``.
3. **Scores**, per part (validation, then test): every row on the same queries. Baseline
   rankers use their next-song settings for the next-song, stage-1 and segment families and
   their completion settings for completion and the Challenge; the beyond-accuracy metrics
   (``songspace.evaluation.beyond``) of the top-100 lists of the next-song out-of-set and
   completion queries. Next-song pairs: a uniform seeded sample of ``--pairs`` per protocol
   (the suite's ``next_song_max_pairs``), the same for every row. ``OUT/PART/ROW.json``
   (+ per-query values).

``--table OUT`` writes ``OUT/tables.md`` and ``OUT/tests.json``: the paired t-tests on the
test split's per-query values of the recommender (and each ablation) against the strongest
tuned simple baseline of each column (chosen on validation), Bonferroni over the tested
columns, alpha 0.01, with the difference's 95% confidence interval and the smallest
difference the test could detect (power 0.8 at the corrected level). Each stage is skipped
when its output exists (resumable).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from songspace.assignments import parse_assignments
from songspace.data.dataset import Dataset
from songspace.evaluation.beyond import beyond_accuracy
from songspace.evaluation.defaults import BASELINE_RANKER_NAMES, DEFAULT_SUITE, SuiteSettings
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.ranker_params import popularity_of
from songspace.evaluation.rankers import make_ranker, read_ranker_settings, top_k, top_k_single
from songspace.evaluation.results import EvaluationResult, MetricResult
from songspace.evaluation.stage1 import part_queries, ranker_of
from songspace.evaluation.suite import evaluate
from songspace.models import create
from songspace.recommender import TwoStageRanker, ablations
from songspace.recommender.features import _codes
from songspace.tuning.protocols import tuning_protocols

log = logging.getLogger("recommender_results")

#: The recommender's parameters (TwoStageRanker's defaults, LightGBM on one thread):
#: declared before any run; nothing here was chosen on the test split.
RECOMMENDER: dict[str, Any] = {"num_threads": 1}
#: Stage 1's kNN rankers (their tuned next-song settings).
STAGE1_RANKERS = ("stan", "sknn", "itemknn")
#: Families scored with the next-song settings of a baseline ranker / its completion ones.
NEXT_FAMILIES = ("next_song", "stage1", "segments")
COMPLETION_FAMILIES = ("completion",)
#: Recommendation lists of the beyond-accuracy metrics.
BEYOND_K = 100
#: Significance level (after Bonferroni) and power of the smallest detectable difference.
ALPHA, POWER = 0.01, 0.8
#: The simple (non-embedding) baselines: popularity and the tuned rankers.
SIMPLE = ("popularity", *BASELINE_RANKER_NAMES)


class LogProgress:
    """A progress callback that logs each step's start and every tenth of the way, with
    the elapsed time (the runs are long and in the background)."""

    def __init__(self, label: str) -> None:
        self.label, self.message, self.step, self.t0 = label, "", -1, time.perf_counter()

    def __call__(self, done: float, total: float, message: str, /) -> None:
        if message != self.message:
            self.message, self.step, self.t0 = message, -1, time.perf_counter()
        step = int(10 * done / total) if total else 10
        if step > self.step:
            self.step = step
            log.info(
                "%s: %s %d/%d (%.0f s)",
                self.label,
                message,
                done,
                total,
                time.perf_counter() - self.t0,
            )


def commit() -> str:
    out = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def stamp() -> dict[str, Any]:
    """Commit, UTC date and load average, recorded with every timed figure."""
    return {
        "commit": commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


# ------------------------------------------------------------------ embeddings
def embeddings(out: Path, ds: Dataset, view: Dataset, names: list[str]) -> list[Embeddings]:
    """Each model fitted on the training view (cached under ``out/embeddings``)."""
    folder = out / "embeddings"
    folder.mkdir(parents=True, exist_ok=True)
    embs = []
    for name in names:
        path = folder / f"{name}.npz"
        if not path.is_file():
            model = create(name, {"seed": 0, "workers": 1})
            t0, c0 = time.perf_counter(), time.process_time()
            model.fit(view)
            record = {
                "model": name,
                "params": getattr(model, "fitted_params_", None) or model.get_params(),
                "wall_seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
                **stamp(),
            }
            np.savez(path, vectors=model.embeddings_, available=model.available_)
            (folder / f"{name}.json").write_text(json.dumps(record, indent=2, default=str))
            log.info("%s trained: %s", name, record)
        with np.load(path) as z:
            embs.append(
                Embeddings.from_array(
                    z["vectors"], ds.n_tracks, available=z["available"], name=name
                )
            )
    return embs


# ------------------------------------------------------------------ recommenders
def recommender(
    out: Path,
    protocol: Protocol,
    embs: list[Embeddings],
    rankers: dict[str, dict[str, Any]],
    name: str,
    params: dict[str, Any],
) -> TwoStageRanker:
    """One recommender (the full one or an ablation), fitted once (cached) and loaded."""
    folder = out / "recommenders"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.is_dir():
        t0 = time.perf_counter()
        rec = TwoStageRanker.fit(
            protocol,
            embs,
            rankers=rankers,
            name=name,
            progress=LogProgress(f"fit {name}"),
            **params,
        )
        rec.description["training"]["wall_seconds"] = time.perf_counter() - t0
        rec.description["training"]["stamp"] = stamp()
        rec.save(path)
        log.info("%s fitted in %.0f s", name, time.perf_counter() - t0)
    return TwoStageRanker.load(path, protocol.train, embs, name=name)


# ------------------------------------------------------------------ scoring
def beyond(
    protocol: Protocol, settings: SuiteSettings, rankers: dict[str, Any], artist: np.ndarray
) -> list[MetricResult]:
    """Beyond-accuracy metrics of the top-100 lists of the next-song out-of-set queries
    (``rankers["next"]``) and the completion queries (``rankers["completion"]``)."""
    out = []
    pop = popularity_of(protocol.train)
    for part, key in (("next_song_out_of_set", "next"), ("completion", "completion")):
        q = part_queries(protocol, part, settings)
        t0 = time.perf_counter()
        ranker = rankers[key]
        if key == "next" and hasattr(ranker, "sparse_scores"):  # batched, same lists
            top = top_k_single(ranker, np.concatenate(q.seeds), BEYOND_K)
            lists = [row[row >= 0] for row in top]
        else:
            lists = [top_k(ranker, s, BEYOND_K) for s in q.seeds]
        res = beyond_accuracy(lists, pop, artist, prefix=f"beyond_{part}")
        for r in res:
            r.info["seconds"] = time.perf_counter() - t0
        out += res
    return out


def score_row(
    protocol: Protocol,
    settings: SuiteSettings,
    name: str,
    next_emb: Embeddings,
    completion_emb: Embeddings,
    families: tuple[str, ...],
    artist: np.ndarray,
) -> EvaluationResult:
    """One row: the next-song families of ``next_emb``, the completion families of
    ``completion_emb`` (the same object for everything but the tuned rankers), the
    beyond-accuracy metrics."""
    nxt = [f for f in families if f in NEXT_FAMILIES]
    comp = [f for f in families if f not in NEXT_FAMILIES]
    t0 = time.perf_counter()
    progress = LogProgress(name)
    res = evaluate(protocol, next_emb, families=nxt, settings=settings, progress=progress)
    other = evaluate(protocol, completion_emb, families=comp, settings=settings, progress=progress)
    res.add(*other.metrics.values())
    for key in ("seconds", "cpu_seconds"):
        res.info[key] = {**res.info.get(key, {}), **other.info.get(key, {})}
    if "settings" in other.info:
        res.info["completion_settings"] = other.info["settings"]
    pop = popularity_of(protocol.train)
    t1 = time.perf_counter()
    res.add(
        *beyond(
            protocol,
            settings,
            {"next": ranker_of(next_emb, pop), "completion": ranker_of(completion_emb, pop)},
            artist,
        )
    )
    res.info["seconds"]["beyond"] = time.perf_counter() - t1
    res.info["wall_seconds"] = time.perf_counter() - t0
    res.info["stamp"] = stamp()
    res.info["queries"] = {
        part: part_queries(protocol, part, settings).info
        for part in ("next_song_in_set", "next_song_out_of_set", "completion")
    }
    return res


def score(
    out: Path,
    part: str,
    protocol: Protocol,
    settings: SuiteSettings,
    next_settings: dict[str, dict[str, Any]],
    completion_settings: dict[str, dict[str, Any]],
    embs: list[Embeddings],
    recs: dict[str, TwoStageRanker],
    families: tuple[str, ...],
    baselines: bool = True,
) -> None:
    """The rows of one part (the baselines and embeddings unless ``baselines`` is False,
    then ``recs``), each written as soon as it is scored (skipped if there)."""
    folder = out / part
    folder.mkdir(parents=True, exist_ok=True)
    ds, n = protocol.dataset, protocol.dataset.n_tracks
    artist = (
        _codes(ds.tracks["artist_id"]) if "artist_id" in ds.tracks else np.full(n, -1, np.int64)
    )
    rows: list[tuple[str, Any]] = []
    if baselines:
        rows += [("popularity", None)]
        rows += [(r, None) for r in BASELINE_RANKER_NAMES]
        rows += [(e.name, e) for e in embs]
    rows += list(recs.items())
    for name, obj in rows:
        path = folder / f"{name}.json"
        if path.is_file():
            continue
        log.info("%s: scoring %s", part, name)
        if name == "popularity":
            a = b = Embeddings.popularity_baseline(protocol.train)
        elif obj is None:
            a = Embeddings.from_ranker(make_ranker(name, protocol.train, next_settings[name]), n)
            b = Embeddings.from_ranker(
                make_ranker(name, protocol.train, completion_settings[name]), n
            )
        elif isinstance(obj, TwoStageRanker):
            obj.remember(1_000_000)  # each query's features and model once per part
            a = b = Embeddings.from_ranker(obj, n)
        else:
            a = b = obj
        res = score_row(protocol, settings, name, a, b, families, artist)
        if isinstance(obj, TwoStageRanker):
            obj.remember(0)
            res.info["recommender"] = {
                "params": obj.params,
                "training": obj.description.get("training", {}),
            }
        res.save(path)
        log.info("%s: %s done in %.0f s", part, name, res.info["wall_seconds"])


# ------------------------------------------------------------------ tables
def load_part(out: Path, part: str) -> dict[str, EvaluationResult]:
    """The rows of one part; refuses rows scored on different queries (another
    ``--pairs``), whose values and paired tests would not compare."""
    folder = out / part
    if not folder.is_dir():
        return {}
    rows = {
        p.stem: EvaluationResult.load(p)
        for p in sorted(folder.glob("*.json"))
        if not p.name.endswith(".per_query.json")
    }
    seen = {name: r.info.get("queries") for name, r in rows.items() if r.info.get("queries")}
    kinds = {json.dumps(q, sort_keys=True) for q in seen.values()}
    if len(kinds) > 1:
        detail = "; ".join(f"{name}: {q}" for name, q in seen.items())
        raise SystemExit(
            f"{folder}: rows scored on different queries ({detail}). Fix: score every row "
            "of a part with the same --pairs / --validation-pairs (move the odd rows aside "
            "and run the command again)."
        )
    return rows


def columns(results: dict[str, EvaluationResult]) -> list[tuple[str, str]]:
    """(metric, label) of the table's accuracy columns that the results hold."""
    wanted = [
        ("next_song_in_set_hit_rate", "next in-set HR@100"),
        ("next_song_in_set_ndcg", "next in-set NDCG"),
        ("next_song_out_of_set_hit_rate", "next out-of-set HR@100"),
        ("next_song_out_of_set_ndcg", "next out-of-set NDCG"),
        ("completion_hr", "completion HR"),
        ("challenge_r_precision", "Challenge R-prec."),
        ("challenge_ndcg", "Challenge NDCG"),
        ("challenge_clicks", "Challenge clicks"),
    ]
    have = set().union(*(r.metrics for r in results.values())) if results else set()
    return [(m, label) for m, label in wanted if m in have]


def better(a: float, b: float, metric: str) -> bool:
    return a < b if metric == "challenge_clicks" else a > b


def reference(val: dict[str, EvaluationResult], metric: str) -> str | None:
    """The strongest simple baseline of ``metric`` on validation."""
    best = None
    for name in SIMPLE:
        r = val.get(name)
        if r is None or metric not in r.metrics or math.isnan(r.metrics[metric].value):
            continue
        if best is None or better(r.metrics[metric].value, val[best].metrics[metric].value, metric):
            best = name
    return best


def paired(x: np.ndarray, y: np.ndarray, m: int) -> dict[str, float]:
    """Paired t-test of ``x - y``: the difference, its 95% CI, p (raw, Bonferroni over
    ``m``) and the smallest difference detectable at ALPHA / m with POWER."""
    from scipy import stats

    d = np.asarray(x, np.float64) - np.asarray(y, np.float64)
    n = len(d)
    mean, sd = float(d.mean()), float(d.std(ddof=1)) if n > 1 else 0.0
    se = sd / math.sqrt(n) if n > 1 else float("nan")
    if sd == 0:
        t, p = (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t, p = mean / se, float(2 * stats.t.sf(abs(mean / se), n - 1))
    q = stats.t.ppf(0.975, n - 1)
    mde = (stats.t.ppf(1 - ALPHA / m / 2, n - 1) + stats.t.ppf(POWER, n - 1)) * se
    return {
        "diff": mean,
        "ci_low": mean - q * se,
        "ci_high": mean + q * se,
        "n": n,
        "t": t,
        "p": p,
        "p_adjusted": min(1.0, p * m),
        "mde": float(mde),
    }


def fmt(v: float | None, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    return f"{v:.{digits}f}"


def test_line(name: str, metric: str, c: dict[str, Any], reference: str | None = None) -> str:
    """One row of a tests table: row, column, [reference,] difference [95% CI], p_adj,
    smallest detectable difference."""
    ref = "" if reference is None else f" {reference} |"
    return (
        f"| {name} | {metric} |{ref} {c['diff']:+.4f} [{c['ci_low']:+.4f}, "
        f"{c['ci_high']:+.4f}] | {c['p_adjusted']:.2g} | {c['mde']:.4f} |"
    )


def table(out: Path, title: str) -> str:
    val, test = load_part(out, "validation"), load_part(out, "test")
    rows = [r for r in [*SIMPLE] if r in val or r in test]
    rows += [r for r in {**val, **test} if r not in rows]
    cols = columns({**val, **test})
    testable = [m for m, _ in cols]
    m = len(testable)
    tests: dict[str, Any] = {"alpha": ALPHA, "power": POWER, "columns": testable, "rows": {}}
    refs = {metric: reference(val, metric) for metric in testable}
    tests["references"] = refs
    for name, r in test.items():
        if name in SIMPLE:
            continue
        per = {}
        for metric in testable:
            ref = refs[metric]
            if ref is None or ref not in test or metric not in r.metrics:
                continue
            x, y = r.metrics[metric].per_query, test[ref].metrics[metric].per_query
            if x.shape != y.shape or len(x) < 2:
                continue
            c = paired(x, y, m)
            if metric == "challenge_clicks":  # lower is better: report the gain
                c["better"] = c["diff"] < 0
            else:
                c["better"] = c["diff"] > 0
            c["reference"] = ref
            c["significant"] = c["p_adjusted"] < ALPHA
            per[metric] = c
        tests["rows"][name] = per
    # the ablations against the full recommender (the embeddings' contribution)
    tests["ablations"] = {}
    full = test.get("twostage")
    for name, r in test.items():
        if full is None or not (name == "no_embeddings" or name.startswith("without_")):
            continue
        per = {}
        for metric in testable:
            if metric in r.metrics and metric in full.metrics:
                x, y = full.metrics[metric].per_query, r.metrics[metric].per_query
                if x.shape == y.shape and len(x) > 1:
                    c = paired(x, y, m)
                    c["significant"] = c["p_adjusted"] < ALPHA
                    per[metric] = c
        tests["ablations"][name] = per
    # the gain as a share of the reachable headroom (stage-1 recall minus the baseline)
    tests["headroom"] = {}
    for part in ("next_song_out_of_set", "next_song_in_set"):
        metric, recall = f"{part}_hit_rate", f"stage1_{part}_recall@200"
        ref = refs.get(metric)
        if full is None or ref not in test or recall not in full.metrics:
            continue
        base = test[ref].metrics[metric].value
        reach = full.metrics[recall].value
        gain = full.metrics[metric].value - base
        tests["headroom"][part] = {
            "reference": ref,
            "baseline": base,
            "stage1_recall@200": reach,
            "gain": gain,
            "share": gain / (reach - base) if reach > base else float("nan"),
        }
    (out / "tests.json").write_text(json.dumps(tests, indent=2) + "\n")

    def cell(name: str, metric: str) -> str:
        a = val.get(name)
        b = test.get(name)
        va = a.metrics[metric].value if a and metric in a.metrics else None
        vb = b.metrics[metric].value if b and metric in b.metrics else None
        mark = ""
        c = tests["rows"].get(name, {}).get(metric)
        if c and c["significant"]:
            mark = "▲" if c["better"] else "▼"
        if name == refs.get(metric):
            mark = "ʳ"
        return f"{fmt(va)}; {fmt(vb)}{mark}"

    lines = [f"### {title}: accuracy (validation; test)", ""]
    lines.append("| row | " + " | ".join(label for _, label in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    for name in rows:
        lines.append(f"| {name} | " + " | ".join(cell(name, mt) for mt, _ in cols) + " |")
    beyond_cols = [
        ("beyond_next_song_out_of_set_coverage", "next: coverage"),
        ("beyond_next_song_out_of_set_popularity", "next: mean log pop."),
        ("beyond_next_song_out_of_set_artist_diversity", "next: artist div."),
        ("beyond_completion_coverage", "compl.: coverage"),
        ("beyond_completion_popularity", "compl.: mean log pop."),
        ("beyond_completion_artist_diversity", "compl.: artist div."),
    ]
    seg_cols = [
        ("stage1_next_song_out_of_set_recall@200", "out-of-set stage-1 R@200"),
        ("stage1_next_song_out_of_set_recall@1000", "out-of-set stage-1 R@1000"),
        ("segments_next_song_out_of_set_hit_rate_cooccurred", "HR co-occurred"),
        ("segments_next_song_out_of_set_hit_rate_never", "HR never"),
        ("segments_next_song_out_of_set_stage1_recall@200_cooccurred", "R@200 co-occurred"),
        ("segments_next_song_out_of_set_stage1_recall@200_never", "R@200 never"),
        ("stage1_completion_recall@200", "completion stage-1 R@200"),
        ("segments_completion_hit_rate_never", "completion HR never"),
    ]
    for head, group in (
        ("beyond accuracy, top 100 (validation; test)", beyond_cols),
        ("stage-1 recall and segments, out-of-set next-song (validation; test)", seg_cols),
    ):
        lines += ["", f"### {title}: {head}", ""]
        lines.append("| row | " + " | ".join(label for _, label in group) + " |")
        lines.append("|---|" + "---|" * len(group))
        for name in rows:
            cells = []
            for metric, _ in group:
                a, b = val.get(name), test.get(name)
                va = a.metrics[metric].value if a and metric in a.metrics else None
                vb = b.metrics[metric].value if b and metric in b.metrics else None
                cells.append(f"{fmt(va, 3)}; {fmt(vb, 3)}")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    # segment shares (test)
    any_test = next(iter(test.values()), None)
    if any_test is not None:
        shares = []
        for seg in ("cooccurred", "never", "unseen"):
            key = f"segments_next_song_out_of_set_hit_rate_{seg}"
            if key in any_test.metrics:
                shares.append(f"{seg} {any_test.metrics[key].info.get('share', float('nan')):.3f}")
        lines += ["", "Test out-of-set segment shares: " + ", ".join(shares) + "."]
    # times
    lines += ["", f"### {title}: times (test scoring; fits)", ""]
    lines.append("| row | training (s) | scoring wall (s), test | per next-song query (ms) |")
    lines.append("|---|---:|---:|---:|")
    for name in rows:
        r = test.get(name)
        train_s = training_seconds(out, name, r)
        if r is None:
            continue
        wall = r.info.get("wall_seconds")
        nq = sum(
            r.info.get("queries", {}).get(p, {}).get("pairs_evaluated", 0)
            for p in ("next_song_in_set", "next_song_out_of_set")
        )
        ns = r.info.get("seconds", {}).get("next_song")
        per = 1000 * ns / nq if ns and nq else None
        lines.append(f"| {name} | {fmt(train_s, 0)} | {fmt(wall, 0)} | {fmt(per, 1)} |")
    # tests
    lines += [
        "",
        f"### {title}: paired t-tests on test against the strongest tuned simple "
        f"baseline of each column (chosen on validation; Bonferroni over {m} columns)",
        "",
    ]
    lines.append("| row | column | reference | difference [95% CI] | p_adj | smallest detectable |")
    lines.append("|---|---|---|---|---:|---:|")
    for name, per in tests["rows"].items():
        lines += [test_line(name, metric, c, c["reference"]) for metric, c in per.items()]
    if tests["ablations"]:
        lines += ["", f"### {title}: the full recommender against each ablation (test)", ""]
        lines.append(
            "| ablation | column | full minus ablation [95% CI] | p_adj | smallest detectable |"
        )
        lines.append("|---|---|---|---:|---:|")
        for name, per in tests["ablations"].items():
            lines += [test_line(name, metric, c) for metric, c in per.items()]
    for part, h in tests["headroom"].items():
        lines.append(
            f"\nHeadroom, {part} (test): baseline {h['reference']} {h['baseline']:.4f}, "
            f"stage-1 recall@200 {h['stage1_recall@200']:.4f}, gain {h['gain']:+.4f} = "
            f"{100 * h['share']:.1f}% of the reachable headroom."
        )
    text = "\n".join(lines) + "\n"
    (out / "tables.md").write_text(text)
    return text


def training_seconds(out: Path, name: str, r: EvaluationResult | None) -> float | None:
    emb = out / "embeddings" / f"{name}.json"
    if emb.is_file():
        return float(json.loads(emb.read_text())["cpu_seconds"])
    rec = out / "recommenders" / name / "recommender.json"
    if rec.is_file():
        training = json.loads(rec.read_text()).get("training", {})
        return training.get("wall_seconds")
    return None


def validation_protocol(protocol: Protocol) -> Protocol:
    """The validation protocol with the validation sequences as its held-out part: the
    Challenge family draws its playlists from ``split.test``, which would otherwise read
    the test sequences in the validation column."""
    split = replace(protocol.split, test=protocol.split.validation)
    return replace(protocol, split=split, _cache={})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("dataset", nargs="?")
    ap.add_argument("-o", "--out")
    ap.add_argument("--table", metavar="OUT", help="write OUT/tables.md and OUT/tests.json")
    ap.add_argument("--title", default="dataset")
    ap.add_argument("--next-settings", help="tune-rankers' next-song settings file")
    ap.add_argument("--completion-settings", help="tune-rankers' completion settings file")
    ap.add_argument("--models", default="track2vec,als")
    ap.add_argument(
        "--pairs",
        type=int,
        default=3000,
        help="next-song pairs per test protocol (in- and out-of-set)",
    )
    ap.add_argument(
        "--validation-pairs",
        type=int,
        help="next-song pairs per validation protocol (default: --pairs)",
    )
    ap.add_argument("--challenge", action="store_true", help="add the RecSys Challenge protocol")
    ap.add_argument(
        "--ablations",
        default="no_embeddings,without_track2vec,without_als",
        help="the ablations to fit and score, in this order ('' for none)",
    )
    ap.add_argument(
        "--ablation-parts", default="test", help="the parts the ablations are scored on"
    )
    ap.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a recommender parameter (smoke tests only: the tables use RECOMMENDER)",
    )
    ap.add_argument("--parts", default="validation,test")
    ap.add_argument(
        "--no-baselines",
        action="store_true",
        help="score only the recommender rows (another process scores the baselines)",
    )
    ap.add_argument(
        "--no-recommender",
        action="store_true",
        help="score only the baseline and embedding rows (another process scores the rest)",
    )
    ap.add_argument("--heldout-fraction", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.table:
        print(table(Path(args.table), args.title))
        return
    if not (args.dataset and args.out and args.next_settings and args.completion_settings):
        ap.error("DATASET, -o, --next-settings and --completion-settings are required")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"start-{os.getpid()}.json").write_text(json.dumps({**stamp(), "args": vars(args)}))
    ds = Dataset.load(args.dataset)
    protocols = tuning_protocols(ds, seed=args.seed, heldout_fraction=args.heldout_fraction)
    view = protocols.validation.train
    assert view is protocols.test.train or view.n_sequences == protocols.test.train.n_sequences
    nxt = read_ranker_settings(args.next_settings)
    comp = read_ranker_settings(args.completion_settings)
    embs = embeddings(out, ds, view, [m for m in args.models.split(",") if m])
    params = {
        **RECOMMENDER,
        **TwoStageRanker.parse_params(parse_assignments(args.param, "--param")),
    }
    stage1 = {r: nxt[r] for r in STAGE1_RANKERS}
    pairs = {"validation": args.validation_pairs or args.pairs, "test": args.pairs}
    families = (*NEXT_FAMILIES, *COMPLETION_FAMILIES, *(("challenge",) if args.challenge else ()))
    parts = {"validation": validation_protocol(protocols.validation), "test": protocols.test}
    # the shared training view; the stage-2 queries come from the validation sequences
    full = recommender(out, protocols.test, embs, stage1, "twostage", params)
    for part in [p for p in args.parts.split(",") if p]:
        settings = replace(DEFAULT_SUITE, next_song_max_pairs=pairs[part])
        recs = {} if args.no_recommender else {"twostage": full}
        score(
            out, part, parts[part], settings, nxt, comp, embs, recs, families, not args.no_baselines
        )
    variants = ablations([e.name for e in embs])
    for name in [v for v in args.ablations.split(",") if v]:
        rec = recommender(out, protocols.test, embs, stage1, name, {**params, **variants[name]})
        for part in args.ablation_parts.split(","):
            settings = replace(DEFAULT_SUITE, next_song_max_pairs=pairs[part])
            score(out, part, parts[part], settings, nxt, comp, embs, {name: rec}, families, False)
    log.info("done: %s", stamp())


if __name__ == "__main__":
    main()

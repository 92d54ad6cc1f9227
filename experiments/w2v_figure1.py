"""W2V Figure 1: Local Coherence against VRC over embedding spaces from the tuning studies.

The W2V paper (§4.3, Figure 1) validates VRC as a cheap proxy for local coherence: over
many embedding spaces, Local Genre Coherence (500 tracks stratified over the 10 most
played genres, 50 nearest neighbours) rises with VRC_genre, and Local Artist Coherence
(125 artists x 5 tracks) with VRC_artist. This script measures the same relation on
spaces our studies produced:

* the studies' reference configuration (W2V Table 3) and the complete trials of the
  given studies picked at evenly spaced quantiles of their validation VRC_genre (so the
  spaces span the range the searches visited), plus each study's best trial;
* each configuration retrained on the test protocol's training view of
  ``songspace.tuning.protocols.tuning_protocols`` (the view ``tune-report`` retrains
  on, through the same model cache, so a later report reuses these fits);
* VRC_genre, VRC_artist and both local coherences (``songspace.evaluation.clustering``)
  of each space, each coherence with its 95% confidence interval (normal approximation
  over the sampled tracks), and the Pearson and Spearman correlations over the spaces
  (Pearson's with a Fisher-z 95% interval).

    L=track2vec-hit_rate+vrc_genre-a0.01
    python experiments/w2v_figure1.py runs/tuning/mpd \\
        --study sqlite:///runs/tuning/tune-hit_rate.db=track2vec-hit_rate \\
        --study "sqlite:///runs/tuning/tune-lambda_genre_0.01.db=$L" \\
        --spaces 10 --cache runs/tuning/cache -o runs/figure1

Writes ``OUT/spaces.json`` (one record per space, resumable: spaces already measured
are kept), ``OUT/figure1.png`` and ``OUT/figure1.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from songspace._optional import pyplot
from songspace._util import atomic_write_figure, atomic_write_text
from songspace.data.dataset import Dataset
from songspace.data.fingerprint import dataset_fingerprint
from songspace.evaluation.clustering import artist_coherence
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.suite import evaluate
from songspace.models.registry import get_model_class
from songspace.reports.cache import fit_or_load, full_params, split_key
from songspace.tuning.protocols import tuning_protocols
from songspace.tuning.settings import StudySettings
from songspace.tuning.storage import optuna_module
from songspace.tuning.study import reference_config

logger = logging.getLogger("songspace.experiments.figure1")
PAIRS = (("vrc_genre", "genre_coherence"), ("vrc_artist", "artist_coherence"))


def load_study(spec: str) -> tuple[str, Any]:
    """``STORAGE=NAME`` -> (name, the Optuna study)."""
    storage, _, name = spec.rpartition("=")
    optuna = optuna_module()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return name, optuna.load_study(study_name=name, storage=storage)


def pick_trials(studies: list[tuple[str, Any]], n: int) -> list[tuple[str, Any]]:
    """Each study's best trial, then trials at evenly spaced quantiles of validation
    VRC_genre over all complete trials, until ``n`` distinct trials (label, trial)."""
    picked: dict[str, Any] = {}
    pool = []
    for name, st in studies:
        done = [t for t in st.trials if t.state.name == "COMPLETE"]
        best = max(done, key=lambda t: t.values[0])
        picked[f"{name}#{best.number}"] = best
        pool += [(f"{name}#{t.number}", t) for t in done if "vrc_genre" in t.user_attrs["metrics"]]
    pool.sort(key=lambda lt: lt[1].user_attrs["metrics"]["vrc_genre"])
    for q in np.linspace(0, len(pool) - 1, max(n - len(picked), 2)):
        label, trial = pool[round(q)]
        picked.setdefault(label, trial)
    return list(picked.items())[:n]


def ci95(per_query: np.ndarray) -> list[float]:
    """Normal-approximation 95% interval of a mean."""
    half = 1.96 * per_query.std(ddof=1) / np.sqrt(len(per_query))
    return [float(per_query.mean() - half), float(per_query.mean() + half)]


def measure(label: str, params: dict[str, Any], ctx: dict[str, Any]) -> dict[str, Any]:
    """Retrain one configuration (or load it from the cache) and measure its clustering."""
    start = time.time()
    fitted, entry = fit_or_load(
        "track2vec",
        full_params("track2vec", params),
        ctx["protocol"].train,
        ctx["cache"],
        ctx["fingerprint"],
        ctx["view"],
        label=label,
    )
    emb = Embeddings.from_array(
        fitted.embeddings_,
        ctx["protocol"].dataset.n_tracks,
        available=fitted.available_,
        name=label,
    )
    res = evaluate(ctx["protocol"], emb, families=["clustering"])
    ds, seed, min_tracks = ctx["protocol"].dataset, ctx["protocol"].seed, ctx["artist_min_tracks"]
    res.metrics["artist_coherence"] = artist_coherence(emb, ds, seed=seed, min_tracks=min_tracks)
    rec: dict[str, Any] = {"label": label, "params": params, "training_time": entry.training_time}
    rec["artist_min_tracks"] = min_tracks
    for vrc_name, coh_name in PAIRS:
        coh = res.metrics[coh_name]
        rec[vrc_name] = float(res.metrics[vrc_name].value)
        rec[coh_name] = float(coh.value)
        rec[coh_name + "_ci95"] = ci95(coh.per_query)
        rec[coh_name + "_n"] = len(coh.per_query)
    logger.info("%s: %s (%.0f s)", label, {k: rec[k] for k in sum(PAIRS, ())}, time.time() - start)
    return rec


def correlation(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Pearson r with its Fisher-z 95% interval, and Spearman's rho, with p-values."""
    r, p = stats.pearsonr(x, y)
    z, se = np.arctanh(r), 1.0 / np.sqrt(len(x) - 3)
    rho, p_rho = stats.spearmanr(x, y)
    lo, hi = np.tanh(z - 1.96 * se), np.tanh(z + 1.96 * se)
    return {
        "pearson": float(r),
        "pearson_ci95": [float(lo), float(hi)],
        "pearson_p": float(p),
        "spearman": float(rho),
        "spearman_p": float(p_rho),
        "n": len(x),
    }


def plot(records: list[dict[str, Any]], corr: dict[str, Any], path: Path) -> None:
    """Two panels: each coherence (with its interval) against its VRC, log-scaled VRC."""
    plt = pyplot("the Figure 1 plot")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (vrc_name, coh_name) in zip(axes, PAIRS, strict=True):
        x = np.array([r[vrc_name] for r in records])
        y = np.array([r[coh_name] for r in records])
        lo = y - np.array([r[coh_name + "_ci95"][0] for r in records])
        hi = np.array([r[coh_name + "_ci95"][1] for r in records]) - y
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o", capsize=3)
        c = corr[vrc_name]
        ax.set_xscale("log")
        ax.set_xlabel(vrc_name.replace("_", " ") + " (log scale)")
        ax.set_ylabel(coh_name.replace("_", " ") + " (k = 50)")
        ax.set_title(f"Pearson r {c['pearson']:.2f}, Spearman {c['spearman']:.2f} (n={c['n']})")
    fig.suptitle("W2V Figure 1 on the MPD subset: local coherence vs VRC (Track2Vec spaces)")
    fig.tight_layout()
    atomic_write_figure(path, fig)
    plt.close(fig)


def markdown(records: list[dict[str, Any]], corr: dict[str, Any]) -> str:
    """The table of spaces and the correlations."""
    lines = [
        "| space | VRC_genre | genre coherence (95% CI) | VRC_artist | artist coherence (95% CI) |",
        "|---|---:|---|---:|---|",
    ]
    for r in sorted(records, key=lambda r: r["vrc_genre"]):
        g, a = r["genre_coherence_ci95"], r["artist_coherence_ci95"]
        lines.append(
            f"| {r['label']} | {r['vrc_genre']:.2f} | {r['genre_coherence']:.3f} "
            f"({g[0]:.3f}-{g[1]:.3f}) | {r['vrc_artist']:.2f} | {r['artist_coherence']:.3f} "
            f"({a[0]:.3f}-{a[1]:.3f}) |"
        )
    lines.append("")
    for vrc_name, coh_name in PAIRS:
        c = corr[vrc_name]
        lines.append(
            f"- {coh_name} vs {vrc_name}: Pearson r = {c['pearson']:.3f} (95% CI "
            f"{c['pearson_ci95'][0]:.3f} to {c['pearson_ci95'][1]:.3f}, p = {c['pearson_p']:.2g}), "
            f"Spearman rho = {c['spearman']:.3f} (p = {c['spearman_p']:.2g}), over {c['n']} spaces"
        )
        c_log = corr[vrc_name + "_log"]
        lines.append(f"  (Pearson r against log VRC: {c_log['pearson']:.3f})")
    return "\n".join(lines) + "\n"


def context(data: Path, first: Any, cache: Path | None) -> dict[str, Any]:
    """The test protocol of the studies' split, the cache key parts and the dataset."""
    s = StudySettings.from_attrs(first.user_attrs["songspace"], first.study_name)
    ds = Dataset.load(data)
    protocol = tuning_protocols(
        ds, seed=s.seed, heldout_fraction=s.heldout_fraction, min_tracks=s.min_tracks
    ).test
    h = s.heldout_fraction
    return {
        "protocol": protocol,
        "cache": cache,
        "fingerprint": dataset_fingerprint(ds),
        "view": split_key(s.seed, (1.0 - 2 * h, h, h)),
        "fixed": s.fixed_params,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("data", type=Path, help="the prepared dataset the studies tuned on")
    ap.add_argument("--study", action="append", required=True, help="STORAGE=STUDY_NAME")
    ap.add_argument("--spaces", type=int, default=10, help="embedding spaces (>= 5)")
    ap.add_argument("--cache", type=Path, default=None, help="the shared model cache")
    ap.add_argument(
        "--artist-min-tracks",
        type=int,
        default=25,
        help="artists eligible for the artist sample: at least this many tracks (paper: 25)",
    )
    ap.add_argument(
        "--recorded-only",
        action="store_true",
        help="measure again only the spaces already in OUT/spaces.json (no new picks)",
    )
    ap.add_argument("-o", "--out", type=Path, required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    studies = [load_study(s) for s in args.study]
    ctx = context(args.data, studies[0][1], args.cache)
    klass = get_model_class("track2vec")
    configs = [("reference (W2V Table 3)", reference_config(studies[0][1], klass, ctx["fixed"]))]
    if not args.recorded_only:
        configs += [
            (label, {**klass.default_params(), **t.user_attrs["model_params"]})
            for label, t in pick_trials(studies, args.spaces - 1)
        ]
    args.out.mkdir(parents=True, exist_ok=True)
    done_path = args.out / "spaces.json"
    records = json.loads(done_path.read_text()) if done_path.exists() else []
    ctx["artist_min_tracks"] = args.artist_min_tracks
    stale = [r for r in records if r.get("artist_min_tracks") != args.artist_min_tracks]
    records = [r for r in records if r not in stale]
    configs = [(r["label"], r["params"]) for r in stale] + configs
    have = {r["label"] for r in records}
    for label, params in configs:
        if label not in have:
            records.append(measure(label, params, ctx))
            have.add(label)
            atomic_write_text(done_path, json.dumps(records, indent=1))
    corr = {}
    for vrc_name, coh_name in PAIRS:
        x = np.array([r[vrc_name] for r in records])
        y = np.array([r[coh_name] for r in records])
        corr[vrc_name] = correlation(x, y)
        corr[vrc_name + "_log"] = correlation(np.log(x), y)
    atomic_write_text(args.out / "correlations.json", json.dumps(corr, indent=1))
    atomic_write_text(args.out / "figure1.md", markdown(records, corr))
    plot(records, corr, args.out / "figure1.png")
    print((args.out / "figure1.md").read_text())


if __name__ == "__main__":
    main()

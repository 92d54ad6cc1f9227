"""Cold-start evaluation: tracks that arrive after training (MUSIG §3.2, SPEC §3).

A seeded share of the tracks occurring in training sequences is made *cold*:
removed from every training sequence, so no model sees them. After training,

- a transductive model (Track2Vec, Node2Vec, WARP) has no vector for them: they are
  unrankable (placed last) and lower its coverage;
- an inductive model embeds them with its trained aggregators once their edges are
  added back (the training sequences with the cold tracks restored, the graph has
  grown): ``model.embed(grown)``, no retraining. Its training-time vectors (cold
  tracks isolated, features only) are reported too, as ``<name> (no edges)``.

Scored on the test playlists (>= ``min_tracks``) that contain a cold track
(playlist completion, MUSIG §4.1) and on the test's consecutive pairs with a cold
query or target (out-of-set next-song, W2V §2.1), with the random and popularity
baselines and paired tests against the first model given.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from songspace._checks import check_heldout_share
from songspace.data.dataset import Dataset
from songspace.data.splits import mask_last
from songspace.errors import ParameterError
from songspace.evaluation.completion import playlist_completion
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.next_song import next_song
from songspace.evaluation.protocol import Protocol, make_protocol
from songspace.evaluation.results import Comparison, EvaluationResult, compare
from songspace.evaluation.suite import _plain, _shared_testable
from songspace.models.base import EmbeddingModel
from songspace.progress import ProgressCallback

logger = logging.getLogger("songspace")


@dataclass
class ColdStart:
    """The cold-start protocol: the split, the grown training view and the queries."""

    protocol: Protocol
    cold: np.ndarray
    grown: Dataset
    playlists: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray]

    def summary(self) -> dict[str, Any]:
        return {
            **self.protocol.summary(),
            "cold_tracks": len(self.cold),
            "cold_playlists": len(self.playlists),
            "cold_pairs": len(self.pairs[0]),
        }


@dataclass
class ColdStartReport:
    setup: ColdStart
    results: list[EvaluationResult]
    tests: dict[str, dict[str, Comparison]] = field(default_factory=dict)
    training_time: dict[str, float] = field(default_factory=dict)


def cold_start_protocol(
    dataset: Dataset,
    *,
    seed: int = 0,
    test_fraction: float = 0.1,
    cold_share: float = 0.05,
    min_tracks: int = 40,
) -> ColdStart:
    """Split with ``cold_share`` cold tracks and collect the cold queries."""
    check_heldout_share(test_fraction, "test_fraction")
    protocol = make_protocol(
        dataset,
        seed=seed,
        fractions=(1 - 2 * test_fraction, test_fraction, test_fraction),
        cold_start_share=cold_share,
        min_tracks=min_tracks,
    )
    cold = protocol.split.cold_tracks
    is_cold = np.zeros(dataset.n_tracks, dtype=bool)
    is_cold[cold] = True
    playlists = np.array(
        [p for p in protocol.completion if is_cold[dataset.sequence(p)].any()], dtype=np.int64
    )
    q, t = protocol.out_of_set
    keep = is_cold[q] | is_cold[t]
    grown = mask_last(dataset, protocol.split.train)[0]
    setup = ColdStart(protocol, cold, grown, playlists, (q[keep], t[keep]))
    if len(playlists) == 0 and not keep.any():
        raise ParameterError(
            "cold_share",
            "a split whose test sequences contain cold tracks",
            f"cold_share={cold_share}, test_fraction={test_fraction}: none",
            fix="raise cold_share or test_fraction",
        )
    logger.info("cold start: %s", setup.summary())
    return setup


def _score(setup: ColdStart, emb: Embeddings, k: int) -> EvaluationResult:
    ds = setup.protocol.dataset
    res = EvaluationResult(emb.name, info={"coverage": emb.coverage})
    if len(setup.playlists):
        res.add(*playlist_completion(ds, emb, setup.playlists, seed=setup.protocol.seed))
    if len(setup.pairs[0]):
        res.add(*next_song(emb, *setup.pairs, k=k, prefix="next_song_cold"))
    cold_cov = float(emb.available[setup.cold].mean()) if len(setup.cold) else float("nan")
    res.info["cold_coverage"] = cold_cov
    return res


def cold_start_evaluation(
    dataset: Dataset,
    models: Mapping[str, EmbeddingModel],
    *,
    seed: int = 0,
    test_fraction: float = 0.1,
    cold_share: float = 0.05,
    min_tracks: int = 40,
    k: int = 100,
    on_model: Callable[[str], Any] | None = None,
    progress: ProgressCallback | None = None,
) -> ColdStartReport:
    """Fit each (unfitted) model on the cold-start training view and score it
    (``progress`` is passed to every ``fit``).

    ``models`` maps a display name to a model; the first one is the reference of
    the paired tests (Bonferroni-corrected, as everywhere).
    """
    if not models:
        raise ParameterError("models", "at least one model", "none")
    setup = cold_start_protocol(
        dataset,
        seed=seed,
        test_fraction=test_fraction,
        cold_share=cold_share,
        min_tracks=min_tracks,
    )
    n = dataset.n_tracks
    embs = [
        Embeddings.random(n, 64, seed=seed),
        Embeddings.popularity_baseline(setup.protocol.train),
    ]
    times: dict[str, float] = {}
    for name, model in models.items():
        if on_model is not None:
            on_model(name)
        model.fit(setup.protocol.train, progress=progress)
        times[name] = model.training_time_
        if model.inductive:
            embs.append(
                Embeddings.from_array(
                    model.embeddings_, n, available=model.available_, name=f"{name} (no edges)"
                )
            )
            grown = model.embed(setup.grown)
            embs.append(
                Embeddings.from_array(
                    grown,
                    n,
                    available=np.linalg.norm(grown, axis=1) > 0,
                    name=f"{name} (edges added)",
                )
            )
        else:
            embs.append(
                Embeddings.from_array(model.embeddings_, n, available=model.available_, name=name)
            )
    results = [_score(setup, e, k) for e in embs]
    reference = results[2]
    tests = {
        r.model: compare(r, reference, metrics=_shared_testable(r, reference))
        for r in results
        if r is not reference
    }
    return ColdStartReport(setup, results, tests, times)


#: Metrics shown in the cold-start table (those present are printed).
TABLE_METRICS = (
    "completion_hr",
    "completion_mrr",
    "completion_p@10",
    "completion_ndcg@10",
    "next_song_cold_hit_rate",
    "next_song_cold_ndcg",
)


def report_table(report: ColdStartReport) -> str:
    """Markdown table of a cold-start report; ``*`` marks p < 0.05 (Bonferroni) against
    the reference model (the first one given)."""
    present = [m for m in TABLE_METRICS if any(m in r.metrics for r in report.results)]
    lines = [
        "| model | cold coverage | " + " | ".join(present) + " |",
        "|---|---:|" + "---:|" * len(present),
    ]
    for r in report.results:
        cells = []
        for m in present:
            if m not in r.metrics:
                cells.append("")
                continue
            c = report.tests.get(r.model, {}).get(m)
            mark = "*" if c is not None and c.significant else ""
            cells.append(f"{r.metrics[m].value:.4f}{mark}")
        lines.append(f"| {r.model} | {r.info['cold_coverage']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_cold_start(
    dataset_dir: str | Any,
    models: list[str],
    *,
    out: Any = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    features_only: bool = True,
    seed: int = 0,
    test_fraction: float = 0.1,
    cold_share: float = 0.05,
    min_tracks: int = 40,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    on_model: Callable[[str], Any] | None = None,
) -> ColdStartReport:
    """What ``songspace cold-start`` runs. ``params[name]`` overrides model ``name``'s
    defaults (CLI strings are coerced); ``features_only`` adds GraphSAGE with
    ``aggregate=False`` (its own ``params["features_only"]``). ``out`` receives one
    ``<model>.json`` (+ per-query sidecar) per row, ``summary.json`` and ``table.md``."""
    import json

    from songspace._util import atomic_directory, check_output_free
    from songspace.models.registry import create

    if out is not None:
        check_output_free(out, overwrite=overwrite, inputs=(dataset_dir,))
    params = dict(params or {})
    names = list(models) + (["features_only"] if features_only else [])
    unknown = sorted(set(params) - set(names))
    if unknown:
        raise ParameterError(
            "params",
            f"parameters for the models being run ({names})",
            unknown,
            fix="prefix each --param with one of the model names given",
        )
    built: dict[str, EmbeddingModel] = {}
    for name in names:
        raw = dict(params.get(name, {}))
        if name == "features_only":
            raw["aggregate"] = False
        built[name] = create(
            "graphsage" if name == "features_only" else name, raw, from_strings=True
        )
    ds = Dataset.load(dataset_dir)
    report = cold_start_evaluation(
        ds,
        built,
        seed=seed,
        test_fraction=test_fraction,
        cold_share=cold_share,
        min_tracks=min_tracks,
        on_model=on_model,
        progress=progress,
    )
    if out is not None:
        with atomic_directory(out, overwrite=overwrite) as tmp:
            for r in report.results:
                r.save(tmp / f"{r.model.replace(' ', '_').replace('(', '').replace(')', '')}.json")
            summary = {
                "dataset": str(dataset_dir),
                "setup": report.setup.summary(),
                "models": {n: m.get_params() for n, m in built.items()},
                "training_time": report.training_time,
                "results": {r.model: {**r.values(), **r.info} for r in report.results},
                "tests_against": report.results[2].model,
                "tests": {m: {k: vars(c) for k, c in cs.items()} for m, cs in report.tests.items()},
            }
            (tmp / "summary.json").write_text(json.dumps(summary, indent=2, default=_plain) + "\n")
            (tmp / "table.md").write_text(report_table(report))
    return report

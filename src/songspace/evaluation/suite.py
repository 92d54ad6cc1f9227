"""Run every metric family of SPEC §4 on one embedding under a protocol.

Families: ``completion`` (MUSIG §4.1/4.3), ``next_song`` (W2V §2.1), ``hardneg``
(W2V §2.2), ``clustering`` (W2V §2.3), ``popularity`` (W2V §4.5) and ``play``
(W2V §4.6, needs play/skip outcomes). :func:`evaluate_many` adds the random and
popularity baselines and runs paired tests of each model against them, and with
``against`` of every row against one model (:func:`songspace.evaluation.results.paired_tests`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songspace._checks import check_heldout_share
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.errors import ParameterError
from songspace.evaluation import families as _families
from songspace.evaluation.defaults import (
    DEFAULT_K,
    DEFAULT_RANDOM_DIM,
    DEFAULT_SUITE,
    SuiteSettings,
)
from songspace.evaluation.embeddings import Embeddings, ViewEmbedder, ViewRanker
from songspace.evaluation.families import FAMILY_METRICS, FamilyInput, FamilyNames
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.results import (
    Comparison,
    EvaluationResult,
    check_reference,
    paired_tests,
    shared_testable,
)
from songspace.progress import ProgressCallback, labelled

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity

logger = logging.getLogger(__name__)

# FAMILY_METRICS (re-exported): the metric names each family produces, a live view of
# the family registry (songspace.evaluation.families); evaluate() returns exactly these
# (for the families that apply).

#: The registered family names, in order (live).
FAMILIES: Sequence[str] = FamilyNames()
#: Families left out of the default ("all the data supports") and run only when asked
#: for (live; e.g. the RecSys Challenge protocol ranks the whole catalogue 500 deep).
OPT_IN_FAMILIES: Sequence[str] = FamilyNames(only_opt_in=True)
#: Names of the baselines evaluate adds; a model may not take one (its results would
#: overwrite theirs).
BASELINE_NAMES = ("random", "popularity")

__all__ = [
    "BASELINE_NAMES",
    "DEFAULT_K",
    "DEFAULT_MIN_TRACKS",
    "DEFAULT_SUITE",
    "FAMILIES",
    "FAMILY_METRICS",
    "SuiteSettings",
    "check_families",
    "evaluate",
    "evaluate_many",
    "evaluation_protocol",
    "protocol_embeddings",
    "reference_name",
    "run_evaluation",
    "shared_testable",
]


def check_families(families: Sequence[str] | None, protocol: Protocol) -> list[str]:
    """Validate the requested families; default: all that the dataset supports."""
    if families is None:
        reasons = unsupported(protocol)
        if not protocol._cache.get("unsupported_logged"):
            protocol._cache["unsupported_logged"] = True
            for what, why in reasons.items():
                logger.info("%s skipped: %s", what, why)
        return [f for f in FAMILIES if f not in reasons and f not in OPT_IN_FAMILIES]
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ParameterError("metrics", f"metric families among {list(FAMILIES)}", unknown[0])
    return list(dict.fromkeys(families))


def unsupported(protocol: Protocol) -> dict[str, str]:
    """Families and metrics this protocol's data cannot support, each with its reason.

    The default of ``evaluate`` ("all the data supports") leaves these out; the keys
    are family names, or metric names inside a supported family (clustering's
    ``vrc_genre``, next-song's ``next_song_in_set``, ...).
    """
    out: dict[str, str] = {}
    for name in _families.names():
        fam = _families.family(name)
        reason = fam.unsupported(protocol)
        if reason is not None:
            out[name] = reason
        else:
            out.update(_families.unsupported_metrics(fam, protocol))
    return out


def evaluate(
    protocol: Protocol,
    emb: Embeddings,
    *,
    families: Sequence[str] | None = None,
    settings: SuiteSettings | None = None,
    heatmap: str | Path | None = None,
    progress: ProgressCallback | None = None,
    metrics: Sequence[str] | None = None,
) -> EvaluationResult:
    """All requested metric families of ``emb`` (rows aligned to the protocol's dataset).

    ``metrics``: the metrics needed (default: all); a family may then leave out metrics
    it would compute on top (:class:`~songspace.evaluation.families.FamilyInput`), and the
    values of those computed do not change.
    """
    st = settings or SuiteSettings()
    fams = check_families(families, protocol)
    ds = protocol.dataset
    if emb.n_tracks != ds.n_tracks:
        raise ParameterError(
            "embeddings",
            f"one row per track of the dataset ({ds.n_tracks})",
            emb.n_tracks,
            fix="evaluate embeddings trained on this dataset's vocabulary",
        )
    res = EvaluationResult(emb.name, info={"coverage": emb.coverage, "families": fams})
    ranker_params = getattr(emb.ranker, "params", None)
    if ranker_params is not None:  # a baseline ranker: its settings go with its values
        res.info["settings"] = dict(ranker_params)
    run = FamilyInput(
        protocol,
        emb,
        st,
        heatmap=None if heatmap is None else Path(heatmap),
        progress=progress,
        metrics=None if metrics is None else frozenset(metrics),
    )
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}  # CPU seconds of every thread (time.process_time)
    for fam in fams:
        t0, c0 = time.perf_counter(), time.process_time()
        results = _families.family(fam).compute(run)
        if results is None:  # the family does not apply to this embedding
            continue
        res.add(*results)
        timings[fam] = time.perf_counter() - t0
        cpu[fam] = time.process_time() - c0
        logger.info("%s: %s done in %.1fs", emb.name, fam, timings[fam])
    res.info["seconds"] = timings
    res.info["cpu_seconds"] = cpu
    return res


def evaluate_many(
    protocol: Protocol,
    embeddings: Sequence[Embeddings],
    *,
    baselines: bool = True,
    families: Sequence[str] | None = None,
    settings: SuiteSettings | None = None,
    heatmap_dir: str | Path | None = None,
    random_dim: int = DEFAULT_RANDOM_DIM,
    rankers: Sequence[str] = (),
    ranker_params: Mapping[str, Mapping[str, Any]] | None = None,
    against: str | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[EvaluationResult], dict[str, dict[str, dict[str, Comparison]]]]:
    """Evaluate several embeddings (plus random and popularity baselines) on one protocol.

    ``rankers`` adds non-embedding baselines by name (``itemknn``, ``sknn``,
    ``vsknn``, ``stan``, ``vstan``, ``bigram``; :mod:`songspace.evaluation.rankers`), built
    from the protocol's training view with ``ranker_params[name]`` (default: the ranker's
    defaults; each result's ``info["settings"]`` records them). Returns the results, then
    for each non-baseline model its paired tests against each baseline:
    ``{model: {baseline: {metric: Comparison}}}``.
    ``against`` names one evaluated row (a model, a baseline or a ranker): every other
    row is also tested against it, under that name
    (:func:`songspace.evaluation.results.paired_tests`).
    """
    from songspace.evaluation.rankers import make_ranker, ranker_names

    extra = ranker_names(rankers) if rankers else []
    models = list(embeddings)
    names = [e.name for e in models]
    if len(set(names)) != len(names):
        raise ParameterError("embeddings", "distinct model names", names)
    reserved = [*BASELINE_NAMES, *extra] if baselines else list(extra)
    taken = sorted(set(names) & set(reserved))
    if taken:
        raise ParameterError(
            "embeddings",
            f"model names other than the baselines' {reserved}",
            names,
            fix=f"rename the file or run directory named {taken[0]!r}, or pass --no-baselines",
        )
    n = protocol.dataset.n_tracks
    base_embs = []
    if baselines:
        base_embs = [
            Embeddings.random(n, random_dim, seed=protocol.seed),
            Embeddings.popularity_baseline(protocol.train),
        ]
    for name in extra:
        ranker = make_ranker(name, protocol.train, (ranker_params or {}).get(name))
        base_embs.append(Embeddings.from_ranker(ranker, n))
    models = [*base_embs, *models]
    if against is not None:  # before the work, not after
        check_reference(against, [e.name for e in models])
    results = []
    for emb in models:
        path = None
        if heatmap_dir is not None:
            path = Path(heatmap_dir) / f"{emb.name}.popularity_buckets.png"
        results.append(
            evaluate(
                protocol, emb, families=families, settings=settings, heatmap=path, progress=progress
            )
        )
    tests: dict[str, dict[str, dict[str, Comparison]]] = {}
    models_res = results[len(base_embs) :]
    for rb in results[: len(base_embs)]:
        for model, cs in paired_tests([*models_res, rb], rb).items():
            tests.setdefault(model, {})[rb.model] = cs
    if against is not None:
        for model, cs in paired_tests(results, against).items():
            tests.setdefault(model, {})[against] = cs
    return results, tests


def reference_name(
    against: str | Path | None,
    inputs: Sequence[str | Path | ViewEmbedder | ViewRanker],
    names: Sequence[str],
) -> str | None:
    """The model name ``against`` stands for, given the evaluated ``inputs`` and the
    names of their models (``names[i]`` for ``inputs[i]``): the name of the input that
    is the same path (a run directory for a :class:`ViewEmbedder` that reads one, as
    ``run``), else ``against`` itself, a name (checked when the tests run)."""
    if against is None:
        return None
    for source, name in zip(inputs, names, strict=True):
        path = source if isinstance(source, str | Path) else source.run
        if path is not None and (Path(against) == Path(path) or _same_file(against, path)):
            return name
    return str(against)


def _same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).exists() and Path(a).samefile(b)
    except OSError:
        return False


def run_evaluation(
    dataset_dir: str | Path,
    embedding_files: Sequence[str | Path | ViewEmbedder | ViewRanker] = (),
    *,
    out: str | Path | None = None,
    families: Sequence[str] | None = None,
    baselines: bool = True,
    seed: int = 0,
    test_fraction: float | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    settings: SuiteSettings | None = None,
    rankers: Sequence[str] = (),
    ranker_params: Mapping[str, Mapping[str, Any]] | None = None,
    drop_unknown: bool = False,
    overwrite: bool = False,
    against: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[Protocol, list[EvaluationResult], dict[str, dict[str, dict[str, Comparison]]]]:
    """What ``songspace evaluate`` runs: load, build the protocol, evaluate, write ``out``.

    ``embedding_files`` are embeddings files, :class:`ViewRanker` objects (a fitted
    two-stage recommender: ``songspace evaluate --recommender``), or :class:`ViewEmbedder`
    objects (``songspace evaluate DATA RUN`` passes a
    :class:`songspace.models.apply.RunEmbedder`), which embed the tracks inside the protocol
    from its training view only. A file is refused when the record beside it shows that it
    saw the protocol's test sequences: an inductive ``songspace embed`` output of this same
    dataset (``embed.json``), or a model trained on this dataset with another split or
    ``--full`` (``training.json``); see :mod:`songspace.data.provenance`.

    ``rankers`` adds non-embedding baselines by name, ``ranker_params`` their settings
    (see :func:`evaluate_many`; :func:`songspace.evaluation.rankers.read_ranker_settings`
    reads the file ``songspace tune-rankers`` writes).
    ``against``: a model name or one of ``embedding_files``: every other row is also
    tested against that model (:func:`evaluate_many`; :func:`reference_name`).
    ``drop_unknown``: embeddings keyed by track id may hold ids the dataset does not
    have; they are dropped (the log gives the count) instead of refused
    (:func:`songspace.evaluation.embeddings.load_embeddings`).

    ``out`` receives ``<model>.json`` (aggregates) with ``<model>.per_query.npz``
    beside it, ``<model>.popularity_buckets.png``, and ``summary.json`` (protocol,
    all aggregates and the paired tests), written atomically.
    """
    from songspace._util import atomic_directory, check_output_free
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity

    if out is not None:
        # a ViewEmbedder names the directory it reads (if any) as `run`
        inputs = [e if isinstance(e, str | Path) else e.run for e in embedding_files]
        check_output_free(out, overwrite=overwrite, inputs=(dataset_dir, *inputs))
    if test_fraction is not None:
        check_heldout_share(test_fraction, "test_fraction")
    if not embedding_files and not baselines and not rankers:
        raise ParameterError(
            "embeddings",
            "at least one embeddings file, or the baselines",
            "nothing",
            fix="pass EMBEDDINGS files or drop --no-baselines",
        )
    ds = Dataset.load(dataset_dir)
    protocol, test_fraction = evaluation_protocol(
        ds, seed=seed, test_fraction=test_fraction, min_tracks=min_tracks
    )
    data = DatasetIdentity(ds, dataset_dir)
    embs = [
        protocol_embeddings(e, protocol, data, test_fraction, drop_unknown, progress)
        for e in embedding_files
    ]

    def run(heatmap_dir: Path | None):
        return evaluate_many(
            protocol,
            embs,
            baselines=baselines,
            families=families,
            settings=settings,
            heatmap_dir=heatmap_dir,
            rankers=rankers,
            ranker_params=ranker_params,
            against=reference_name(against, embedding_files, [e.name for e in embs]),
            progress=progress,
        )

    if out is None:
        return (protocol, *run(None))
    with atomic_directory(out, overwrite=overwrite) as tmp:
        results, tests = run(tmp)
        _write_results(tmp, dataset_dir, protocol, results, tests)
    return protocol, results, tests


def _write_results(
    folder: Path,
    dataset_dir: str | Path,
    protocol: Protocol,
    results: Sequence[EvaluationResult],
    tests: dict[str, dict[str, dict[str, Comparison]]],
) -> None:
    """:func:`run_evaluation`'s files in ``folder`` (inside its atomic output directory):
    ``<model>.json`` per result and ``summary.json``."""
    import json

    from songspace._util import atomic_write_text, to_jsonable

    for r in results:
        r.save(folder / f"{r.model}.json")
    summary = {
        "dataset": str(dataset_dir),
        "protocol": protocol.summary(),
        "results": {r.model: r.values() for r in results},
        "tests": {
            m: {b: {k: vars(c) for k, c in cs.items()} for b, cs in per.items()}
            for m, per in tests.items()
        },
    }
    atomic_write_text(folder / "summary.json", json.dumps(to_jsonable(summary), indent=2) + "\n")


def evaluation_protocol(
    ds: Dataset,
    *,
    seed: int = 0,
    test_fraction: float | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
) -> tuple[Protocol, float]:
    """The protocol of ``songspace evaluate`` on ``ds`` and its held-out share: the split
    ``(1 - 2f, f, f)`` with ``f = test_fraction`` (None: 1%, raised on small data,
    :func:`songspace.data.splits.resolve_test_fraction`), as ``songspace train`` holds it
    out, so a run trained with the same ``seed`` and ``test_fraction`` saw only its
    training view."""
    from songspace.data.splits import resolve_test_fraction
    from songspace.evaluation.protocol import make_protocol

    fraction = resolve_test_fraction(ds.n_sequences, test_fraction)  # None: by size
    check_heldout_share(fraction, "test_fraction")
    fractions = (1.0 - 2 * fraction, fraction, fraction)
    return make_protocol(ds, seed=seed, fractions=fractions, min_tracks=min_tracks), fraction


def protocol_embeddings(
    source: str | Path | ViewEmbedder | ViewRanker,
    protocol: Protocol,
    data: DatasetIdentity,
    test_fraction: float,
    drop_unknown: bool = False,
    progress: ProgressCallback | None = None,
) -> Embeddings:
    """One input of :func:`run_evaluation` as embeddings of the protocol's dataset: a
    :class:`ViewEmbedder` embeds from the training view; a :class:`ViewRanker` (a fitted
    recommender) is built on it and ranks; a file is read after the records beside it
    show it never saw the protocol's test sequences."""
    from songspace.data.provenance import (
        EMBED_FILE,
        TRAINING_FILE,
        check_embed_output,
        check_training_split,
        read_record,
    )
    from songspace.evaluation.embeddings import load_embeddings

    ds = data.dataset
    if isinstance(source, ViewRanker):
        ranker = source.ranker(
            protocol,
            data=data,
            test_fraction=test_fraction,
            progress=labelled(progress, source.name),
        )
        return Embeddings.from_ranker(ranker, ds.n_tracks)
    if isinstance(source, ViewEmbedder):
        vectors, available = source.embed(
            protocol.train,
            data=data,
            seed=protocol.seed,
            test_fraction=test_fraction,
            progress=labelled(progress, source.name),
        )
        return Embeddings.from_array(
            vectors, ds.n_tracks, available=available, name=source.name, source=repr(source)
        )
    folder = Path(source).parent
    check_embed_output(read_record(folder / EMBED_FILE), Path(source), data)
    training = read_record(folder / TRAINING_FILE)
    if training is not None:
        check_training_split(
            training, folder, data, seed=protocol.seed, test_fraction=test_fraction
        )
    return load_embeddings(source, ds, drop_unknown=drop_unknown)

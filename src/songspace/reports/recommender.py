"""The two-stage recommender as a runner: fit it from a dataset directory and trained runs
(``songspace recommender fit``), and load a fitted one back onto the protocol it was fitted
on (``songspace evaluate --recommender``, ``songspace serve --recommender``,
``songspace recommend --recommender``).

A fitted recommender directory is what :meth:`TwoStageRanker.save
<songspace.recommender.TwoStageRanker.save>` writes (``model.txt`` + ``recommender.json``);
its ``recommender.json`` also holds a ``provenance`` record: the dataset (path and
fingerprint), the split (``seed``, ``test_fraction``, ``min_tracks``), each run (name,
path) and the ranker settings file, so that it can be rebuilt, and refused on another
dataset or another split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songspace._util import check_output_free
from songspace.data.defaults import DEFAULT_MIN_TRACKS
from songspace.errors import FormatError, InvalidValueError, ParameterError
from songspace.progress import ProgressCallback, labelled

if TYPE_CHECKING:
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.protocol import Protocol
    from songspace.recommender import TwoStageRanker
    from songspace.recommender.twostage import SearchFactory

logger = logging.getLogger(__name__)

__all__ = [
    "PROVENANCE",
    "FittedRecommender",
    "fit_recommender",
    "load_recommender",
    "parse_runs",
    "read_provenance",
]

#: The key of ``recommender.json`` that says what the recommender was fitted from.
PROVENANCE = "provenance"


def _run_embeddings(
    runs: Mapping[str, str | Path],
    protocol: Protocol,
    data: DatasetIdentity,
    test_fraction: float,
    progress: ProgressCallback | None,
) -> list[Embeddings]:
    """Each run embedded inside ``protocol`` from its training view only, named as given
    (a run that trained across the test split is refused, as by ``evaluate``)."""
    from songspace.evaluation.suite import protocol_embeddings
    from songspace.models.apply import RunEmbedder

    out = []
    for name, run in runs.items():
        embedder = RunEmbedder(run)
        embedder.name = name
        out.append(protocol_embeddings(embedder, protocol, data, test_fraction, False, progress))
    return out


def fit_recommender(
    dataset_dir: str | Path,
    runs: Mapping[str, str | Path],
    out: str | Path,
    *,
    seed: int = 0,
    test_fraction: float | None = None,
    min_tracks: int = DEFAULT_MIN_TRACKS,
    rankers_config: str | Path | None = None,
    params: Mapping[str, Any] | None = None,
    name: str | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    search: SearchFactory | None = None,
) -> TwoStageRanker:
    """``songspace recommender fit``: build ``evaluate``'s protocol on ``dataset_dir``
    (``seed``, ``test_fraction``, ``min_tracks``), embed each of ``runs`` (``{name: run
    directory}``) from its training view, take the kNN rankers and their settings from
    ``rankers_config`` (the file of ``songspace tune-rankers``; default
    :data:`~songspace.recommender.DEFAULT_RANKERS`), fit a
    :class:`~songspace.recommender.TwoStageRanker` with ``params`` on the validation
    queries and write it to ``out`` atomically, with its provenance. ``search``: the
    neighbour search per embedding (:meth:`TwoStageRanker.load`; default exact)."""
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.evaluation.rankers import read_ranker_settings
    from songspace.evaluation.suite import evaluation_protocol
    from songspace.recommender import TwoStageRanker

    check_output_free(
        out, overwrite=overwrite, inputs=(dataset_dir, rankers_config, *runs.values())
    )
    p = TwoStageRanker.check_params(params)  # before the work, not after
    rankers = read_ranker_settings(rankers_config) if rankers_config else None
    ds = Dataset.load(dataset_dir)
    protocol, fraction = evaluation_protocol(
        ds, seed=seed, test_fraction=test_fraction, min_tracks=min_tracks
    )
    data = DatasetIdentity(ds, dataset_dir)
    embs = _run_embeddings(runs, protocol, data, fraction, progress)
    rec = TwoStageRanker.fit(
        protocol,
        embs,
        rankers=rankers,
        name=name,
        progress=labelled(progress, "recommender"),
        search=search,
        **p,
    )
    rec.description[PROVENANCE] = {
        "dataset": str(dataset_dir),
        "dataset_path": data.resolved,
        "dataset_fingerprint": data.fingerprint,
        "seed": seed,
        "test_fraction": fraction,
        "min_tracks": min_tracks,
        "runs": {n: str(Path(r).resolve()) for n, r in runs.items()},
        "rankers_config": None if rankers_config is None else str(Path(rankers_config).resolve()),
    }
    rec.save(out, overwrite=overwrite)
    logger.info("recommender %s written to %s", rec.name, out)
    return rec


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The provenance record of the fitted recommender directory ``path``."""
    from songspace.recommender.twostage import RECOMMENDER_FILE

    where = Path(path) / RECOMMENDER_FILE
    try:
        doc = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(
            "expected a fitted recommender (recommender.json), found nothing",
            path=where,
            fix="pass the -o directory of `songspace recommender fit`",
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"expected JSON, could not read it ({exc})",
            path=where,
            fix="fit the recommender again (`songspace recommender fit`)",
        ) from None
    record = doc.get(PROVENANCE) if isinstance(doc, dict) else None
    if not isinstance(record, dict):
        raise FormatError(
            "expected the provenance of `songspace recommender fit` (dataset, split, runs), "
            "found none",
            path=where,
            field=PROVENANCE,
            fix="fit it with `songspace recommender fit` (a recommender saved from Python "
            "loads with TwoStageRanker.load)",
        )
    return record


@dataclass
class FittedRecommender:
    """A fitted recommender directory scored inside an evaluation protocol (a
    :class:`~songspace.evaluation.embeddings.ViewRanker`): refused unless the protocol is
    the one it was fitted on (same dataset, seed and held-out share); its runs are
    embedded again from the protocol's training view and checked against the digests it
    saved."""

    path: Path
    name: str = ""

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.record = read_provenance(self.path)
        self.name = self.name or self.path.name

    @property
    def run(self) -> Path:
        return self.path

    def check_protocol(self, data: DatasetIdentity, seed: int, test_fraction: float) -> None:
        """Refuse another dataset or another split than the one it was fitted on."""
        rec = self.record
        if rec.get("dataset_fingerprint") != data.fingerprint:
            raise InvalidValueError(
                "expected the dataset the recommender was fitted on "
                f"({rec.get('dataset')}), found another (its fingerprint differs)",
                path=self.path,
                field=f"{PROVENANCE}.dataset_fingerprint",
                fix="evaluate on that dataset, or fit the recommender on this one",
            )
        same = abs(float(rec.get("test_fraction", -1)) - float(test_fraction)) < 1e-12
        if rec.get("seed") != seed or not same:
            raise InvalidValueError(
                f"expected the split the recommender was fitted on (--seed {rec.get('seed')} "
                f"--test-fraction {rec.get('test_fraction')}), found --seed {seed} "
                f"--test-fraction {test_fraction:g}: its training view and validation "
                "queries would hold this protocol's test sequences",
                path=self.path,
                field=PROVENANCE,
                fix=f"pass --seed {rec.get('seed')} --test-fraction {rec.get('test_fraction')}, "
                "or fit the recommender with this split",
            )

    def ranker(
        self,
        protocol: Protocol,
        *,
        data: DatasetIdentity,
        test_fraction: float,
        progress: ProgressCallback | None = None,
        search: SearchFactory | None = None,
    ) -> TwoStageRanker:
        """The recommender rebuilt on ``protocol``'s training view (``search``: the
        neighbour search per embedding, :meth:`TwoStageRanker.load`)."""
        from songspace.recommender import TwoStageRanker
        from songspace.reports.recommender_update import UPDATES_KEY

        if self.record.get(UPDATES_KEY):
            raise InvalidValueError(
                "expected a recommender fitted on this protocol's training view, found an "
                f"updated one ({len(self.record[UPDATES_KEY])} update(s) of songspace update: "
                "its counts hold sequences the protocol does not know)",
                path=self.path,
                field=f"{PROVENANCE}.{UPDATES_KEY}",
                fix="evaluate the recommender it was updated from (`base_recommender` in its "
                "provenance); an update is measured against a refit as docs/updates.md does",
            )
        self.check_protocol(data, protocol.seed, test_fraction)
        runs = self.record.get("runs") or {}
        embs = _run_embeddings(runs, protocol, data, test_fraction, progress)
        return TwoStageRanker.load(self.path, protocol.train, embs, name=self.name, search=search)


def load_recommender(
    path: str | Path,
    dataset: Dataset | str | Path,
    *,
    name: str | None = None,
    progress: ProgressCallback | None = None,
    search: SearchFactory | None = None,
) -> tuple[TwoStageRanker, Dataset]:
    """A fitted recommender (``songspace recommender fit -o PATH``) rebuilt over
    ``dataset`` (the one it was fitted on: refused otherwise) for serving: the protocol
    of its record, its runs embedded from that training view. Returns the ranker and the
    full dataset (whose track ids the ranker's indices follow). ``search``: the neighbour
    search per embedding (:meth:`TwoStageRanker.load`; default exact)."""
    from songspace.data.dataset import Dataset
    from songspace.data.provenance import DatasetIdentity
    from songspace.evaluation.suite import evaluation_protocol
    from songspace.reports.recommender_update import UPDATES_KEY, updated_recommender

    fitted = FittedRecommender(Path(path), name or "")
    rec = fitted.record
    ds = dataset if isinstance(dataset, Dataset) else Dataset.load(dataset)
    if rec.get(UPDATES_KEY):
        if DatasetIdentity(ds, None).fingerprint != rec.get("dataset_fingerprint"):
            raise InvalidValueError(
                "expected the dataset the recommender was fitted on "
                f"({rec.get('dataset')}), found another (its fingerprint differs)",
                path=fitted.path,
                field=f"{PROVENANCE}.dataset_fingerprint",
                fix="pass the dataset of `songspace recommender fit` (the updates' datasets "
                "are read from the paths its provenance records)",
            )
        return updated_recommender(fitted.path, rec, ds, name=name, search=search)
    data = DatasetIdentity(ds, None if isinstance(dataset, Dataset) else dataset)
    for key in ("seed", "test_fraction"):
        if key not in rec:
            raise FormatError(
                f"expected the split's {key} in the recommender's provenance, found none",
                path=fitted.path,
                field=f"{PROVENANCE}.{key}",
                fix="fit the recommender again (`songspace recommender fit`)",
            )
    protocol, fraction = evaluation_protocol(
        ds,
        seed=int(rec["seed"]),
        test_fraction=float(rec["test_fraction"]),
        min_tracks=int(rec.get("min_tracks", DEFAULT_MIN_TRACKS)),
    )
    ranker = fitted.ranker(
        protocol, data=data, test_fraction=fraction, progress=progress, search=search
    )
    return ranker, ds


def parse_runs(items: Mapping[str, str]) -> dict[str, Path]:
    """``{name: run directory}`` of ``--run NAME=RUN``: each a directory of ``songspace
    train`` (none: the recommender uses the counting generators and features alone)."""
    from songspace.models.apply import is_run

    out = {}
    for n, r in items.items():
        if not is_run(r):
            raise ParameterError(
                "--run",
                "a run directory of `songspace train` (with model/model.json)",
                f"{n}={r}",
                fix="pass the -o directory of `songspace train`",
            )
        out[n] = Path(r)
    return out

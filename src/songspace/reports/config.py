"""Experiment configs for ``songspace compare`` (TOML), parsed and validated up front.

An experiment names a dataset, the models to compare (registry name, parameters,
display labels), the evaluation protocol (seeds, split, seed fractions, metric
families) and the report layout. Everything is checked before any training
starts: unknown keys, unknown models, parameters a model does not have or whose
values are outside their range, metrics that do not exist. Each error names the
file, the table and the key, lists what is valid and says how to fix it.

Layout::

    name = "musig-table2"                  # used in titles and file names
    description = "MUSIG Table 2 ..."

    [dataset]
    path = "/tmp/mpdds"                    # relative to the config file; or:
    # synthetic = { n_playlists = 1500, n_tracks = 2000, seed = 0 }

    [protocol]
    seeds = [0]                            # one split (and model seed) per entry
    test_fraction = 0.05                   # split (1 - 2f, f, f), SPEC §1
    seed_fractions = [0.5]                 # completion seed share(s); first = main table
    metrics = ["completion"]               # families (default: all the data supports)
    on_missing_features = "skip"           # or "error": rows needing absent feature groups

    [report]
    title = "..."
    columns = ["completion_hr", "completion_mrr"]   # default: the families' paper columns
    alpha = 0.05                           # significance level (Bonferroni over columns)
    diagonal = ["default", "tuned"]        # W2V Figure 2c: same-bucket HitRate, a vs b

    [recommender]                          # optional: a two-stage recommender row
    name = "twostage"                      # its row (default "twostage")
    embeddings = ["cf"]                    # [[models]] rows it uses (default: all)
    rankers_config = "rankers.json"        # stage 1's kNN settings (songspace tune-rankers)
    params = { depth = 200 }               # TwoStageRanker parameters (docs/recommender.md)

    [[models]]
    name = "cf"                            # unique row id (letters, digits, _ . -)
    model = "warp"                         # a registered model (`songspace models`)
    label = "CF"                           # Method column (default: model name)
    features = "-"                         # Features column (default: from the params)
    baseline = true                        # compared against by the significance marks
    params = { dim = 64 }                  # over params_file's, over the defaults
    params_file = "tuned.toml"             # optional: a [params] table (songspace train)
    columns = { "Regr. Task" = "AUDIO" }   # optional extra descriptive columns
    paper = { completion_hr = 0.2715 }     # optional: the paper's values, shown beside
"""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songspace.data.defaults import DEFAULT_TEST_FRACTION
from songspace.errors import FormatError, InvalidValueError, MissingFieldError
from songspace.evaluation.defaults import DEFAULT_ALPHA, DEFAULT_RANDOM_DIM
from songspace.evaluation.families import FAMILY_COLUMNS, FAMILY_METRICS
from songspace.evaluation.suite import DEFAULT_MIN_TRACKS, DEFAULT_SUITE, SuiteSettings

if TYPE_CHECKING:
    from songspace.models.base import EmbeddingModel

#: Names taken by the baselines that every comparison adds.
RESERVED_NAMES = ("random", "popularity")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

_TOP_KEYS = ("name", "description", "dataset", "protocol", "report", "models", "recommender")
_DATASET_KEYS = ("path", "synthetic")
_MODEL_KEYS = (
    "name",
    "model",
    "label",
    "features",
    "baseline",
    "preset",
    "params",
    "params_file",
    "columns",
    "paper",
)


@dataclass(frozen=True)
class ModelSpec:
    """One row of the comparison: a registered model with its parameters."""

    name: str
    model: str
    params: dict[str, Any]
    label: str
    features: str
    baseline: bool = True
    columns: dict[str, str] = field(default_factory=dict)
    paper: dict[str, float] = field(default_factory=dict)

    #: Feature groups the model needs from the dataset (inputs and task targets, with the
    #: model's defaults filled in); checked against the dataset before training.
    requires: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset directory, or the keyword arguments of the synthetic generator."""

    path: Path | None = None
    synthetic: dict[str, Any] | None = None

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        args = ", ".join(f"{k}={v!r}" for k, v in sorted((self.synthetic or {}).items()))
        return f"synthetic({args})"


@dataclass(frozen=True)
class ProtocolSpec:
    """Evaluation protocol: the split and the suite settings (SPEC §1, §4)."""

    seeds: tuple[int, ...] = (0,)
    test_fraction: float = DEFAULT_TEST_FRACTION
    min_tracks: int = DEFAULT_MIN_TRACKS
    cold_start_share: float = 0.0
    seed_fractions: tuple[float, ...] = (DEFAULT_SUITE.seed_fraction,)
    metrics: tuple[str, ...] | None = None
    k: int = DEFAULT_SUITE.k
    hardneg_threshold: float | None = DEFAULT_SUITE.hardneg_threshold
    hardneg_min_count: int = DEFAULT_SUITE.hardneg_min_count
    pairs_per_cell: int = DEFAULT_SUITE.pairs_per_cell
    artist_min_tracks: int = DEFAULT_SUITE.artist_min_tracks
    coherence_k: int = DEFAULT_SUITE.coherence_k
    random_dim: int = DEFAULT_RANDOM_DIM
    on_missing_features: str = "error"
    #: Non-embedding baseline rows (itemknn, sknn, vsknn, bigram) added to every table.
    rankers: tuple[str, ...] = ()

    @property
    def fractions(self) -> tuple[float, float, float]:
        f = self.test_fraction
        return (1.0 - 2.0 * f, f, f)

    def suite(self, seed_fraction: float) -> SuiteSettings:
        """The evaluation settings of this protocol at ``seed_fraction``."""
        return SuiteSettings(
            k=self.k,
            seed_fraction=seed_fraction,
            coherence_k=self.coherence_k,
            hardneg_min_count=self.hardneg_min_count,
            hardneg_threshold=self.hardneg_threshold,
            artist_min_tracks=self.artist_min_tracks,
            pairs_per_cell=self.pairs_per_cell,
        )


@dataclass(frozen=True)
class ReportSpec:
    title: str | None = None
    columns: tuple[str, ...] | None = None
    alpha: float = DEFAULT_ALPHA
    diagonal: tuple[str, str] | None = None


def _table_defaults(spec: type) -> dict[str, Any]:
    """The keys of a config table and their defaults, in order: the fields of its spec
    dataclass (the one place they are written), tuples as TOML lists."""
    return {
        f.name: list(f.default) if isinstance(f.default, tuple) else f.default for f in fields(spec)
    }


_PROTOCOL_DEFAULTS = _table_defaults(ProtocolSpec)
_REPORT_DEFAULTS = _table_defaults(ReportSpec)


@dataclass(frozen=True)
class RecommenderSpec:
    """The ``[recommender]`` table: a two-stage recommender
    (:class:`songspace.recommender.TwoStageRanker`) fitted on each seed's protocol with the
    embeddings of the ``[[models]]`` rows it names, scored as one more row. Its keys are
    these fields (their defaults are the table's)."""

    #: its row in the tables
    name: str = "twostage"
    #: the ``[[models]]`` rows whose embeddings it uses (None: every row)
    embeddings: tuple[str, ...] | None = None
    #: the kNN rankers of stage 1 and their settings (``songspace tune-rankers``'s file;
    #: None: :data:`songspace.recommender.DEFAULT_RANKERS`)
    rankers_config: Path | None = None
    #: :class:`~songspace.recommender.TwoStageRanker` parameters
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    """A parsed, validated experiment (see the module docstring for the TOML layout)."""

    name: str
    dataset: DatasetSpec
    protocol: ProtocolSpec
    models: tuple[ModelSpec, ...]
    report: ReportSpec = field(default_factory=ReportSpec)
    recommender: RecommenderSpec | None = None
    description: str = ""
    source: Path | None = None
    text: str = ""

    @property
    def title(self) -> str:
        return self.report.title or self.name

    def columns(self, families: list[str] | None = None) -> tuple[str, ...]:
        """Table columns: the configured ones, else the default columns of the families."""
        if self.report.columns:
            return self.report.columns
        fams = families or list(self.protocol.metrics or FAMILY_METRICS)
        return tuple(c for f in FAMILY_METRICS if f in fams for c in FAMILY_COLUMNS[f])

    def with_dataset(self, path: str | Path) -> ExperimentConfig:
        """The same experiment on another dataset directory (``--data``)."""
        from dataclasses import replace

        return replace(self, dataset=DatasetSpec(path=Path(path)))


# ----------------------------------------------------------------- parsing
def load_config(path: str | Path, *, only: Sequence[str] | None = None) -> ExperimentConfig:
    """Read and validate an experiment TOML file (``only``: see :func:`parse_config`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FormatError(
            "expected an experiment config (TOML), found no such file",
            path=path,
            fix="check the path; ready configs are in the repository's experiments/ folder",
        ) from None
    return parse_config(text, source=path, only=only)


def parse_config(
    text: str | Mapping[str, Any],
    *,
    source: str | Path | None = None,
    only: Sequence[str] | None = None,
) -> ExperimentConfig:
    """Validate an experiment given as TOML text or an already-parsed mapping.

    Relative paths (dataset, params files) are resolved against the folder of
    ``source`` (the current directory when there is none). ``only`` keeps the
    ``[[models]]`` entries with these names (before they are validated, so a
    config whose other rows need a model this installation lacks still runs).
    """
    where = None if source is None else Path(source)
    if isinstance(text, str):
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise FormatError(
                f"expected valid TOML, found a syntax error ({exc})",
                path=where,
                fix="repair the file (https://toml.io)",
            ) from exc
        raw_text = text
    else:
        doc, raw_text = dict(text), ""
    base = (where.parent if where is not None else Path.cwd()).resolve()
    ctx = _Ctx(where)
    ctx.keys(doc, _TOP_KEYS, "the top level")
    name = ctx.string(doc, "name", "the top level", default=None)
    if name is None:
        name = where.stem if where is not None else "experiment"
    if not _NAME_RE.match(name):
        ctx.fail("the top level", "name", f"a name of letters, digits, _ . - , found {name!r}")
    description = ctx.string(doc, "description", "the top level", default="") or ""

    if only is not None:
        doc = {**doc, "models": _select(ctx, doc.get("models"), only)}
        report = doc.get("report")
        if (
            isinstance(report, dict)
            and isinstance(report.get("diagonal"), list)
            and any(d not in only and d not in RESERVED_NAMES for d in report["diagonal"])
        ):
            doc["report"] = {k: v for k, v in report.items() if k != "diagonal"}
    dataset = _parse_dataset(ctx, doc.get("dataset"), base)
    protocol = _parse_protocol(ctx, ctx.table(doc, "protocol"))
    models = _parse_models(ctx, doc.get("models"), base)
    report = _parse_report(ctx, ctx.table(doc, "report"), models, protocol)
    recommender = None
    if "recommender" in doc:
        recommender = _parse_recommender(ctx, ctx.table(doc, "recommender"), models, protocol, base)
    return ExperimentConfig(
        name=name,
        dataset=dataset,
        protocol=protocol,
        models=models,
        report=report,
        recommender=recommender,
        description=description,
        source=where,
        text=raw_text,
    )


class _Ctx:
    """Error helpers that name the file, the table and the key."""

    def __init__(self, path: Path | None):
        self.path = path

    def fail(self, table: str, key: str | None, message: str, fix: str | None = None):
        raise InvalidValueError(
            f"expected {message}", path=self.path, record=table, field=key, fix=fix
        )

    def keys(self, doc: Mapping[str, Any], valid: tuple[str, ...], table: str) -> None:
        for k in doc:
            if k not in valid:
                raise InvalidValueError(
                    f"unknown key {k!r}; valid keys are {', '.join(valid)}",
                    path=self.path,
                    record=table,
                    field=k,
                    fix="remove the key or correct its spelling",
                )

    def table(self, doc: Mapping[str, Any], key: str) -> dict[str, Any]:
        v = doc.get(key, {})
        if not isinstance(v, dict):
            self.fail("the top level", key, f"a table [{key}], found {type(v).__name__}")
        return v

    def string(self, doc, key, table, *, default: Any = ...) -> Any:
        if key not in doc:
            if default is ...:
                raise MissingFieldError(
                    f"expected the key {key!r}, found none",
                    path=self.path,
                    record=table,
                    field=key,
                    fix=f'add {key} = "..."',
                )
            return default
        v = doc[key]
        if not isinstance(v, str) or not v.strip():
            self.fail(table, key, f"a non-empty string, found {v!r}")
        return v

    def number(
        self, table, key, v, *, integer=False, low=None, high=None, open_low=False, open_high=False
    ):
        ok = isinstance(v, int) if integer else isinstance(v, int | float)
        if isinstance(v, bool) or not ok:
            self.fail(table, key, f"{'an integer' if integer else 'a number'}, found {v!r}")
        if low is not None and (v <= low if open_low else v < low):
            self.fail(table, key, f"a value {'>' if open_low else '>='} {low}, found {v!r}")
        if high is not None and (v >= high if open_high else v > high):
            self.fail(table, key, f"a value {'<' if open_high else '<='} {high}, found {v!r}")
        return v


def _select(ctx: _Ctx, raw: Any, only: Sequence[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        ctx.fail("the top level", "models", "an array of tables [[models]]")
    names = [m.get("name") for m in raw]
    unknown = [n for n in only if n not in names]
    if unknown or not only:
        raise InvalidValueError(
            f"expected model names of the config to select, found {list(only)!r}; the "
            f"config's models are {', '.join(map(str, names))}",
            path=ctx.path,
            record="--only",
            fix="pass names from that list, separated by commas",
        )
    return [m for m in raw if m.get("name") in only]


def _parse_dataset(ctx: _Ctx, raw: Any, base: Path) -> DatasetSpec:
    table = "[dataset]"
    if raw is None:
        raise MissingFieldError(
            "expected a [dataset] table with `path` (a dataset directory) or `synthetic`",
            path=ctx.path,
            record="the top level",
            field="dataset",
            fix='add [dataset] with path = "DIR" (songspace prepare ...) or synthetic = {}',
        )
    if not isinstance(raw, dict):
        ctx.fail("the top level", "dataset", f"a table [dataset], found {raw!r}")
    ctx.keys(raw, _DATASET_KEYS, table)
    if ("path" in raw) == ("synthetic" in raw):
        ctx.fail(
            table, None, "exactly one of `path` and `synthetic`", fix="keep one of the two keys"
        )
    if "path" in raw:
        p = Path(ctx.string(raw, "path", table)).expanduser()
        return DatasetSpec(path=p if p.is_absolute() else (base / p))
    syn = raw["synthetic"]
    if not isinstance(syn, dict):
        ctx.fail(table, "synthetic", f"a table of generator arguments, found {syn!r}")
    from songspace.data.synthetic import generate

    valid = tuple(inspect.signature(generate).parameters)
    ctx.keys(syn, valid, "[dataset.synthetic]")
    return DatasetSpec(synthetic=dict(syn))


def _parse_protocol(ctx: _Ctx, raw: dict[str, Any]) -> ProtocolSpec:
    table = "[protocol]"
    ctx.keys(raw, tuple(_PROTOCOL_DEFAULTS), table)
    v = {**_PROTOCOL_DEFAULTS, **raw}
    seeds = v["seeds"]
    if not isinstance(seeds, list) or not seeds:
        ctx.fail(table, "seeds", f"a non-empty list of integers, found {seeds!r}")
    for s in seeds:
        ctx.number(table, "seeds", s, integer=True, low=0, high=2**32 - 1)
    if len(set(seeds)) != len(seeds):
        ctx.fail(table, "seeds", f"distinct seeds, found {seeds!r}")
    ctx.number(
        table, "test_fraction", v["test_fraction"], low=0, high=0.5, open_low=True, open_high=True
    )
    ctx.number(table, "min_tracks", v["min_tracks"], integer=True, low=2)
    ctx.number(table, "cold_start_share", v["cold_start_share"], low=0, high=1, open_high=True)
    sf = v["seed_fractions"]
    if not isinstance(sf, list) or not sf:
        ctx.fail(table, "seed_fractions", f"a non-empty list of numbers in (0, 1), found {sf!r}")
    for f in sf:
        ctx.number(table, "seed_fractions", f, low=0, high=1, open_low=True, open_high=True)
    if len(set(sf)) != len(sf):
        ctx.fail(table, "seed_fractions", f"distinct values, found {sf!r}")
    metrics = v["metrics"]
    if len(sf) > 1 and metrics is not None and "completion" not in metrics:
        ctx.fail(
            table,
            "metrics",
            "the completion family when several seed_fractions are "
            f"given (they vary the completion seed), found {metrics!r}",
        )
    if metrics is not None:
        if not isinstance(metrics, list) or not metrics:
            ctx.fail(table, "metrics", f"a non-empty list of metric families, found {metrics!r}")
        for m in metrics:
            if m not in FAMILY_METRICS:
                ctx.fail(
                    table,
                    "metrics",
                    f"metric families among {', '.join(FAMILY_METRICS)}, found {m!r}",
                    fix="use family names (e.g. completion), not metric names",
                )
        metrics = tuple(dict.fromkeys(metrics))
    for key, low in (
        ("k", 1),
        ("hardneg_min_count", 1),
        ("pairs_per_cell", 1),
        ("artist_min_tracks", 1),
        ("coherence_k", 1),
        ("random_dim", 1),
    ):
        ctx.number(table, key, v[key], integer=True, low=low)
    if v["hardneg_threshold"] is not None:
        ctx.number(table, "hardneg_threshold", v["hardneg_threshold"], low=0)
    if v["on_missing_features"] not in ("error", "skip"):
        ctx.fail(
            table, "on_missing_features", f"'error' or 'skip', found {v['on_missing_features']!r}"
        )
    from songspace.evaluation.rankers import BASELINE_RANKERS

    rankers = v["rankers"]
    if not isinstance(rankers, list) or any(r not in BASELINE_RANKERS for r in rankers):
        ctx.fail(
            table,
            "rankers",
            f"a list of names among {', '.join(BASELINE_RANKERS)}, found {rankers!r}",
        )
    return ProtocolSpec(
        rankers=tuple(dict.fromkeys(rankers)),
        seeds=tuple(int(s) for s in seeds),
        test_fraction=float(v["test_fraction"]),
        min_tracks=int(v["min_tracks"]),
        cold_start_share=float(v["cold_start_share"]),
        seed_fractions=tuple(float(f) for f in sf),
        metrics=metrics,
        k=int(v["k"]),
        hardneg_threshold=None if v["hardneg_threshold"] is None else float(v["hardneg_threshold"]),
        hardneg_min_count=int(v["hardneg_min_count"]),
        pairs_per_cell=int(v["pairs_per_cell"]),
        artist_min_tracks=int(v["artist_min_tracks"]),
        coherence_k=int(v["coherence_k"]),
        random_dim=int(v["random_dim"]),
        on_missing_features=str(v["on_missing_features"]),
    )


def _parse_models(ctx: _Ctx, raw: Any, base: Path) -> tuple[ModelSpec, ...]:
    from songspace.models.registry import available_models

    if raw is None:
        raise MissingFieldError(
            "expected at least one [[models]] entry, found none",
            path=ctx.path,
            record="the top level",
            field="models",
            fix='add [[models]] with name = "..." and model = "track2vec" (see `songspace models`)',
        )
    if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
        ctx.fail("the top level", "models", "an array of tables [[models]]")
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    registered = available_models()
    for i, m in enumerate(raw):
        table = f"[[models]] #{i + 1}" + (
            f" ({m['name']!r})" if isinstance(m.get("name"), str) else ""
        )
        ctx.keys(m, _MODEL_KEYS, table)
        name = ctx.string(m, "name", table)
        if not _NAME_RE.match(name):
            ctx.fail(table, "name", f"letters, digits, _ . - (a file-name-safe id), found {name!r}")
        if name in RESERVED_NAMES:
            ctx.fail(
                table,
                "name",
                f"a name other than {RESERVED_NAMES} (baselines every "
                f"comparison adds), found {name!r}",
            )
        if name in seen:
            ctx.fail(table, "name", f"a unique name, found {name!r} twice")
        seen.add(name)
        model = ctx.string(m, "model", table)
        if model not in registered:
            raise InvalidValueError(
                f"unknown model {model!r}; registered models are {', '.join(registered)}",
                path=ctx.path,
                record=table,
                field="model",
                fix="use one of those names (`songspace models` lists them with parameters)",
            )
        params, built = _model_params(ctx, m, model, table, base)
        label = ctx.string(m, "label", table, default=name)
        features = ctx.string(m, "features", table, default=None)
        baseline = m.get("baseline", True)
        if not isinstance(baseline, bool):
            ctx.fail(table, "baseline", f"true or false, found {baseline!r}")
        columns = m.get("columns", {})
        if not isinstance(columns, dict) or not all(
            isinstance(k, str) and isinstance(x, str) for k, x in columns.items()
        ):
            ctx.fail(table, "columns", f'a table of column name = "text", found {columns!r}')
        paper = m.get("paper", {})
        if not isinstance(paper, dict):
            ctx.fail(table, "paper", f"a table of metric = value, found {paper!r}")
        all_metrics = [m for ms in FAMILY_METRICS.values() for m in ms]
        for k, x in paper.items():
            if k not in all_metrics:
                ctx.fail(
                    table, "paper", f"metric names among {', '.join(all_metrics)}, found {k!r}"
                )
            ctx.number(table, f"paper.{k}", x)
        groups = built.input_feature_groups()
        if features is None:
            features = ", ".join(g.upper() for g in groups) if groups else "-"
        specs.append(
            ModelSpec(
                name=name,
                model=model,
                params=params,
                label=label,
                features=features,
                baseline=baseline,
                columns=dict(columns),
                paper={k: float(x) for k, x in paper.items()},
                requires=built.required_feature_groups(),
            )
        )
    return tuple(specs)


def _model_params(
    ctx: _Ctx, m: dict, model: str, table: str, base: Path
) -> tuple[dict[str, Any], EmbeddingModel]:
    """(the config's parameters, coerced and validated, as JSON values: a ``preset``'s
    values (e.g. Track2Vec's ``"paper"``), overridden by ``params_file``'s, overridden by
    ``params``; the unfitted model they build, which names the feature groups it needs)."""
    from songspace._util import to_jsonable
    from songspace.errors import ParameterError
    from songspace.models.registry import create, get_model_class
    from songspace.models.run import read_config

    klass = get_model_class(model)
    merged: dict[str, Any] = {}
    preset = ctx.string(m, "preset", table, default=None)
    if "params_file" in m:
        pf = Path(ctx.string(m, "params_file", table)).expanduser()
        merged.update(read_config(pf if pf.is_absolute() else base / pf))
    params = m.get("params", {})
    if not isinstance(params, dict):
        ctx.fail(table, "params", f"a table of parameter = value, found {params!r}")
    merged.update(params)
    try:
        if preset is not None:  # the preset's values, then params_file's, then params'
            merged = {**klass.preset_params(preset), **merged}
        coerced = klass.coerce_params(merged, from_strings=True)
        built = create(klass, coerced)
    except ParameterError as exc:
        raise InvalidValueError(
            f"expected a valid parameter set for {model!r}: {exc}",
            path=ctx.path,
            record=table,
            field="params",
            fix=f"parameters of {model}: {', '.join(klass.default_params())} "
            "(`songspace models` shows defaults and ranges)",
        ) from None
    return to_jsonable(coerced), built


def _parse_report(
    ctx: _Ctx, raw: dict[str, Any], models: tuple[ModelSpec, ...], protocol: ProtocolSpec
) -> ReportSpec:
    table = "[report]"
    ctx.keys(raw, tuple(_REPORT_DEFAULTS), table)
    v = {**_REPORT_DEFAULTS, **raw}
    title = v["title"]
    if title is not None and (not isinstance(title, str) or not title.strip()):
        ctx.fail(table, "title", f"a non-empty string, found {title!r}")
    columns = v["columns"]
    if columns is not None:
        if not isinstance(columns, list) or not columns:
            ctx.fail(table, "columns", f"a non-empty list of metric names, found {columns!r}")
        allowed = [
            m
            for f, ms in FAMILY_METRICS.items()
            if protocol.metrics is None or f in protocol.metrics
            for m in ms
        ]
        for c in columns:
            if c not in allowed:
                ctx.fail(
                    table,
                    "columns",
                    f"metric names among {', '.join(allowed)} (the "
                    f"metrics of the families evaluated), found {c!r}",
                )
        columns = tuple(dict.fromkeys(columns))
    ctx.number(table, "alpha", v["alpha"], low=0, high=1, open_low=True, open_high=True)
    diagonal = v["diagonal"]
    if diagonal is not None:
        names = [m.name for m in models] + list(RESERVED_NAMES)
        if (
            not isinstance(diagonal, list)
            or len(diagonal) != 2
            or any(d not in names for d in diagonal)
        ):
            ctx.fail(
                table, "diagonal", f"two model names among {', '.join(names)}, found {diagonal!r}"
            )
        if protocol.metrics is not None and "popularity" not in protocol.metrics:
            ctx.fail(
                table,
                "diagonal",
                "the popularity family in [protocol] metrics (the "
                "diagonal compares popularity-bucket HitRates)",
            )
        diagonal = (diagonal[0], diagonal[1])
    return ReportSpec(title=title, columns=columns, alpha=float(v["alpha"]), diagonal=diagonal)


def _parse_recommender(
    ctx: _Ctx,
    raw: dict[str, Any],
    models: tuple[ModelSpec, ...],
    protocol: ProtocolSpec,
    base: Path,
) -> RecommenderSpec:
    """The ``[recommender]`` table: its keys are :class:`RecommenderSpec`'s fields."""
    import dataclasses

    from songspace.errors import ParameterError

    table = "[recommender]"
    ctx.keys(raw, tuple(f.name for f in dataclasses.fields(RecommenderSpec)), table)
    name = ctx.string(raw, "name", table, default=RecommenderSpec.name)
    taken = [*RESERVED_NAMES, *protocol.rankers, *(m.name for m in models)]
    if not _NAME_RE.match(name) or name in taken:
        ctx.fail(table, "name", f"a file-name-safe name other than {taken}, found {name!r}")
    embeddings = raw.get("embeddings")
    rows = [m.name for m in models]
    if embeddings is not None and (
        not isinstance(embeddings, list) or any(e not in rows for e in embeddings)
    ):
        ctx.fail(
            table, "embeddings", f"a list of [[models]] names among {rows}, found {embeddings!r}"
        )
    rankers_config = None
    if "rankers_config" in raw:
        rc = Path(ctx.string(raw, "rankers_config", table)).expanduser()
        rankers_config = rc if rc.is_absolute() else base / rc
    params = raw.get("params", {})
    if not isinstance(params, dict):
        ctx.fail(table, "params", f"a table of parameter = value, found {params!r}")
    from songspace.recommender import TwoStageRanker

    try:
        TwoStageRanker.check_params(params)
    except ParameterError as exc:
        ctx.fail(table, "params", f"valid recommender parameters: {exc}", fix="docs/recommender.md")
    return RecommenderSpec(
        name=name,
        embeddings=None if embeddings is None else tuple(dict.fromkeys(embeddings)),
        rankers_config=rankers_config,
        params=dict(params),
    )

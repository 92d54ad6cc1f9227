"""Align a dataset's feature groups to the columns a model was trained on.

Two datasets prepared from the same kind of source rarely hold the same feature
columns: the genre group is one-hot over each dataset's own top-G genres, a metadata
table may lack a column. A model trained on one (GraphSAGE/MUSIG read the feature
groups as input) embeds the other after :func:`align_features` has put each group in
the training column order, matched by column name:

- a training column the dataset lacks is filled as unknown (value 0, known False):
  nothing is invented;
- a dataset column the model never saw is dropped;
- the ``genre`` group is re-encoded from the tracks' genre lists over the training
  columns when the dataset has them (``genre:<name>`` columns plus ``genre:other``, as
  :func:`songspace.data.features.genre_group` builds them), so a track's genre that is
  among the training genres is set even where the dataset's own top-G left it out.

Each group's :class:`GroupAlignment` says what did not match (counts and a few
names); a group that shares no column with the training one is an error.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from songspace.data.dataset import Dataset
from songspace.data.features import GENRE_PREFIX, FeatureGroup, encode_genres
from songspace.errors import ParameterError


@dataclass
class GroupAlignment:
    """How one feature group of a dataset was matched to the training columns."""

    group: str
    n_training: int
    matched: int
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    rederived: bool = False

    @property
    def exact(self) -> bool:
        return not self.missing and not self.extra

    def describe(self, shown: int = 3) -> str:
        """One sentence: what does not match and what was done about it."""

        def few(names: list[str]) -> str:
            more = f", ... {len(names) - shown} more" if len(names) > shown else ""
            return ", ".join(repr(n) for n in names[:shown]) + more

        parts = [
            f"feature group '{self.group}': {self.matched} of the {self.n_training} "
            "training columns are in the dataset"
        ]
        if self.missing:
            parts.append(
                f"{len(self.missing)} missing ({few(self.missing)})"
                + ("" if self.rederived else ", filled as unknown")
            )
        if self.extra:
            parts.append(f"{len(self.extra)} the model never saw dropped ({few(self.extra)})")
        text = "; ".join(parts)
        if self.rederived:
            text += "; re-encoded from the tracks' genres over the training columns"
        return text


def _genre_lists(dataset: Dataset) -> list[list[str]] | None:
    if "genres" not in dataset.tracks.columns:
        return None
    out: list[list[str]] = []
    for g in dataset.tracks["genres"].tolist():
        if g is None or isinstance(g, float):
            out.append([])
        else:
            out.append([str(x) for x in g])
    return out


def _by_name(group: FeatureGroup, columns: list[str]) -> FeatureGroup:
    n = group.values.shape[0]
    values = np.zeros((n, len(columns)), dtype=np.float32)
    known = np.zeros((n, len(columns)), dtype=bool)
    where = {c: j for j, c in enumerate(group.columns)}
    scaling = {}
    for k, c in enumerate(columns):
        j = where.get(c)
        if j is not None:
            values[:, k] = group.values[:, j]
            known[:, k] = group.known[:, j]
            if c in group.scaling:
                scaling[c] = group.scaling[c]
    return FeatureGroup(group.name, columns, values, known, scaling)


def align_features(
    dataset: Dataset, columns: Mapping[str, Sequence[str]]
) -> tuple[Dataset, list[GroupAlignment]]:
    """``dataset`` with each group of ``columns`` (group -> training column names)
    holding exactly those columns, in that order (see the module docstring), and what
    was done per group. Groups not named in ``columns`` are kept as they are.

    ParameterError when the dataset lacks a group, or a group shares no column with the
    training one (and cannot be re-encoded from the tracks' genres).
    """
    features = dict(dataset.features)
    report = []
    for name, cols in columns.items():
        cols = list(cols)
        if name not in dataset.features:
            raise ParameterError(
                "dataset",
                f"the feature group '{name}' the model was trained with ({len(cols)} columns)",
                f"groups {sorted(dataset.features)}",
                fix="prepare the dataset with the same metadata options as the training "
                "one (e.g. --tracks/--artists for genre and audio)",
            )
        group = dataset.features[name]
        have = set(group.columns)
        matched = [c for c in cols if c in have]
        missing = [c for c in cols if c not in have]
        extra = [c for c in group.columns if c not in set(cols)]
        genres = _genre_lists(dataset) if name == "genre" else None
        rederive = (
            genres is not None
            and any(genres)
            and all(c.startswith(GENRE_PREFIX) for c in cols)
            and bool(missing or extra)
        )
        if not matched and not rederive:
            raise ParameterError(
                "dataset",
                f"feature group '{name}' sharing columns with the training one "
                f"({', '.join(map(repr, cols[:3]))}{', ...' if len(cols) > 3 else ''})",
                f"none of its {len(group.columns)} columns "
                f"({', '.join(map(repr, group.columns[:3]))}"
                f"{', ...' if len(group.columns) > 3 else ''})",
                fix="prepare the dataset from the same kind of source and metadata as the "
                "training one",
            )
        if rederive:
            assert genres is not None
            features[name] = encode_genres(genres, cols)
        elif missing or extra or group.columns != cols:
            features[name] = _by_name(group, cols)
        report.append(GroupAlignment(name, len(cols), len(matched), missing, extra, rederive))
    return dataclasses.replace(dataset, features=features), report

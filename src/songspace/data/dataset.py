"""The songspace dataset: tracks, sequences in CSR form, feature groups (SPEC §1).

On disk a dataset is a directory::

    manifest.json          format version, source, counts, feature-group columns
    tracks.parquet         one row per track (track_id unique)
    sequences.parquet      sequence_id, length (CSR indptr = cumulative lengths)
    entries.parquet        track index per entry [, timestamp, skipped]
    features/<group>.parquet   group columns (float32 in [0, 1]) + "known:<column>" booleans

It is written atomically (temporary directory, then rename).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from songspace._checks import check_format
from songspace._util import atomic_directory, check_file_stem, to_jsonable
from songspace.data.features import (  # FeatureGroup is re-exported (it lived here)
    FeatureGroup,
    with_global_popularity,
)
from songspace.errors import DatasetFormatError, ParameterError

FORMAT_NAME = "songspace-dataset"
FORMAT_VERSION = 1

TRACK_COLUMNS = ("track_id", "track_name", "artist_id", "artist_name", "genre", "genres")
KNOWN_PREFIX = "known:"


@dataclass
class Dataset:
    """Tracks plus ordered sequences (playlists or sessions) in CSR form.

    Sequence ``s`` is ``indices[indptr[s]:indptr[s + 1]]``, track indices into
    ``tracks`` (whose row order is the track vocabulary every embedding aligns
    to). ``timestamps`` (int64 seconds) and ``skipped`` (bool) are optional
    per-entry arrays. ``sequence_names`` (object array of str or None, one per
    sequence) holds playlist titles where the source has them (MPD ``name``, Melon
    ``plylst_title``); the RecSys Challenge protocol's title categories use them.
    """

    tracks: pd.DataFrame
    indptr: np.ndarray
    indices: np.ndarray
    sequence_ids: np.ndarray
    timestamps: np.ndarray | None = None
    skipped: np.ndarray | None = None
    features: dict[str, FeatureGroup] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)
    sequence_names: np.ndarray | None = None
    #: The directory :meth:`load` read this dataset from (None for one built in memory,
    #: and for a :meth:`subset`); where later steps find ``OUT/graph``.
    directory: Path | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ basics
    @property
    def n_tracks(self) -> int:
        return len(self.tracks)

    @property
    def n_sequences(self) -> int:
        return len(self.indptr) - 1

    @property
    def n_entries(self) -> int:
        return int(self.indptr[-1])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def track_ids(self) -> np.ndarray:
        return self.tracks["track_id"].to_numpy()

    def sequence(self, s: int) -> np.ndarray:
        return self.indices[self.indptr[s] : self.indptr[s + 1]]

    def track_index(self) -> dict[str, int]:
        """Map track id -> row in the vocabulary."""
        return {t: i for i, t in enumerate(self.tracks["track_id"].tolist())}

    def sequence_of_entry(self) -> np.ndarray:
        """For each entry, the index of its sequence."""
        return np.repeat(np.arange(self.n_sequences, dtype=np.int64), self.lengths)

    def occurrences(self) -> np.ndarray:
        """Number of distinct sequences containing each track (global popularity count)."""
        return np.bincount(self.incidence().indices, minlength=self.n_tracks).astype(np.int64)

    def incidence(self) -> sp.csr_matrix:
        """Binary sequence-by-track matrix X (a track repeated in a sequence counts once)."""
        return incidence_matrix(self.indptr, self.indices, self.n_tracks)

    def play_counts(self) -> np.ndarray:
        """Number of entries (plays, playlist slots) of each track."""
        return np.bincount(self.indices, minlength=self.n_tracks).astype(np.int64)

    # -------------------------------------------------------------- validation
    def validate(self) -> Dataset:
        """Check shapes, ranges and uniqueness; raise DatasetFormatError on the first problem."""
        n_tracks = self.n_tracks
        for col in ("track_id",):
            if col not in self.tracks.columns:
                raise DatasetFormatError(
                    f"expected a '{col}' column in the tracks table, found columns "
                    f"{list(self.tracks.columns)}",
                    field=col,
                    fix="build the tracks table with a readers in songspace.data",
                )
        dup = self.tracks["track_id"].duplicated()
        if dup.any():
            first = self.tracks["track_id"][dup].iloc[0]
            raise DatasetFormatError(
                f"expected unique track ids, found {int(dup.sum())} duplicates (first: {first!r})",
                field="track_id",
                fix="merge duplicate track rows before building the dataset",
            )
        ip = self.indptr
        if ip.ndim != 1 or len(ip) < 1 or ip[0] != 0 or np.any(np.diff(ip) < 0):
            raise DatasetFormatError(
                "expected indptr to start at 0 and never decrease",
                field="indptr",
                fix="rebuild the sequences",
            )
        if ip[-1] != len(self.indices):
            raise DatasetFormatError(
                f"expected indptr[-1] == len(indices), found {ip[-1]} != {len(self.indices)}",
                field="indices",
                fix="rebuild the sequences",
            )
        if len(self.indices) and (self.indices.min() < 0 or self.indices.max() >= n_tracks):
            raise DatasetFormatError(
                f"expected track indices in [0, {n_tracks}), found range "
                f"[{self.indices.min()}, {self.indices.max()}]",
                field="indices",
                fix="rebuild the sequences against this tracks table",
            )
        if len(self.sequence_ids) != self.n_sequences:
            raise DatasetFormatError(
                f"expected {self.n_sequences} sequence ids, found {len(self.sequence_ids)}",
                field="sequence_id",
                fix="rebuild the sequences",
            )
        if self.sequence_names is not None and len(self.sequence_names) != self.n_sequences:
            raise DatasetFormatError(
                f"expected {self.n_sequences} sequence names, found {len(self.sequence_names)}",
                field="name",
                fix="give one name (or None) per sequence",
            )
        empty = np.flatnonzero(np.diff(ip) == 0)
        if len(empty):
            raise DatasetFormatError(
                f"expected every sequence to hold at least one track, found {len(empty)} empty "
                f"(first: {self.sequence_ids[empty[0]]!r})",
                field="sequences",
                fix="drop empty sequences",
            )
        for name, arr in (("timestamps", self.timestamps), ("skipped", self.skipped)):
            if arr is not None and len(arr) != len(self.indices):
                raise DatasetFormatError(
                    f"expected one {name} value per entry ({len(self.indices)}), found {len(arr)}",
                    field=name,
                    fix="rebuild the sequences",
                )
        for name, group in self.features.items():
            if name != group.name:
                raise DatasetFormatError(
                    f"expected feature group key {name!r} to equal its name, found {group.name!r}",
                    field="features",
                    fix="key feature groups by their name",
                )
            group.validate(n_tracks)
        return self

    # ----------------------------------------------------------------- subsets
    def subset(
        self,
        sequences: np.ndarray | Sequence[int],
        *,
        drop_tracks: np.ndarray | Sequence[int] | None = None,
        name: str | None = None,
    ) -> Dataset:
        """A dataset over the same track vocabulary holding only ``sequences``.

        ``drop_tracks`` removes every occurrence of those tracks (cold-start
        split); sequences left empty are dropped. The global-popularity column is
        recomputed from the retained sequences, so a training view never counts
        held-out playlists.
        """
        seqs = np.asarray(sequences, dtype=np.int64)
        if seqs.size and (seqs.min() < 0 or seqs.max() >= self.n_sequences):
            raise ParameterError("sequences", f"`0 <= index < {self.n_sequences}`", int(seqs.max()))
        lengths = self.lengths[seqs]
        starts = self.indptr[seqs]
        entry = _ranges(starts, lengths)
        keep = np.ones(len(entry), dtype=bool)
        if drop_tracks is not None and len(drop_tracks):
            drop = np.zeros(self.n_tracks, dtype=bool)
            drop[np.asarray(drop_tracks, dtype=np.int64)] = True
            keep = ~drop[self.indices[entry]]
        seq_of = np.repeat(np.arange(len(seqs)), lengths)[keep]
        new_len = np.bincount(seq_of, minlength=len(seqs))
        nonempty = new_len > 0
        entry = entry[keep]
        indptr = np.concatenate([[0], np.cumsum(new_len[nonempty])]).astype(np.int64)
        out = Dataset(
            tracks=self.tracks,
            indptr=indptr,
            indices=self.indices[entry],
            sequence_ids=self.sequence_ids[seqs[nonempty]],
            sequence_names=None
            if self.sequence_names is None
            else self.sequence_names[seqs[nonempty]],
            timestamps=None if self.timestamps is None else self.timestamps[entry],
            skipped=None if self.skipped is None else self.skipped[entry],
            features=dict(self.features),
            source={**self.source, "subset_of": self.source.get("name"), "subset": name},
        )
        if "popularity" in self.features:
            out.features["popularity"] = with_global_popularity(
                self.features["popularity"], out.occurrences(), out.n_sequences
            )
        return out

    # ---------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        """Counts, sequence-length statistics and feature coverage."""
        lengths = self.lengths
        return {
            "source": self.source.get("name", "unknown"),
            "tracks": self.n_tracks,
            "sequences": self.n_sequences,
            "entries": self.n_entries,
            "tracks_in_sequences": int(np.count_nonzero(self.play_counts())),
            "length_min": int(lengths.min()) if len(lengths) else 0,
            "length_median": float(np.median(lengths)) if len(lengths) else 0.0,
            "length_mean": float(lengths.mean()) if len(lengths) else 0.0,
            "length_max": int(lengths.max()) if len(lengths) else 0,
            "has_timestamps": self.timestamps is not None,
            "has_skips": self.skipped is not None,
            "artists": int(self.tracks["artist_id"].nunique()) if "artist_id" in self.tracks else 0,
            "coverage": {
                name: {"dim": g.dim, "coverage": g.coverage(), "columns": g.column_coverage()}
                for name, g in self.features.items()
            },
        }

    # -------------------------------------------------------------------- I/O
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the dataset directory atomically and return its path."""
        self.validate()
        path = Path(path)
        with atomic_directory(path, overwrite=overwrite) as tmp:
            pq.write_table(_tracks_to_arrow(self.tracks), tmp / "tracks.parquet")
            seq_cols = {
                "sequence_id": pa.array([str(s) for s in self.sequence_ids], pa.string()),
                "length": pa.array(self.lengths.astype(np.int64)),
            }
            if self.sequence_names is not None:
                seq_cols["name"] = pa.array(
                    [None if _is_missing(n) else str(n) for n in self.sequence_names], pa.string()
                )
            pq.write_table(pa.table(seq_cols), tmp / "sequences.parquet")
            entries = {"track": pa.array(self.indices)}
            if self.timestamps is not None:
                entries["timestamp"] = pa.array(self.timestamps.astype(np.int64))
            if self.skipped is not None:
                entries["skipped"] = pa.array(self.skipped.astype(bool))
            pq.write_table(pa.table(entries), tmp / "entries.parquet")
            (tmp / "features").mkdir()
            for name, g in self.features.items():
                check_file_stem(name, what="feature group", path=path)
                cols = {c: pa.array(g.values[:, j]) for j, c in enumerate(g.columns)}
                cols.update(
                    {KNOWN_PREFIX + c: pa.array(g.known[:, j]) for j, c in enumerate(g.columns)}
                )
                pq.write_table(pa.table(cols), tmp / "features" / f"{name}.parquet")
            manifest = {
                "format": FORMAT_NAME,
                "format_version": FORMAT_VERSION,
                "created_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "source": to_jsonable(self.source),
                "counts": {
                    "tracks": self.n_tracks,
                    "sequences": self.n_sequences,
                    "entries": self.n_entries,
                },
                "index_dtype": str(self.indices.dtype),
                "feature_groups": {
                    name: {"columns": g.columns, "scaling": g.scaling}
                    for name, g in self.features.items()
                },
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Dataset:
        """Read a dataset directory written by :meth:`save`, checking version and shapes."""
        path = Path(path)
        mpath, manifest = _read_manifest(path)
        tracks = _read_parquet(path / "tracks.parquet").to_pandas()
        seqs = _read_parquet(path / "sequences.parquet")
        entries = _read_parquet(path / "entries.parquet")
        lengths = seqs.column("length").to_numpy().astype(np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        features = {
            name: _read_feature_group(path, mpath, name, info)
            for name, info in manifest.get("feature_groups", {}).items()
        }
        ds = cls(
            tracks=normalise_tracks(tracks),
            indptr=indptr,
            indices=entries.column("track").to_numpy(),
            sequence_ids=np.asarray(seqs.column("sequence_id").to_pylist(), dtype=object),
            sequence_names=np.asarray(seqs.column("name").to_pylist(), dtype=object)
            if "name" in seqs.column_names
            else None,
            timestamps=entries.column("timestamp").to_numpy()
            if "timestamp" in entries.column_names
            else None,
            skipped=entries.column("skipped").to_numpy(zero_copy_only=False).astype(bool)
            if "skipped" in entries.column_names
            else None,
            features=features,
            source=manifest.get("source", {}),
            directory=path,
        )
        _check_counts(ds, manifest.get("counts", {}), mpath)
        try:
            return ds.validate()
        except DatasetFormatError as exc:
            raise DatasetFormatError(
                exc.detail, path=path, record=exc.record, field=exc.field, fix=exc.fix
            ) from exc


# --------------------------------------------------------------------- helpers
def _read_manifest(path: Path) -> tuple[Path, dict[str, Any]]:
    """(path of manifest.json, its content) of the dataset directory ``path``, checked
    for its format name and version."""
    mpath = path / "manifest.json"
    if not path.is_dir():
        raise DatasetFormatError(
            "expected a dataset directory, found nothing there"
            if not path.exists()
            else "expected a dataset directory, found a file",
            path=path,
            fix="create one with `songspace prepare ... -o DIR`",
        )
    if not mpath.is_file():
        raise DatasetFormatError(
            "expected manifest.json in the dataset directory, found none",
            path=path,
            fix="point to a directory written by `songspace prepare`",
        )
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetFormatError(
            f"expected valid JSON, found a syntax error ({exc.msg})",
            path=mpath,
            line=exc.lineno,
            fix="re-create the dataset with `songspace prepare`",
        ) from exc
    check_format(
        manifest,
        name=FORMAT_NAME,
        version=FORMAT_VERSION,
        path=mpath,
        error=DatasetFormatError,
        fix_format="point to a directory written by `songspace prepare`",
        fix_version="re-create the dataset with this songspace version's `songspace prepare`",
    )
    return mpath, manifest


def _read_feature_group(path: Path, mpath: Path, name: str, info: dict[str, Any]) -> FeatureGroup:
    """Feature group ``name`` of the dataset directory ``path``, with the columns and
    scaling its manifest entry ``info`` lists."""
    check_file_stem(name, what="feature group", path=mpath)
    table = _read_parquet(path / "features" / f"{name}.parquet")
    cols = list(info["columns"])
    missing = [c for c in cols if c not in table.column_names]
    if missing:
        raise DatasetFormatError(
            f"expected columns {missing} listed in the manifest, found {table.column_names}",
            path=path / "features" / f"{name}.parquet",
            fix="re-create the dataset",
        )
    values = (
        np.column_stack([table.column(c).to_numpy().astype(np.float32) for c in cols])
        if cols
        else np.zeros((table.num_rows, 0), np.float32)
    )
    known = (
        np.column_stack([table.column(KNOWN_PREFIX + c).to_numpy().astype(bool) for c in cols])
        if cols
        else np.zeros((table.num_rows, 0), bool)
    )
    return FeatureGroup(name, cols, values, known, dict(info.get("scaling", {})))


def _check_counts(ds: Dataset, counts: dict[str, Any], mpath: Path) -> None:
    """DatasetFormatError when the manifest's counts differ from what the files hold."""
    for key, actual in (
        ("tracks", ds.n_tracks),
        ("sequences", ds.n_sequences),
        ("entries", ds.n_entries),
    ):
        if counts.get(key) != actual:
            raise DatasetFormatError(
                f"expected {counts.get(key)} {key} (manifest), found {actual} in the files",
                path=mpath,
                field=f"counts.{key}",
                fix="the directory was modified or partly copied; re-create it",
            )


def incidence_matrix(indptr: np.ndarray, indices: np.ndarray, n_tracks: int) -> sp.csr_matrix:
    """Binary sequence-by-track CSR matrix (int32 ones, sorted indices, repeats merged).

    The input arrays are copied: ``sum_duplicates`` sorts in place, and the
    order of a sequence must never change.
    """
    x = sp.csr_matrix(
        (np.ones(len(indices), dtype=np.int32), np.array(indices, copy=True), np.array(indptr)),
        shape=(len(indptr) - 1, n_tracks),
    )
    x.sum_duplicates()
    x.data[:] = 1
    return x


def make_tracks_table(
    track_ids: Sequence[str],
    *,
    track_names: Sequence[str | None] | None = None,
    artist_ids: Sequence[str | None] | None = None,
    artist_names: Sequence[str | None] | None = None,
    genres: Sequence[Sequence[str]] | None = None,
    primary: Sequence[str | None] | None = None,
) -> pd.DataFrame:
    """Build a tracks table with the standard columns (missing ones filled with None)."""
    n = len(track_ids)

    def col(x):
        return [None] * n if x is None else list(x)

    gl = [list(g) for g in genres] if genres is not None else [[] for _ in range(n)]
    prim = col(primary) if primary is not None else [g[0] if g else None for g in gl]
    return normalise_tracks(
        pd.DataFrame(
            {
                "track_id": [str(t) for t in track_ids],
                "track_name": col(track_names),
                "artist_id": col(artist_ids),
                "artist_name": col(artist_names),
                "genre": prim,
                "genres": gl,
            }
        )
    )


def normalise_tracks(df: pd.DataFrame) -> pd.DataFrame:
    """The standard column set and order; text columns as objects with None for missing."""
    df = df.copy()
    for c in TRACK_COLUMNS:
        if c not in df.columns:
            df[c] = [[] for _ in range(len(df))] if c == "genres" else None
    df["genres"] = [list(g) if g is not None and not _is_missing(g) else [] for g in df["genres"]]
    for c in ("track_id", "track_name", "artist_id", "artist_name", "genre"):
        df[c] = pd.Series([None if _is_missing(v) else v for v in df[c]], dtype=object)
    extra = [c for c in df.columns if c not in TRACK_COLUMNS]
    return df[list(TRACK_COLUMNS) + extra].reset_index(drop=True)


def _is_missing(x: Any) -> bool:
    if x is None or x is pd.NA:
        return True
    if isinstance(x, float):
        return math.isnan(x)
    return False


def _tracks_to_arrow(df: pd.DataFrame) -> pa.Table:
    arrays = {}
    for c in df.columns:
        if c == "genres":
            arrays[c] = pa.array([list(g) for g in df[c]], pa.list_(pa.string()))
        elif not pd.api.types.is_numeric_dtype(df[c].dtype):
            arrays[c] = pa.array([None if _is_missing(v) else str(v) for v in df[c]], pa.string())
        else:
            arrays[c] = pa.array(df[c].to_numpy())
    return pa.table(arrays)


def _read_parquet(path: Path) -> pa.Table:
    if not path.is_file():
        raise DatasetFormatError(
            "expected this file in the dataset directory, found none",
            path=path,
            fix="the directory is incomplete; re-create it with `songspace prepare`",
        )
    try:
        return pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetFormatError(
            f"expected a readable Parquet file, found an error ({exc})",
            path=path,
            fix="the file is damaged; re-create the dataset",
        ) from exc


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ``arange(s, s + n)`` for each (s, n), vectorised."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return np.arange(total, dtype=np.int64) + offsets

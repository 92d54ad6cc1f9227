"""Checked readers of embedding files (.npy, .npz, Parquet) for ``load_embeddings``.

Every way such a file can be wrong (truncated, not an array, object or complex
dtype, string or list columns, no vector column, repeated track ids) becomes a
:class:`~songspace.errors.FormatError` (or a subclass) naming the file, what was
expected and the fix, instead of a numpy/pyarrow traceback or a silent cast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from songspace._checks import NUMPY_READ_ERRORS as _NUMPY_READ_ERRORS
from songspace.errors import DuplicateError, FormatError, InvalidValueError

_SAVE_HINT = "save it with np.save(path, matrix) / np.savez(path, embeddings=matrix)"


def check_numeric_matrix(a: np.ndarray, path: Path, field: str | None = None) -> np.ndarray:
    """``a`` when its dtype is real-valued (bool, integer, float); else InvalidValueError."""
    if a.dtype.kind not in "biuf":
        kind = {"c": "complex", "O": "object", "U": "string", "S": "bytes", "V": "structured"}
        raise InvalidValueError(
            f"expected real numbers, found {kind.get(a.dtype.kind, str(a.dtype))} "
            f"values (dtype {a.dtype})",
            path=path,
            field=field,
            fix="store a float matrix (np.real(x) or x.astype(np.float32) if that is meant)",
        )
    return a


def read_npy(path: Path) -> np.ndarray:
    try:
        a = np.load(path, allow_pickle=False)
    except _NUMPY_READ_ERRORS as exc:
        raise FormatError(
            f"expected a numeric .npy array, found an unreadable file ({_reason(exc)})",
            path=path,
            fix=f"re-write the file; {_SAVE_HINT}",
        ) from exc
    if not isinstance(a, np.ndarray):
        raise FormatError("expected one .npy array, found an archive", path=path, fix=_SAVE_HINT)
    return check_numeric_matrix(a, path)


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """The ``embeddings`` matrix, the optional ``available`` mask and the optional
    track ids (one per row, :func:`songspace._util.pack_ids`) of an ``.npz``."""
    from songspace._util import ID_BYTES, ID_OFFSETS, unpack_ids

    ids: list[str] | None = None
    try:
        with np.load(path, allow_pickle=False) as z:
            if "embeddings" not in z.files:
                raise FormatError(
                    f"expected an array named 'embeddings', found {sorted(z.files)}",
                    path=path,
                    field="embeddings",
                    fix="save with np.savez(path, embeddings=matrix[, available=mask])",
                )
            emb = z["embeddings"]
            avail = z["available"] if "available" in z.files else None
            if ID_BYTES in z.files or ID_OFFSETS in z.files:
                try:
                    ids = unpack_ids(z[ID_BYTES], z[ID_OFFSETS])
                except (KeyError, ValueError, UnicodeDecodeError) as exc:
                    raise FormatError(
                        f"expected track ids that fit together in '{ID_BYTES}' and "
                        f"'{ID_OFFSETS}', found unreadable ones ({_reason(exc)})",
                        path=path,
                        field=ID_BYTES,
                        fix="re-write the file with `songspace train`/`embed`, or drop both "
                        "arrays so the rows are read in vocabulary order",
                    ) from None
    except FormatError:
        raise
    except _NUMPY_READ_ERRORS as exc:
        raise FormatError(
            f"expected a numeric .npz archive, found an unreadable file ({_reason(exc)})",
            path=path,
            fix=f"re-write the file; {_SAVE_HINT}",
        ) from exc
    check_numeric_matrix(emb, path, "embeddings")
    if avail is not None and avail.dtype.kind not in "biu":
        raise InvalidValueError(
            f"expected a boolean mask, found dtype {avail.dtype}",
            path=path,
            field="available",
            fix="save available as a boolean array",
        )
    if ids is not None and emb.ndim >= 1 and len(ids) != emb.shape[0]:
        raise FormatError(
            f"expected one track id per row ({emb.shape[0]}), found {len(ids)}",
            path=path,
            field=ID_OFFSETS,
            fix="re-write the file with `songspace train`/`embed`",
        )
    if ids is not None and len(set(ids)) != len(ids):
        raise DuplicateError(
            f"expected each track id once, found {len(ids) - len(set(ids))} repeated",
            path=path,
            field=ID_BYTES,
            fix="keep one vector per track",
        )
    return emb, avail, ids


def read_parquet_vectors(path: Path) -> tuple[list[str], np.ndarray]:
    """Track ids and the (rows x dimensions) float64 matrix of a Parquet embeddings file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(
            f"expected a Parquet file, found an unreadable one ({_reason(exc)})",
            path=path,
            fix="re-write it, e.g. with pandas.DataFrame.to_parquet",
        ) from exc
    if "track_id" not in table.column_names:
        raise FormatError(
            f"expected a 'track_id' column, found {table.column_names}",
            path=path,
            field="track_id",
            fix="add the track ids beside the vector columns",
        )
    dims = [c for c in table.column_names if c != "track_id"]
    if not dims:
        raise FormatError(
            "expected one numeric column per dimension beside 'track_id', found none",
            path=path,
            fix="add the vector columns (e.g. d0, d1, ...)",
        )
    for c in dims:
        t = table.schema.field(c).type
        if not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            fix = (
                "expand the list into one column per dimension"
                if pa.types.is_list(t)
                or pa.types.is_large_list(t)
                or pa.types.is_fixed_size_list(t)
                else "store numbers, one column per dimension"
            )
            raise InvalidValueError(
                f"expected a numeric vector column, found type {t}",
                path=path,
                field=c,
                fix=fix,
            )
    raw = table.column("track_id").to_pylist()
    if any(t is None for t in raw):
        raise InvalidValueError(
            f"expected a track id on every row, found {sum(t is None for t in raw)} nulls",
            path=path,
            field="track_id",
            fix="drop the rows without an id",
        )
    ids = [str(t) for t in raw]
    if len(set(ids)) != len(ids):
        seen: set[str] = set()
        first = next(t for t in ids if t in seen or seen.add(t))  # type: ignore[func-returns-value]
        raise DuplicateError(
            f"expected each track_id once, found {len(ids) - len(set(ids))} repeated "
            f"(first: {first!r})",
            path=path,
            field="track_id",
            fix="keep one vector per track",
        )
    m = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in dims]
    )
    return ids, m


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__

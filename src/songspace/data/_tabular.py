"""Shared table input for the CSV/TSV/Parquet readers (long format, MSSD, metadata).

File checks, format detection, chunked iteration and the one numeric cell
parser. Locations: CSV lines are numbered with the header as line 1 (exact,
blank lines included, unless a quoted field holds a line break) and reported as
``line=``; Parquet rows by their 0-based index, reported as
``record="row index N"``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from songspace.errors import FormatError, InvalidValueError, MissingFieldError, ParameterError

logger = logging.getLogger("songspace")

_FORMATS = ("csv", "tsv", "parquet")
_SUFFIX_FORMAT = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_COMPRESSION_SUFFIXES = {".gz", ".bz2", ".xz", ".zip", ".zst"}


# ------------------------------------------------------------------ locations
def location(
    path: str | Path, row: int, field: str | None = None, *, parquet: bool = False
) -> dict[str, Any]:
    """Keyword arguments of an InputError for a CSV line or a Parquet row index."""
    if parquet:
        return {"path": str(path), "record": f"row index {int(row)}", "field": field}
    return {"path": str(path), "line": int(row), "field": field}


# ------------------------------------------------------------------ arguments
def check_chunk_rows(chunk_rows: int) -> int:
    """``chunk_rows`` if it is a positive integer, else ParameterError."""
    if (
        isinstance(chunk_rows, bool)
        or not isinstance(chunk_rows, int | np.integer)
        or (chunk_rows < 1)
    ):
        raise ParameterError("chunk_rows", "`chunk_rows >= 1`", chunk_rows)
    return int(chunk_rows)


def check_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path; FormatError if it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        found = "a directory" if p.is_dir() else "nothing"
        raise FormatError(
            f"expected {what}, found {found}",
            path=p,
            fix="check the path (relative paths start at the current directory)",
        )
    return p


def resolve_format(path: Path, file_format: str | None) -> str:
    """'csv', 'tsv' or 'parquet' from ``file_format`` or the file name (compression aware).

    A name without a known suffix is Parquet if the file starts with ``PAR1``, else CSV.
    """
    if file_format is not None:
        fmt = file_format.lower().lstrip(".")
        if fmt not in _FORMATS:
            raise ParameterError(
                "file_format",
                f"`file_format` in {_FORMATS}",
                file_format,
                fix="pass 'csv', 'tsv' or 'parquet', or None to infer it from the file name",
            )
        return fmt
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    if suffixes and suffixes[-1] in _SUFFIX_FORMAT:
        return _SUFFIX_FORMAT[suffixes[-1]]
    with open(path, "rb") as fh:
        return "parquet" if fh.read(4) == b"PAR1" else "csv"


def separator(fmt: str) -> str:
    """Field separator of a delimited-text format."""
    return "\t" if fmt == "tsv" else ","


def sniff_separator(path: Path, default: str) -> str:
    """``default``, or tab/semicolon when the first line has those and no ``default``."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline()
    except OSError:
        return default
    if default in first:
        return default
    for sep in ("\t", ";", "|"):
        if sep in first:
            logger.info(
                "%s: the first line is %s-separated, not %r: reading it so (pass --sep to choose)",
                path,
                {"\t": "tab", ";": "semicolon", "|": "pipe"}[sep],
                default,
            )
            return sep
    return default


def select_columns(
    found: Sequence[str],
    wanted: Mapping[str, str],
    *,
    required: Collection[str],
    mapped: Collection[str],
    path: str | Path,
    fix: str,
) -> dict[str, str]:
    """Canonical name -> file column, for the columns of ``wanted`` that the file has.

    ``wanted`` gives each canonical name its column (the caller's mapping or a
    default), in output order; ``mapped`` names the canonical names the user
    mapped explicitly. A column the user mapped to one name is not also taken by
    another name under its default. A required or explicitly mapped name whose
    column is absent is a MissingFieldError listing the columns found, with
    ``fix`` (``{canon}`` replaced by the canonical name) as its fix.
    """
    taken = {wanted[c] for c in mapped}
    chosen: dict[str, str] = {}
    for canon, col in wanted.items():
        if col in found and (canon in mapped or col not in taken):
            chosen[canon] = col
        elif canon in required or canon in mapped:
            how = "mapped to" if canon in mapped else "looked up as"
            raise MissingFieldError(
                f"expected a column for '{canon}' ({how} '{col}'), found columns {list(found)}",
                path=path,
                field=col,
                fix=fix.format(canon=canon),
            )
    return chosen


# ------------------------------------------------------------------------ CSV
def csv_header(path: Path, sep: str = ",", *, header: bool = True) -> list[str]:
    """Column names on the first line; FormatError for an empty or unparseable file.

    Without a ``header`` the columns are named by their 1-based numbers ("1", "2", ...).
    """
    try:
        if not header:
            first = pd.read_csv(path, sep=sep, nrows=1, header=None, dtype=str)
            return [str(i + 1) for i in range(first.shape[1])]
        return [str(c) for c in pd.read_csv(path, sep=sep, nrows=0).columns]
    except pd.errors.EmptyDataError as exc:
        raise FormatError(
            "expected a header line naming the columns, found an empty file",
            path=path,
            fix="write the column names on the first line",
        ) from exc
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _parser_error(path, exc) from exc


def _parser_error(path: Path, exc: Exception) -> FormatError:
    if isinstance(exc, UnicodeDecodeError):
        return FormatError(
            f"expected UTF-8 text, found undecodable bytes ({exc.reason})",
            path=path,
            fix="re-save the file as UTF-8",
        )
    text = str(exc)
    m = re.search(r"line (\d+)", text)
    return FormatError(
        f"expected well-formed delimited text, found a parse error ({text.strip()})",
        path=path,
        line=int(m.group(1)) if m else None,
        fix="repair the row (unbalanced quotes or a stray delimiter?)",
    )


def iter_csv_chunks(
    path: Path,
    file_columns: Sequence[str],
    chunk_rows: int,
    sep: str = ",",
    *,
    header: bool = True,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk of string cells, CSV line numbers) for ``file_columns``.

    Cells are read verbatim as strings (no NA guessing). Blank lines (all selected
    cells empty) are dropped but still counted, so line numbers stay exact.
    Limitation of pandas' ``usecols``: a row with more fields than the header is
    not reported, and a short row reads as empty cells (caught where a required
    column ends up empty).
    """
    blank_total = 0
    try:
        numbered: dict[str, Any] = {} if header else {"header": None, "names": None}
        if not header:
            numbered["names"] = csv_header(path, sep, header=False)
        reader = pd.read_csv(
            path,
            sep=sep,
            **numbered,
            usecols=list(file_columns),
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,
            chunksize=chunk_rows,
        )
        with reader:
            for chunk in reader:
                lines = chunk.index.to_numpy(dtype=np.int64) + (2 if header else 1)
                blank = np.ones(len(chunk), dtype=bool)
                for c in file_columns:
                    blank &= (chunk[c].str.strip() == "").to_numpy()
                if blank.any():
                    blank_total += int(blank.sum())
                    chunk, lines = chunk[~blank], lines[~blank]
                if len(chunk):
                    yield chunk, lines
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _parser_error(path, exc) from exc
    if blank_total:
        logger.warning("%s: ignored %d blank line(s)", path, blank_total)


# -------------------------------------------------------------------- Parquet
def open_parquet(path: Path) -> pq.ParquetFile:
    """The Parquet file at ``path``; FormatError naming it if it cannot be opened."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(
            f"expected a readable Parquet file, found an error ({exc})",
            path=path,
            fix="check that the file is Parquet (or pass file_format='csv') and not damaged",
        ) from exc


def iter_parquet_chunks(
    pf: pq.ParquetFile,
    path: Path,
    file_columns: Sequence[str],
    chunk_rows: int,
    *,
    as_text: Collection[str] = (),
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """Yield (chunk, 0-based row indices) for ``file_columns`` of an open Parquet file.

    Columns keep their types, except those in ``as_text``, which are cast to
    strings (nulls stay missing) so that identifiers read the same from typed and
    text columns. A damaged file or an unreadable column is a FormatError.
    """
    start = 0
    try:
        for batch in pf.iter_batches(batch_size=chunk_rows, columns=list(file_columns)):
            cols: dict[str, pd.Series] = {}
            for c in file_columns:
                arr = batch.column(c)
                if c in as_text and not (
                    pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)
                ):
                    arr = pc.cast(arr, pa.string())
                cols[c] = arr.to_pandas()
            rows = np.arange(start, start + batch.num_rows, dtype=np.int64)
            start += batch.num_rows
            yield pd.DataFrame(cols, columns=list(file_columns)), rows
    except (pa.ArrowException, OSError) as exc:
        raise FormatError(
            f"expected a readable Parquet file, found an error after row index {start} ({exc})",
            path=path,
            fix="the file is damaged or a column has an unsupported type; re-write it",
        ) from exc


# ---------------------------------------------------------------- cell values
def text_cells(s: pd.Series) -> pd.Series:
    """Cells as stripped strings; nulls become ''."""
    if not pd.api.types.is_string_dtype(s.dtype):
        s = s.astype(object).where(s.notna(), "").astype(str)
    return s.fillna("").str.strip()


def float_cells(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values, mask of empty/null cells); text that is no number becomes NaN.

    The lenient core of :func:`to_float`: typed numeric columns keep their values
    (nulls and NaN are "empty"); text is stripped and parsed, '' being empty.
    Booleans count as text ('True'), not as numbers.
    """
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=np.float64, na_value=np.nan), s.isna().to_numpy()
    text = text_cells(s)
    empty = (text == "").to_numpy()
    values = pd.to_numeric(text.where(~empty), errors="coerce")
    return values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), empty


def to_float(
    values: pd.Series,
    lines_or_rows: np.ndarray,
    path: str | Path,
    field: str,
    *,
    parquet: bool = False,
    expected: str = "a finite number",
) -> np.ndarray:
    """Parse a column of cells to float64; missing cells become NaN.

    An empty cell (or a null / NaN in a typed Parquet column) is missing. Text
    that is not a finite number (``abc``, ``nan``, ``inf``) and an infinite value
    in a typed column raise InvalidValueError naming the cell's CSV line (or,
    with ``parquet=True``, its row index) from ``lines_or_rows`` and ``field``.
    ``expected`` words what the cell should hold in that message.
    """
    num, empty = float_cells(values)
    bad = np.flatnonzero(~empty & ~np.isfinite(num))
    if len(bad):
        i = int(bad[0])
        raw = values.iloc[i]
        shown = repr(raw.item() if isinstance(raw, np.generic) else raw)
        blank = "a null (missing)" if parquet else "an empty cell (missing)"
        raise InvalidValueError(
            f"expected {expected} or {blank}, found {shown}",
            **location(path, lines_or_rows[i], field, parquet=parquet),
            fix="correct the value, or leave the cell empty to mark it unknown",
        )
    return num

"""Shared table input for the CSV/TSV/Parquet readers (long format, MSSD, metadata).

File checks, format detection, compressed input (gzip, bz2, xz and single-file
zip, recognised by their leading bytes, whatever the file's name), chunked
iteration and the one numeric cell parser. Locations: CSV lines are numbered
with the header as line 1 (exact, blank lines included, unless a quoted field
holds a line break) and reported as ``line=``; Parquet rows by their 0-based
index, reported as ``record="row index N"``.
"""

from __future__ import annotations

import bz2
import contextlib
import csv
import gzip
import io
import itertools
import logging
import lzma
import re
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from songspace.errors import (
    FormatError,
    InputError,
    InvalidValueError,
    MissingFieldError,
    ParameterError,
)
from songspace.params import POSITIVE_INT, check_param

logger = logging.getLogger(__name__)

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
    return int(check_param("chunk_rows", chunk_rows, POSITIVE_INT))


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


#: Data files a folder contributes (also compressed: ``plays.csv.gz``); other files
#: (a README, Spark's ``_SUCCESS``, hidden files) are left out.
FOLDER_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def _is_data_file(path: Path) -> bool:
    if path.name.startswith((".", "_")) or not path.is_file():
        return False
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION_SUFFIXES:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in FOLDER_SUFFIXES


def input_files(paths: str | Path | Sequence[str | Path], what: str) -> list[Path]:
    """The files to read, in order: each file as given, and each folder's data files
    (:data:`FOLDER_SUFFIXES`, compressed or not) in name order.

    FormatError for a missing path, a folder without data files or a file given
    twice (a folder counts its files); ``what`` names the expected file in errors.
    """
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    if not items:
        raise ParameterError("paths", "at least one file or folder", "none")
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if not p.is_dir():
            files.append(check_file(p, what))
            continue
        found = sorted((f for f in p.iterdir() if _is_data_file(f)), key=lambda f: f.name)
        if not found:
            raise FormatError(
                f"expected files named *{', *'.join(FOLDER_SUFFIXES)} in this folder "
                "(optionally compressed: .gz, .bz2, .xz, .zip), found none",
                path=p,
                fix="point to the folder that holds the data files, or pass the files",
            )
        files.extend(found)
    seen: dict[Path, Path] = {}
    for f in files:
        key = f.resolve()
        if key in seen:
            raise FormatError(
                f"expected each file once, found it twice (also as {seen[key]})",
                path=f,
                fix="pass each file once (a folder already includes its files)",
            )
        seen[key] = f
    return files


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


# ------------------------------------------------------------ compressed input
#: Leading bytes of the compressed formats read transparently (pandas' name for each).
_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bz2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty zip
)
#: Leading bytes of archive formats that are not read, named in the error instead.
_UNREAD_MAGIC = (
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
)
#: How each stream format (not zip) is opened for reading.
_OPENERS: dict[str, Callable[..., Any]] = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}
#: What a damaged compressed stream raises while it is read.
_DECOMPRESSION_ERRORS = (EOFError, OSError, zlib.error, lzma.LZMAError, zipfile.BadZipFile)
READ_COMPRESSED = "gzip, bz2, xz and single-file zip input are read directly"


def _head(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def compression(path: str | Path) -> str | None:
    """'gzip', 'bz2', 'xz' or 'zip' when the file starts with that format's leading
    bytes (its name does not matter), else None."""
    head = _head(Path(path))
    return next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)


def _zip_member(path: Path) -> str:
    """The one file inside the zip at ``path``; FormatError for a damaged zip or for
    none or several files (folders and macOS ``__MACOSX/`` entries do not count)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = [
                n for n in zf.namelist() if not n.endswith("/") and not n.startswith("__MACOSX/")
            ]
    except zipfile.BadZipFile as exc:
        raise FormatError(
            f"expected a complete zip archive, found a truncated or damaged one ({exc})",
            path=path,
            fix="download or copy the file again",
        ) from exc
    if len(members) != 1:
        shown = ", ".join(repr(m) for m in members[:5]) + (", ..." if len(members) > 5 else "")
        raise FormatError(
            f"expected a zip archive holding one file, found {len(members)}"
            + (f" ({shown})" if members else ""),
            path=path,
            fix="extract the archive and pass its files (or their folder)",
        )
    return members[0]


def _damaged(path: Path, kind: str, exc: BaseException) -> FormatError:
    return FormatError(
        f"expected complete {kind}-compressed data, found a truncated or damaged {kind} "
        f"file ({exc})",
        path=path,
        fix="download or copy the file again (decompress it yourself to see how much of it "
        "is readable)",
    )


@contextlib.contextmanager
def open_binary(path: str | Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when it is gzip, bz2, xz or a single-file zip.

    A truncated or damaged compressed stream (found while the block reads it) is a
    FormatError naming the file; an operating-system error stays what it is.
    """
    p = Path(path)
    kind = compression(p)
    with contextlib.ExitStack() as stack:
        fh: IO[bytes]
        if kind == "zip":
            member = _zip_member(p)
            fh = stack.enter_context(stack.enter_context(zipfile.ZipFile(p)).open(member))
        else:
            opener: Callable[..., Any] = _OPENERS.get(kind or "", open)
            fh = stack.enter_context(opener(p, "rb"))
        try:
            yield fh
        except _DECOMPRESSION_ERRORS as exc:
            if kind is None or (isinstance(exc, OSError) and exc.errno is not None):
                raise  # not compressed, or a real I/O error (disk, permissions)
            raise _damaged(p, kind, exc) from exc


@contextlib.contextmanager
def open_text(path: str | Path, newline: str | None = "") -> Iterator[IO[str]]:
    """The file as UTF-8 text, decompressed as by :func:`open_binary`."""
    with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline=newline) as fh:
        yield fh


def undecodable_error(path: str | Path, exc: UnicodeDecodeError) -> FormatError:
    """FormatError for bytes that are not UTF-8, naming an archive format it recognises."""
    head = _head(Path(path))
    kind = next((kind for magic, kind in _UNREAD_MAGIC if head.startswith(magic)), None)
    if kind is not None:
        return FormatError(
            f"expected UTF-8 text, found a {kind}-compressed file",
            path=path,
            fix=f"extract it first ({kind} is not read directly; {READ_COMPRESSED})",
        )
    return FormatError(
        f"expected UTF-8 text, found undecodable bytes ({exc.reason})",
        path=path,
        fix=f"re-save the file as UTF-8 ({READ_COMPRESSED})",
    )


def sniff_separator(path: Path, default: str) -> str:
    """``default``, or tab/semicolon when the first line has those and no ``default``."""
    try:
        with open_binary(path) as raw:
            first = raw.readline().decode("utf-8", errors="replace")
    except (OSError, InputError):
        return default  # the reader itself reports it
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
def _csv_errors(path: Path) -> contextlib.AbstractContextManager[None]:
    """Turn pandas' parse errors and undecodable bytes into FormatErrors naming ``path``."""

    @contextlib.contextmanager
    def handler() -> Iterator[None]:
        try:
            yield
        except pd.errors.EmptyDataError as exc:
            raise FormatError(
                "expected a header line naming the columns, found an empty file",
                path=path,
                fix="write the column names on the first line",
            ) from exc
        except UnicodeDecodeError as exc:
            raise undecodable_error(path, exc) from exc
        except pd.errors.ParserError as exc:
            raise _parser_error(path, exc) from exc

    return handler()


def csv_header(path: Path, sep: str = ",", *, header: bool = True) -> list[str]:
    """Column names on the first line; FormatError for an empty or unparseable file.

    Without a ``header`` the columns are named by their 1-based numbers ("1", "2", ...).
    Compressed files are read through :func:`open_binary`.
    """
    with _csv_errors(path), open_binary(path) as fh:
        if not header:
            first = pd.read_csv(fh, sep=sep, nrows=1, header=None, dtype=str)
            return [str(i + 1) for i in range(first.shape[1])]
        return [str(c) for c in pd.read_csv(fh, sep=sep, nrows=0).columns]


def _parser_error(path: Path, exc: Exception) -> FormatError:
    text = str(exc)
    m = re.search(r"line (\d+)", text)
    return FormatError(
        f"expected well-formed delimited text, found a parse error ({text.strip()})",
        path=path,
        line=int(m.group(1)) if m else None,
        fix="repair the row (unbalanced quotes or a stray delimiter?)",
    )


def _has_extra_fields(fields: Sequence[str], n_fields: int) -> bool:
    """True when a field past the first ``n_fields`` holds anything but white space."""
    return any(f.strip() for f in fields[n_fields:])


def _check_row_widths(path: Path, sep: str, n_fields: int, *, header: bool) -> None:
    """FormatError for the first row with a non-empty field past the header's last one.

    pandas' ``usecols`` drops such fields without a word, so one fast pass of
    pyarrow's CSV parser over a single column looks for them first; the row is
    then found and shown by :func:`_extra_fields_error`. Empty extra fields (a
    trailing separator) lose nothing and pass. Any other trouble is left to the
    pandas reader that follows, which reports it.
    """
    flagged: list[str] = []

    def handler(row: Any) -> str:
        if row.actual_columns > row.expected_columns:
            fields = next(csv.reader(io.StringIO(row.text), delimiter=sep), [])
            if _has_extra_fields(fields, n_fields):
                flagged.append(row.text)
                return "error"
        return "skip"

    names = [f"c{i}" for i in range(n_fields)]
    try:
        with open_binary(path) as fh:
            reader = pa_csv.open_csv(
                fh,
                read_options=pa_csv.ReadOptions(column_names=names, skip_rows=int(header)),
                parse_options=pa_csv.ParseOptions(
                    delimiter=sep,
                    newlines_in_values=True,
                    ignore_empty_lines=False,
                    invalid_row_handler=handler,
                ),
                convert_options=pa_csv.ConvertOptions(
                    include_columns=names[:1], column_types={names[0]: pa.binary()}
                ),
            )
            for _ in reader:
                pass
    except (pa.ArrowException, InputError, ValueError, csv.Error, *_DECOMPRESSION_ERRORS):
        pass  # not this check's to report: the pandas reader does
    if flagged:
        raise _extra_fields_error(path, sep, n_fields, flagged[0], header=header)


def _extra_fields_error(
    path: Path, sep: str, n_fields: int, text: str, *, header: bool
) -> FormatError:
    """FormatError naming the first row with extra fields, its line and its fields
    (``text``: the row as pyarrow saw it, shown when the csv module disagrees)."""
    line = None
    row: list[str] = []
    with contextlib.suppress(csv.Error), open_text(path) as fh:
        reader = csv.reader(fh, delimiter=sep)
        for fields in itertools.islice(reader, int(header), None):
            if len(fields) > n_fields and _has_extra_fields(fields, n_fields):
                line, row = reader.line_num, fields
                break
    if line is None:
        found, shown = f"more than {n_fields}", repr(text[:200])
    else:
        found = str(len(row))
        shown = ", ".join(repr(f) for f in row[:8]) + (", ..." if len(row) > 8 else "")
    where = "as in the header" if header else "as on the first line"
    return FormatError(
        f"expected {n_fields} fields ({where}), found {found}: {shown}",
        path=path,
        line=line,
        fix=f'quote a field that contains the separator {sep!r} (e.g. "AC{sep}DC"), or '
        f"remove the stray {sep!r}",
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
    cells empty) are dropped but still counted, so line numbers stay exact. A row
    with a non-empty field past the header's last one (a stray separator) is a
    FormatError naming its line (:func:`_check_row_widths`); empty extra fields (a
    trailing separator) lose nothing and pass. A short row reads as empty cells
    (caught where a required column ends up empty). Compressed files are read
    through :func:`open_binary`.
    """
    blank_total = 0
    names = csv_header(path, sep, header=header)
    _check_row_widths(path, sep, len(names), header=header)
    numbered: dict[str, Any] = {} if header else {"header": None, "names": names}
    with _csv_errors(path), open_binary(path) as fh:
        reader = pd.read_csv(
            fh,
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

"""Long-format CSV/Parquet reader (SPEC §1): known answers, chunking, mapping, errors."""

import csv
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from songspace.data.builder import KeyIndex
from songspace.data.longformat import read_long
from songspace.errors import (
    DuplicateError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
    ParameterError,
)

# Rows out of order on purpose: the reader must sort by position within each sequence.
ROWS = [
    # session, pos, song, ts, skipped
    ("s2", 3, "c", "2021-01-01T00:01:00Z", "false"),
    ("s1", 2, "b", "2021-01-01T00:00:20Z", "true"),
    ("s2", 1, "a", "2021-01-01T00:00:00Z", "0"),
    ("s1", 1, "a", "1970-01-01T00:00:10Z", "1"),
    ("s3", 10, "007", "2021-01-02T00:00:00+01:00", "False"),
    ("s2", 2, "b", "2021-01-01T00:00:30Z", "TRUE"),
]
MAP = {"sequence_id": "session", "position": "pos", "track_id": "song"}
# Expected after sorting: sequences in first-appearance order s2, s1, s3;
# tracks in first-appearance order c, b, a, 007.
EXP_SEQ = ["s2", "s1", "s3"]
EXP_TRACKS = ["c", "b", "a", "007"]
EXP_INDPTR = [0, 3, 5, 6]
EXP_INDICES = [2, 1, 0, 2, 1, 3]  # s2: a b c; s1: a b; s3: 007
EXP_TS = [1609459200, 1609459230, 1609459260, 10, 1609459220, 1609542000]
EXP_SKIP = [False, True, False, True, True, False]


def write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def write_table(
    tmp_path, fmt, header=("session", "pos", "song", "timestamp", "skipped"), rows=ROWS
):
    if fmt == "csv":
        return write_csv(tmp_path / "long.csv", header, rows)
    cols = list(zip(*rows, strict=True))
    table = pa.table({h: list(c) for h, c in zip(header, cols, strict=True)})
    pq.write_table(table, tmp_path / "long.parquet", row_group_size=4)
    return tmp_path / "long.parquet"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("chunk_rows", [2, 200_000])
def test_known_answer(tmp_path, fmt, chunk_rows):
    path = write_table(tmp_path, fmt)
    ds = read_long(path, columns=MAP, chunk_rows=chunk_rows)
    assert list(ds.sequence_ids) == EXP_SEQ
    assert ds.track_ids.tolist() == EXP_TRACKS
    assert ds.indptr.tolist() == EXP_INDPTR
    assert ds.indices.tolist() == EXP_INDICES
    assert ds.timestamps.dtype == np.int64
    assert ds.timestamps.tolist() == EXP_TS
    assert ds.skipped.tolist() == EXP_SKIP
    assert ds.source["format"] == fmt


def test_integer_timestamps_equal_iso(tmp_path):
    iso = write_table(tmp_path, "csv")
    as_int = [
        (s, p, t, str(ts), k)
        for (s, p, t, _, k), ts in zip(
            ROWS, [1609459260, 1609459220, 1609459200, 10, 1609542000, 1609459230], strict=True
        )
    ]
    ints = write_csv(
        tmp_path / "ints.csv", ("session", "pos", "song", "timestamp", "skipped"), as_int
    )
    a, b = read_long(iso, columns=MAP), read_long(ints, columns=MAP)
    assert a.timestamps.tolist() == b.timestamps.tolist() == EXP_TS


def test_parquet_typed_columns(tmp_path):
    """Integer ids, bool flags and a timestamp column keep their meaning."""
    table = pa.table(
        {
            "sequence_id": pa.array([7, 7, 8], pa.int64()),
            "position": pa.array([2, 1, 1], pa.int32()),
            "track_id": pa.array([100, 200, 100], pa.int64()),
            "timestamp": pa.array([20, 10, 30], pa.timestamp("s")),
            "skipped": pa.array([True, False, True]),
        }
    )
    pq.write_table(table, tmp_path / "typed.parquet")
    ds = read_long(tmp_path / "typed.parquet")
    assert list(ds.sequence_ids) == ["7", "8"]
    assert ds.track_ids.tolist() == ["100", "200"]
    assert ds.indices.tolist() == [1, 0, 0]
    assert ds.timestamps.tolist() == [10, 20, 30]
    assert ds.skipped.tolist() == [False, True, True]


def test_optional_columns_absent_and_canonical_names(tmp_path):
    path = write_csv(
        tmp_path / "plain.csv",
        ("sequence_id", "position", "track_id"),
        [("p", 2, "x"), ("p", 1, "y"), ("q", 5, "x")],
    )
    ds = read_long(path)
    assert ds.timestamps is None and ds.skipped is None
    assert ds.indptr.tolist() == [0, 2, 3]
    assert ds.track_ids[ds.indices].tolist() == ["y", "x", "x"]


def test_ids_are_strings_verbatim(tmp_path):
    path = write_csv(
        tmp_path / "ids.csv",
        ("sequence_id", "position", "track_id"),
        [("001", "1", "0042"), ("1", "1", "42"), ("001", "2.0", "42")],
    )
    ds = read_long(path)
    assert list(ds.sequence_ids) == ["001", "1"]
    assert ds.track_ids.tolist() == ["0042", "42"]
    assert ds.indices.tolist() == [0, 1, 1]


def test_blank_lines_keep_line_numbers(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_text("sequence_id,position,track_id\na,1,x\n\nb,1,y\n\nb,x,z\n")
    with pytest.raises(InvalidValueError) as err:
        read_long(path, chunk_rows=2)
    assert f"{path}:6" in str(err.value)


def test_real_mssd_log_via_mapping(shared_data):
    path = shared_data("mssd-sample", "log_sample.csv")
    ds = read_long(
        path,
        columns={
            "sequence_id": "session_id",
            "position": "session_position",
            "track_id": "track_id_clean",
            "skipped": "skip_2",
        },
    )
    raw = pd.read_csv(path, dtype=str)
    assert ds.n_sequences == raw["session_id"].nunique()
    assert ds.n_entries == len(raw)
    assert int(ds.skipped.sum()) == int((raw["skip_2"] == "True").sum())


# ----------------------------------------------------------------------- errors
def message_names(err, path, where, field):
    text = str(err.value)
    assert str(path) in text
    assert where in text
    assert f"field '{field}'" in text
    return text


def test_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_missing_column_lists_found_and_suggests_mapping(tmp_path, fmt):
    path = write_table(tmp_path, fmt)  # columns session, pos, song, ...
    with pytest.raises(MissingFieldError) as err:
        read_long(path, columns={"position": "pos", "track_id": "song"})
    text = str(err.value)
    assert str(path) in text and "field 'sequence_id'" in text
    assert "'session'" in text  # the columns found are listed
    assert "--map sequence_id=COLUMN" in text


def test_explicitly_mapped_optional_column_missing(tmp_path):
    path = write_table(tmp_path, "csv")
    with pytest.raises(MissingFieldError) as err:
        read_long(path, columns={**MAP, "timestamp": "played_at"})
    assert "field 'played_at'" in str(err.value)


BAD_CELLS = [
    # (column index, bad value, field, words in the message)
    (1, "abc", "pos", "numeric position"),
    (1, "nan", "pos", "finite position"),
    (1, "inf", "pos", "finite position"),
    (1, "1.5", "pos", "whole-number position"),
    (3, "nan", "timestamp", "finite timestamp"),
    (3, "-inf", "timestamp", "finite timestamp"),
    (3, "yesterday", "timestamp", "ISO-8601"),
    (2, "", "song", "non-empty track id"),
    (0, "  ", "session", "non-empty sequence id"),
    (4, "maybe", "skipped", "skip flag"),
]


@pytest.mark.parametrize(("col", "value", "field", "words"), BAD_CELLS)
@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_bad_cell_csv(tmp_path, col, value, field, words, chunk_rows):
    rows = [list(r) for r in ROWS]
    rows[4][col] = value  # data row 5 -> line 6
    path = write_table(tmp_path, "csv", rows=rows)
    with pytest.raises(InvalidValueError) as err:
        read_long(path, columns=MAP, chunk_rows=chunk_rows)
    assert words in message_names(err, path, f"{path}:6", field)
    assert err.value.line == 6 and err.value.field == field


@pytest.mark.parametrize(
    ("column", "values", "bad_row", "words"),
    [
        ("pos", pa.array([1.0, 2.0, float("nan")]), 2, "NaN"),
        ("pos", pa.array([1.0, float("inf"), 2.0]), 1, "finite position"),
        ("song", pa.array(["a", None, "b"]), 1, "non-empty track id"),
        ("timestamp", pa.array([1.0, 2.0, float("inf")]), 2, "finite timestamp"),
        ("skipped", pa.array([0, 2, 1]), 1, "skip flag"),
    ],
)
def test_bad_cell_parquet_names_row(tmp_path, column, values, bad_row, words):
    data = {
        "session": ["a", "a", "b"],
        "pos": [1, 2, 1],
        "song": ["x", "y", "z"],
        "timestamp": [1, 2, 3],
        "skipped": [True, False, True],
    }
    data[column] = values
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table(data), path)
    with pytest.raises(InvalidValueError) as err:
        read_long(path, columns=MAP, chunk_rows=2)
    assert words in message_names(err, path, f"row index {bad_row}", column)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_duplicate_position_names_both_rows(tmp_path, fmt):
    rows = [*ROWS, ("s1", 2, "z", "2021-01-01T00:00:00Z", "0")]  # s1 pos 2 again
    path = write_table(tmp_path, fmt, rows=rows)
    with pytest.raises(DuplicateError) as err:
        read_long(path, columns=MAP, chunk_rows=3)
    text = message_names(err, path, "line 3" if fmt == "csv" else "row index 1", "pos")
    assert (f"{path}:8" in text) if fmt == "csv" else ("row index 6" in text)


def test_ragged_csv_is_a_format_error(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text('sequence_id,position,track_id\na,1,x\nb,"2,y\n')
    with pytest.raises(FormatError) as err:
        read_long(path)
    assert str(path) in str(err.value)


def test_header_only_is_an_error(tmp_path):
    path = write_csv(tmp_path / "empty.csv", ("sequence_id", "position", "track_id"), [])
    with pytest.raises(FormatError, match="at least one data row"):
        read_long(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"chunk_rows": 0},
        {"file_format": "xlsx"},
        {"columns": {"sequence": "s"}},
        {"columns": {"sequence_id": "x", "track_id": "x"}},
    ],
)
def test_bad_parameters(tmp_path, kwargs):
    path = write_table(tmp_path, "csv")
    with pytest.raises(ParameterError):
        read_long(path, **kwargs)


def test_milliseconds_warning(tmp_path, caplog):
    path = write_csv(
        tmp_path / "ms.csv",
        ("sequence_id", "position", "track_id", "timestamp"),
        [("a", 1, "x", "1609459200000")],
    )
    with caplog.at_level(logging.WARNING, logger="songspace"):
        ds = read_long(path)
    assert ds.timestamps.tolist() == [1609459200000]
    assert "milliseconds" in caplog.text


def test_column_mapped_to_another_field_is_not_reused(tmp_path):
    """Ordering sessions by a time column: it becomes the position, not also the timestamp."""
    path = write_csv(
        tmp_path / "by_time.csv",
        ("sequence_id", "timestamp", "track_id"),
        [("a", 30, "x"), ("a", 10, "y"), ("a", 20, "z")],
    )
    ds = read_long(path, columns={"position": "timestamp"})
    assert ds.timestamps is None
    assert ds.track_ids[ds.indices].tolist() == ["y", "z", "x"]


def test_damaged_parquet_is_a_format_error(tmp_path):
    good = write_table(tmp_path, "parquet")
    data = good.read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(data[: len(data) // 2] + b"PAR1")  # truncated, footer gone
    with pytest.raises(FormatError) as err:
        read_long(bad, columns=MAP)
    assert str(bad) in str(err.value) and "Parquet" in str(err.value)


def test_duplicate_position_fix_names_the_field_verbatim(tmp_path):
    rows = [*ROWS, ("s1", 2, "z", "2021-01-01T00:00:00Z", "0")]
    path = write_table(tmp_path, "csv", rows=rows)
    with pytest.raises(DuplicateError) as err:
        read_long(path, columns=MAP)
    assert err.value.line == 8 and err.value.record is None
    assert "'pos'" in err.value.fix and "poss" not in str(err.value)


def test_key_index_contract():
    index = KeyIndex()
    codes, new = index.encode(np.array(["b", "a", "b", "c"], dtype=object))
    assert codes.tolist() == [0, 1, 0, 2] and new.tolist() == [True, True, False, True]
    codes, new = index.encode(["c", "d", "d", "a", "e"])
    assert codes.tolist() == [2, 3, 3, 1, 4]
    assert new.tolist() == [False, True, False, False, True]
    assert index.keys == ["b", "a", "c", "d", "e"] and len(index) == 5
    codes, new = index.encode([])
    assert len(codes) == 0 and len(new) == 0
    with pytest.raises(TypeError, match="must be str"):
        index.encode(["x", 7])
    assert len(index) == 5

"""Last.fm-1K listening-log reader and sessionisation (SPEC §1)."""

import csv

import numpy as np
import pandas as pd
import pytest

from songspace.data.lastfm import read_lastfm
from songspace.errors import FormatError, InvalidValueError, ParameterError

COLS = ["user", "ts", "artist_mbid", "artist", "track_mbid", "track"]


def reference_sessions(path, gap_minutes):
    """Straightforward pandas sessionisation: sort per user, new session where diff > gap."""
    df = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=COLS,
        quoting=csv.QUOTE_NONE,
        dtype=str,
        keep_default_na=False,
    )
    df["t"] = pd.to_datetime(df["ts"], utc=True)
    df = df.iloc[::-1].sort_values(["user", "t"], kind="stable")
    new = df.groupby("user")["t"].diff() > pd.Timedelta(minutes=gap_minutes)
    first = df.groupby("user").cumcount() == 0
    df["session"] = (new | first).cumsum()
    starts = df.groupby("session").agg(
        user=("user", "first"), start=("t", "first"), n=("t", "size")
    )
    ids = starts["user"] + ":" + starts["start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(zip(ids, starts["n"], strict=True)), df


@pytest.mark.parametrize("gap", [30.0, 5.0, 240.0])
def test_real_sample_sessions_match_pandas(shared_data, gap):
    path = shared_data("lastfm-1k-sample", "listening_events.tsv")
    ds = read_lastfm(path, gap_minutes=gap)
    ref, df = reference_sessions(path, gap)
    assert ds.n_entries == 5000
    assert ds.n_sequences == len(ref)
    assert dict(zip(ds.sequence_ids, ds.lengths.tolist(), strict=True)) == ref
    # timestamps ascending inside every session and equal to the sorted raw times
    assert ds.timestamps.dtype == np.int64
    want = ((df["t"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).to_numpy()
    assert sorted(ds.timestamps.tolist()) == sorted(want.tolist())
    same = np.repeat(np.arange(ds.n_sequences), ds.lengths)
    steps = np.diff(ds.timestamps)[same[1:] == same[:-1]]
    assert (steps >= 0).all() and (steps <= gap * 60).all()
    # tracks: mbid where present, else artist\ttrack key
    n_keys = len(
        set(
            np.where(
                df["track_mbid"] != "",
                df["track_mbid"],
                df["artist"].str.strip().str.casefold()
                + "\t"
                + df["track"].str.strip().str.casefold(),
            )
        )
    )
    assert ds.n_tracks == n_keys


def test_real_sample_chunked_equals_whole(shared_data):
    path = shared_data("lastfm-1k-sample", "listening_events.tsv")
    a = read_lastfm(path, chunk_rows=333)
    b = read_lastfm(path)
    assert a.sequence_ids.tolist() == b.sequence_ids.tolist()
    assert np.array_equal(a.indptr, b.indptr)
    assert np.array_equal(a.indices, b.indices)
    assert np.array_equal(a.timestamps, b.timestamps)
    assert a.tracks.equals(b.tracks)


def write_log(path, rows):
    path.write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


MB1, MBA = "11111111-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-00000000000a"
# Newest first, like the real file.
SMALL = [
    ("u2", "2020-01-01T12:00:00Z", "", "Solo", "", "Tune"),
    ("u1", "2020-01-01T10:31:00Z", MBA, "The Band", "", 'Song "B"'),  # gap 31 min -> new
    ("u1", "2020-01-01T10:00:00Z", MBA, "The Band", MB1, "Song A"),
    ("u1", "2020-01-01T09:30:00Z", MBA, "the band ", "", 'SONG "b"'),  # same key as line 2
    ("u1", "2020-01-01T09:30:00Z", MBA, "The Band", MB1, "Song A (dup time)"),
]


@pytest.mark.parametrize("chunk_rows", [1, 2, 1000])
def test_small_log_known_answer(tmp_path, chunk_rows):
    path = write_log(tmp_path / "log.tsv", SMALL)
    ds = read_lastfm(path, chunk_rows=chunk_rows)
    assert ds.sequence_ids.tolist() == [
        "u2:2020-01-01T12:00:00Z",
        "u1:2020-01-01T09:30:00Z",
        "u1:2020-01-01T10:31:00Z",
    ]
    # u1's first session: 09:30 (line 5, older: ties in reverse file order), 09:30
    # (line 4), 10:00 (exactly 30 min later: same session); then 10:31 alone.
    assert ds.indptr.tolist() == [0, 1, 4, 5]
    key_b = 'the band\tsong "b"'
    assert ds.track_ids.tolist() == ["solo\ttune", key_b, MB1]
    assert ds.track_ids[ds.indices].tolist() == ["solo\ttune", MB1, key_b, MB1, key_b]
    t0 = int(pd.Timestamp("2020-01-01T09:30:00Z").timestamp())
    assert ds.timestamps.tolist() == [t0 + 9000, t0, t0, t0 + 1800, t0 + 3660]
    tracks = ds.tracks.set_index("track_id")
    # first occurrence in the file wins for the attributes
    assert tracks.loc[key_b, "track_name"] == 'Song "B"'
    assert tracks.loc[MB1, "track_name"] == "Song A"
    assert tracks.loc[MB1, "artist_id"] == MBA
    assert tracks.loc["solo\ttune", "artist_id"] == "solo"  # no mbid: normalised name
    assert tracks.loc["solo\ttune", "artist_name"] == "Solo"


def test_gap_parameter_changes_sessions(tmp_path):
    path = write_log(tmp_path / "log.tsv", SMALL)
    assert read_lastfm(path, gap_minutes=1e6).n_sequences == 2
    assert read_lastfm(path, gap_minutes=29.9).n_sequences == 4
    assert read_lastfm(path, gap_minutes=float("inf")).n_sequences == 2


def test_blank_lines_ignored_and_counted(tmp_path):
    good = "\t".join(SMALL[0]) + "\n\n" + "\t".join(SMALL[1]) + "\n\n"
    path = tmp_path / "log.tsv"
    path.write_text(good)
    assert read_lastfm(path, chunk_rows=2).n_entries == 2
    path.write_text(good + "u3\tnot-a-time\t\tA\t\tT\n")
    with pytest.raises(InvalidValueError) as err:
        read_lastfm(path, chunk_rows=2)
    assert err.value.line == 5


@pytest.mark.parametrize(("line", "fields"), [(3, 7), (2, 5)])
def test_wrong_number_of_fields(tmp_path, line, fields):
    rows = [list(r) for r in SMALL]
    rows[line - 1] = rows[line - 1] + ["extra"] if fields == 7 else rows[line - 1][:5]
    path = write_log(tmp_path / "log.tsv", rows)
    with pytest.raises(FormatError) as err:
        read_lastfm(path, chunk_rows=2)
    text = str(err.value)
    assert f"{path}:{line}" in text and f"found {fields}" in text


@pytest.mark.parametrize("bad", ["2020-13-01T00:00:00Z", "yesterday", ""])
def test_bad_timestamp(tmp_path, bad):
    rows = [list(r) for r in SMALL]
    rows[3][1] = bad
    path = write_log(tmp_path / "log.tsv", rows)
    with pytest.raises(InvalidValueError) as err:
        read_lastfm(path, chunk_rows=3)
    text = str(err.value)
    assert f"{path}:4" in text and "field 'timestamp'" in text and repr(bad) in text


def test_empty_user_and_unidentifiable_track(tmp_path):
    rows = [list(r) for r in SMALL]
    rows[1][0] = ""
    path = write_log(tmp_path / "log.tsv", rows)
    with pytest.raises(InvalidValueError) as err:
        read_lastfm(path)
    assert f"{path}:2" in str(err.value) and "field 'userid'" in str(err.value)
    rows = [list(r) for r in SMALL]
    rows[0][5] = ""  # no track mbid and no track name
    path = write_log(tmp_path / "log2.tsv", rows)
    with pytest.raises(InvalidValueError) as err:
        read_lastfm(path)
    assert f"{path}:1" in str(err.value) and "field 'track-mbid'" in str(err.value)


@pytest.mark.parametrize("gap", [0, -5, float("nan")])
def test_bad_gap(tmp_path, gap):
    path = write_log(tmp_path / "log.tsv", SMALL)
    with pytest.raises(ParameterError, match="gap_minutes"):
        read_lastfm(path, gap_minutes=gap)


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(FormatError, match="nothing"):
        read_lastfm(tmp_path / "absent.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(FormatError, match="at least one listening event"):
        read_lastfm(tmp_path / "empty.tsv")

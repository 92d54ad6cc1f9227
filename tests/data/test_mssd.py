"""MSSD session-log and track-features readers (SPEC §1)."""

import csv
import logging
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest

from songspace.data.features import AUDIO_COLUMNS
from songspace.data.mssd import read_mssd, read_mssd_track_features
from songspace.errors import (
    DuplicateError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
)


def raw_sessions(path):
    """Independent parse with the csv module: session -> [(position, track, skip_2, length)]."""
    sessions = defaultdict(list)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            sessions[row["session_id"]].append(
                (
                    int(row["session_position"]),
                    row["track_id_clean"],
                    row["skip_2"] == "True",
                    int(row["session_length"]),
                )
            )
    return sessions


def test_real_log_matches_file(shared_data):
    path = shared_data("mssd-sample", "log_sample.csv")
    ds = read_mssd(path)
    sessions = raw_sessions(path)
    assert ds.n_sequences == len(sessions) == 11
    assert ds.n_entries == sum(len(v) for v in sessions.values()) == 201
    assert ds.source["name"] == "mssd"
    for s, sid in enumerate(ds.sequence_ids):
        entries = sorted(sessions[sid])
        assert ds.track_ids[ds.sequence(s)].tolist() == [t for _, t, _, _ in entries]
        lo, hi = ds.indptr[s], ds.indptr[s + 1]
        assert ds.skipped[lo:hi].tolist() == [k for _, _, k, _ in entries]
        # every session in the sample is complete: its length column matches
        assert hi - lo == entries[0][3]
    assert ds.n_tracks == len({t for v in sessions.values() for _, t, _, _ in v})


def test_shuffled_log_and_small_chunks_agree(shared_data, tmp_path):
    path = shared_data("mssd-sample", "log_sample.csv")
    ref = read_mssd(path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    shuffled = raw.sample(frac=1.0, random_state=3)
    shuffled.to_csv(tmp_path / "log_shuffled.csv", index=False)
    ds = read_mssd(tmp_path / "log_shuffled.csv", chunk_rows=7)
    # Sequence numbering follows first appearance, so compare by id.
    got = {sid: ds.track_ids[ds.sequence(s)].tolist() for s, sid in enumerate(ds.sequence_ids)}
    want = {sid: ref.track_ids[ref.sequence(s)].tolist() for s, sid in enumerate(ref.sequence_ids)}
    assert got == want
    skip_got = {
        sid: ds.skipped[ds.indptr[s] : ds.indptr[s + 1]].tolist()
        for s, sid in enumerate(ds.sequence_ids)
    }
    skip_want = {
        sid: ref.skipped[ref.indptr[s] : ref.indptr[s + 1]].tolist()
        for s, sid in enumerate(ref.sequence_ids)
    }
    assert skip_got == skip_want


def test_log_without_skip_column(shared_data, tmp_path):
    raw = pd.read_csv(shared_data("mssd-sample", "log_sample.csv"), dtype=str)
    path = tmp_path / "log.csv"
    raw.drop(columns=["skip_2"]).to_csv(path, index=False)
    with pytest.raises(MissingFieldError) as err:
        read_mssd(path)
    assert str(path) in str(err.value) and "field 'skip_2'" in str(err.value)


def test_log_bad_skip_value(shared_data, tmp_path):
    raw = pd.read_csv(shared_data("mssd-sample", "log_sample.csv"), dtype=str)
    raw.loc[9, "skip_2"] = "sometimes"
    path = tmp_path / "log.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(InvalidValueError) as err:
        read_mssd(path)
    assert f"{path}:11" in str(err.value) and "field 'skip_2'" in str(err.value)


def test_log_missing_file(tmp_path):
    with pytest.raises(FormatError, match="nothing"):
        read_mssd(tmp_path / "log_0.csv")


# ------------------------------------------------------------- track features
def test_real_features_cannot_be_joined(shared_data):
    path = shared_data("mssd-sample", "track_features_sample.csv")
    with pytest.raises(MissingFieldError) as err:
        read_mssd_track_features(path)
    text = str(err.value)
    assert str(path) in text
    assert "field 'track_id'" in text
    assert "all 220 rows" in text and "cannot be joined to any session" in text
    assert "Fix:" in text


@pytest.fixture
def features_copy(shared_data, tmp_path):
    """The real sample with track ids filled in (row 3 left empty) and a few edits."""
    src = shared_data("mssd-sample", "track_features_sample.csv")
    raw = pd.read_csv(src, dtype=str, keep_default_na=False)
    raw["track_id"] = [f"t_{i}" for i in range(len(raw))]
    raw.loc[3, "track_id"] = ""
    raw.loc[5, "danceability"] = ""  # empty = missing, allowed
    return raw, tmp_path / "tf_filled.csv"


@pytest.mark.parametrize("chunk_rows", [7, 200_000])
def test_features_values(features_copy, chunk_rows, caplog):
    raw, path = features_copy
    raw.to_csv(path, index=False)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        tf = read_mssd_track_features(path, chunk_rows=chunk_rows)
    assert "dropped 1 of 220 rows" in caplog.text
    assert len(tf) == 219 and "t_3" not in tf.index
    assert tf.index.name == "track_id"
    expected_cols = (
        [f"acoustic_vector_{i}" for i in range(8)]
        + [c for c in AUDIO_COLUMNS if c in raw.columns]
        + ["popularity"]
    )
    assert list(tf.columns) == expected_cols
    assert all(tf[c].dtype == np.float64 for c in tf.columns)
    row = raw.loc[0]
    assert tf.loc["t_0", "acoustic_vector_0"] == float(row["acoustic_vector_0"])
    assert tf.loc["t_0", "tempo"] == float(row["tempo"])
    assert tf.loc["t_0", "popularity"] == float(row["us_popularity_estimate"])
    # mode: major -> 1, minor -> 0; the sample's all-zero rows carry a numeric "0"
    assert (raw.loc[0, "mode"], raw.loc[1, "mode"], raw.loc[91, "mode"]) == ("major", "minor", "0")
    assert tf.loc[["t_0", "t_1", "t_91"], "mode"].tolist() == [1.0, 0.0, 0.0]
    assert int((tf["mode"] == 1.0).sum()) == int((raw.drop(index=3)["mode"] == "major").sum())
    assert np.isnan(tf.loc["t_5", "danceability"])
    assert not tf.drop(index="t_5").isna().any().any()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("energy", "nan"),
        ("tempo", "inf"),
        ("acoustic_vector_3", "abc"),
        ("mode", "lydian"),
        ("us_popularity_estimate", "-inf"),
    ],
)
def test_features_bad_value(features_copy, column, value):
    raw, path = features_copy
    raw.loc[10, column] = value  # data row 11 -> line 12
    raw.to_csv(path, index=False)
    with pytest.raises(InvalidValueError) as err:
        read_mssd_track_features(path, chunk_rows=4)
    text = str(err.value)
    assert f"{path}:12" in text and f"field '{column}'" in text and repr(value) in text


def test_features_duplicate_track(features_copy):
    raw, path = features_copy
    raw.loc[20, "track_id"] = "t_7"
    raw.to_csv(path, index=False)
    with pytest.raises(DuplicateError) as err:
        read_mssd_track_features(path, chunk_rows=5)
    text = str(err.value)
    assert f"{path}:22" in text and "line 9" in text and "field 'track_id'" in text


def test_features_missing_column(features_copy):
    raw, path = features_copy
    raw.drop(columns=["acoustic_vector_7"]).to_csv(path, index=False)
    with pytest.raises(MissingFieldError) as err:
        read_mssd_track_features(path)
    assert str(path) in str(err.value) and "field 'acoustic_vector_7'" in str(err.value)

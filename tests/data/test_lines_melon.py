"""Readers for one-sequence-per-line files (LFM-1b) and Melon playlist JSON."""

import json
import math

import numpy as np
import pytest

from songspace.data.dataset import Dataset
from songspace.data.lines import read_lines
from songspace.data.melon import read_melon
from songspace.errors import (
    DuplicateError,
    EmptySequenceError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
)
from songspace.evaluation.session_knn import STAN
from tests.conftest import shared_path


def test_lines_with_user_field(tmp_path):
    p = tmp_path / "train500"
    p.write_text("0,1,2,3\n0,3,4\n\n1,2\n")
    ds = read_lines(p)
    assert ds.n_sequences == 3
    assert [ds.track_ids[ds.sequence(s)].tolist() for s in range(3)] == [
        ["1", "2", "3"],
        ["3", "4"],
        ["2"],
    ]
    assert ds.sequence_ids.tolist() == ["train500:1", "train500:2", "train500:4"]
    assert ds.source["users"] == 2


def test_lines_without_user_field_and_errors(tmp_path):
    p = tmp_path / "pairs.tsv"
    p.write_text("a\tb\nb\tc\n")
    ds = read_lines(p, sep="\t", user_field=False)
    assert ds.n_entries == 4 and ds.n_tracks == 3
    bad = tmp_path / "bad"
    bad.write_text("0,1,,2\n")
    with pytest.raises(FormatError, match="empty field") as e:
        read_lines(bad)
    assert "bad:1:" in str(e.value) and "field 3" in str(e.value)
    lonely = tmp_path / "lonely"
    lonely.write_text("0\n")
    with pytest.raises(EmptySequenceError, match="after the user field"):
        read_lines(lonely)


def test_lfm1b_subset_counts(shared_data):
    root = shared_path("lfm1b-subset")
    ds = read_lines([root / "train500", root / "test500"])
    # the data README: 18,374 lines, 381,272 item occurrences, 141,519 distinct items
    assert (ds.n_sequences, ds.n_entries, ds.n_tracks) == (18_374, 381_272, 141_519)
    assert ds.source["users"] == 500


def _melon(path, playlists):
    path.write_text(json.dumps(playlists, ensure_ascii=False), encoding="utf-8")
    return path


def test_melon_titles_tags_and_empty(tmp_path):
    p = _melon(
        tmp_path / "val.json",
        [
            {"id": 7, "plylst_title": "잔잔한 밤", "tags": ["발라드", "밤"], "songs": [1, 2]},
            {"id": 8, "plylst_title": "", "tags": ["발라드"], "songs": [2, 3]},
            {"id": 9, "plylst_title": "x", "tags": [], "songs": []},
        ],
    )
    ds = read_melon(p)
    assert ds.n_sequences == 2 and ds.source["dropped_empty"] == 1
    assert ds.sequence_names.tolist() == ["잔잔한 밤", None]
    by_id = ds.tracks.set_index("track_id")
    assert by_id.loc["2", "genres"] == ["발라드", "밤"]  # 발라드 twice, 밤 once
    assert by_id.loc["3", "genre"] == "발라드"
    assert "genre" not in ds.features  # tags are labels, never a feature group
    out = ds.save(tmp_path / "ds")
    back = Dataset.load(out)
    assert back.sequence_names.tolist() == ["잔잔한 밤", None]


def test_melon_errors(tmp_path):
    a = _melon(tmp_path / "a.json", [{"id": 1, "songs": [1]}])
    b = _melon(tmp_path / "b.json", [{"id": 1, "songs": [2]}])
    with pytest.raises(DuplicateError, match="id 1"):
        read_melon([a, b])
    cut = tmp_path / "cut.json"
    cut.write_text('[{"id": 1, "songs": [1, 2')
    with pytest.raises(FormatError, match="truncated"):
        read_melon(cut)


def test_melon_real_counts(shared_data):
    root = shared_path("melon-playlists")
    ds = read_melon(root / "arena_data" / "orig" / "val.json")
    assert ds.n_sequences == 2302
    assert np.all(ds.sequence_names != None)  # noqa: E711 (every val playlist is titled)


def test_melon_updt_date_is_every_entry_timestamp(tmp_path):
    # updt_date (naive, read as UTC like the CSV reader's dates) -> int64 seconds:
    # 2020-01-01 00:00:00 UTC is 1,577,836,800; 2020-01-02 12:00:00 is 1.5 days later
    p = _melon(
        tmp_path / "val.json",
        [
            {"id": 7, "songs": [1, 2, 3], "updt_date": "2020-01-01 00:00:00.000"},
            {"id": 8, "songs": [], "updt_date": "2019-05-05 05:05:05.000"},  # dropped: empty
            {"id": 9, "songs": [4, 1], "updt_date": "2020-01-02 12:00:00.000"},
        ],
    )
    ds = read_melon(p)
    t0, t1 = 1_577_836_800, 1_577_836_800 + 86_400 + 43_200
    assert ds.timestamps.dtype == np.int64
    assert ds.timestamps.tolist() == [t0, t0, t0, t1, t1]
    back = Dataset.load(ds.save(tmp_path / "ds"))
    assert back.timestamps.tolist() == [t0, t0, t0, t1, t1]
    # files without updt_date (not the challenge's) give a dataset without timestamps
    assert read_melon(_melon(tmp_path / "bare.json", [{"id": 1, "songs": [1]}])).timestamps is None


@pytest.mark.parametrize("bad", ["2020-13-01 00:00:00.000", "yesterday", 20200101, None, ""])
def test_melon_malformed_updt_date_names_file_playlist_and_field(tmp_path, bad):
    p = _melon(
        tmp_path / "val.json",
        [
            {"id": 7, "songs": [1], "updt_date": "2020-01-01 00:00:00.000"},
            {"id": 8, "songs": [2], "updt_date": bad},
        ],
    )
    with pytest.raises(InvalidValueError) as info:
        read_melon(p)
    text = str(info.value)
    assert "val.json" in text and "id 8" in text and "updt_date" in text


def test_melon_updt_date_on_some_playlists_only_is_an_error(tmp_path):
    p = _melon(
        tmp_path / "val.json",
        [
            {"id": 7, "songs": [1], "updt_date": "2020-01-01 00:00:00.000"},
            {"id": 8, "songs": [2]},
        ],
    )
    with pytest.raises(MissingFieldError, match="updt_date") as info:
        read_melon(p)
    assert "id 8" in str(info.value)


def test_stan_session_recency_uses_melon_updt_date(tmp_path):
    # seed song 1. Playlist 1 = [1, 2] (updated on day 0), playlist 2 = [1, 3, 4, 5] (day 2,
    # the latest: t*). STAN with one seed: w = 1, sim(n) = 1 / sqrt(|n|) * exp(-(t* - t(n)) /
    # lambda_snh): untimed 1/sqrt(2) = 0.707 and 1/2; with lambda_snh = 1 day, playlist 1's
    # 0.707 e^-2 = 0.0957 falls below playlist 2's 0.5, so with k = 1 the neighbour changes.
    p = _melon(
        tmp_path / "val.json",
        [
            {"id": 1, "songs": [1, 2], "updt_date": "2020-01-01 00:00:00.000"},
            {"id": 2, "songs": [1, 3, 4, 5], "updt_date": "2020-01-03 00:00:00.000"},
        ],
    )
    ds = read_melon(p)
    idx = ds.track_index()
    params = {"sample": None, "lambda_snh": 1.0, "lambda_inh": None}
    s = STAN.fit(ds, k=1, **params).scores(np.array([idx["1"]]))
    assert s[idx["2"]] == 0 and s[idx["3"]] == pytest.approx(0.5)
    s = STAN.fit(ds, k=2, **params).scores(np.array([idx["1"]]))
    assert s[idx["2"]] == pytest.approx(math.exp(-2) / math.sqrt(2))
    assert s[idx["4"]] == pytest.approx(0.5)

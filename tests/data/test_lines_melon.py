"""Readers for one-sequence-per-line files (LFM-1b) and Melon playlist JSON."""

import json

import numpy as np
import pytest

from songspace.data.dataset import Dataset
from songspace.data.lines import read_lines
from songspace.data.melon import read_melon
from songspace.errors import DuplicateError, EmptySequenceError, FormatError
from tests.conftest import shared_path


def test_lines_with_user_field(tmp_path):
    p = tmp_path / "train500"
    p.write_text("0,1,2,3\n0,3,4\n\n1,2\n")
    ds = read_lines(p)
    assert ds.n_sequences == 3
    assert [ds.track_ids[ds.sequence(s)].tolist() for s in range(3)] == [
        ["1", "2", "3"], ["3", "4"], ["2"],
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
    p = _melon(tmp_path / "val.json", [
        {"id": 7, "plylst_title": "잔잔한 밤", "tags": ["발라드", "밤"], "songs": [1, 2]},
        {"id": 8, "plylst_title": "", "tags": ["발라드"], "songs": [2, 3]},
        {"id": 9, "plylst_title": "x", "tags": [], "songs": []},
    ])
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

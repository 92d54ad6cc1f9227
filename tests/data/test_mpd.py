import json
import shutil
import zipfile

import numpy as np
import pytest

from songspace.data.mpd import read_mpd
from songspace.errors import (
    DuplicateError,
    EmptySequenceError,
    FormatError,
    InvalidValueError,
    MissingFieldError,
)


def write_slice(path, playlists):
    path.write_text(json.dumps({"info": {"slice": "0-1"}, "playlists": playlists}))
    return path


def pl(pid, uris, **extra):
    return {
        "pid": pid,
        "name": f"p{pid}",
        "tracks": [
            {
                "track_uri": f"spotify:track:{u}",
                "artist_name": f"Art {u[0]}",
                "track_name": u,
                **extra,
            }
            for u in uris
        ],
    }


@pytest.mark.slow
def test_mpd_subset_counts(shared_data):
    ds = read_mpd(shared_data("mpd-subset"))
    assert ds.n_sequences == 5676
    assert ds.n_entries == 558850
    assert ds.source["files"] == len(list(shared_data("mpd-subset").glob("*.json")))
    # cross-check with a plain count over the raw files
    n_tracks = set()
    for f in shared_data("mpd-subset").glob("*.json"):
        for p in json.loads(f.read_text())["playlists"]:
            n_tracks.update(t["track_uri"] for t in p["tracks"])
    assert ds.n_tracks == len(n_tracks)
    assert not ds.tracks["track_id"].str.startswith("spotify:").any()


def test_mpd_full_schema_fixture(shared_data):
    path = shared_data("mpd-fixtures")
    ds = read_mpd(path)
    raw = json.loads(next(path.glob("*.json")).read_text())["playlists"]
    assert ds.n_sequences == len(raw) == 29
    assert list(ds.sequence_ids) == [str(p["pid"]) for p in raw]
    first = raw[0]["tracks"]
    ids = ds.track_ids[ds.sequence(0)]
    assert list(ids) == [t["track_uri"].split(":")[-1] for t in first]
    row = ds.tracks.iloc[ds.sequence(0)[0]]
    assert row["artist_id"] == first[0]["artist_uri"].split(":")[-1]
    assert row["artist_name"] == first[0]["artist_name"]


def test_single_slice_folder_and_zip_agree(shared_data, tmp_path):
    src = next(shared_data("mpd-fixtures").glob("*.json"))
    one = read_mpd(src)
    zpath = tmp_path / "mpd.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        zf.write(src, f"data/{src.name}")
    zipped = read_mpd(zpath)
    folder = tmp_path / "f"
    folder.mkdir()
    shutil.copy(src, folder / src.name)
    for other in (zipped, read_mpd(folder)):
        np.testing.assert_array_equal(other.indices, one.indices)
        assert other.track_ids.tolist() == one.track_ids.tolist()


def test_slices_are_read_in_slice_order(tmp_path):
    write_slice(tmp_path / "mpd.slice.1000-1999.json", [pl(7, ["b"])])
    write_slice(tmp_path / "mpd.slice.0-999.json", [pl(3, ["a", "b"])])
    ds = read_mpd(tmp_path)
    assert list(ds.sequence_ids) == ["3", "7"]
    assert ds.indices.tolist() == [0, 1, 1]


def test_truncated_json(tmp_path):
    p = tmp_path / "mpd.slice.0-999.json"
    p.write_text(json.dumps({"playlists": [pl(1, ["a", "b"])]})[:-20])
    with pytest.raises(FormatError) as exc:
        read_mpd(p)
    msg = str(exc.value)
    assert str(p) in msg and "expected valid JSON" in msg and "Fix:" in msg
    assert exc.value.line == 1


def test_missing_playlists_key(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"info": {}}))
    with pytest.raises(MissingFieldError, match=r"field 'playlists'.*found keys \['info'\]"):
        read_mpd(p)


def test_empty_playlist_errors_or_is_dropped(tmp_path):
    p = write_slice(tmp_path / "s.json", [pl(1, ["a"]), pl(2, [])])
    with pytest.raises(EmptySequenceError, match=r"playlist 1 \(pid 2\).*--drop-empty"):
        read_mpd(p)
    ds = read_mpd(p, drop_empty=True)
    assert ds.n_sequences == 1 and ds.source["dropped_empty"] == 1


def test_bad_track_entries(tmp_path):
    bad = pl(1, ["a"])
    bad["tracks"].append({"artist_name": "x"})
    p = write_slice(tmp_path / "s.json", [bad])
    with pytest.raises(
        MissingFieldError, match=r"playlist 0 \(pid 1\), track 1, field 'track_uri'"
    ):
        read_mpd(p)
    bad["tracks"][1]["track_uri"] = 5
    write_slice(p, [bad])
    with pytest.raises(InvalidValueError, match="found 5"):
        read_mpd(p)
    write_slice(p, [{"pid": 1, "tracks": "nope"}])
    with pytest.raises(FormatError, match="field 'tracks'"):
        read_mpd(p)


def test_duplicate_pid(tmp_path):
    p = write_slice(tmp_path / "s.json", [pl(1, ["a"]), pl(1, ["b"])])
    with pytest.raises(DuplicateError, match="'1' a second time"):
        read_mpd(p)


def test_missing_path(tmp_path):
    with pytest.raises(FormatError, match="found nothing"):
        read_mpd(tmp_path / "nope")
    with pytest.raises(FormatError, match="found none"):
        read_mpd(tmp_path)

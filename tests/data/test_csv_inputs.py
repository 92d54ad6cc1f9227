"""Issue 27, reader items: silent coercions (8), non-contiguous sequences (9), compressed
input (22), several CSV files or a folder (23) and track names on the CSV path (26).

Every file here is small and synthetic, written in ``tmp_path``; the one test on the
shared data skips when it is absent.
"""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.dataset import Dataset
from songspace.data.lastfm import read_lastfm
from songspace.data.lines import read_lines
from songspace.data.longformat import CANONICAL_COLUMNS, read_long
from songspace.data.melon import read_melon
from songspace.data.metadata import read_track_metadata
from songspace.data.mpd import read_mpd
from songspace.data.prepare import MetadataSpec, prepare_lines, prepare_long
from songspace.errors import DuplicateError, FormatError, InvalidValueError
from tests.conftest import shared_path

runner = CliRunner()


def flat(text: str) -> str:
    """Output with rich's line wrapping and box characters undone."""
    return " ".join(text.replace("│", " ").split())


def names(ds: Dataset, s: int) -> list[str]:
    """Track ids of sequence ``s``."""
    return ds.track_ids[ds.sequence(s)].tolist()


# ------------------------------------------------------- 8a. a stray delimiter in a row
def test_row_with_more_fields_than_the_header_is_an_error(tmp_path):
    p = tmp_path / "plays.csv"
    p.write_text("sequence_id,track_id\ns1,Back in Black\ns1,AC,DC\ns2,x\n")
    with pytest.raises(FormatError) as info:
        read_long(p)  # was: 'AC' read, 'DC' dropped without a word
    err = info.value
    assert err.path == str(p) and err.line == 3
    text = str(err)
    assert "expected 2 fields (as in the header), found 3" in text
    assert "'AC', 'DC'" in text and "quote" in err.fix


def test_extra_fields_after_an_empty_one_and_headerless_files_are_errors(tmp_path):
    p = tmp_path / "plays.csv"
    p.write_text("sequence_id,track_id\ns1,a\ns1,b,,lost\n")
    with pytest.raises(FormatError, match="found 4") as info:
        read_long(p)
    assert info.value.line == 3
    q = tmp_path / "pairs.csv"
    q.write_text("1,x\n1,y,z\n")
    with pytest.raises(FormatError, match=r"expected 2 fields \(as on the first line\)"):
        read_long(q, columns={"sequence_id": "1", "track_id": "2"}, header=False)
    # A trailing separator adds an empty field and loses nothing: still read.
    ok = tmp_path / "ok.csv"
    ok.write_text("sequence_id,track_id\ns1,a,\ns1,b\n")
    assert names(read_long(ok), 0) == ["a", "b"]


def test_metadata_row_with_a_stray_delimiter_is_an_error(tmp_path):
    t = tmp_path / "tracks.csv"
    t.write_text("track_id,artist_name,popularity\na,Earth,40\nb,Earth, Wind & Fire,50\n")
    with pytest.raises(FormatError, match="expected 3 fields") as info:
        read_track_metadata(t)  # was: 'b' got artist 'Earth' and popularity ' Wind & Fire'
    assert info.value.line == 3


# --------------------------------------------- 8b. a URI of another kind is no track
def _slice(path: Path, tracks: list) -> Path:
    path.write_text(json.dumps({"playlists": [{"pid": 7, "tracks": tracks}]}))
    return path


def test_mpd_album_uri_is_not_a_track(tmp_path):
    f = _slice(
        tmp_path / "s.json",
        [{"track_uri": "spotify:track:a"}, {"track_uri": "spotify:album:xyz"}],
    )
    with pytest.raises(InvalidValueError, match="track 1, field 'track_uri'") as info:
        read_mpd(f)  # was: a track with the id 'spotify:album:xyz'
    assert "found an album URI 'spotify:album:xyz'" in str(info.value)
    # The documented forms still read: spotify:track:<id> and a bare id.
    ds = read_mpd(
        _slice(tmp_path / "ok.json", [{"track_uri": "spotify:track:a"}, {"track_uri": "b"}])
    )
    assert ds.track_ids.tolist() == ["a", "b"]


def test_mpd_artist_uri_of_another_kind_is_an_error(tmp_path):
    f = _slice(
        tmp_path / "s.json", [{"track_uri": "spotify:track:a", "artist_uri": "spotify:album:q"}]
    )
    with pytest.raises(InvalidValueError, match="field 'artist_uri'"):
        read_mpd(f)


def test_csv_track_id_that_is_an_album_uri_is_an_error(tmp_path):
    p = tmp_path / "plays.csv"
    p.write_text("sequence_id,track_id\ns1,spotify:track:a\ns1,spotify:album:xyz\n")
    with pytest.raises(InvalidValueError, match="field 'track_id'") as info:
        read_long(p)
    assert info.value.line == 3 and "album URI" in str(info.value)


# ----------------------------------------------- 8c. say what was found, not "None"
def test_mpd_track_entry_that_is_a_string_reports_its_type_and_value(tmp_path):
    f = _slice(tmp_path / "s.json", [{"track_uri": "spotify:track:a"}, "spotify:track:b"])
    with pytest.raises(InvalidValueError, match="track 1") as info:
        read_mpd(f)
    text = str(info.value)
    assert "None" not in text  # was: "found None"
    assert "found a str 'spotify:track:b'" in text


def test_melon_song_entries_that_are_not_ids_report_what_was_found(tmp_path):
    p = tmp_path / "val.json"
    p.write_text(json.dumps([{"id": 1, "songs": [3, "x7"]}]))
    with pytest.raises(FormatError, match=r"field 'songs'") as info:
        read_melon(p)  # was: accepted as a song 'x7'
    assert "songs[1]" in str(info.value) and "found a str 'x7'" in str(info.value)
    p.write_text(json.dumps([{"id": 1, "songs": [3, {"id": 4}]}]))
    with pytest.raises(FormatError, match=r"found a dict \{'id': 4\}"):
        read_melon(p)  # was: "expected a list of integer song ids" without what was found
    p.write_text(json.dumps([{"id": 1, "songs": [3, "4"]}]))
    assert read_melon(p).track_ids.tolist() == ["3", "4"]  # a quoted number is still an id


# ------------------------------------------- 9. one sequence id in several blocks
BLOCKS = (
    "playlist_id,track_id,subgenre\n"
    "p1,a,indie\np1,b,indie\np1,c,indie\n"
    "p2,x,rock\np2,y,rock\n"
    "p1,a,folk\np1,b,folk\np1,c,folk\n"
)


def test_non_contiguous_blocks_of_a_sequence_warn_with_counts(tmp_path, caplog):
    p = tmp_path / "playlists.csv"
    p.write_text(BLOCKS)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        ds = read_long(p, columns={"sequence_id": "playlist_id"})
    # The default is unchanged: the blocks join, in file order ...
    assert names(ds, 0) == ["a", "b", "c", "a", "b", "c"]
    # ... but not without a word (was: no warning at all).
    text = flat(caplog.text)
    assert "1 sequence id(s) occur in more than one block" in text
    assert "6 entries, 3 distinct tracks" in text
    assert "dedupe" in text and "split_noncontiguous" in text


def test_dedupe_and_split_noncontiguous(tmp_path, caplog):
    p = tmp_path / "playlists.csv"
    p.write_text(BLOCKS)
    cols = {"sequence_id": "playlist_id"}
    with caplog.at_level(logging.INFO, logger="songspace"):
        ds = read_long(p, columns=cols, dedupe=True)
    assert [names(ds, s) for s in range(2)] == [["a", "b", "c"], ["x", "y"]]
    assert "dropped 3 repeated entries" in caplog.text
    split = read_long(p, columns=cols, split_noncontiguous=True)
    assert split.sequence_ids.tolist() == ["p1", "p2", "p1#2"]
    assert [names(split, s) for s in range(3)] == [["a", "b", "c"], ["x", "y"], ["a", "b", "c"]]


def test_split_noncontiguous_refuses_an_id_it_would_create(tmp_path):
    p = tmp_path / "playlists.csv"
    p.write_text("playlist_id,track_id\np1,a\np1#2,b\np1,c\n")
    with pytest.raises(DuplicateError, match="p1#2"):
        read_long(p, columns={"sequence_id": "playlist_id"}, split_noncontiguous=True)


def test_cli_prepare_csv_shows_the_blocks_warning_and_takes_the_options(tmp_path):
    p = tmp_path / "playlists.csv"
    p.write_text(BLOCKS)
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "csv",
            str(p),
            "-o",
            str(tmp_path / "d"),
            "--map",
            "sequence_id=playlist_id",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "more than one block" in flat(res.output)
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "csv",
            str(p),
            "-o",
            str(tmp_path / "e"),
            "--map",
            "sequence_id=playlist_id",
            "--dedupe",
        ],
    )
    assert res.exit_code == 0, res.output
    assert Dataset.load(tmp_path / "e").n_entries == 5


def test_repeated_tracks_inside_a_sequence_are_kept_and_counted(tmp_path, caplog):
    p = tmp_path / "log.csv"
    p.write_text("sequence_id,track_id\ns,a\ns,b\ns,a\n")
    with caplog.at_level(logging.INFO, logger="songspace"):
        ds = read_long(p)
    assert names(ds, 0) == ["a", "b", "a"]
    assert "1 entries repeat a track already earlier in their sequence" in caplog.text


# ------------------------------------------------------------ 22. compressed input
LINES = "0,1,2,3\n0,3,4\n"


def _write_compressed(path: Path, text: str, kind: str) -> Path:
    data = text.encode()
    if kind == "gzip":
        path.write_bytes(gzip.compress(data))
    elif kind == "bz2":
        path.write_bytes(bz2.compress(data))
    elif kind == "xz":
        path.write_bytes(lzma.compress(data))
    else:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("inner.txt", data)
    return path


@pytest.mark.parametrize("kind", ["gzip", "bz2", "xz", "zip"])
def test_prepare_lines_reads_compressed_files(tmp_path, kind):
    f = _write_compressed(tmp_path / f"train500.{kind}", LINES, kind)
    ds = prepare_lines([f], None)  # was: "re-save the file as UTF-8"
    assert [names(ds, s) for s in range(2)] == [["1", "2", "3"], ["3", "4"]]
    assert ds.sequence_ids.tolist() == [f"{f.name}:1", f"{f.name}:2"]


def test_compression_is_recognised_by_its_bytes_not_its_name(tmp_path):
    plays = _write_compressed(tmp_path / "plays.csv", "sequence_id,track_id\ns,a\ns,b\n", "gzip")
    assert names(read_long(plays), 0) == ["a", "b"]  # was: "re-save the file as UTF-8"
    lines = _write_compressed(tmp_path / "train500", LINES, "gzip")
    assert read_lines(lines).n_sequences == 2
    tracks = _write_compressed(tmp_path / "tracks.csv", "track_id,popularity\na,40\n", "xz")
    assert read_track_metadata(tracks).loc["a", "popularity"] == 40.0
    melon = _write_compressed(tmp_path / "val.json", json.dumps([{"id": 1, "songs": [5]}]), "gzip")
    assert read_melon(melon).track_ids.tolist() == ["5"]
    log = "u1\t2009-05-04T23:08:57Z\t\tArtist\tm1\tSong\n"
    lastfm = _write_compressed(tmp_path / "events.tsv", log, "bz2")
    assert read_lastfm(lastfm).track_ids.tolist() == ["m1"]


def test_damaged_or_ambiguous_compressed_input_is_a_clear_error(tmp_path):
    good = gzip.compress(("sequence_id,track_id\n" + "s,a\n" * 5000).encode())
    cut = tmp_path / "plays.csv.gz"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(FormatError, match="truncated or damaged gzip"):
        read_long(cut)
    lines = tmp_path / "train500.gz"
    lines.write_bytes(gzip.compress(LINES.encode())[:-12])
    with pytest.raises(FormatError, match="truncated or damaged gzip"):
        read_lines(lines)
    two = tmp_path / "two.zip"
    with zipfile.ZipFile(two, "w") as zf:
        zf.writestr("a.csv", "sequence_id,track_id\ns,a\n")
        zf.writestr("b.csv", "sequence_id,track_id\ns,b\n")
    with pytest.raises(FormatError, match=r"one file, found 2 \('a.csv', 'b.csv'\)"):
        read_long(two)


def test_undecodable_text_mentions_compression(tmp_path):
    p = tmp_path / "train500"
    p.write_bytes(b"7z\xbc\xaf\x27\x1c" + bytes(range(128, 256)))
    with pytest.raises(FormatError) as info:
        read_lines(p)
    assert "7z" in str(info.value) and "extract" in info.value.fix


# ------------------------------------------------------ 23. several files or a folder
def test_several_files_are_read_in_order_and_sequences_span_them(tmp_path):
    a = tmp_path / "part-0.csv"
    b = tmp_path / "part-1.csv"
    a.write_text("sequence_id,track_id\ns1,a\ns1,b\ns2,c\n")
    b.write_text("sequence_id,track_id\ns2,d\ns3,e\n")
    ds = read_long([a, b])  # was: one file only
    assert ds.sequence_ids.tolist() == ["s1", "s2", "s3"]
    assert [names(ds, s) for s in range(3)] == [["a", "b"], ["c", "d"], ["e"]]
    assert ds.source["files"] == [str(a), str(b)]
    rev = read_long([b, a])
    assert rev.sequence_ids.tolist() == ["s2", "s3", "s1"] and names(rev, 0) == ["d", "c"]


def test_a_folder_is_read_in_name_order_and_filtered(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "b.csv").write_text("sequence_id,track_id\ns,c\n")
    (folder / "a.csv.gz").write_bytes(gzip.compress(b"sequence_id,track_id\ns,a\ns,b\n"))
    (folder / "README.txt").write_text("not data\n")
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.csv").write_text("junk\n")
    ds = prepare_long(folder, tmp_path / "d")
    assert names(ds, 0) == ["a", "b", "c"]
    parts = tmp_path / "spark-out"
    parts.mkdir()
    for k, songs in enumerate((["a", "b"], ["c"])):
        table = pa.table({"sequence_id": ["s"] * len(songs), "track_id": songs})
        pq.write_table(table, parts / f"part-{k:05d}.parquet")
    (parts / "_SUCCESS").write_text("")
    assert names(read_long(parts), 0) == ["a", "b", "c"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x\n")
    with pytest.raises(FormatError, match=r"\.csv"):
        read_long(empty)


def test_files_with_different_headers_are_an_error_naming_both(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("sequence_id,track_id\ns,a\n")
    b.write_text("sequence_id,song\ns,b\n")
    with pytest.raises(FormatError) as info:
        read_long([a, b])
    text = str(info.value)
    assert str(a) in text and str(b) in text and "['sequence_id', 'song']" in text


def test_errors_in_the_second_file_name_it(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("sequence_id,position,track_id\ns,1,a\ns,2,b\n")
    b.write_text("sequence_id,position,track_id\nt,1,c\ns,2,d\n")
    with pytest.raises(DuplicateError) as info:
        read_long([a, b])
    assert info.value.path == str(b) and info.value.line == 3
    assert f"{a}:3" in str(info.value)
    with pytest.raises(FormatError, match="twice"):
        read_long([a, a])


def test_cli_prepare_csv_takes_several_files(tmp_path):
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    a.write_text("sequence_id,track_id\ns1,a\n")
    b.write_text("sequence_id,track_id\ns1,b\n")
    res = runner.invoke(
        app, ["--no-progress", "prepare", "csv", str(a), str(b), "-o", str(tmp_path / "d")]
    )
    assert res.exit_code == 0, res.output
    assert Dataset.load(tmp_path / "d").n_entries == 2
    help_text = flat(runner.invoke(app, ["prepare", "csv", "--help"]).output)
    assert "several files or a folder" in help_text
    fields = ", ".join(CANONICAL_COLUMNS[:-1]) + " or " + CANONICAL_COLUMNS[-1]
    assert f"FIELD is {fields};" in help_text  # the --map fields are the reader's
    lines_help = flat(runner.invoke(app, ["prepare", "lines", "--help"]).output)
    assert "gzip, bz2, xz or zip files are read as they are" in lines_help


# ---------------------------------------------------------- 26. track names on CSV
SONGS = (
    "track_id,track_name,track_artist,playlist_id\n"
    "t1,Song One,Alpha,p1\nt2,Song Two,Beta,p1\nt1,Song One,Alpha,p2\nt3,,Gamma,p2\n"
)


def test_track_map_track_name_attaches_names(tmp_path):
    songs = tmp_path / "songs.csv"
    songs.write_text(SONGS)
    ds = prepare_long(
        songs,
        None,
        columns={"sequence_id": "playlist_id"},
        metadata=MetadataSpec(tracks=songs, track_columns={"track_name": "track_name"}),
    )  # was: ParameterError, track_name not among the fields
    assert ds.tracks["track_name"].tolist() == ["Song One", "Song Two", None]


def test_map_track_and_artist_names_from_the_entries_file(tmp_path):
    songs = tmp_path / "songs.csv"
    songs.write_text(SONGS)
    ds = read_long(
        songs,
        columns={
            "sequence_id": "playlist_id",
            "track_name": "track_name",
            "artist_name": "track_artist",
        },
    )  # was: ParameterError (not a canonical column)
    assert ds.tracks["track_name"].tolist() == ["Song One", "Song Two", None]
    assert ds.tracks["artist_name"].tolist() == ["Alpha", "Beta", "Gamma"]
    assert ds.tracks["artist_id"].tolist() == ["alpha", "beta", "gamma"]
    out = tmp_path / "d"
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "csv",
            str(songs),
            "-o",
            str(out),
            "--map",
            "sequence_id=playlist_id",
            "--map",
            "artist_name=track_artist",
        ],
    )
    assert res.exit_code == 0, res.output
    saved = Dataset.load(out).tracks  # track_name is found under its own name
    assert saved["track_name"].tolist() == ["Song One", "Song Two", None]
    assert saved["artist_name"].tolist() == ["Alpha", "Beta", "Gamma"]


def test_cli_track_map_track_name_is_accepted(tmp_path):
    songs = tmp_path / "songs.csv"
    songs.write_text(SONGS)
    res = runner.invoke(
        app,
        [
            "--no-progress",
            "prepare",
            "csv",
            str(songs),
            "-o",
            str(tmp_path / "d"),
            "--map",
            "sequence_id=playlist_id",
            "--tracks",
            str(songs),
            "--track-map",
            "track_name=track_name",
        ],
    )
    assert res.exit_code == 0, res.output  # was: "--track-map ... each FIELD one of ..."
    assert Dataset.load(tmp_path / "d").tracks["track_name"].tolist()[:2] == [
        "Song One",
        "Song Two",
    ]


def test_real_track_table_attaches_names(tmp_path):
    table = shared_path("spotify-tracks-114k", "tracks.csv")
    tm = read_track_metadata(table)
    plays = tmp_path / "plays.csv"
    ids = tm.index[:3].tolist()
    plays.write_text("sequence_id,track_id\n" + "".join(f"s,{t}\n" for t in ids))
    ds = prepare_long(plays, None, metadata=MetadataSpec(tracks=table))
    assert ds.tracks["track_name"].tolist() == tm["track_name"].iloc[:3].tolist()
    assert ds.tracks["track_name"].notna().all()

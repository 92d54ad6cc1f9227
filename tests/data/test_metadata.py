import numpy as np
import pandas as pd
import pytest

from songspace.data.builder import finish_dataset
from songspace.data.features import AUDIO_COLUMNS
from songspace.data.metadata import (
    attach_metadata,
    read_artist_metadata,
    read_track_metadata,
)
from songspace.data.mpd import read_mpd
from songspace.errors import DuplicateError, FormatError, InvalidValueError, MissingFieldError

AUDIO_HEADER = ",".join(AUDIO_COLUMNS)


def audio_row(v: float) -> str:
    # danceability..tempo, with key in 0..11, loudness in dB and tempo in BPM
    vals = {c: v for c in AUDIO_COLUMNS}
    vals.update(key=round(v * 11), loudness=-60 + 60 * v, mode=1, tempo=250 * v)
    return ",".join(str(vals[c]) for c in AUDIO_COLUMNS)


@pytest.fixture
def files(tmp_path):
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(
        f"track_id,artists,popularity,{AUDIO_HEADER},track_genre\n"
        f"t1,Alpha,50,{audio_row(0.2)},rock\n"
        f"t1,Alpha,50,{audio_row(0.2)},indie\n"
        f"t2,Beta,80,{audio_row(0.6)},pop\n"
    )
    artists = tmp_path / "artists.csv"
    artists.write_text(
        f"artists,popularity,{AUDIO_HEADER},genres\n"
        f"Alpha,10,{audio_row(0.9)},\"['alt rock']\"\n"
        f"  GAMMA ,40,{audio_row(0.4)},\"['jazz', 'bebop']\"\n"
        f"Delta,,{audio_row(0.5)},[]\n"
    )
    return tracks, artists


def dataset():
    # t1 (Alpha) has track-level data; t3 (Gamma) only artist-level; t4 (Zeta) nothing.
    return finish_dataset(
        track_ids=["t1", "t3", "t4", "t2"],
        indptr=np.array([0, 3, 5]),
        indices=np.array([0, 1, 2, 3, 1]),
        sequence_ids=np.array(["a", "b"], dtype=object),
        track_attrs={"artist_name": ["Alpha", "gamma", "Zeta", "Beta"]},
    )


def test_track_metadata_merges_genre_rows(files):
    tm = read_track_metadata(files[0])
    assert list(tm.index) == ["t1", "t2"]
    assert tm.loc["t1", "genres"] == ["rock", "indie"]
    assert tm.loc["t2", "popularity"] == 80


def test_artist_metadata_normalises_names(files):
    am = read_artist_metadata(files[1])
    assert list(am.index) == ["alpha", "gamma", "delta"]
    assert am.loc["gamma", "genres"] == ["jazz", "bebop"]
    assert np.isnan(am.loc["delta", "popularity"])


def test_join_track_first_then_artist_then_unknown(files):
    tm, am = read_track_metadata(files[0]), read_artist_metadata(files[1])
    ds = attach_metadata(dataset(), tracks=tm, artists=am)
    audio = ds.features["audio"]
    j = audio.columns.index("danceability")
    assert audio.known_tracks.tolist() == [True, True, False, True]
    np.testing.assert_allclose(audio.values[[0, 1, 3], j], [0.2, 0.4, 0.6], rtol=1e-6)
    assert (audio.values[2] == 0).all()
    # track-level genres win over the artist's; the artist's fill in otherwise
    assert ds.tracks["genres"].tolist() == [["rock", "indie"], ["jazz", "bebop"], [], ["pop"]]
    assert ds.tracks["genre"].tolist()[2] is None
    pop = ds.features["popularity"]
    assert pop.columns == ["global", "source"]
    np.testing.assert_allclose(pop.values[:, 1], [0.5, 0.4, 0.0, 0.8], rtol=1e-6)
    assert pop.known[:, 1].tolist() == [True, True, False, True]
    genre = ds.features["genre"]
    assert genre.known_tracks.tolist() == [True, True, False, True]
    rep = ds.source["coverage"]["audio"]
    assert rep["track_level"] == pytest.approx(0.5)
    assert rep["artist_level"] == pytest.approx(0.25)
    assert rep["unknown"] == pytest.approx(0.25)
    # entries: t1 x1, t3 x2, t4 x1, t2 x1 -> track level 2/5, artist level 2/5
    assert rep["entries_track_level"] == pytest.approx(0.4)
    assert rep["entries_artist_level"] == pytest.approx(0.4)


def test_conflicting_duplicates(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text(
        f"track_id,popularity,{AUDIO_HEADER}\nx,10,{audio_row(0.1)}\nx,30,{audio_row(0.1)}\n"
    )
    with pytest.raises(DuplicateError) as exc:
        read_track_metadata(p, duplicates="error")
    msg = str(exc.value)
    assert f"{p}:3" in msg and "'popularity'" in msg and "lines [2, 3]" in msg and "Fix:" in msg
    assert read_track_metadata(p).loc["x", "popularity"] == 20


@pytest.mark.parametrize("bad", ["abc", "nan", "inf", "-inf"])
def test_non_numeric_and_non_finite_values(tmp_path, bad):
    p = tmp_path / "t.csv"
    p.write_text(f"track_id,energy\nx,0.5\ny,{bad}\n")
    with pytest.raises(InvalidValueError) as exc:
        read_track_metadata(p)
    assert f"{p}:3" in str(exc.value) and "field 'energy'" in str(exc.value)


def test_parquet_non_finite(tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame({"track_id": ["x", "y"], "energy": [0.5, np.inf]}).to_parquet(p)
    with pytest.raises(InvalidValueError, match="field 'energy'"):
        read_track_metadata(p)
    pd.DataFrame({"track_id": ["x", "y"], "energy": [0.5, np.nan]}).to_parquet(p)
    assert np.isnan(read_track_metadata(p).loc["y", "energy"])


def test_missing_and_mapped_columns(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,energy\nx,0.5\n")
    with pytest.raises(MissingFieldError) as exc:
        read_track_metadata(p)
    assert "found columns ['id', 'energy']" in str(exc.value)
    assert "--track-map track_id=COLUMN" in str(exc.value)
    assert read_track_metadata(p, columns={"track_id": "id"}).loc["x", "energy"] == 0.5


def test_bad_genre_list(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("artists,genres\nA,\"['pop', \"\n")
    with pytest.raises(InvalidValueError, match="field 'genres'"):
        read_artist_metadata(p)


def test_ambiguous_artist_names_left_unknown(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("artists,energy\nSame,0.1\nsame ,0.9\nOther,0.5\n")
    assert list(read_artist_metadata(p).index) == ["other"]


@pytest.mark.slow
def test_real_join_coverage(shared_data):
    ds = read_mpd(shared_data("mpd-subset"))
    tm = read_track_metadata(shared_data("spotify-tracks-114k", "tracks.csv"))
    am = read_artist_metadata(shared_data("spotify-artists", "data_w_genres.csv"))
    assert len(tm) == 89741
    out = attach_metadata(ds, tracks=tm, artists=am)
    rep = out.source["coverage"]["audio"]
    # The data README: about 9% of entries match by track id, about 78% by artist name.
    assert 0.07 < rep["entries_track_level"] < 0.11
    assert 0.70 < rep["entries_track_level"] + rep["entries_artist_level"] < 0.85
    # independent count of track-level matches
    ids = set(tm.index)
    assert rep["track_level"] == pytest.approx(np.mean([t in ids for t in ds.track_ids]))
    g = out.features["genre"]
    assert g.dim == 51 and g.columns[-1] == "genre:other"
    assert set(out.features) == {"genre", "popularity", "audio"}


# ------------------------------------------------------- locations and files
@pytest.mark.parametrize("chunk_rows", [1, 50_000])
def test_csv_line_numbers_exact_after_blank_line(tmp_path, chunk_rows):
    p = tmp_path / "t.csv"
    p.write_text("track_id,energy\nx,0.5\n\ny,0.1\nz,oops\n")
    with pytest.raises(InvalidValueError) as exc:
        read_track_metadata(p, chunk_rows=chunk_rows)
    assert exc.value.line == 5 and f"{p}:5" in str(exc.value)
    a = tmp_path / "a.csv"
    a.write_text("artists,genres\nA,[]\n\n\nB,\"['pop', \"\n")
    with pytest.raises(InvalidValueError) as exc:
        read_artist_metadata(a, chunk_rows=chunk_rows)
    assert exc.value.line == 5 and exc.value.field == "genres"


def test_parquet_errors_name_row_index(tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame({"track_id": ["x", "y", "z"], "energy": ["0.5", "0.2", "high"]}).to_parquet(p)
    with pytest.raises(InvalidValueError) as exc:
        read_track_metadata(p, chunk_rows=2)
    assert exc.value.line is None and exc.value.record == "row index 2"
    assert "row index 2" in str(exc.value) and "field 'energy'" in str(exc.value)
    pd.DataFrame({"track_id": ["x", "y", "x"], "energy": [0.1, 0.2, 0.3]}).to_parquet(p)
    with pytest.raises(DuplicateError) as exc:
        read_track_metadata(p, duplicates="error")
    assert "row indices [0, 2]" in str(exc.value) and exc.value.record == "row index 2"
    a = tmp_path / "a.parquet"
    pd.DataFrame({"artists": ["A", None], "energy": [0.1, 0.2]}).to_parquet(a)
    with pytest.raises(InvalidValueError, match="row index 1"):
        read_artist_metadata(a)


def test_parquet_typed_columns(tmp_path):
    p = tmp_path / "t.parquet"
    pd.DataFrame(
        {
            "track_id": [7, 8],
            "energy": [0.5, None],
            "genres": [["pop", "rock"], []],
        }
    ).to_parquet(p)
    tm = read_track_metadata(p)
    assert list(tm.index) == ["7", "8"]
    assert tm.loc["7", "genres"] == ["pop", "rock"]
    assert np.isnan(tm.loc["8", "energy"])


@pytest.mark.parametrize("reader", [read_track_metadata, read_artist_metadata])
def test_damaged_parquet_is_a_format_error(tmp_path, reader):
    good = tmp_path / "good.parquet"
    pd.DataFrame({"track_id": ["x"], "artists": ["A"], "energy": [0.5]}).to_parquet(good)
    data = good.read_bytes()
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(data[: len(data) // 2] + b"PAR1")  # truncated, footer gone
    with pytest.raises(FormatError) as exc:
        reader(bad)
    assert str(bad) in str(exc.value) and "Parquet" in str(exc.value)


def test_mapped_column_must_exist(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("track_id,energy\nx,0.5\n")
    with pytest.raises(MissingFieldError) as exc:
        read_track_metadata(p, columns={"energy": "nrg"})
    assert "found columns ['track_id', 'energy']" in str(exc.value)
    assert "--track-map energy=COLUMN" in str(exc.value)

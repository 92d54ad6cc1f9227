"""MPD-shaped synthetic data (issue 16): the preset's statistics and the slice writer."""

import json

import numpy as np
import pytest

from songspace.data.mpd import read_mpd, write_slices
from songspace.data.synthetic import MPD_STATS, generate, generate_preset, mpd_preset


@pytest.fixture(scope="module")
def mpd10k():
    return generate_preset("mpd", scale=0.01, seed=0)


def test_mpd_preset_matches_published_statistics_scaled(mpd10k):
    ds, scale = mpd10k, 0.01
    assert ds.n_sequences == 10_000
    lengths = np.diff(ds.indptr)
    assert lengths.min() >= MPD_STATS["min_length"] and lengths.max() <= MPD_STATS["max_length"]
    assert abs(lengths.mean() - MPD_STATS["mean_length"]) < 1.5
    assert ds.n_entries == pytest.approx(MPD_STATS["entries"] * scale, rel=0.03)
    # every track occurs (compact), and the distinct counts scale with the playlists
    assert (ds.occurrences() > 0).all()
    assert ds.n_tracks == pytest.approx(MPD_STATS["tracks"] * scale, rel=0.05)
    assert ds.tracks["artist_id"].nunique() == pytest.approx(MPD_STATS["artists"] * scale, rel=0.05)
    # the head: the most frequent track is in ~4.7% of the playlists (MPD: 46,574 of 1M)
    seq = np.repeat(np.arange(ds.n_sequences), lengths)
    in_playlists = np.bincount(np.unique(np.stack([seq, ds.indices]), axis=1)[1])
    top_share = in_playlists.max() / ds.n_sequences
    assert top_share == pytest.approx(MPD_STATS["top_track_playlists"] / 1e6, rel=0.25)
    # a skewed popularity: the median track is rarer than the mean one, and the top
    # 1% of the tracks hold over 10% of the entries (uniform draws would give 1%)
    occ = np.sort(ds.occurrences())[::-1]
    assert np.median(occ) < 0.7 * occ.mean()
    assert occ[: len(occ) // 100].sum() > 0.1 * occ.sum()
    # planted genres: playlists mostly stay in one genre
    genre = ds.tracks["genre"].to_numpy()[ds.indices]
    first = genre[ds.indptr[:-1]]
    same = (genre == np.repeat(first, lengths)).mean()
    assert same > 0.5


def test_mpd_preset_scales_linearly():
    small, large = mpd_preset(0.001), mpd_preset(0.002)
    assert large["n_playlists"] == 2 * small["n_playlists"]
    assert abs(large["n_tracks"] - 2 * small["n_tracks"]) <= 1
    assert mpd_preset(1.0)["n_playlists"] == 1_000_000


def test_slice_writer_round_trips_through_reader(tmp_path):
    ds = generate(1234, 400, mean_length=12, skips=False, timestamps=False, compact=True, seed=3)
    paths = write_slices(ds, tmp_path / "slices", per_slice=500)
    assert [p.name for p in paths] == [
        "mpd.slice.0-499.json",
        "mpd.slice.500-999.json",
        "mpd.slice.1000-1499.json",
    ]
    doc = json.loads(paths[0].read_text())
    assert set(doc) == {"info", "playlists"} and doc["info"]["slice"] == "0-499"
    p0 = doc["playlists"][0]
    assert set(p0) >= {
        "name",
        "collaborative",
        "pid",
        "modified_at",
        "num_tracks",
        "num_albums",
        "num_followers",
        "tracks",
        "num_edits",
        "duration_ms",
        "num_artists",
    }
    assert p0["num_tracks"] == len(p0["tracks"]) == ds.indptr[1] - ds.indptr[0]
    assert [t["pos"] for t in p0["tracks"]] == list(range(p0["num_tracks"]))
    assert p0["duration_ms"] == sum(t["duration_ms"] for t in p0["tracks"])
    assert set(p0["tracks"][0]) == {
        "pos",
        "artist_name",
        "track_uri",
        "artist_uri",
        "track_name",
        "album_uri",
        "duration_ms",
        "album_name",
    }
    for parser in ("json", "auto"):
        back = read_mpd(tmp_path / "slices", parser=parser)
        assert back.n_sequences == ds.n_sequences and back.n_entries == ds.n_entries
        assert list(back.sequence_ids) == [str(i) for i in range(ds.n_sequences)]
        ids_in, ids_out = ds.track_ids, back.track_ids
        np.testing.assert_array_equal(ids_out[back.indices], ids_in[ds.indices])
        np.testing.assert_array_equal(back.indptr, ds.indptr)
        a_in = ds.tracks.set_index("track_id")["artist_id"]
        a_out = back.tracks.set_index("track_id")["artist_id"]
        assert (a_out.loc[a_in.index] == a_in).all()
        n_in = ds.tracks.set_index("track_id")["track_name"]
        assert (back.tracks.set_index("track_id")["track_name"].loc[n_in.index] == n_in).all()


def test_reader_parsers_agree_and_errors_keep_stdlib_message(tmp_path):
    pytest.importorskip("orjson")
    from songspace.errors import FormatError

    bad = tmp_path / "mpd.slice.0-999.json"
    bad.write_text('{"playlists": [{"pid": 1, "tracks": [{"track_uri": "spotify:track:x')
    with pytest.raises(FormatError, match="unterminated string starting at column"):
        read_mpd(bad, parser="orjson")
    from songspace.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="parser"):
        read_mpd(bad, parser="simdjson")


def test_cli_prepare_synthetic_mpd_preset_writes_slices(tmp_path):
    from typer.testing import CliRunner

    from songspace.cli import app
    from songspace.data.dataset import Dataset

    out, slices = tmp_path / "ds", tmp_path / "slices"
    argv = [
        "--no-progress",
        "prepare",
        "synthetic",
        "--preset",
        "mpd",
        "--scale",
        "0.0015",
        "-o",
        str(out),
        "--slices",
        str(slices),
    ]
    res = CliRunner().invoke(app, argv)
    assert res.exit_code == 0, res.output
    ds = Dataset.load(out)
    assert ds.n_sequences == 1500
    assert sorted(p.name for p in slices.iterdir()) == [
        "mpd.slice.0-999.json",
        "mpd.slice.1000-1999.json",
    ]
    assert read_mpd(slices).n_entries == ds.n_entries
    bad = ["prepare", "synthetic", "--preset", "msd", "-o", str(tmp_path / "x")]
    res = CliRunner().invoke(app, bad)
    assert res.exit_code != 0 and "--preset" in str(res.exception)

"""prepare_* with a MetadataSpec: the join the CLI's six metadata options describe."""

import numpy as np
import pytest

from songspace import Dataset
from songspace.data.prepare import MetadataSpec, prepare_long
from songspace.errors import DuplicateError, OutputExistsError
from tests.data.test_metadata import AUDIO_HEADER, audio_row


@pytest.fixture
def files(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("sequence_id,position,track_id\na,0,t1\na,1,t2\na,2,t3\nb,0,t3\nb,1,t1\n")
    tracks = tmp_path / "tracks.csv"
    tracks.write_text(
        f"id,artists,popularity,{AUDIO_HEADER},track_genre\n"
        f"t1,Alpha,50,{audio_row(0.2)},rock\n"
        f"t2,Beta,80,{audio_row(0.6)},pop\n"
        f"t2,Beta,60,{audio_row(0.6)},pop\n"
    )
    return log, tracks


def test_empty_spec_joins_nothing(files, tmp_path):
    log, _ = files
    assert MetadataSpec().empty
    plain = prepare_long(log)
    same = prepare_long(log, metadata=MetadataSpec())
    assert "metadata" not in same.source
    assert sorted(same.features) == sorted(plain.features)


def test_spec_joins_mapped_columns_and_is_saved(files, tmp_path):
    log, tracks = files
    spec = MetadataSpec(tracks=tracks, track_columns={"track_id": "id"}, top_genres=1)
    out = tmp_path / "ds"
    ds = prepare_long(log, out, metadata=spec)
    assert ds.source["metadata"] == {"tracks": str(tracks), "artists": None}
    order = [ds.track_ids.tolist().index(t) for t in ("t1", "t2", "t3")]
    audio = ds.features["audio"]
    assert audio.known_tracks[order].tolist() == [True, True, False]
    j = audio.columns.index("danceability")
    # t2's two rows agree on audio; "merge" averages the popularity (80, 60 -> 70)
    np.testing.assert_allclose(audio.values[order[:2], j], [0.2, 0.6], rtol=1e-6)
    pop = ds.features["popularity"]
    np.testing.assert_allclose(pop.values[order[:2], 1], [0.5, 0.7], rtol=1e-6)
    # top_genres=1: the most frequent genre plus "other"
    assert ds.features["genre"].dim == 2
    loaded = Dataset.load(out)
    assert loaded.source["metadata"] == ds.source["metadata"]
    with pytest.raises(OutputExistsError):
        prepare_long(log, out, metadata=spec)


def test_spec_strict_duplicates(files):
    log, tracks = files
    spec = MetadataSpec(tracks=tracks, track_columns={"track_id": "id"}, duplicates="error")
    with pytest.raises(DuplicateError, match="popularity"):
        prepare_long(log, metadata=spec)

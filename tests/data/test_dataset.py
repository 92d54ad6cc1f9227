import json
import os

import numpy as np
import pytest

from songspace import Dataset, FeatureGroup
from songspace.data.builder import finish_dataset
from songspace.data.synthetic import generate
from songspace.errors import DatasetFormatError, InvalidValueError, OutputExistsError


def tiny() -> Dataset:
    return finish_dataset(
        track_ids=["a", "b", "c", "d"],
        indptr=np.array([0, 3, 5, 6]),
        indices=np.array([0, 1, 0, 2, 1, 3]),
        sequence_ids=np.array(["s0", "s1", "s2"], dtype=object),
        track_attrs={"artist_name": ["X", "Y", "X", None]},
        source={"name": "tiny"},
    )


def test_counts_and_occurrences():
    ds = tiny()
    assert (ds.n_tracks, ds.n_sequences, ds.n_entries) == (4, 3, 6)
    # "a" appears twice in s0 but counts once per distinct sequence.
    assert ds.occurrences().tolist() == [1, 2, 1, 1]
    assert ds.play_counts().tolist() == [2, 2, 1, 1]
    assert ds.sequence(1).tolist() == [2, 1]
    assert ds.sequence_of_entry().tolist() == [0, 0, 0, 1, 1, 2]
    # artist id falls back to the normalised name where the source has no id
    assert ds.tracks["artist_id"].tolist() == ["x", "y", "x", None]


def test_global_popularity_is_log_scaled_share():
    ds = tiny()
    pop = ds.features["popularity"]
    assert pop.columns == ["global"]
    np.testing.assert_allclose(pop.values[:, 0], np.log1p([1, 2, 1, 1]) / np.log1p(3), rtol=1e-6)
    assert pop.known.all()


def test_save_load_round_trip(tmp_path):
    ds = generate(200, 300, seed=1)
    ds.save(tmp_path / "d")
    back = Dataset.load(tmp_path / "d")
    np.testing.assert_array_equal(back.indptr, ds.indptr)
    np.testing.assert_array_equal(back.indices, ds.indices)
    np.testing.assert_array_equal(back.timestamps, ds.timestamps)
    np.testing.assert_array_equal(back.skipped, ds.skipped)
    assert list(back.sequence_ids) == list(ds.sequence_ids)
    assert back.tracks["track_id"].tolist() == ds.tracks["track_id"].tolist()
    assert back.tracks["genres"].tolist() == ds.tracks["genres"].tolist()
    assert set(back.features) == set(ds.features)
    for name, g in ds.features.items():
        np.testing.assert_array_equal(back.features[name].values, g.values)
        np.testing.assert_array_equal(back.features[name].known, g.known)
        assert back.features[name].scaling == g.scaling
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["counts"] == {"tracks": 300, "sequences": 200, "entries": ds.n_entries}
    assert manifest["feature_groups"]["audio"]["columns"][0] == "danceability"


def test_existing_output_is_refused_and_untouched(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        tiny().save(out)
    assert os.listdir(out) == ["keep.txt"]
    tiny().save(out, overwrite=True)
    assert Dataset.load(out).n_entries == 6
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import songspace.data.dataset as mod

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(mod.pq, "write_table", boom)
    with pytest.raises(OSError):
        tiny().save(tmp_path / "d")
    assert os.listdir(tmp_path) == []


def test_load_checks_version(tmp_path):
    tiny().save(tmp_path / "d")
    m = tmp_path / "d" / "manifest.json"
    data = json.loads(m.read_text())
    data["format_version"] = 99
    m.write_text(json.dumps(data))
    with pytest.raises(
        DatasetFormatError, match=r"format_version.*expected format_version 1, found 99"
    ):
        Dataset.load(tmp_path / "d")


def test_load_checks_counts_and_files(tmp_path):
    tiny().save(tmp_path / "d")
    m = tmp_path / "d" / "manifest.json"
    data = json.loads(m.read_text())
    data["counts"]["entries"] = 7
    m.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match="expected 7 entries"):
        Dataset.load(tmp_path / "d")
    (tmp_path / "d" / "entries.parquet").unlink()
    with pytest.raises(DatasetFormatError, match=r"entries\.parquet"):
        Dataset.load(tmp_path / "d")
    with pytest.raises(DatasetFormatError, match="songspace prepare"):
        Dataset.load(tmp_path / "missing")


def test_validate_rejects_bad_shapes():
    ds = tiny()
    ds.indices = ds.indices.copy()
    ds.indices[0] = 9
    with pytest.raises(DatasetFormatError, match=r"track indices in \[0, 4\)"):
        ds.validate()
    ds = tiny()
    ds.features["audio"] = FeatureGroup(
        "audio", ["x"], np.full((4, 1), 2.0, np.float32), np.ones((4, 1), bool)
    )
    with pytest.raises(InvalidValueError, match=r"known values in \[0, 1\]"):
        ds.validate()
    ds.features["audio"] = FeatureGroup(
        "audio", ["x"], np.zeros((3, 1), np.float32), np.ones((3, 1), bool)
    )
    with pytest.raises(DatasetFormatError, match=r"shape \(4, 1\)"):
        ds.validate()


def test_subset_keeps_vocabulary_and_recomputes_popularity():
    ds = tiny()
    sub = ds.subset([0, 2], drop_tracks=[1])
    assert sub.n_tracks == 4
    # s0 = [a, b, a] minus b -> [a, a]; s2 = [d]
    assert sub.indices.tolist() == [0, 0, 3]
    assert list(sub.sequence_ids) == ["s0", "s2"]
    np.testing.assert_allclose(
        sub.features["popularity"].values[:, 0], np.log1p([1, 0, 0, 1]) / np.log1p(2), rtol=1e-6
    )
    # a sequence emptied by dropping tracks disappears
    assert list(ds.subset([2], drop_tracks=[3]).sequence_ids) == []

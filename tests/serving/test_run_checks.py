"""Issue 27: what ``Recommender.from_run`` checks before it serves a run (rows matched to
``--data`` by id, finite vectors, damaged files named with "retrain", a read-only run),
and the serving API's artist cap on ``similar`` and track lookup by name."""

from __future__ import annotations

import errno
import json
import pathlib
import warnings

import numpy as np
import pytest

from songspace.data.dataset import Dataset
from songspace.data.features import FeatureGroup
from songspace.errors import InvalidValueError, ModelFormatError, ParameterError
from songspace.serving import Recommender, UnknownTrackError
from songspace.serving.index import normalise


def permuted(ds: Dataset, seed: int = 1) -> Dataset:
    """``ds`` with its track vocabulary in another order (sequences and feature rows
    re-indexed): the same tracks, ids and playlists, other row numbers."""
    perm = np.random.default_rng(seed).permutation(ds.n_tracks)  # new row r = old perm[r]
    inv = np.argsort(perm)
    return Dataset(
        tracks=ds.tracks.iloc[perm].reset_index(drop=True),
        indptr=ds.indptr,
        indices=inv[ds.indices],
        sequence_ids=ds.sequence_ids,
        features={
            g: FeatureGroup(f.name, f.columns, f.values[perm], f.known[perm], f.scaling)
            for g, f in ds.features.items()
        },
    ).validate()


def rewrite_npz(path, change):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path, **arrays)


def answers(rec, ids, k=10):
    return {t: [(n.track_id, round(n.score, 5)) for n in rec.similar(t, k)] for t in ids}


# ---------------------------------------------------------------- item 2: rows by id
@pytest.mark.parametrize("run", ["t2v", "gs"])
def test_a_dataset_in_another_order_gives_the_same_neighbours(world, runs, tmp_path, run):
    """The run's rows are matched to --data by the ids in embeddings.npz: a dataset with
    the same ids in another order (served second, over the cached index of the first)
    answers exactly as the training dataset does."""
    reduced = world["reduced"]
    other = permuted(reduced)
    other.save(tmp_path / "other")
    assert other.track_ids[0] != reduced.track_ids[0]
    ids = list(reduced.track_ids[:40:4])
    first = answers(Recommender.from_run(runs[run], world["root"] / "data", store=False), ids)
    again = Recommender.from_run(runs[run], tmp_path / "other", store=False)
    assert answers(again, ids) == first
    seeds = ids[:3]
    base = Recommender.from_run(runs[run], reduced, store=False)
    assert [n.track_id for n in again.complete(seeds, 8)] == [
        n.track_id for n in base.complete(seeds, 8)
    ]


def test_a_dataset_of_other_tracks_is_refused_naming_the_file(world, runs):
    ds = world["reduced"]
    tracks = ds.tracks.copy()
    tracks["track_id"] = [f"other-{i}" for i in range(ds.n_tracks)]
    other = Dataset(
        tracks=tracks, indptr=ds.indptr, indices=ds.indices, sequence_ids=ds.sequence_ids
    )
    with pytest.raises(InvalidValueError) as info:
        Recommender.from_run(runs["t2v"], other, store=False)
    text = str(info.value)
    assert str(runs["t2v"] / "embeddings.npz") in text and "unknown" in text
    assert "the dataset the run was trained on" in text and "--drop-unknown" not in text


# ---------------------------------------------------------------- item 3: finite vectors
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_run_with_a_non_finite_row_is_refused(world, runs, bad):
    """One NaN row used to be served as score-0.0 neighbours."""
    path = runs["t2v"] / "embeddings.npz"
    rewrite_npz(path, lambda a: a["embeddings"].__setitem__((7, 3), bad))
    with pytest.raises(InvalidValueError) as info:
        Recommender.from_run(runs["t2v"], world["root"] / "data", store=False)
    text = str(info.value)
    assert str(path) in text and "NaN or inf in 1 of" in text and "retrain" in text


# ---------------------------------------------------------------- item 4: magnitude
def test_vectors_scaled_by_1e37_serve_the_same_neighbours_without_a_warning(world, runs):
    data = world["root"] / "data"
    ids = list(world["reduced"].track_ids[:30:3])
    base = Recommender.from_run(runs["t2v"], data, store=False, save_index=False)
    want = {t: [n.track_id for n in base.similar(t, 10)] for t in ids}
    rewrite_npz(
        runs["t2v"] / "embeddings.npz",
        lambda a: a.__setitem__("embeddings", a["embeddings"] * np.float32(1e37)),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rec = Recommender.from_run(runs["t2v"], data, store=False, save_index=False)
        got = {t: [n.track_id for n in rec.similar(t, 10)] for t in ids}
        seeds = ids[:3]
        assert [n.track_id for n in rec.complete(seeds, 10)] == [
            n.track_id for n in base.complete(seeds, 10)
        ]
    assert got == want
    np.testing.assert_allclose(np.linalg.norm(rec.index.vectors, axis=1), 1.0, rtol=1e-6)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_normalise_is_scale_free_and_keeps_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0], [-1e37, 1e37], [1e-40, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(
        normalise(x), [[0.6, 0.8], [0, 0], [-(0.5**0.5), 0.5**0.5], [1, 0]], rtol=1e-6
    )
    assert normalise(x).dtype == np.float32 and normalise(x).flags.c_contiguous


# ---------------------------------------------------------------- item 7: artist cap
def test_similar_keeps_at_most_max_per_artist(world, runs):
    rec = Recommender.from_run(runs["t2v"], world["root"] / "data", store=False)
    t = world["reduced"].track_ids[0]
    capped = rec.similar(t, 30, max_per_artist=1)
    artists = [n.artist_name for n in capped]
    assert len(capped) == 30 and len(set(artists)) == 30
    # the cap keeps each artist's best track, in the uncapped order
    full = rec.similar(t, rec.n_indexed - 1)
    best: dict[str | None, str] = {}
    for n in full:
        best.setdefault(n.artist_name, n.track_id)
    assert [n.track_id for n in capped] == [
        n.track_id for n in full if best[n.artist_name] == n.track_id
    ][:30]
    two = rec.similar(t, 20, max_per_artist=2)
    assert max(sum(n.artist_name == a for n in two) for a in {n.artist_name for n in two}) == 2
    with pytest.raises(ParameterError, match="max_per_artist"):
        rec.similar(t, 5, max_per_artist=0)


def test_the_service_similar_routes_honour_max_per_artist(world, runs):
    from fastapi.testclient import TestClient

    from songspace.serving.app import ModelSpec, create_app

    rec = Recommender.from_run(runs["t2v"], world["root"] / "data", store=False)
    t = world["reduced"].track_ids[0]
    expected = [n.track_id for n in rec.similar(t, 10, max_per_artist=1)]
    app = create_app(
        [ModelSpec("t2v", runs["t2v"], world["root"] / "data", {})], background_load=False
    )
    with TestClient(app) as c:
        got = c.get(f"/tracks/{t}/similar", params={"k": 10, "max_per_artist": 1}).json()
        assert [r["track_id"] for r in got["results"]] == expected
        batch = c.post("/similar:batch", json={"track_ids": [t], "k": 10, "max_per_artist": 1})
        assert [r["track_id"] for r in batch.json()["results"][t]] == expected
        assert c.get(f"/tracks/{t}/similar", params={"max_per_artist": 0}).status_code == 422


# ---------------------------------------------------------------- item 25: names
def test_find_track_by_id_or_name(world, runs):
    ds = world["reduced"]
    tracks = ds.tracks.copy()
    tracks.loc[5, "track_name"] = "Same Song"
    tracks.loc[9, "track_name"] = "same song"
    named = Dataset(
        tracks=tracks, indptr=ds.indptr, indices=ds.indices, sequence_ids=ds.sequence_ids
    )
    rec = Recommender.from_run(runs["t2v"], named, store=False)
    ids = list(ds.track_ids)
    assert rec.find_track(ids[3]) == ids[3]
    name = tracks.loc[12, "track_name"]
    assert rec.find_track(name.upper()) == ids[12]
    with pytest.raises(UnknownTrackError) as info:
        rec.find_track("SAME SONG", "--similar")
    text = str(info.value)
    assert "found 2 tracks named so" in text and ids[5] in text and ids[9] in text
    assert "tracks.parquet" in text and info.value.field == "--similar"
    with pytest.raises(UnknownTrackError) as info:
        rec.find_track(name.replace("Track", "Trakc"))  # a typo
    text = str(info.value)
    assert "close names: " + repr(name) + " by" in text and f"(id {ids[12]})" in text
    listed = text.split("close names: ")[1].split(". Fix")[0].split("; ")
    assert 1 <= len(listed) <= 10
    with pytest.raises(UnknownTrackError, match=r"found no track of that id or name\. Fix"):
        rec.find_track("zzzzzzzzzzzzzzzzzzzz")


# ---------------------------------------------------------------- item 19: damaged runs
def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def first_encoder(arrays):
    return next(k for k in sorted(arrays) if k.startswith("encoder."))


def edit_param(name, value):
    def change(run):
        meta = run / "model" / "model.json"
        doc = json.loads(meta.read_text())
        doc["params"][name] = value
        meta.write_text(json.dumps(doc))

    return change


#: damage -> (run, change, file named in the error)
DAMAGED_RUNS = {
    "truncated embeddings.npz": ("t2v", lambda r: truncate(r / "embeddings.npz"), "embeddings.npz"),
    "truncated model arrays": ("gs", lambda r: truncate(r / "model" / "arrays.npz"), "arrays.npz"),
    "missing encoder array": (
        "gs",
        lambda r: rewrite_npz(r / "model" / "arrays.npz", lambda a: a.pop(first_encoder(a))),
        "arrays.npz",
    ),
    "misshapen encoder array": (
        "gs",
        lambda r: rewrite_npz(
            r / "model" / "arrays.npz",
            lambda a: a.__setitem__(first_encoder(a), a[first_encoder(a)][:-1]),
        ),
        "arrays.npz",
    ),
    "edited dim": ("gs", edit_param("dim", 24), "arrays.npz"),
    "edited hidden": ("gs", edit_param("hidden", 64), "arrays.npz"),
    "edited num_layers": ("gs", edit_param("num_layers", 3), "arrays.npz"),
    "object array in embeddings.npz": (
        "t2v",
        lambda r: rewrite_npz(
            r / "embeddings.npz",
            lambda a: a.__setitem__("available", a["available"].astype(object)),
        ),
        "embeddings.npz",
    ),
    "model.json not JSON": (
        "t2v",
        lambda r: (r / "model" / "model.json").write_text('{"format": '),
        "model.json",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGED_RUNS))
def test_a_damaged_run_is_refused_naming_the_file(world, runs, damage):
    name, change, file = DAMAGED_RUNS[damage]
    change(runs[name])
    with pytest.raises(ModelFormatError) as info:
        Recommender.from_run(runs[name], world["root"] / "data", store=False)
    text = str(info.value)
    assert file in text and str(runs[name]) in text and "retrain" in text, text


# ---------------------------------------------------------------- item 18: read-only run
def test_a_run_whose_index_cannot_be_written_is_served_from_memory(
    world, runs, monkeypatch, caplog
):
    """The first write a read-only file system refuses is the cache folder
    (RUN/serving): it fails with EROFS, the index stays in memory, one warning."""
    serving = runs["t2v"] / "serving"
    real_mkdir = pathlib.Path.mkdir

    def read_only_mkdir(self, *args, **kwargs):
        if self == serving:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "mkdir", read_only_mkdir)
    caplog.set_level("INFO", logger="songspace")
    t = world["reduced"].track_ids[0]
    for _ in range(2):
        rec = Recommender.from_run(runs["t2v"], world["root"] / "data", store=False)
        assert len(rec.similar(t, 5)) == 5 and not rec.index.stats.reused
    warned = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1, [r.getMessage() for r in warned]
    assert str(serving) in warned[0].getMessage() and "kept in memory" in warned[0].getMessage()
    assert not serving.exists()

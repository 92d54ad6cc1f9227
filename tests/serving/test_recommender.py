import json

import numpy as np
import pytest

from songspace.errors import DuplicateError, InvalidValueError, ParameterError
from songspace.models.base import EmbeddingModel
from songspace.serving import NotInductiveError, Recommender, UnknownTrackError
from songspace.serving.index import normalise
from songspace.serving.newtracks import grow, parse_track
from songspace.serving.store import TrackStore


def brute(rec, q, k, exclude=()):
    """Reference ranking: cosine over every track with a vector, ties by row."""
    z = np.load(rec.run / "embeddings.npz")
    x, avail = normalise(z["embeddings"]), z["available"]
    s = x @ q
    rows = [r for r in np.lexsort((np.arange(len(s)), -s)) if avail[r] and r not in exclude]
    return [rec._ids[r] for r in rows[:k]]


def test_similar_and_complete_match_brute_force(world, runs):
    rec = Recommender.from_run(runs["t2v"], world["root"] / "data")
    ids = world["reduced"].track_ids
    got = rec.similar(ids[0], 15)
    assert [n.track_id for n in got] == brute(rec, rec.vector(ids[0]), 15, exclude={0})
    assert got[0].track_name and got[0].artist_name and -1 <= got[0].score <= 1
    seeds = list(ids[:4])
    q = normalise(np.mean([rec.vector(t) for t in seeds], axis=0)[None])[0]
    got = rec.complete(seeds, 12)
    assert [n.track_id for n in got] == brute(rec, q, 12, exclude={0, 1, 2, 3})
    with_seeds = rec.complete(seeds, 12, exclude_seeds=False)
    assert [n.track_id for n in with_seeds] == brute(rec, q, 12)


def test_max_per_artist(world, runs):
    rec = Recommender.from_run(runs["t2v"], world["root"] / "data")
    seeds = list(world["reduced"].track_ids[:3])
    got = rec.complete(seeds, 30, max_per_artist=1)
    artists = [n.artist_name for n in got]
    assert len(got) == 30 and len(set(artists)) == 30


def test_errors_name_the_problem(world, runs):
    rec = Recommender.from_run(runs["t2v"], world["root"] / "data")
    with pytest.raises(UnknownTrackError, match="nope"):
        rec.similar("nope")
    with pytest.raises(ParameterError, match="k"):
        rec.similar(world["reduced"].track_ids[0], 0)
    with pytest.raises(ParameterError, match="k"):
        rec.similar(world["reduced"].track_ids[0], 10**6)
    with pytest.raises(NotInductiveError, match="graphsage"):
        rec.embed_new(world["docs"][0])


def test_embed_new_equals_model_embed_on_the_grown_dataset(world, runs):
    """The held-out tracks, posted with their features and playlists, get the vectors
    model.embed gives on the dataset they were held out of (the grown dataset)."""
    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    model = EmbeddingModel.load(runs["gs"] / "model")
    full, held = world["full"], world["held"]
    rows = [full.track_index()[t] for t in held]
    expected = model.embed(full, rows)
    added = rec.add_tracks(world["docs"], k=5)
    got = np.stack([a.vector for a in added])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # ... and equally on the grown dataset built from the documents
    grown = grow(world["reduced"], [parse_track(d, world["reduced"]) for d in world["docs"]])
    np.testing.assert_allclose(
        got, model.embed(grown, np.arange(len(rows)) + grown.n_tracks - 3), atol=1e-6
    )
    # its /similar answer is the ranking of that vector against the served vectors
    nb = rec.similar(held[0], 10)
    ref = brute(rec, normalise(expected[:1])[0], 12, exclude=set())
    others = [t for t in ref if t not in held][:10]
    assert [n.track_id for n in nb if n.track_id not in held] == others[
        : len([n for n in nb if n.track_id not in held])
    ]
    assert rec.track(held[0])["added"] and rec.n_added == 3


def test_embed_new_does_not_add(world, runs):
    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    new = rec.embed_new(world["docs"][0], k=3)
    assert len(new.neighbours) == 3 and new.vector.shape == (16,)
    with pytest.raises(UnknownTrackError):
        rec.track(world["docs"][0]["track_id"])


def test_new_track_validation(world, runs):
    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    doc = dict(world["docs"][0])
    with pytest.raises(InvalidValueError, match=r"features\.audio\.loudnes"):
        rec.embed_new({**doc, "features": {"audio": {"loudnes": 1.0}}})
    with pytest.raises(InvalidValueError, match=r"features\.nope"):
        rec.embed_new({**doc, "features": {"nope": {}}})
    with pytest.raises(InvalidValueError, match="playlists"):
        rec.embed_new({**doc, "playlists": ["no-such-playlist"]})
    with pytest.raises(DuplicateError, match=r"already|not yet served"):
        rec.embed_new({**doc, "track_id": world["reduced"].track_ids[0]})


def test_store_replays_added_tracks_and_repairs_a_torn_tail(world, runs):
    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    added = rec.add_tracks(world["docs"][:2])
    path = runs["gs"] / "serving" / "added-tracks.jsonl"
    with open(path, "ab") as fh:  # a write cut short by a crash
        fh.write(b'{"format":"songspace-added-tracks","track":{"track_id":"x"')
    again = Recommender.from_run(runs["gs"], world["root"] / "data")
    assert again.n_added == 2 and again.index.stats.reused
    for a in added:
        np.testing.assert_array_equal(again.vector(a.track_id), normalise(a.vector[None])[0])
    assert [n.track_id for n in again.similar(added[0].track_id, 5)] == [
        n.track_id for n in rec.similar(added[0].track_id, 5)
    ]
    assert path.read_bytes().endswith(b"\n") and len(TrackStore(path).read()) == 2
    # the third track can still be added after the replay
    third = again.add_tracks(world["docs"][2:])
    assert third[0].track_id == world["held"][2]
    assert len(json.loads(path.read_text().splitlines()[-1])["vector"]) == 16


def test_a_bare_track_is_refused_by_the_library(world, runs):
    """Issue 27 item 5 (`recommend --embed-new`, embed_new, add_tracks): a track with
    nothing to embed it from."""
    rec = Recommender.from_run(runs["gs"], world["root"] / "data")
    for bare in ({"track_id": "x"}, {"track_id": "y", "features": {"audio": {}}, "genres": []}):
        with pytest.raises(InvalidValueError, match="unavailable"):
            rec.embed_new(bare)
        with pytest.raises(InvalidValueError, match="playlists"):
            rec.add_tracks([bare])
    assert rec.n_added == 0
    # replaying a bare track stored before the check existed stays possible
    assert parse_track({"track_id": "x"}, world["reduced"], require_inputs=False).track_id == "x"

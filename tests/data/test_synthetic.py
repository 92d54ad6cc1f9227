import dataclasses
import hashlib
import json

import numpy as np
import pytest

from songspace.data.fingerprint import dataset_fingerprint
from songspace.data.synthetic import generate, generate_preset
from songspace.errors import ParameterError


def test_deterministic_and_seed_dependent():
    a, b, c = generate(300, 500, seed=7), generate(300, 500, seed=7), generate(300, 500, seed=8)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.skipped, b.skipped)
    for name in a.features:
        np.testing.assert_array_equal(a.features[name].values, b.features[name].values)
    assert not np.array_equal(a.indices[:100], c.indices[:100])


def test_sizes_and_lengths():
    ds = generate(500, 800, min_length=5, max_length=60, mean_length=20, seed=1)
    assert (ds.n_sequences, ds.n_tracks) == (500, 800)
    assert ds.lengths.min() >= 5 and ds.lengths.max() <= 60
    assert 15 < ds.lengths.mean() < 25
    assert set(ds.features) == {"genre", "popularity", "audio", "acoustic"}


def test_playlists_stay_in_genre():
    ds = generate(800, 1000, n_genres=10, p_off_genre=0.1, seed=2)
    genre = ds.tracks["genre"].to_numpy(dtype=object)
    same, chance = [], []
    known = genre != None  # noqa: E711
    counts = {}
    for g in genre[known]:
        counts[g] = counts.get(g, 0) + 1
    for s in range(ds.n_sequences):
        g = genre[ds.sequence(s)]
        g = g[g != None]  # noqa: E711
        if len(g) > 1:
            same.append(np.mean(g[:, None] == g[None, :]))
    shares = np.array(list(counts.values())) / known.sum()
    chance = float((shares**2).sum())
    assert np.mean(same) > 0.6 > 2 * chance


def test_popularity_is_heavy_tailed():
    ds = generate(2000, 2000, seed=3)
    plays = np.sort(ds.play_counts())[::-1]
    top = plays[: len(plays) // 10].sum() / plays.sum()
    assert top > 0.35  # the top 10% of tracks get well over 10% of plays


def test_audio_depends_on_genre():
    ds = generate(200, 2000, n_genres=5, seed=4)
    audio = ds.features["audio"]
    genre = ds.tracks["genre"].to_numpy(dtype=object)
    ok = audio.known_tracks & (genre != None)  # noqa: E711
    x, g = audio.values[ok], genre[ok]
    within = np.mean([x[g == k].var(axis=0).mean() for k in np.unique(g)])
    assert within < 0.3 * x.var(axis=0).mean()


def test_off_genre_entries_are_skipped_more():
    ds = generate(500, 1000, seed=5)
    genre = ds.tracks["genre"].to_numpy(dtype=object)
    seq = ds.sequence_of_entry()
    # the playlist's home genre: its most common track genre
    home = np.array(
        [
            max(set(x := genre[ds.sequence(s)].tolist()) - {None}, key=x.count)
            for s in range(ds.n_sequences)
        ],
        dtype=object,
    )
    in_home = genre[ds.indices] == home[seq]
    assert ds.skipped[~in_home].mean() > ds.skipped[in_home].mean() + 0.2


def test_missing_share_marks_features_unknown():
    ds = generate(100, 4000, missing_share=0.25, seed=6)
    assert ds.features["audio"].coverage() == pytest.approx(0.75, abs=0.03)
    assert generate(100, 400, missing_share=0.0, seed=6).features["audio"].coverage() == 1.0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"n_playlists": 0}, "n_playlists"),
        ({"p_off_genre": 1.5}, "p_off_genre"),
        ({"mean_length": 2, "min_length": 5}, "mean_length"),
        ({"n_genres": 50, "n_tracks": 10}, "n_genres"),
        ({"sequential": 1.5}, "sequential"),
        ({"sequential": -0.1}, "sequential"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(ParameterError, match=f"parameter `{name}`"):
        generate(**kwargs)


def _content_hash(ds) -> str:
    """SHA-256 of everything ``generate`` returns: the learnable content
    (:func:`dataset_fingerprint`) plus the timestamps, ids, names, the whole tracks
    table, the feature scalings and the source record."""
    h = hashlib.sha256(dataset_fingerprint(ds).encode())
    if ds.timestamps is not None:
        h.update(np.ascontiguousarray(ds.timestamps, dtype=np.int64).tobytes())
    h.update("\x1f".join(map(str, ds.sequence_ids)).encode())
    for col in ds.tracks.columns:
        h.update(col.encode())
        h.update("\x1f".join(map(repr, ds.tracks[col].tolist())).encode())
    for name, group in ds.features.items():
        h.update(f"{name}={sorted(group.scaling.items())!r}".encode())
    h.update(json.dumps(ds.source, sort_keys=True).encode())
    return h.hexdigest()


# Written by the generator before its stages were split into helpers (commit 9473330):
# the draw order and every output stay the same for these argument sets.
@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (
            {"n_playlists": 300, "n_tracks": 500, "seed": 7},
            "9f00a572ba700225410b21c81887d9091e733001d7cc0622673402a76e5c546e",
        ),
        (
            {
                "n_playlists": 400,
                "n_tracks": 3000,
                "n_genres": 25,
                "tracks_per_artist": 3.5,
                "popularity_offset": 4.0,
                "p_off_genre": 0.2,
                "p_favourite_artist": 0.5,
                "favourite_artists": 3,
                "skips": False,
                "timestamps": False,
                "missing_share": 0.0,
                "compact": True,
                "seed": 11,
            },
            "f11a060072aee874bc2eace2ee191d3b556241b722585ca3c4ed4b44decaa68e",
        ),
    ],
)
def test_output_is_pinned(kwargs, expected):
    assert _content_hash(generate(**kwargs)) == expected


def test_mpd_preset_output_is_pinned():
    ds = generate_preset("mpd", scale=0.0005, seed=3)
    assert _content_hash(ds) == "c42629ba23bad858da0681210b1a4f5b9bc84329f0145aa76ef0aa33d464b785"


# ------------------------------------------------------------------ sequential signal
def _order_shuffled(ds, seed):
    """``ds`` with each sequence's entries in a random order (the same co-occurrences)."""
    rng = np.random.default_rng(seed)
    idx = ds.indices.copy()
    for a, b in zip(ds.indptr[:-1], ds.indptr[1:], strict=True):
        idx[a:b] = rng.permutation(idx[a:b])
    return dataclasses.replace(ds, indices=idx)


def _bigram_results(sequential):
    """Next-song results of popularity, the bigram ranker, and the bigram ranker trained on
    the order-shuffled training view, on data generated with ``sequential``."""
    from songspace.evaluation.embeddings import Embeddings
    from songspace.evaluation.protocol import make_protocol
    from songspace.evaluation.rankers import Bigram
    from songspace.evaluation.suite import evaluate

    ds = generate(800, 400, n_genres=5, mean_length=25, sequential=sequential, seed=0)
    p = make_protocol(ds, seed=0, fractions=(0.8, 0.1, 0.1))
    rankers = {
        "bigram": Embeddings.from_ranker(Bigram.fit(p.train), ds.n_tracks),
        "popularity": Embeddings.popularity_baseline(p.train),
        "shuffled": dataclasses.replace(
            Embeddings.from_ranker(Bigram.fit(_order_shuffled(p.train, 1)), ds.n_tracks),
            name="shuffled",
        ),
    }
    return {k: evaluate(p, e, families=["next_song"]) for k, e in rankers.items()}


def test_the_sequential_option_makes_order_carry_information():
    """With ``sequential``, a bigram ranker (successor counts) ranks the next song above
    popularity and above the same ranker trained with each sequence shuffled, which keeps
    the co-occurrences and loses only the order. Without it, order carries nothing: the
    shuffled ranker does as well. (Both beat global popularity without it too: a playlist
    stays in its genre, and a track's successors share it.)"""
    from songspace.evaluation.results import compare

    metrics = ["next_song_out_of_set_hit_rate", "next_song_out_of_set_ndcg"]
    with_order = _bigram_results(0.5)
    vs_popularity = compare(
        with_order["bigram"], with_order["popularity"], metrics=metrics, alpha=0.01
    )
    vs_shuffled = compare(with_order["bigram"], with_order["shuffled"], metrics=metrics, alpha=0.01)
    for m in metrics:
        assert vs_popularity[m].significant, vs_popularity[m]
        assert vs_popularity[m].value_a > vs_popularity[m].value_b
    ndcg = vs_shuffled["next_song_out_of_set_ndcg"]
    assert ndcg.significant and ndcg.value_a > ndcg.value_b + 0.03, ndcg
    without = _bigram_results(0.0)
    vs_shuffled = compare(without["bigram"], without["shuffled"], metrics=metrics, alpha=0.01)
    assert not any(vs_shuffled[m].significant for m in metrics), vs_shuffled
    ndcg = vs_shuffled["next_song_out_of_set_ndcg"]
    assert abs(ndcg.value_a - ndcg.value_b) < 0.01, ndcg


def test_the_sequential_option_keeps_the_planted_structure():
    """The chain replaces home-genre draws by tracks of the same genre: every entry keeps
    its genre, the playlists their lengths, skips and timestamps; only the order-driven
    choice of tracks changes (0 is the dataset without the option: test_output_is_pinned)."""
    plain = generate(300, 500, missing_share=0.0, seed=7)  # every track's genre known
    chained = generate(300, 500, missing_share=0.0, sequential=0.6, seed=7)
    genre = plain.tracks["genre"].to_numpy(dtype=object)
    np.testing.assert_array_equal(plain.indptr, chained.indptr)
    np.testing.assert_array_equal(genre[plain.indices], genre[chained.indices])
    np.testing.assert_array_equal(plain.skipped, chained.skipped)
    np.testing.assert_array_equal(plain.timestamps, chained.timestamps)
    changed = plain.indices != chained.indices
    assert 0.1 < changed.mean() < 0.6
    assert chained.source["sequential"] == 0.6 and "sequential" not in plain.source

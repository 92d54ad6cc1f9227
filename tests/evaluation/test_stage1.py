"""The stage-1 recall and segment-breakdown families against hand-computed answers.

Toy protocol: 1,200 tracks; training sequences s0 = [0, 1, 2], s1 = [0, 1], s2 = [1, 3],
s3 = [2, 3, 4] (training popularity t0 2, t1 3, t2 2, t3 2, t4 1, every other track 0, so
the popularity order is 1, 0, 2, 3, 4, 5, 6, ...). Track 5 never occurs in training.

Out-of-set pairs and their segments: 0 -> 1 co-occurred (s0, s1), 0 -> 3 never (3 occurs,
never with 0), 0 -> 5 unseen, 4 -> 2 co-occurred (s3).

Completion playlists (seed fraction 0.5): A = [0, 3, 5, 1] (seeds 0, 3; hidden 5 unseen,
1 co-occurred with 0), B = [4, 2, 0, 1] (seeds 4, 2; hidden 0 and 1, both co-occurred with
2 in s0), C = [4, 0] (seed 4; hidden 0, never with 4).
"""

import numpy as np
import pytest

from songspace.data.builder import finish_dataset
from songspace.data.splits import Split
from songspace.evaluation.candidates import CandidateUnion, PopularityCandidates, Scored
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import Protocol
from songspace.evaluation.ranker_params import popularity_of
from songspace.evaluation.segments import target_segments
from songspace.evaluation.stage1 import stage1_recall
from songspace.evaluation.suite import SuiteSettings, evaluate

N_TRACKS = 1200
TRAIN = [[0, 1, 2], [0, 1], [1, 3], [2, 3, 4]]
TEST = [[0, 3, 5, 1], [4, 2, 0, 1], [4, 0]]
PAIRS = ([0, 0, 0, 4], [1, 3, 5, 2])
K1 = SuiteSettings(k=1)


@pytest.fixture(scope="module")
def protocol():
    seqs = TRAIN + TEST
    ds = finish_dataset(
        track_ids=[f"t{i}" for i in range(N_TRACKS)],
        indptr=np.cumsum([0] + [len(s) for s in seqs]),
        indices=np.concatenate(seqs),
        sequence_ids=np.array([f"s{i}" for i in range(len(seqs))], dtype=object),
    )
    split = Split(train=np.arange(4), validation=np.zeros(0, np.int64), test=np.arange(4, 7))
    return Protocol(
        dataset=ds,
        split=split,
        train=ds.subset(split.train),
        in_set=(np.zeros(0, np.int64), np.zeros(0, np.int64)),
        out_of_set=(np.array(PAIRS[0]), np.array(PAIRS[1])),
        completion=np.arange(4, 7),
        seed=0,
    )


class Fixed:
    """A stage-1 generator that returns one fixed list (the seeds left out): track 2 at
    rank 50, track 1 at 150, track 3 at 600, tracks 0 and 4 last (1198, 1199), track 5
    never."""

    name = "fixed"

    def __init__(self):
        others = list(range(6, N_TRACKS))
        order = [*others[:49], 2, *others[49:148], 1, *others[148:597], 3, *others[597:], 0, 4]
        self.order = np.array(order)
        assert (self.order == 2).argmax() == 49 and (self.order == 1).argmax() == 149
        assert (self.order == 3).argmax() == 599 and len(self.order) == N_TRACKS - 1

    def candidates(self, seeds, n):
        kept = self.order[~np.isin(self.order, seeds)][:n]
        return Scored(kept, np.zeros(len(kept)))


class WithStage1:
    """A ranker that ranks by popularity and whose stage 1 is :class:`Fixed`."""

    name = "two"

    def __init__(self, train):
        self.popularity = popularity_of(train)
        self.stage1 = Fixed()

    def scores(self, seeds):
        return self.popularity.copy()


def test_segments_of_next_song_and_completion_targets(protocol):
    codes = target_segments(
        protocol.train, [np.array([q]) for q in PAIRS[0]], [np.array([t]) for t in PAIRS[1]]
    )
    assert codes.tolist() == [0, 1, 2, 0]
    seeds = [np.array([0, 3]), np.array([4, 2]), np.array([4])]
    hidden = [np.array([5, 1]), np.array([0, 1]), np.array([0])]
    assert target_segments(protocol.train, seeds, hidden).tolist() == [2, 0, 0, 0, 1]


def test_segment_hit_rates_of_the_popularity_baseline(protocol):
    res = evaluate(
        protocol,
        Embeddings.popularity_baseline(protocol.train),
        families=["next_song", "segments"],
        settings=K1,
    ).metrics
    # top 1 for query 0 is t1 (a hit on 0 -> 1), for query 4 also t1 (a miss on 4 -> 2)
    seg = "segments_next_song_out_of_set_hit_rate_"
    assert res[seg + "cooccurred"].per_query.tolist() == [1.0, 0.0]
    assert res[seg + "never"].per_query.tolist() == [0.0]
    assert res[seg + "unseen"].per_query.tolist() == [0.0]
    assert [res[seg + s].info["share"] for s in ("cooccurred", "never", "unseen")] == [
        0.5,
        0.25,
        0.25,
    ]
    # the segments, weighted by their shares, add up to the next-song HitRate
    total = sum(
        res[seg + s].value * res[seg + s].info["share"] for s in ("cooccurred", "never", "unseen")
    )
    assert total == pytest.approx(res["next_song_out_of_set_hit_rate"].value) == 0.25
    # completion, top 1 of the catalogue without the seeds: A [1] (1 hit, 5 missed),
    # B [1] (1 hit, 0 missed), C [1] (0 missed)
    comp = "segments_completion_hit_rate_"
    assert res[comp + "cooccurred"].per_query.tolist() == [1.0, 0.5]
    assert res[comp + "never"].per_query.tolist() == [0.0]
    assert res[comp + "unseen"].per_query.tolist() == [0.0]
    assert res[comp + "cooccurred"].info["share"] == pytest.approx(0.6)
    # no in-set pair in this protocol: that part is left out
    assert not [m for m in res if "in_set" in m]
    # its stage 1 is its own ranking: every target is within its top 1,000
    assert res["segments_next_song_out_of_set_stage1_recall@200_unseen"].value == 1.0


def test_stage1_recall_of_a_recommenders_own_candidates(protocol):
    emb = Embeddings.from_ranker(WithStage1(protocol.train), N_TRACKS)
    res = evaluate(protocol, emb, families=["stage1", "segments"], settings=K1).metrics
    # next-song stage-1 ranks: 0 -> 1 at 150, 0 -> 3 at 600, 0 -> 5 never, 4 -> 2 at 50
    out = "stage1_next_song_out_of_set_recall@"
    assert res[out + "100"].per_query.tolist() == [0, 0, 0, 1]
    assert res[out + "200"].value == 0.5
    assert res[out + "500"].value == 0.5
    assert res[out + "1000"].value == 0.75
    # completion: A finds 1 (150) of {5, 1}, B 1 of {0, 1} (0 is at 1198), C none of {0}
    comp = "stage1_completion_recall@"
    assert res[comp + "100"].per_query.tolist() == [0, 0, 0]
    assert res[comp + "200"].per_query.tolist() == [0.5, 0.5, 0.0]
    assert res[comp + "1000"].per_query.tolist() == [0.5, 0.5, 0.0]
    seg = "segments_next_song_out_of_set_stage1_recall@200_"
    assert res[seg + "cooccurred"].per_query.tolist() == [1.0, 1.0]
    assert res[seg + "never"].per_query.tolist() == [0.0]
    assert res[seg + "unseen"].per_query.tolist() == [0.0]
    # the final ranking (popularity) is scored as before
    assert res["segments_next_song_out_of_set_hit_rate_cooccurred"].per_query.tolist() == [1, 0]


def test_stage1_recall_counts_the_candidates_at_each_depth(protocol):
    got = stage1_recall(
        Fixed(), [np.array([0]), np.array([4])], [np.array([1]), np.array([2])], (100, 200)
    )
    assert got.recall[100].tolist() == [0.0, 1.0]
    assert got.recall[200].tolist() == [1.0, 1.0]
    assert got.candidates[100].tolist() == [100, 100]
    assert got.ranks.tolist() == [150, 50]

    # a union also tells what each generator alone reached, from the same calls
    union = CandidateUnion([Fixed(), PopularityCandidates(popularity_of(protocol.train))])
    got = stage1_recall(
        union, [np.array([0]), np.array([4])], [np.array([1]), np.array([2])], (100, 200)
    )
    assert got.by_generator["fixed"].tolist() == [150, 50]
    assert got.by_generator["popular"].tolist() == [1, 3]  # order 1, 0, 2, 3, ...; seed 4 after
    assert got.ranks.tolist() == [1, 3] and got.recall[100].tolist() == [1.0, 1.0]

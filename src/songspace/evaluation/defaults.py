"""The evaluation defaults, in a module that imports nothing heavy: the CLI options,
experiment configs, study settings and function signatures read them from here (or from
:mod:`songspace.evaluation.suite`, which re-exports them), so ``songspace --help`` loads no
numpy."""

from __future__ import annotations

from dataclasses import dataclass

#: Neighbours retrieved per query (next-song, HardNeg, popularity buckets; W2V §2).
DEFAULT_K = 100
#: Playlist completion: the share of a test playlist given as its seed (MUSIG §4.1).
DEFAULT_SEED_FRACTION = 0.5
#: Genre / artist coherence: neighbours per query.
DEFAULT_COHERENCE_K = 50
#: HardNeg: an adjacent pair seen at least this often is frequent (W2V §2.2, "high
#: co-occurrence": the paper gives no number; 5 adjacent occurrences by default).
DEFAULT_HARDNEG_MIN_COUNT = 5
#: VRC_Artist: artists with at least this many tracks.
DEFAULT_ARTIST_MIN_TRACKS = 5
#: Popularity buckets: (query, target) pairs sampled per cell (W2V §4.5: 1k).
DEFAULT_PAIRS_PER_CELL = 1000
#: Dimension of the random baseline's vectors.
DEFAULT_RANDOM_DIM = 64
#: Level of the paired t-tests (Bonferroni over the metrics compared) and the table marks.
DEFAULT_ALPHA = 0.05
#: Cold start (:mod:`songspace.evaluation.cold_start`): the held-out share per part
#: (validation and test; training keeps ``1 - 2 x`` it).
DEFAULT_COLD_TEST_FRACTION = 0.1
#: The non-embedding baseline rankers (:data:`songspace.evaluation.rankers.BASELINE_RANKERS`),
#: in the order ``--rankers all`` adds them.
BASELINE_RANKER_NAMES = ("itemknn", "sknn", "vsknn", "stan", "vstan", "bigram")


@dataclass(frozen=True)
class SuiteSettings:
    """Evaluation settings (defaults follow the papers). The one place their defaults are
    written: protocol specs, study settings and CLI options read them from
    :data:`DEFAULT_SUITE`."""

    k: int = DEFAULT_K
    seed_fraction: float = DEFAULT_SEED_FRACTION
    coherence_k: int = DEFAULT_COHERENCE_K
    hardneg_min_count: int = DEFAULT_HARDNEG_MIN_COUNT
    hardneg_threshold: float | None = None
    artist_min_tracks: int = DEFAULT_ARTIST_MIN_TRACKS
    pairs_per_cell: int = DEFAULT_PAIRS_PER_CELL
    play_min_pair_count: int = 2
    #: Next-song (query, target) pairs evaluated per protocol (in-set, out-of-set): a
    #: uniform sample where there are more (each distinct query is a k-NN search over
    #: every track); None = all. The counts are in each result's info.
    next_song_max_pairs: int | None = 50_000
    #: HardNeg query tracks: a uniform sample where more tracks have a hard negative.
    hardneg_max_queries: int | None = 50_000


#: The default evaluation settings.
DEFAULT_SUITE = SuiteSettings()

"""The evaluation defaults, in a module that imports nothing heavy: the CLI options,
experiment configs, study settings and function signatures read them from here (or from
:mod:`songspace.evaluation.suite`, which re-exports them), so ``songspace --help`` loads no
numpy."""

from __future__ import annotations

from dataclasses import dataclass

#: Neighbours retrieved per query (next-song, HardNeg, popularity buckets; W2V §2).
DEFAULT_K = 100
#: HardNeg: an adjacent pair seen at least this often is frequent (W2V §2.2, "high
#: co-occurrence": the paper gives no number; 5 adjacent occurrences by default).
DEFAULT_HARDNEG_MIN_COUNT = 5


@dataclass(frozen=True)
class SuiteSettings:
    """Evaluation settings (defaults follow the papers). The one place their defaults are
    written: protocol specs, study settings and CLI options read them from
    :data:`DEFAULT_SUITE`."""

    k: int = DEFAULT_K
    seed_fraction: float = 0.5
    coherence_k: int = 50
    hardneg_min_count: int = DEFAULT_HARDNEG_MIN_COUNT
    hardneg_threshold: float | None = None
    artist_min_tracks: int = 5
    pairs_per_cell: int = 1000
    play_min_pair_count: int = 2
    #: Next-song (query, target) pairs evaluated per protocol (in-set, out-of-set): a
    #: uniform sample where there are more (each distinct query is a k-NN search over
    #: every track); None = all. The counts are in each result's info.
    next_song_max_pairs: int | None = 50_000
    #: HardNeg query tracks: a uniform sample where more tracks have a hard negative.
    hardneg_max_queries: int | None = 50_000


#: The default evaluation settings.
DEFAULT_SUITE = SuiteSettings()

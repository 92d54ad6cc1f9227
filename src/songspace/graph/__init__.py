"""Track graphs built from sequences: co-occurrence graph (MUSIG §3.1) and bigrams (W2V §2.2)."""

from songspace.graph.bigrams import adjacent_pairs, bigram_counts
from songspace.graph.cooccurrence import (
    CooccurrenceGraph,
    SequencesLike,
    build_cooccurrence,
    edge_counts_by_threshold,
    incidence_matrix,
)

__all__ = [
    "CooccurrenceGraph",
    "SequencesLike",
    "adjacent_pairs",
    "bigram_counts",
    "build_cooccurrence",
    "edge_counts_by_threshold",
    "incidence_matrix",
]

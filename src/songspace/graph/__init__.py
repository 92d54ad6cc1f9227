"""Track graphs built from sequences: co-occurrence graph (MUSIG §3.1) and bigrams (W2V §2.2)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from songspace._lazy import lazy_attributes

if TYPE_CHECKING:
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

#: Where each name lives: loaded on first use (PEP 562), so the CLI reads
#: :mod:`songspace.graph.defaults` without loading numpy.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "adjacent_pairs": "songspace.graph.bigrams",
        "bigram_counts": "songspace.graph.bigrams",
        **dict.fromkeys(
            (
                "CooccurrenceGraph",
                "SequencesLike",
                "build_cooccurrence",
                "edge_counts_by_threshold",
                "incidence_matrix",
            ),
            "songspace.graph.cooccurrence",
        ),
    },
)

"""Serving defaults and choices, in a module that imports nothing: the library
(:class:`~songspace.serving.recommender.Recommender`, the index, the HTTP service), the
request bodies and the CLI options of ``songspace recommend`` and ``songspace serve`` read
them from here, so ``songspace --help`` loads no numpy."""

from typing import Final

#: Results per query: similar tracks and playlist continuations ...
DEFAULT_K = 20
#: ... and the neighbours of a new track.
DEFAULT_NEW_TRACK_K = 10
#: Largest ``k`` one request may ask for.
MAX_K = 1000

#: The index kinds: ``auto`` is exact up to ``exact_max`` vectors, else HNSW.
INDEX_KINDS = ("auto", "exact", "hnsw")
DEFAULT_INDEX: Final = "auto"
#: Up to this many vectors ``kind="auto"`` builds the exact index.
DEFAULT_EXACT_MAX = 500_000
#: HNSW: links per vector (M), and the build-time and search-time candidate lists.
DEFAULT_M = 32
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_EF_SEARCH = 128

#: The HTTP service: bind address (loopback), port, largest request body (bytes) and
#: faiss threads per search (its concurrency is across requests).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MAX_BODY = 1 << 20
DEFAULT_SEARCH_THREADS = 1

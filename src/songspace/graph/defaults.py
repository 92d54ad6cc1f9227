"""Graph-layer defaults and choices, in a module that imports nothing: the graph builders,
the runners and the CLI options (``prepare --graph``, ``info``, ``demo``) read them from
here, so ``songspace --help`` loads no numpy."""

#: Co-occurrence graph: an edge joins tracks that share at least this many sequences.
DEFAULT_MIN_WEIGHT = 2
#: ``songspace info``: the edge thresholds whose graph sizes it reports.
DEFAULT_THRESHOLDS = (1, 2, 3, 5, 10)
#: Who computes the graph tables (:mod:`songspace.graph.tables`); both write identical files.
ENGINES = ("memory", "spark")
DEFAULT_ENGINE = "memory"
#: Co-occurrence counting: incidence entries per block (bounds the memory of one block).
DEFAULT_BLOCK_BUDGET = 20_000_000

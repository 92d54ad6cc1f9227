"""Runner defaults and choices, in a module that imports nothing: the runners
(:mod:`songspace.reports.cold_start`, :mod:`~songspace.reports.summary`,
:mod:`~songspace.reports.explore`) and the CLI options of ``cold-start``, ``demo`` and
``explore`` read them from here, so ``songspace --help`` loads no numpy."""

#: ``songspace cold-start``: the models compared by default (the first is the reference).
DEFAULT_COLD_START_MODELS = ("track2vec", "graphsage", "musig")

#: ``songspace demo``: the synthetic dataset's size, and where the run goes.
DEMO_PLAYLISTS = 3000
DEMO_TRACKS = 4000
#: ``songspace demo``: the synthetic data's sequential signal (``synthetic.generate(
#: sequential=...)``): a home-genre entry follows its genre's Markov chain with this
#: probability, so order carries information, as in real playlists and sessions.
DEMO_SEQUENTIAL = 0.7
DEMO_OUT = "runs/demo"

#: The explorer's projections: ``auto`` is UMAP when installed (extra ``explore``), else
#: PCA.
PROJECTION_METHODS = ("auto", "umap", "pca", "tsne")
DEFAULT_PROJECTION = "auto"
#: Nearest neighbours packed per track.
DEFAULT_NEIGHBOURS = 10

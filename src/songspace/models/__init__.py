"""Embedding models behind one interface (SPEC §3): see :mod:`songspace.models.base`.

``create(name, params, from_strings=False)`` builds any registered model from stored or
command-line values; ``songspace.testing`` holds the test suite every model passes.
"""

from songspace.models.base import EmbeddingModel, InductiveModel
from songspace.models.registry import available_models, create, get_model_class, register_lazy

register_lazy("track2vec", "songspace.models.track2vec", "Track2Vec", "models")
register_lazy("track2vec_feature", "songspace.models.track2vec", "Track2VecFeature", "models")
register_lazy("node2vec", "songspace.models.node2vec", "Node2Vec", "models")
register_lazy("warp", "songspace.models.warp", "CFWarp", "models")
register_lazy("als", "songspace.models.als", "ALS", "models")
register_lazy("graphsage", "songspace.models.graphsage", "GraphSAGE", "graph")
register_lazy("musig", "songspace.models.graphsage", "MUSIG", "graph")

__all__ = [
    "EmbeddingModel",
    "InductiveModel",
    "available_models",
    "create",
    "get_model_class",
]

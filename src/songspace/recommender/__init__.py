"""The two-stage recommender (issue 30): candidates from several generators (stage 1,
:mod:`songspace.evaluation.candidates`), re-ranked by a learned LightGBM LambdaRank model
over features of each (seeds, candidate) pair (stage 2).

Layer: above :mod:`songspace.evaluation` (it uses its rankers, embeddings and protocols),
below tuning, the runners, the CLI and the service; it never imports the model registry
(embeddings come in as :class:`~songspace.evaluation.embeddings.Embeddings`, fitted on the
protocol's training view). LightGBM is imported only when a model is fitted or loaded
(extra ``recommender``). See docs/recommender.md.
"""

from songspace.evaluation.candidates import (
    CandidateGenerator,
    CandidateSet,
    CandidateUnion,
    EmbeddingNeighbours,
    PopularityCandidates,
    RankerCandidates,
    Scored,
    successors,
)
from songspace.recommender.features import (
    CountFeatures,
    EmbeddingFeatures,
    Feature,
    GeneratorFeatures,
    MetadataFeatures,
    PopularityFeatures,
    TrainingCounts,
)
from songspace.recommender.training import TrainingQueries, training_queries
from songspace.recommender.twostage import DEFAULT_RANKERS, TwoStageRanker, ablations

__all__ = [
    "DEFAULT_RANKERS",
    "CandidateGenerator",
    "CandidateSet",
    "CandidateUnion",
    "CountFeatures",
    "EmbeddingFeatures",
    "EmbeddingNeighbours",
    "Feature",
    "GeneratorFeatures",
    "MetadataFeatures",
    "PopularityCandidates",
    "PopularityFeatures",
    "RankerCandidates",
    "Scored",
    "TrainingCounts",
    "TrainingQueries",
    "TwoStageRanker",
    "ablations",
    "successors",
    "training_queries",
]

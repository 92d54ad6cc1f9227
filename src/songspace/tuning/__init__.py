"""Hyper-parameter optimisation of any registered model (SPEC §5; W2V paper §4).

Optuna is imported lazily (extra ``tune``). See :mod:`songspace.tuning.study`.
"""

from songspace.tuning.objectives import OBJECTIVES, check_objectives, scalarise
from songspace.tuning.protocols import tuning_protocols
from songspace.tuning.scale import rate_study_name, tune_rates
from songspace.tuning.storage import DEFAULT_STORAGE, StorageError, open_storage
from songspace.tuning.study import TimeBudgetExceeded, TuneResult, tune

__all__ = [
    "DEFAULT_STORAGE",
    "OBJECTIVES",
    "StorageError",
    "TimeBudgetExceeded",
    "TuneResult",
    "check_objectives",
    "open_storage",
    "rate_study_name",
    "scalarise",
    "tune",
    "tune_rates",
    "tuning_protocols",
]

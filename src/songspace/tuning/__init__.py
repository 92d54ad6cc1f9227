"""Hyper-parameter optimisation of any registered model (SPEC §5; W2V paper §4).

Optuna is imported lazily (extra ``tune``). See :mod:`songspace.tuning.study`; the
settings and their defaults: :mod:`songspace.tuning.settings`. The package's names load on
first use (PEP 562), so the CLI reads :mod:`songspace.tuning.settings` without loading
numpy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from songspace._lazy import lazy_attributes

if TYPE_CHECKING:
    from songspace.tuning.objectives import OBJECTIVES, check_objectives, scalarise
    from songspace.tuning.protocols import tuning_protocols
    from songspace.tuning.scale import rate_study_name, tune_rates
    from songspace.tuning.settings import DEFAULT_STORAGE, StudySettings, TuneSettings
    from songspace.tuning.storage import StorageError, open_storage
    from songspace.tuning.study import TimeBudgetExceeded, TuneResult, tune

__all__ = [
    "DEFAULT_STORAGE",
    "OBJECTIVES",
    "StorageError",
    "StudySettings",
    "TimeBudgetExceeded",
    "TuneResult",
    "TuneSettings",
    "check_objectives",
    "open_storage",
    "rate_study_name",
    "scalarise",
    "tune",
    "tune_rates",
    "tuning_protocols",
]

#: Where each lazily loaded name lives.
_LAZY = {
    "DEFAULT_STORAGE": "songspace.tuning.settings",
    "OBJECTIVES": "songspace.tuning.settings",
    "StorageError": "songspace.tuning.storage",
    "StudySettings": "songspace.tuning.settings",
    "TimeBudgetExceeded": "songspace.tuning.study",
    "TuneResult": "songspace.tuning.study",
    "TuneSettings": "songspace.tuning.settings",
    "check_objectives": "songspace.tuning.objectives",
    "open_storage": "songspace.tuning.storage",
    "rate_study_name": "songspace.tuning.scale",
    "scalarise": "songspace.tuning.objectives",
    "tune": "songspace.tuning.study",
    "tune_rates": "songspace.tuning.scale",
    "tuning_protocols": "songspace.tuning.protocols",
}
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)

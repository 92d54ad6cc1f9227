"""Scale study (W2V §4.7, Table 6): tune on subsamples, compare at full scale.

One study per sample rate tunes on that share of the training sequences (the
validation queries stay the same; :func:`songspace.tuning.tune_rates`);
:func:`songspace.reports.tune_report.tune_report` then retrains each study's best
configuration on the full training view and reports the test metrics beside the
total tuning time of each rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from songspace.progress import ProgressCallback
from songspace.reports.tune_report import Report, tune_report
from songspace.tuning.scale import tune_rates
from songspace.tuning.settings import TuneSettings
from songspace.tuning.study import TuneResult

DEFAULT_RATES = (0.01, 0.02, 0.05)


def scale_study(
    model: str,
    dataset: str | Path,
    rates: Sequence[float] = DEFAULT_RATES,
    settings: TuneSettings | None = None,
    *,
    out: str | Path | None = None,
    storage: str | Path | None = None,
    study: str | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> tuple[list[TuneResult], Report]:
    """Run (or continue) one study per rate, then the full-scale report of all of them.

    The papers' rates (1/2/5%) suit billions of events; on a few thousand
    playlists use larger shares (e.g. 0.1, 0.2, 0.5). Studies are named by
    :func:`songspace.tuning.rate_study_name` (``<study>-r<rate>``; default
    ``<model>-<objectives>-r<rate>``). ``settings`` and ``options`` are those of
    :func:`songspace.tuning.tune`.
    """
    results = tune_rates(
        model,
        dataset,
        settings,
        rates,
        study=study,
        storage=storage,
        progress=progress,
        **options,
    )
    report = tune_report(
        [r.study for r in results], out, storage=storage, dataset=dataset, overwrite=overwrite
    )
    return results, report

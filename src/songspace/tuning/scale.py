"""Scale study (W2V §4.7, Table 6): tune on subsamples, compare at full scale.

One study per sample rate tunes on that share of the training sequences (the
validation queries stay the same); :func:`songspace.reports.tune_report.tune_report`
then retrains each study's best configuration on the full training view and
reports the test metrics beside the total tuning time of each rate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from songspace.errors import ParameterError
from songspace.progress import ProgressCallback
from songspace.tuning.settings import TuneSettings
from songspace.tuning.study import TuneResult, tune

if TYPE_CHECKING:
    from songspace.reports.tune_report import Report

DEFAULT_RATES = (0.01, 0.02, 0.05)


def rate_study_name(study: str | None, rate: float, n_rates: int) -> str | None:
    """The study name for one sample rate: ``<study>-r<rate>`` when several rates are tuned,
    ``study`` itself for a single one (None: :func:`tune`'s default name, which carries the
    rate when it is not 1)."""
    if study is None or n_rates == 1:
        return study
    return f"{study}-r{rate:g}"


def tune_rates(
    model: str,
    dataset: str | Path,
    settings: TuneSettings | None = None,
    rates: Sequence[float] | None = None,
    *,
    study: str | None = None,
    storage: str | Path | None = None,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> list[TuneResult]:
    """Run (or continue) one study per sample rate (what ``songspace tune`` runs).

    ``settings`` and ``options`` are :func:`tune`'s; each study runs them with its
    ``sample_rate`` (``rates`` default: the settings' one). Studies are named by
    :func:`rate_study_name`.
    """
    settings = TuneSettings.resolve(settings, **options)
    rates = (settings.sample_rate,) if rates is None else tuple(rates)
    if not rates or len(set(rates)) != len(rates):
        raise ParameterError("rates", "distinct sample rates", list(rates))
    return [
        tune(
            model,
            dataset,
            dataclasses.replace(settings, sample_rate=rate),
            study=rate_study_name(study, rate, len(rates)),
            storage=storage,
            progress=progress,
        )
        for rate in rates
    ]


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
    :func:`rate_study_name` (``<study>-r<rate>``; default ``<model>-<objectives>-r<rate>``).
    ``settings`` and ``options`` are :func:`tune`'s.
    """
    from songspace.reports.tune_report import tune_report  # the runner layer (imports tuning)

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

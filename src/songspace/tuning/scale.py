"""One study per sample rate (``songspace tune --sample-rate``, W2V §4.7, Table 6).

Each study tunes on that share of the training sequences (the validation queries stay
the same). The scale-study runner, which then compares the rates at full scale, is
:func:`songspace.reports.scale_study.scale_study` (the runner layer).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from songspace.errors import ParameterError
from songspace.progress import ProgressCallback
from songspace.tuning.settings import TuneSettings
from songspace.tuning.study import TuneResult, tune


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

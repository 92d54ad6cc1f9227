"""Experiments and reports: ``songspace compare`` reproduces the papers' tables.

- :mod:`songspace.reports.config`: experiment configs (TOML), validated up front;
- :mod:`songspace.reports.compare`: train what is missing (cached), evaluate all
  models on the same queries, write tables, figures and an HTML report
  (:mod:`~songspace.reports.writer`);
- :mod:`songspace.reports.cold_start`, :mod:`songspace.reports.tune_report`: the
  cold-start comparison and the tuning report (the other runners);
- :mod:`songspace.reports.cache`: the train-or-load model cache every runner uses;
- :mod:`songspace.reports.tables`, :mod:`~songspace.reports.figures`,
  :mod:`~songspace.reports.html`: the paper-style tables, the PNG figures and the
  self-contained HTML report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from songspace._lazy import lazy_attributes

if TYPE_CHECKING:
    from songspace.reports.compare import CompareResult, run_compare
    from songspace.reports.config import ExperimentConfig, load_config, parse_config

__all__ = ["CompareResult", "ExperimentConfig", "load_config", "parse_config", "run_compare"]

#: Where each name lives: loaded on first use (PEP 562), so the CLI reads
#: :mod:`songspace.reports.defaults` without loading numpy.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "CompareResult": "songspace.reports.compare",
        "run_compare": "songspace.reports.compare",
        "ExperimentConfig": "songspace.reports.config",
        "load_config": "songspace.reports.config",
        "parse_config": "songspace.reports.config",
    },
)

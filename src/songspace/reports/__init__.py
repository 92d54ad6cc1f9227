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

from songspace.reports.compare import CompareResult, run_compare
from songspace.reports.config import ExperimentConfig, load_config, parse_config

__all__ = ["CompareResult", "ExperimentConfig", "load_config", "parse_config", "run_compare"]

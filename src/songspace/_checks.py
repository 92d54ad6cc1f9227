"""Checks written once and used wherever the same rule applies.

- :func:`check_heldout_share`: the share of sequences held out for testing (and as
  many for validation), ``0 < share < 0.5``; used by ``train``, ``evaluate``, cold
  start and tuning (``--test-fraction``; ``tune``'s ``heldout_fraction``).
- :func:`check_format`: the ``format`` / ``format_version`` header of a saved
  songspace file (datasets, graphs, models).
- :func:`check_finite_rows`: vectors (embeddings) are finite where they are used;
  ``evaluate``, ``embed``, ``recommend``, ``serve`` and model loading refuse NaN/inf.
- :data:`NUMPY_READ_ERRORS`: what ``np.load`` raises on a truncated, foreign or pickled
  file (with ``allow_pickle=False``), for readers that turn it into a format error.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from songspace.errors import InputError, InvalidValueError
from songspace.params import Interval, check_param

#: What numpy raises on a truncated, foreign or pickled file with ``allow_pickle=False``
#: (object arrays raise ValueError when read).
NUMPY_READ_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    KeyError,
)

#: The fix for vectors a trained run should never hold.
RETRAIN_FIX = "retrain the model (`songspace train`)"


#: The share of sequences held out for testing (and as many for validation): at least
#: half must be left for training. A constraint for :func:`~songspace.params.validate_params`.
HELDOUT_SHARE = Interval(
    float,
    0,
    0.5,
    closed="neither",
    what="a share in (0, 0.5) (that share is held out for testing, as much for "
    "validation, the rest trains)",
)


def check_heldout_share(value: Any, name: str = "test_fraction") -> float:
    """``value`` as a float when ``0 < value < 0.5`` (:data:`HELDOUT_SHARE`), else
    ParameterError naming ``name``."""
    return float(check_param(name, value, HELDOUT_SHARE, fix=f"pass e.g. {name}=0.01"))


def check_format(
    doc: Any,
    *,
    name: str,
    version: int,
    path: str | Path,
    error: type[InputError],
    fix_format: str,
    fix_version: str,
) -> Mapping[str, Any]:
    """``doc`` when it is a mapping whose ``format`` is ``name`` and ``format_version``
    is ``version``; otherwise ``error`` (an InputError class) naming the field."""
    found = doc.get("format") if isinstance(doc, Mapping) else doc
    if not isinstance(doc, Mapping) or found != name:
        raise error(
            f"expected format {name!r}, found {found!r}", path=path, field="format", fix=fix_format
        )
    if doc.get("format_version") != version:
        raise error(
            f"expected format_version {version}, found {doc.get('format_version')!r}",
            path=path,
            field="format_version",
            fix=fix_version,
        )
    return doc


def check_finite_rows(
    vectors: np.ndarray,
    *,
    available: np.ndarray | None = None,
    path: str | Path | None = None,
    record: str | None = None,
    field: str | None = None,
    fix: str = RETRAIN_FIX,
) -> None:
    """InvalidValueError naming the place and how many rows hold NaN or inf, unless
    every row of ``vectors`` (a 2-D matrix) in ``available`` (default: all) is finite."""
    v = np.asarray(vectors)
    bad = ~np.isfinite(v).all(axis=1)
    if available is not None:
        bad &= np.asarray(available, dtype=bool)
    if bad.any():
        raise InvalidValueError(
            f"expected finite vectors, found NaN or inf in {int(bad.sum())} of {len(v)} rows "
            f"(first: row {int(np.flatnonzero(bad)[0])})",
            path=path,
            record=record,
            field=field,
            fix=fix,
        )

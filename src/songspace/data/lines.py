"""Reader for "one sequence per line" files, such as the LFM-1b sub-sequences (SPEC §1).

Each line is one sequence: fields separated by ``sep`` (default ``,``), no header,
no quoting. With ``user_field=True`` (the LFM-1b layout ``user,item,item,...``) the
first field is the sequence's user and the rest are track ids, in order; otherwise
every field is a track id. Track ids are kept verbatim as text. Lines are
chronological inside (the order is the listening order), so next-song pairs are
real successions.

Several files (e.g. LFM-1b's ``train500`` and ``test500``) are read into one
dataset; a sequence's id is ``<file name>:<line number>``, so no two collide, and
the user of each sequence is kept in the dataset's ``source`` only as a count
(the dataset format has no user column). Empty lines are skipped; a line with a
user but no track is an error naming the file and line. A gzip, bz2, xz or
single-file zip file is read as its decompressed text (recognised by its leading
bytes, whatever its name).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from songspace.data._tabular import check_file, open_text, undecodable_error
from songspace.data.builder import SequenceBuilder
from songspace.data.dataset import Dataset
from songspace.errors import EmptySequenceError, FormatError, ParameterError
from songspace.progress import ProgressCallback, report

logger = logging.getLogger(__name__)


def read_lines(
    paths: str | Path | Sequence[str | Path],
    *,
    sep: str = ",",
    user_field: bool = True,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Read one sequence per line from each of ``paths`` (see the module docstring)."""
    if not isinstance(sep, str) or len(sep) != 1 or sep in "\r\n":
        raise ParameterError("sep", "one character other than a line break", sep)
    files = [paths] if isinstance(paths, str | Path) else list(paths)
    if not files:
        raise ParameterError("paths", "at least one file", "none")
    checked = [check_file(p, "a text file with one sequence per line") for p in files]
    builder = SequenceBuilder()
    users: set[str] = set()
    for n, path in enumerate(checked):
        report(progress, n, len(checked), f"reading {path.name}")
        try:
            with open_text(path) as fh:
                for lineno, raw in enumerate(fh, start=1):
                    line = raw.rstrip("\r\n")
                    if not line.strip():
                        continue
                    fields = [f.strip() for f in line.split(sep)]
                    where: dict[str, Any] = {"path": str(path), "line": lineno}
                    if user_field:
                        user, tracks = fields[0], fields[1:]
                        users.add(user)
                    else:
                        tracks = fields
                    if any(not t for t in tracks):
                        empty = next(i for i, t in enumerate(tracks) if not t) + 1 + user_field
                        raise FormatError(
                            f"expected a track id in every field, found an empty field "
                            f"(field {empty})",
                            fix=f"remove the doubled or trailing '{sep}' on that line",
                            **where,
                        )
                    if not tracks:
                        raise EmptySequenceError(
                            "expected at least one track after the user field, found none",
                            fix="remove the line, or read with user_field=False "
                            "(--no-user-field) if the first field is a track",
                            **where,
                        )
                    builder.add(f"{path.name}:{lineno}", tracks, where=where)
        except UnicodeDecodeError as exc:
            raise undecodable_error(path, exc) from exc
    report(progress, len(checked), len(checked), "read")
    source = {
        "name": "lines",
        "paths": [str(p) for p in checked],
        "sep": sep,
        "user_field": user_field,
    }
    if user_field:
        source["users"] = len(users)
    ds = builder.build(source)
    logger.info(
        "read %d sequences, %d entries, %d tracks from %d file(s)",
        ds.n_sequences,
        ds.n_entries,
        ds.n_tracks,
        len(checked),
    )
    return ds

"""The songspace exception hierarchy.

Every error songspace raises on purpose is a :class:`SongspaceError`. Messages
say what was expected, what was found, where (file, line or record, field or
parameter) and how to fix it; :class:`InputError` assembles that from keyword
arguments so every reader phrases it the same way.
"""

from __future__ import annotations

from pathlib import Path


class SongspaceError(Exception):
    """Base class of every error raised by songspace."""


class ParameterError(SongspaceError, ValueError):
    """A function or command argument is outside its allowed values.

    ``ParameterError("dim", "an integer in [25, 200]", 300, fix="...")`` reads
    ``parameter `dim`: expected an integer in [25, 200], got 300. Fix: ...``: the
    constraint is a noun phrase (what is expected) or a condition in backticks.
    """

    def __init__(self, name: str, constraint: str, value: object, fix: str | None = None):
        self.name = name
        self.constraint = constraint
        self.value = value
        self.fix = fix
        msg = f"parameter `{name}`: expected {constraint}, got {value!r}"
        if fix:
            msg += f". Fix: {fix}"
        super().__init__(msg)


class NotFittedError(ParameterError):
    """A model is used (saved, embedded, exported) before ``fit`` was called."""

    def __init__(self, model: str, fix: str = "call fit(dataset) first"):
        super().__init__("model", f"a fitted {model}", "an unfitted model", fix=fix)


class InputError(SongspaceError):
    """Bad input data. Subclasses say which kind; the message names the place.

    ``InputError("expected a JSON object", path=p, record="playlist 3", field="tracks",
    fix="...")`` reads ``p, playlist 3, field 'tracks': expected a JSON object. Fix: ...``.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        line: int | None = None,
        record: str | None = None,
        field: str | None = None,
        fix: str | None = None,
    ):
        self.path = None if path is None else str(path)
        self.line = line
        self.record = record
        self.field = field
        self.fix = fix
        self.detail = message
        where = []
        if self.path is not None:
            where.append(self.path if line is None else f"{self.path}:{line}")
        elif line is not None:
            where.append(f"line {line}")
        if record is not None:
            where.append(record)
        if field is not None:
            where.append(f"field '{field}'")
        text = (", ".join(where) + ": " if where else "") + message
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text)


class FormatError(InputError):
    """A file cannot be parsed (truncated or invalid JSON/CSV, wrong structure)."""


class MissingFieldError(InputError):
    """A required column, key or field is absent."""


class InvalidValueError(InputError):
    """A value has the wrong type or is out of range (non-numeric, NaN, inf, negative...)."""


class DuplicateError(InputError):
    """The same key appears twice where it must be unique (track rows, positions)."""


class EmptySequenceError(InputError):
    """A playlist or session has no tracks."""


class DatasetFormatError(InputError):
    """A saved dataset directory is missing files, has another format version or bad shapes."""


class ModelFormatError(DatasetFormatError):
    """A saved model directory is missing files or has another format or version."""


class OutputExistsError(SongspaceError):
    """The output path exists and overwriting was not requested."""

    def __init__(self, path: str | Path, option: str = "--overwrite"):
        self.path = str(path)
        super().__init__(
            f"output directory {self.path} already exists; songspace never writes into or "
            f"over an existing output. Fix: choose a new path, delete it, or pass {option}"
        )


class OutputIsInputError(SongspaceError):
    """The output path is, or contains, one of the command's inputs."""

    def __init__(self, path: str | Path, source: str | Path):
        self.path = str(path)
        self.source = str(source)
        same = Path(self.path).resolve() == Path(self.source).resolve()
        how = "is the input" if same else "contains the input"
        super().__init__(
            f"output {self.path} {how} {self.source}; writing there would delete what "
            "the command reads. Fix: choose an output path outside every input"
        )


class MissingDependencyError(SongspaceError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the package '{package}', which is not installed. "
            f"Fix: pip install 'songspace[{extra}]'"
        )


class GraphTooLargeError(SongspaceError, MemoryError):
    """A graph would not fit in memory; refused before it is built (the message sizes it)."""

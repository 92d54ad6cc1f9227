"""The songspace exception hierarchy.

Every error songspace raises on purpose is a :class:`SongspaceError`. Messages
say what was expected, what was found, where (file, line or record, field or
parameter) and how to fix it; :class:`InputError` assembles that from keyword
arguments so every reader phrases it the same way.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path


class SongspaceError(Exception):
    """Base class of every error raised by songspace."""


def normalise_fix(fix: str | None) -> str | None:
    """``fix`` as the text that follows ``". Fix: "`` in a message: white space, a leading
    ``Fix:`` (any case, repeated) and trailing full stops removed; None when nothing is left.

    Every error class that takes a ``fix`` passes it through here, so a caller writing
    ``fix="Fix: do X."`` still gives a message with exactly one ``Fix: do X``.
    """
    if fix is None:
        return None
    text = str(fix).strip()
    while text[:4].lower() == "fix:":
        text = text[4:].lstrip()
    text = text.rstrip(". \t\n")
    return text or None


def with_fix(message: str, fix: str | None) -> str:
    """``message`` followed by ``". Fix: <fix>"`` (normalised, see :func:`normalise_fix`)."""
    fix = normalise_fix(fix)
    return message if fix is None else f"{message}. Fix: {fix}"


def describe_json_error(exc: json.JSONDecodeError) -> str:
    """``expected valid JSON, found <what> at line L column C`` for a decode error:
    Python's "Expecting value" reads "found no value", "Unterminated string starting
    at" reads "found unterminated string" (the line and column say where)."""
    what = exc.msg.removesuffix(" starting at").removesuffix(" at").strip()
    if what.startswith("Expecting "):
        what = "no " + what.removeprefix("Expecting ")
    what = what[:1].lower() + what[1:]
    return f"expected valid JSON, found {what} at line {exc.lineno} column {exc.colno}"


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
        self.fix = normalise_fix(fix)
        super().__init__(with_fix(f"parameter `{name}`: expected {constraint}, got {value!r}", fix))


class UpdateNotSupportedError(ParameterError):
    """A model that cannot continue training on new sequences (``songspace update``)."""

    def __init__(self, model: str, reason: str, fix: str):
        super().__init__(
            "model", "a model that can be updated incrementally", f"{model} ({reason})", fix=fix
        )


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
        self.fix = normalise_fix(fix)
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
        super().__init__(with_fix(text, fix))


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
        kind = "file" if Path(path).is_file() else "directory"
        super().__init__(
            f"output {kind} {self.path} already exists; songspace never writes into or "
            f"over an existing output. Fix: choose a new path, delete it, or pass {option}"
        )


class OutputIsInputError(SongspaceError):
    """The output path is, contains (or lies inside) one of the command's inputs."""

    def __init__(self, path: str | Path, source: str | Path):
        self.path = str(path)
        self.source = str(source)
        out = Path(self.path).expanduser().resolve()
        src = Path(self.source).expanduser().resolve()
        if out == src:
            self.how = "is"
        elif out in src.parents:
            self.how = "contains"
        else:
            self.how = "lies inside"
        super().__init__(
            f"output {self.path} {self.how} the input {self.source}; writing there would "
            "delete what the command reads. Fix: choose an output path outside every input"
        )


#: What an operating-system error means and how to fix it, by errno (one place: the
#: CLI's messages and :class:`OutputWriteError` use it).
OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.ENOSPC: (
        "no space left on the device",
        "free disk space, or write the output to another disk",
    ),
    errno.EDQUOT: ("the disk quota is exceeded", "free space, or write the output elsewhere"),
    errno.EFBIG: ("the file is too large for the file system", "write the output elsewhere"),
    errno.EROFS: (
        "the file system is read-only",
        "choose an output path on a writable file system",
    ),
    errno.EACCES: (
        "permission denied",
        "choose a path you may write (or read), or change its permissions",
    ),
    errno.EPERM: ("operation not permitted", "choose another path or change its permissions"),
    errno.ENOTDIR: (
        "a parent of this path is a file, not a directory",
        "choose an output path whose parents are directories",
    ),
    errno.ENOENT: ("no such file or directory", "check the path"),
    errno.EISDIR: ("expected a file, found a directory", "pass the file inside it"),
    errno.ENAMETOOLONG: ("the file name is too long", "choose a shorter path"),
    errno.EMFILE: ("too many open files", "raise the open-file limit (ulimit -n)"),
}

#: Errors only a write gives: raised while an output is written, they are the output's.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})


def describe_os_error(exc: OSError, path: str | Path | None = None) -> str:
    """``PATH: what happened. Fix: ...`` for an operating-system error; ``path`` replaces
    the error's own file name (e.g. the output a temporary file was written for)."""
    where = str(path) if path is not None else exc.filename
    if path is None and exc.filename2 is not None:
        where = f"{exc.filename} -> {exc.filename2}"
    what, fix = OS_ERRORS.get(exc.errno or -1, (exc.strerror or str(exc) or type(exc).__name__, ""))
    return with_fix((f"{where}: " if where is not None else "") + what, fix)


class OutputWriteError(SongspaceError, OSError):
    """Writing an output failed in the operating system (disk full, quota, read-only...).

    The message names the output ``path`` (not the temporary file being written, nor
    nothing, as a bare ``write`` error would): ``out/page.html: no space left on the
    device. Fix: ...``. Still an :class:`OSError` with the cause's ``errno``, so code that
    handles OS errors (a best-effort cache) keeps working.
    """

    def __init__(self, path: str | Path, cause: OSError):
        super().__init__(cause.errno, cause.strerror or str(cause), str(path))
        self.path = str(path)
        self.cause = cause
        self.message = describe_os_error(cause, path)

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[type, tuple[str, OSError]]:
        return (type(self), (self.path, self.cause))


class MissingDependencyError(SongspaceError, ImportError):
    """An optional dependency is not installed."""

    def __init__(self, package: str, extra: str, purpose: str):
        super().__init__(
            f"{purpose} needs the package '{package}', which is not installed. "
            f"Fix: pip install 'songspace[{extra}]'"
        )


class GraphTooLargeError(SongspaceError, MemoryError):
    """A graph would not fit in memory; refused before it is built (the message sizes it)."""

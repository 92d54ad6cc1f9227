"""One-line messages for the errors the command line reports (no traceback).

:func:`error_message` turns a :class:`~songspace.errors.SongspaceError` or an
operating-system error (disk full, read-only output, a parent that is a file,
permission denied, ...) into the sentence the CLI prints; it returns None for
anything else, which :func:`describe_unexpected` reports as one line pointing to
``--verbose``. Messages pass through :func:`redact_text` (``songspace._redact``), so no
secret of a URL (a password, a token in its query) reaches the terminal.
"""

from __future__ import annotations

from songspace._redact import redact_text as redact_text  # re-exported: the CLI's redaction
from songspace.errors import SongspaceError
from songspace.errors import describe_os_error as describe_os_error


def error_message(exc: BaseException) -> str | None:
    """The one-line message for an expected error; None for an unexpected one."""
    if isinstance(exc, SongspaceError):
        text = str(exc)
    elif isinstance(exc, OSError) and exc.errno is not None:
        text = describe_os_error(exc)
    elif isinstance(exc, UnicodeDecodeError):
        text = (
            f"expected UTF-8 text, found the byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start}. Fix: convert the file to UTF-8"
        )
    elif isinstance(exc, MemoryError):
        text = (
            "ran out of memory. Fix: use a smaller dataset or sample, or raise min_weight "
            "(see `songspace info`)"
        )
    else:
        return None
    return redact_text(text)


def describe_unexpected(exc: BaseException) -> str:
    """One line for an error songspace did not expect, pointing to ``--verbose``."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    detail = f": {first}" if first else ""
    return redact_text(
        f"unexpected {type(exc).__name__}{detail}. This is a bug in songspace: run "
        "`songspace --verbose ...` for the traceback and report it"
    )


class RedactingFilter:
    """A logging filter that hides URL secrets in every record it passes."""

    def filter(self, record: object) -> bool:
        import logging

        if isinstance(record, logging.LogRecord):
            text = record.getMessage()
            clean = redact_text(text)
            if clean != text:
                record.msg, record.args = clean, None
        return True

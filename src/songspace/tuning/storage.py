"""Study storage: a SQLite file by default, any RDB URL (PostgreSQL) shared by workers,
or an Optuna journal file (``journal:///path/study.log``, or a path ending in ``.log``)
on a shared filesystem: the no-database way to run many workers on many machines.

Parallel workers should use PostgreSQL or a journal file, not SQLite: Optuna's docs
advise against SQLite for parallel optimisation (one writer at a time, file locking
that network filesystems do not honour).

Optuna's RDB and journal storages record every trial as it starts and ends, so a study
survives a killed process: re-running the same command continues it. Workers
send a heartbeat every ``heartbeat`` seconds; a trial whose worker has been
silent for three heartbeats is marked FAIL by the next worker that starts a
trial (or by ``open_study``), and its parameters are queued again once, so the
study stays usable and no configuration is lost.
"""

from __future__ import annotations

import importlib
import importlib.util
import time
import warnings
from pathlib import Path
from typing import Any

from songspace._optional import optional_import
from songspace._util import redact as redact  # the one redaction, re-exported here
from songspace.errors import MissingDependencyError, ParameterError, SongspaceError
from songspace.tuning.settings import DEFAULT_STORAGE, TuneSettings

JOURNAL_SCHEME = "journal"
#: File suffixes read as journal files when given as a plain path.
JOURNAL_SUFFIXES = (".log", ".journal")


class StorageError(SongspaceError):
    """The study storage could not be opened or used."""


def optuna_module() -> Any:
    """Import Optuna (the ``tune`` extra) and quieten its per-trial logging."""
    optuna = optional_import("optuna", "hyper-parameter tuning")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def storage_url(storage: str | Path | None) -> str:
    """Normalise ``storage``: None -> the default SQLite file; a plain path -> a journal
    URL (``journal:///abs/path``) when it ends in .log or .journal, else a SQLite URL;
    a journal URL's path is made absolute."""
    if storage is None:
        return DEFAULT_STORAGE
    s = str(storage)
    if "://" not in s:
        path = str(Path(s).expanduser().resolve())
        if s.lower().endswith(JOURNAL_SUFFIXES):
            return f"{JOURNAL_SCHEME}:///" + path.lstrip("/")
        return "sqlite:///" + path
    if s.split("://", 1)[0].lower() == JOURNAL_SCHEME:
        rest = s.split("://", 1)[1]
        if not rest.startswith("/") or rest == "/":
            raise ParameterError(
                "storage",
                "a journal URL with a file path, journal:///path/to/study.log",
                s,
                fix="give the file's path after journal:/// (or a plain path ending in .log)",
            )
        path = str(Path(rest).expanduser().resolve())
        return f"{JOURNAL_SCHEME}:///" + path.lstrip("/")
    return s


def journal_file(storage: str | Path | None) -> Path | None:
    """The file of a journal ``storage`` (None for databases)."""
    url = storage_url(storage)
    if url.split("://", 1)[0].lower() != JOURNAL_SCHEME:
        return None
    return Path("/" + url.split(":///", 1)[1])


def storage_file(storage: str | Path | None) -> Path | None:
    """The file holding ``storage`` (SQLite or journal), None for a database server."""
    return sqlite_file(storage) or journal_file(storage)


def sqlite_file(storage: str | Path | None) -> Path | None:
    """The file of a SQLite ``storage`` (None for other databases and in-memory SQLite)."""
    url = storage_url(storage)
    if not url.split("://", 1)[0].lower().startswith("sqlite"):
        return None
    path = _sqlite_path(url)
    return Path(path) if path and path != ":memory:" else None


def _sqlite_path(url: str) -> str:
    """The file part of a SQLite URL: after ``:///``, before the driver options (``?...``)."""
    return url.split(":///", 1)[-1].split("?", 1)[0]


def open_storage(
    storage: str | Path | None = None,
    *,
    heartbeat: float | None = TuneSettings.heartbeat,
    must_exist: bool = False,
) -> Any:
    """An Optuna ``RDBStorage`` for ``storage``, or a ``JournalStorage`` for a journal
    file (see the module docstring).

    Journal storage has no heartbeats (Optuna implements them for RDB storage only):
    a trial whose worker was killed stays RUNNING instead of being failed and retried.

    With ``must_exist`` (readers such as ``tune-report``) a SQLite file that does not
    exist is an error instead of being created empty.

    Raises StorageError (naming the URL, without its password) when the database
    cannot be reached or the URL is malformed, MissingDependencyError when the
    driver is missing.
    """
    optuna = optuna_module()
    url = storage_url(storage)
    scheme = url.split("://", 1)[0].lower()
    engine_kwargs: dict[str, Any] = {}
    if scheme == JOURNAL_SCHEME:
        return _open_journal(optuna, url, must_exist=must_exist)
    if scheme.startswith("sqlite"):
        path = _sqlite_path(url)
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise ParameterError(
                "storage",
                "the directory of the SQLite file exists",
                redact(url),
                fix=f"create {Path(path).parent} first or choose another --storage",
            )
        if must_exist and path and path != ":memory:" and not Path(path).is_file():
            raise ParameterError(
                "storage",
                "an existing SQLite study file",
                redact(url),
                fix="check --storage: pass the file (or URL) that `songspace tune` used",
            )
        engine_kwargs = {"connect_args": {"timeout": 60}}
    elif scheme.startswith("postgresql"):
        # SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3; the `tune` extra
        # installs psycopg2, so name it unless psycopg 3 is there.
        if scheme == "postgresql" and importlib.util.find_spec("psycopg") is None:
            url = "postgresql+psycopg2://" + url.split("://", 1)[1]
            scheme = "postgresql+psycopg2"
        if scheme == "postgresql+psycopg2" and importlib.util.find_spec("psycopg2") is None:
            optional_import("psycopg2", "a PostgreSQL study storage")  # raises: not installed
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    if heartbeat is not None and not heartbeat > 0:
        raise ParameterError("heartbeat", "`heartbeat > 0` seconds", heartbeat)
    kwargs: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna
        if heartbeat is not None:
            retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
            key = "heartbeat_stale_trial_callback"
            if retry is None:  # Optuna < 4.9
                retry, key = optuna.storages.RetryFailedTrialCallback, "failed_trial_callback"
            kwargs = {
                "heartbeat_interval": max(1, round(heartbeat)),
                "grace_period": max(2, round(3 * heartbeat)),
                key: retry(max_retry=1),
            }
        try:
            return _create(optuna, url, engine_kwargs, kwargs)
        except ImportError as exc:
            raise MissingDependencyError(
                getattr(exc, "name", None) or "a database driver",
                "tune",
                f"the storage {redact(url)}",
            ) from exc
        except Exception as exc:  # sqlalchemy's errors (bad URL, refused connection, auth)
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise StorageError(
                f"could not open the study storage {redact(url)}: {reason}. Fix: check the URL "
                "(dialect://user:password@host:port/database), that the server is running and "
                "reachable, and the credentials; or use a SQLite file "
                "(--storage sqlite:///tune.db)"
            ) from exc


def _open_journal(optuna: Any, url: str, *, must_exist: bool) -> Any:
    """JournalStorage over a file: appends under a lock file next to it (a symlink lock,
    which works on NFS), so workers on several machines can share it."""
    path = journal_file(url)
    assert path is not None
    if not path.parent.is_dir():
        raise ParameterError(
            "storage",
            "the directory of the journal file exists",
            url,
            fix=f"create {path.parent} first (on a filesystem every worker mounts)",
        )
    if must_exist and not path.is_file():
        raise ParameterError(
            "storage",
            "an existing journal file",
            url,
            fix="check --storage: pass the file that `songspace tune` used",
        )
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    try:
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise StorageError(
            f"could not open the journal file {path}: {exc.strerror or exc}. Fix: check that "
            "the directory is writable by this user"
        ) from exc


def _create(optuna: Any, url: str, engine_kwargs: dict, kwargs: dict) -> Any:
    """RDBStorage, retried while other workers are creating Optuna's tables at the same time."""
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)
        except Exception as exc:
            text = str(exc).lower()
            racing = ("already exists", "duplicate key", "unique constraint")
            if not any(r in text for r in racing):
                raise
            time.sleep(0.5 * (attempt + 1))
    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)


def fail_stale_trials(study: Any) -> None:
    """Mark trials of dead workers FAIL now (and queue their parameters again once)."""
    optuna = optuna_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)

"""Small shared helpers: atomic output (directories and the one file writer), seeds, JSON
conversion, output-path checks, URL redaction."""

from __future__ import annotations

import contextlib
import io
import itertools
import logging
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

# re-exported: songspace._util.redact / redact_text stay valid
from songspace._redact import (  # noqa: F401
    HIDDEN,
    SECRET_PARAMETERS,
    is_secret_parameter,
    redact,
    redact_text,
)
from songspace.errors import (
    WRITE_ERRNOS,
    OutputExistsError,
    OutputWriteError,
    ParameterError,
    SongspaceError,
)
from songspace.params import Interval, check_param

logger = logging.getLogger(__name__)


def check_seed(seed: int | np.random.Generator | None, name: str = "seed") -> np.random.Generator:
    """A numpy Generator from an int seed, a Generator, or None (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(check_param(name, seed, _SEED))


#: An int seed for :func:`check_seed` (which also takes a Generator or None).
_SEED = Interval(int, 0, None, what="an int >= 0, a numpy Generator or None")


def current_umask() -> int:
    """The process umask (read without changing it where the OS allows)."""
    status = "/proc/self/status"
    with contextlib.suppress(OSError, ValueError), open(status, encoding="ascii") as fh:
        for line in fh:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(path: str | Path) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would have (0666/0777 less the umask).

    ``tempfile.mkstemp``/``mkdtemp`` create 0600 files and 0700 directories; outputs
    renamed from them into place must not stay private when the user's umask says otherwise.
    """
    path = Path(path)
    base = 0o777 if path.is_dir() else 0o666
    os.chmod(path, base & ~current_umask())


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name: str, prefix: str) -> int | None:
    """The pid recorded in a ``.NAME.tmp-<pid>-xxxx`` / ``.NAME.old-<pid>-xxxx`` name."""
    rest = name[len(prefix) :]
    pid, sep, _ = rest.partition("-")
    return int(pid) if sep and pid.isdigit() else None


def recover_output(path: str | Path) -> list[str]:
    """Finish or undo what an interrupted :func:`atomic_directory` left beside ``path``.

    An ``--overwrite`` swap first moves the old output into ``.NAME.old-<pid>-*`` and
    then renames the new ``.NAME.tmp-<pid>-*`` into place. A run killed between the
    two renames leaves ``path`` missing: the previous output is restored. A run killed
    after them leaves the ``.old-*`` copy: it is removed. A ``.tmp-*`` directory of a
    process that no longer runs is half-written or superseded: it is removed. Each
    action is logged as a warning and returned as a sentence.
    """
    path = Path(path)
    parent = path.parent
    actions: list[str] = []
    if not parent.is_dir():
        return actions
    old_prefix, tmp_prefix = f".{path.name}.old-", f".{path.name}.tmp-"
    try:
        entries = sorted(parent.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return actions
    for entry in entries:
        name = entry.name
        if name.startswith(old_prefix):
            pid = _owner_pid(name, old_prefix)
            if pid is None or _pid_alive(pid) or not entry.is_dir():
                continue
            previous = entry / "previous"
            if not path.exists() and previous.exists():
                os.replace(previous, path)
                actions.append(
                    f"restored {path} from {entry.name}, left by an interrupted --overwrite"
                )
            else:
                actions.append(f"removed {entry}, the old copy left by an interrupted --overwrite")
            shutil.rmtree(entry, ignore_errors=True)
        elif name.startswith(tmp_prefix):
            pid = _owner_pid(name, tmp_prefix)
            if pid is None or _pid_alive(pid):
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            actions.append(f"removed {entry}, left half-written by an interrupted run")
    for a in actions:
        logger.warning("%s", a)
    return actions


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; rename it to ``path`` on success.

    If the body raises, the temporary directory is removed and ``path`` is
    untouched, so an interrupted run leaves nothing half-written. With
    ``overwrite`` an existing ``path`` is replaced only after the new content is
    complete. Leftovers of a killed earlier run are restored or cleaned first
    (:func:`recover_output`); the directory gets the umask's mode, not mkdtemp's 0700.
    Files written inside need no atomic writer of their own. A disk-full, quota or
    read-only error while writing becomes :class:`~songspace.errors.OutputWriteError`
    naming ``path``.
    """
    path = Path(path)
    recover_output(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-{pid}-", dir=path.parent))
    try:
        apply_umask(tmp)
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-{pid}-", dir=path.parent))
            os.replace(path, old / "previous")
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if _is_write_failure(exc):
            raise OutputWriteError(path, exc) from exc  # type: ignore[arg-type]
        raise


def _is_write_failure(exc: BaseException) -> bool:
    """An OS error only a write gives (disk full, quota, read-only): the output's fault."""
    return (
        isinstance(exc, OSError)
        and not isinstance(exc, SongspaceError)
        and exc.errno in WRITE_ERRNOS
    )


#: What a writer callback receives: a binary file, or a text one when an encoding is given.
WriteCallback = Callable[[Any], object]


def atomic_write(path: str | Path, write: WriteCallback, *, encoding: str | None = None) -> Path:
    """The one atomic file writer: every final output file of songspace goes through it.

    ``write(fh)`` writes the content into a temporary file beside ``path``
    (``.NAME.tmp-<pid>-*``, which :func:`recover_output` removes if this process is
    killed); the file is flushed and fsynced, given the mode a plain ``open`` would
    give (0666 less the umask, not mkstemp's 0600), and renamed over ``path``. ``fh``
    is binary, or text in ``encoding`` when one is given. Readers see the old file or
    the new one, never a part: if ``write`` raises, the temporary file is removed and
    ``path`` is untouched. An operating-system error (disk full, read-only file system,
    permission denied) becomes :class:`~songspace.errors.OutputWriteError`, naming
    ``path``. ``write`` must only write (an OS error it raises is blamed on ``path``).

    Inside an :func:`atomic_directory` a plain write is enough (the directory is
    renamed as a whole); the typed helpers below are thin wrappers over this one.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{os.getpid()}-", dir=path.parent)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as raw:
            if encoding is None:
                write(raw)
            else:
                text = io.TextIOWrapper(raw, encoding=encoding, newline="")
                write(text)
                text.flush()
                text.detach()
            raw.flush()
            os.fsync(raw.fileno())
        apply_umask(tmp)  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, SongspaceError):
            raise OutputWriteError(path, exc) from exc
        raise
    _fsync_directory(path.parent)
    return path


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort: not every OS or FS allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_write`), UTF-8 by default."""
    return atomic_write(path, lambda fh: fh.write(text), encoding=encoding)


def atomic_write_npz(
    path: str | Path, arrays: Mapping[str, Any], *, compressed: bool = False
) -> Path:
    """Write ``arrays`` as a numpy ``.npz`` (``np.savez``, or ``np.savez_compressed``)
    to ``path`` atomically (:func:`atomic_write`); the name is kept as given."""
    save = np.savez_compressed if compressed else np.savez
    return atomic_write(path, lambda fh: save(fh, **arrays))


def atomic_write_parquet(path: str | Path, table: Any, **options: Any) -> Path:
    """Write the pyarrow ``table`` as Parquet to ``path`` atomically (:func:`atomic_write`);
    ``options`` go to ``pyarrow.parquet.write_table``."""
    import pyarrow.parquet as pq

    return atomic_write(path, lambda fh: pq.write_table(table, fh, **options))


def atomic_write_figure(path: str | Path, figure: Any, **options: Any) -> Path:
    """Save the matplotlib ``figure`` to ``path`` atomically (:func:`atomic_write`); the
    format is the suffix's (``.png`` by default), ``options`` go to ``savefig``."""
    path = Path(path)
    fmt = options.pop("format", None) or path.suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda fh: figure.savefig(fh, format=fmt, **options))


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays, tuples and paths turned into JSON types.

    Mappings get string keys; tuples and arrays become lists. The one JSON conversion
    used wherever songspace writes parameters, results or manifests.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj


def check_output_free(
    path: str | Path,
    *,
    overwrite: bool,
    option: str = "--overwrite",
    inputs: Iterable[str | Path | None] = (),
    inside: bool = False,
) -> Path:
    """``path`` as a Path; OutputExistsError when it exists and ``overwrite`` is False.

    Leftovers of an interrupted earlier write are restored or cleaned first, and
    ``path`` must not be, nor contain, any of ``inputs`` (nor lie inside one, with
    ``inside``; see :func:`check_not_input`).
    """
    path = Path(path)
    check_not_input(path, inputs, inside=inside)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                from songspace.errors import InvalidValueError

                raise InvalidValueError(
                    f"expected the parent {parent} to be a directory, found a file",
                    path=path,
                    fix="choose an output path whose parents are directories",
                )
            break
    recover_output(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path, option=option)
    return path


def check_not_input(
    out: str | Path, inputs: Iterable[str | Path | None], *, inside: bool = False
) -> None:
    """Refuse an output path that is, or contains, one of the command's inputs.

    Writing there (with ``--overwrite``) would delete the input the command reads:
    the dataset, the raw file, the config, the run. With ``inside`` an output lying
    inside an input directory is refused too: for outputs that are one file or a
    directory replaced as a whole (the explorer page, a ``checkpoint_dir``), a path
    such as ``ds/tracks.parquet`` would replace one of the input's own files. Paths
    are compared resolved, so symbolic links and ``..`` do not hide a match. Raises
    OutputIsInputError.
    """
    from songspace.errors import OutputIsInputError

    target = Path(out).expanduser().resolve()
    for item in inputs:
        if item is None or not isinstance(item, str | os.PathLike):
            continue
        src = Path(item).expanduser().resolve()
        if src == target or target in src.parents or (inside and src in target.parents):
            raise OutputIsInputError(out, item)


_W2V_UNSAFE = re.compile(r"[%\s]")


def w2v_token(track_id: object) -> str:
    """``track_id`` as one Word2Vec-text token: ``%`` and white space percent-encoded.

    The Word2Vec text format separates the word from its vector by a space, so an
    id such as Last.fm's ``artist<TAB>title`` cannot be written as it is. Each ``%``
    and each white-space character becomes its UTF-8 bytes as ``%XX`` (``" "`` ->
    ``%20``, tab -> ``%09``, ``%`` -> ``%25``); other ids are written unchanged, and
    ``urllib.parse.unquote`` (:func:`w2v_track_id`) gives the id back.
    """
    from urllib.parse import quote

    return _W2V_UNSAFE.sub(lambda m: quote(m.group(), safe=""), str(track_id))


#: Keys of the track ids stored beside vectors in an ``embeddings.npz``
#: (:func:`pack_ids`): the UTF-8 bytes of all ids, and where each one starts.
ID_BYTES, ID_OFFSETS = "track_id_bytes", "track_id_offsets"


def pack_ids(ids: Iterable[object]) -> dict[str, np.ndarray]:
    """Track ids as two numeric arrays (no pickle, compact for any id length):
    ``track_id_bytes`` (uint8, the ids' UTF-8 bytes one after another) and
    ``track_id_offsets`` (int64, n + 1 boundaries). :func:`unpack_ids` reverses it."""
    encoded = [str(t).encode("utf-8") for t in ids]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return {
        ID_BYTES: np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(),
        ID_OFFSETS: offsets,
    }


def unpack_ids(data: np.ndarray, offsets: np.ndarray) -> list[str]:
    """The ids :func:`pack_ids` packed; ValueError when the arrays do not fit together."""
    data, offsets = np.asarray(data), np.asarray(offsets)
    if (
        data.dtype != np.uint8
        or offsets.ndim != 1
        or offsets.dtype.kind not in "iu"
        or len(offsets) == 0
        or offsets[0] != 0
        or offsets[-1] != len(data)
        or np.any(np.diff(offsets) < 0)
    ):
        raise ValueError("track id arrays that do not fit together")
    raw = data.tobytes()
    bounds = offsets.tolist()
    return [raw[a:b].decode("utf-8") for a, b in itertools.pairwise(bounds)]


#: Rows normalised per block by :func:`unit_rows` (bounds its float64 temporaries).
_UNIT_ROWS_BLOCK = 1 << 16


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 length (zero rows stay zero), float32, C-contiguous.

    Safe for any finite magnitude: each row is divided by its largest absolute value
    first and the norm is taken in float64, so vectors near the float32 limit (1e37)
    neither overflow the norm nor warn, and a row scaled by any factor gives the same
    unit vector. The one L2 normalisation of evaluation and serving."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ParameterError("vectors", "a 2-D matrix (rows x dimensions)", x.shape)
    out = np.zeros(x.shape, dtype=np.float32)
    if x.shape[1] == 0:
        return out
    for lo in range(0, len(x), _UNIT_ROWS_BLOCK):
        block = np.asarray(x[lo : lo + _UNIT_ROWS_BLOCK], dtype=np.float64)
        peak = np.abs(block).max(axis=1, keepdims=True)
        block = np.divide(block, peak, out=np.zeros_like(block), where=peak > 0)
        norms = np.sqrt(np.einsum("ij,ij->i", block, block))[:, None]
        np.divide(block, norms, out=block, where=norms > 0)
        out[lo : lo + len(block)] = block
    return out


def w2v_track_id(token: str) -> str:
    """The track id of a :func:`w2v_token` (``urllib.parse.unquote``)."""
    from urllib.parse import unquote

    return unquote(token)


_SAFE_STEM = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}")


def check_file_stem(name: object, *, what: str, path: str | Path | None = None) -> str:
    """``name`` when it is safe as one file name (no separator, no ``..``); else an error.

    Names that become file names (feature groups' ``features/<name>.parquet``) come
    from manifests a user may have edited or crafted: a ``/`` or ``..`` would read
    or write outside the directory.
    """
    from songspace.errors import DatasetFormatError

    if not isinstance(name, str) or not _SAFE_STEM.fullmatch(name) or ".." in name:
        raise DatasetFormatError(
            f"expected a {what} name of letters, digits, '_', '-' and '.' (not starting "
            f"with '.', no '..', at most 128 characters), found {name!r}",
            path=path,
            fix=f"rename the {what}; a name must not point outside the directory",
        )
    return name


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()

"""Issue 27, items 16 and 21: the one atomic file writer (``songspace._util.atomic_write``).

Every final output file goes through it: a temporary file beside the target, fsync,
the mode a plain ``open`` gives under the umask, a rename. A failed write leaves the
old file and no temporary one; an operating-system error names the output path.
"""

from __future__ import annotations

import ast
import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from songspace import _util, errors
from songspace._util import atomic_directory, atomic_write_text
from songspace.clierrors import error_message
from songspace.errors import SongspaceError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask():
    """Set the process umask for one test (restored after)."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    return fig


def write_each_kind(d: Path) -> dict[str, Path]:
    """One file per typed writer; returns them by kind."""
    import pyarrow as pa

    out = {
        "bytes": d / "a.bin",
        "text": d / "a.txt",
        "npz": d / "a.npz",
        "parquet": d / "a.parquet",
        "figure": d / "a.png",
        "callback": d / "a.csv",
    }
    _util.atomic_write_bytes(out["bytes"], b"\x00\x01")
    atomic_write_text(out["text"], "x\n")
    _util.atomic_write_npz(out["npz"], {"x": np.arange(3)})
    _util.atomic_write_parquet(out["parquet"], pa.table({"a": [1, 2]}))
    _util.atomic_write_figure(out["figure"], _figure())
    _util.atomic_write(out["callback"], lambda fh: fh.write("a,b\n"), encoding="utf-8")
    return out


@pytest.mark.parametrize(("mask", "want"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_every_atomic_writer_gives_the_umask_mode(tmp_path, umask, mask, want):
    umask(mask)
    for kind, path in write_each_kind(tmp_path).items():
        assert mode(path) == want, kind
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["a.bin", "a.txt", "a.npz", "a.parquet", "a.png", "a.csv"]
    )  # no temporary file left


def test_the_typed_writers_write_what_they_are_given(tmp_path):
    import pyarrow.parquet as pq

    out = write_each_kind(tmp_path)
    assert out["bytes"].read_bytes() == b"\x00\x01"
    assert out["text"].read_text() == "x\n"
    with np.load(out["npz"]) as z:
        assert z["x"].tolist() == [0, 1, 2]
    assert pq.read_table(out["parquet"]).column("a").to_pylist() == [1, 2]
    assert out["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["callback"].read_text() == "a,b\n"
    _util.atomic_write_npz(tmp_path / "c.npz", {"x": np.zeros(100)}, compressed=True)
    assert (tmp_path / "c.npz").stat().st_size < out["npz"].stat().st_size + 200


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    atomic_write_text(path, "old")

    def half(fh):
        fh.write(b"partial")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        _util.atomic_write(path, half)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


class _FullDisk:
    """A file object whose writes fail as on a full disk (no file name, as the OS gives)."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def test_disk_full_names_the_output_path(tmp_path, monkeypatch):
    """Item 21: an ENOSPC during a write reaches the user with the path it was writing."""
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda *a, **k: _FullDisk(real_fdopen(*a, **k)))
    path = tmp_path / "out" / "page.html"
    with pytest.raises(SongspaceError) as info:
        atomic_write_text(path, "x" * 100)
    exc = info.value
    assert isinstance(exc, errors.OutputWriteError) and isinstance(exc, OSError)
    assert exc.errno == errno.ENOSPC
    msg = error_message(exc)
    assert msg is not None
    assert f"{path}: no space left on the device" in msg and "Fix: free disk space" in msg
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_disk_full_inside_an_output_directory_names_it(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(errors.OutputWriteError) as info, atomic_directory(out):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert f"{out}: no space left on the device" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_read_error_inside_an_output_directory_is_not_blamed_on_it(tmp_path):
    # a missing input read while writing is not a write failure of the output
    with pytest.raises(FileNotFoundError), atomic_directory(tmp_path / "run"):
        (tmp_path / "missing").read_text()


def test_the_writer_fsyncs_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd)))
    atomic_write_text(tmp_path / "a", "x")
    assert calls  # the data reached the disk before the rename made it visible


def test_no_second_writer_in_the_library():
    """Final outputs go through the one writer: no mkstemp / chmod of outputs elsewhere."""
    src = Path(_util.__file__).parent
    offenders = []
    for path in src.rglob("*.py"):
        if path.name == "_util.py":
            continue
        text = path.read_text()
        for needle in ("mkstemp(", "NamedTemporaryFile(", "os.chmod("):
            if needle in text:
                offenders.append(f"{path.relative_to(src)}: {needle}")
    assert offenders == []


# ------------------------------------------------------- every writer is the atomic one
#: Methods that write a file named by their first argument (numpy, scipy, pandas,
#: matplotlib, an ndarray); ``pq.write_table`` names it second, ``torch.save`` second.
_WRITE_METHODS = {
    "savez",
    "savez_compressed",
    "savetxt",
    "save_npz",
    "to_parquet",
    "to_csv",
    "to_json",
    "to_feather",
    "to_pickle",
    "tofile",
    "savefig",
}
_COPIES = {"copy", "copy2", "copyfile", "copytree", "move"}
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC")
#: ``with X(...) as d``: files under ``d`` need no writer of their own. An
#: ``atomic_directory`` is renamed into place as a whole once complete; a
#: ``TemporaryDirectory`` holds scratch files that are removed, never outputs.
_WHOLE_DIRECTORIES = ("atomic_directory", "TemporaryDirectory")

#: The writes that do not go through ``atomic_write``: (file, function) -> why.
NOT_ATOMIC = {
    ("serving/store.py", "append"): "the added-tracks journal: an O_APPEND write and "
    "fsync per POST (a rename would rewrite the whole journal); a torn tail is cut at "
    "start (docs/reliability.md, the service's store)",
    ("serving/store.py", "read"): "cuts a torn last record of that journal in place "
    "(truncate + fsync)",
    ("serving/store.py", "_claim"): "the journal's lock file, created empty and flocked",
    ("graph/spark.py", "_stage_entries"): "scratch Parquet in build_tables_spark's "
    "TemporaryDirectory (passed in), read by Spark, removed",
    ("graph/spark.py", "_read_back"): "Spark's result in that scratch folder, read back "
    "and removed",
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{_dotted(node.func)}()"
    return "?"


def _names(node: ast.AST | None) -> set[str]:
    return set() if node is None else {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _arg(call: ast.Call, i: int, *keywords: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg in keywords:
            return k.value
    return call.args[i] if len(call.args) > i else None


def _writes_mode(mode: ast.expr | None) -> bool:
    return isinstance(mode, ast.Constant) and bool(set(str(mode.value)) & set("wax+"))


def _write_target(call: ast.Call) -> ast.expr | None:
    """The path (or file object) a call writes to, or None when it writes no file."""
    f, name = call.func, _dotted(call.func)
    head, last = name.split(".")[0], name.rsplit(".", 1)[-1]
    if isinstance(f, ast.Name) and f.id == "open":
        mode = _arg(call, 1, "mode")
        # a mode that is no literal may write: counted
        writes = mode is not None and (_writes_mode(mode) or not isinstance(mode, ast.Constant))
        return _arg(call, 0, "file") if writes else None
    if name == "os.open":
        flags = ast.unparse(_arg(call, 1, "flags") or ast.Constant(0))
        literal = all(p.strip().startswith("os.O_") for p in flags.split("|"))
        writes = any(x in flags for x in _WRITE_FLAGS) or not literal
        return _arg(call, 0, "path") if writes else None
    if not isinstance(f, ast.Attribute):
        return None
    if last == "open":  # Path.open(mode)
        return f.value if _writes_mode(_arg(call, 0, "mode")) else None
    if last in ("write_text", "write_bytes"):
        return f.value
    if last == "save" and head in ("np", "numpy"):
        return _arg(call, 0, "file")
    if last == "save" and head == "torch":
        return _arg(call, 1, "f")
    if last == "write_table":
        return _arg(call, 1, "where")
    if last == "parquet" and ".write" in name:  # Spark's DataFrameWriter
        return _arg(call, 0, "path")
    if last in _WRITE_METHODS:
        return _arg(call, 0, "file", "fname", "path", "path_or_buf", "fid")
    if head == "shutil" and last in _COPIES:
        return _arg(call, 1, "dst")
    return None


class _Writes(ast.NodeVisitor):
    """Writes whose target is neither under a whole directory (``_WHOLE_DIRECTORIES``,
    followed through assignments such as ``d = tmp / "x"``) nor the file object
    ``atomic_write`` hands its callback (a lambda, or a local function passed by name)."""

    def __init__(self, tree: ast.AST) -> None:
        self.callbacks = {
            a.id
            for c in ast.walk(tree)
            if isinstance(c, ast.Call)
            and _dotted(c.func).rsplit(".", 1)[-1].startswith("atomic_write")
            for a in c.args
            if isinstance(a, ast.Name)
        }
        self.scopes: list[set[str]] = [set()]
        self.functions = ["<module>"]
        self.lambdas: set[int] = set()
        self.found: list[tuple[str, int, str]] = []
        self.visit(tree)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        inside = set(self.scopes[-1])
        if node.name in self.callbacks and node.args.args:
            inside.add(node.args.args[0].arg)
        self.scopes.append(inside)
        self.functions.append(node.name)
        self.generic_visit(node)
        self.scopes.pop()
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        inside = set(self.scopes[-1])
        if id(node) in self.lambdas:
            inside |= {a.arg for a in node.args.args}
        self.scopes.append(inside)
        self.generic_visit(node)
        self.scopes.pop()

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            c = item.context_expr
            if (
                isinstance(c, ast.Call)
                and _dotted(c.func).endswith(_WHOLE_DIRECTORIES)
                and isinstance(item.optional_vars, ast.Name)
            ):
                self.scopes[-1].add(item.optional_vars.id)
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        if _names(node.value) & self.scopes[-1]:
            for target in node.targets:
                self.scopes[-1] |= _names(target)

    def visit_Call(self, node: ast.Call) -> None:
        if _dotted(node.func).rsplit(".", 1)[-1].startswith("atomic_write"):
            self.lambdas |= {id(a) for a in node.args if isinstance(a, ast.Lambda)}
        target = _write_target(node)
        if target is not None and not _names(target) & self.scopes[-1]:
            self.found.append((self.functions[-1], node.lineno, ast.unparse(node)[:80]))
        self.generic_visit(node)


def _direct_writes(source: str) -> list[tuple[str, int, str]]:
    return _Writes(ast.parse(source)).found


def test_the_writer_check_finds_direct_writes_and_passes_atomic_ones():
    offenders = """
def f(out, fig, df, table, arrays):
    Path(out).write_text("x")
    np.savez(out / "a.npz", **arrays)
    df.to_parquet(out)
    pq.write_table(table, out)
    fig.savefig(out)
    with open(out, "a") as fh:
        fh.write("x")
    os.open(out, os.O_WRONLY | os.O_CREAT)
"""
    assert [line for _, line, _ in _direct_writes(offenders)] == [3, 4, 5, 6, 7, 8, 10]
    fine = """
def f(out, fig, df, arrays):
    with atomic_directory(out) as tmp:
        d = tmp / "tables"
        (d / "a.md").write_text("x")
        np.savez(tmp / "a.npz", **arrays)
    with tempfile.TemporaryDirectory() as scratch:
        df.to_parquet(Path(scratch) / "a.parquet")
    atomic_write(out, lambda fh: fig.savefig(fh, format="png"))

    def write(fh):
        np.savetxt(fh, arrays["x"])

    atomic_write(out, write, encoding="utf-8")
    with open(out) as fh, open(out, "rb") as raw:
        pass
    os.open(out, os.O_RDONLY)
"""
    assert _direct_writes(fine) == []


def test_every_file_writer_goes_through_the_atomic_writer():
    """No module but _util.py writes a file itself (open for writing, np.save*, Parquet,
    savefig, write_text...), except inside an atomic or scratch directory and the few
    reasoned cases of NOT_ATOMIC; each of those is still there."""
    src = Path(_util.__file__).parent
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(src.rglob("*.py")):
        rel = str(path.relative_to(src))
        if rel == "_util.py":
            continue
        for function, line, text in _direct_writes(path.read_text()):
            found.setdefault((rel, function), []).append(f"{rel}:{line}: {text}")
    unexplained = [w for key, writes in found.items() if key not in NOT_ATOMIC for w in writes]
    assert unexplained == [], "write through songspace._util.atomic_write:\n" + "\n".join(
        unexplained
    )
    assert set(NOT_ATOMIC) - set(found) == set(), "stale NOT_ATOMIC entries"


# ---------------------------------------------------------------- the explorer's outputs
@pytest.fixture(scope="module")
def explore_world(tmp_path_factory):
    """A saved synthetic dataset and a run directory holding random embeddings (by id)."""
    from songspace._util import pack_ids
    from songspace.data.synthetic import generate

    root = tmp_path_factory.mktemp("explore-out")
    ds = generate(n_playlists=120, n_tracks=150, seed=4)
    ds.save(root / "data")
    run = root / "run"
    run.mkdir()
    vectors = np.random.default_rng(0).normal(size=(ds.n_tracks, 8)).astype(np.float32)
    np.savez(
        run / "embeddings.npz",
        embeddings=vectors,
        available=np.ones(ds.n_tracks, bool),
        **pack_ids(ds.track_ids),
    )
    return root


def explore(world: Path, out: Path, **kw):
    from songspace.reports.explore import run_explore

    return run_explore([world / "run"], world / "data", out, method="pca", k=3, **kw)


def snapshot(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("mask", "want"), [(0o022, 0o644), (0o077, 0o600)])
def test_the_explore_page_and_parquet_follow_the_umask(explore_world, tmp_path, umask, mask, want):
    """Item 16: the page was always 0644, so a private catalogue became world-readable."""
    umask(mask)
    res = explore(explore_world, tmp_path / "page.html", parquet=tmp_path / "atlas.parquet")
    assert mode(res.path) == want and mode(tmp_path / "atlas.parquet") == want
    cache = next((explore_world / "run" / "explore").glob("pca-*.npz"))
    assert cache.is_file()


@pytest.mark.parametrize(("mask", "want"), [(0o022, 0o644), (0o077, 0o600)])
def test_the_serving_index_files_follow_the_umask(tmp_path, umask, mask, want):
    """Item 16: the index cache was always 0600, unreadable by another user of the run."""
    pytest.importorskip("faiss", reason="the serving index needs faiss (extra `fast`)")
    from songspace.serving.index import load_or_build

    umask(mask)
    x = np.random.default_rng(1).normal(size=(60, 8)).astype(np.float32)
    load_or_build(x, tmp_path / "serving", source_digest="abc", kind="exact")
    files = sorted((tmp_path / "serving").iterdir())
    assert [p.name for p in files] == ["index-exact.faiss", "index-exact.json"]
    assert [mode(p) for p in files] == [want, want]


def test_explore_refuses_to_write_over_the_dataset_even_with_overwrite(explore_world):
    """Item 11: `explore RUN --data ds -o ds/tracks.parquet` wrote HTML over the dataset."""
    from songspace.errors import OutputIsInputError

    before = snapshot(explore_world / "data")
    with pytest.raises(OutputIsInputError, match="lies inside the input"):
        explore(explore_world, explore_world / "data" / "tracks.parquet", overwrite=True)
    with pytest.raises(OutputIsInputError):
        explore(explore_world, explore_world / "data", overwrite=True)
    assert snapshot(explore_world / "data") == before


def test_explore_refuses_a_parquet_export_over_the_run(explore_world, tmp_path):
    """Item 11: `--parquet runs/x/embeddings.npz` replaced the embeddings."""
    from songspace.errors import OutputIsInputError

    before = snapshot(explore_world / "run")
    for target in (explore_world / "run" / "embeddings.npz", explore_world / "data" / "x.pq"):
        with pytest.raises(OutputIsInputError):
            explore(explore_world, tmp_path / "page.html", parquet=target, overwrite=True)
    assert snapshot(explore_world / "run") == before
    assert not (tmp_path / "page.html").exists()  # refused before anything was written


def test_explore_refuses_existing_outputs_without_overwrite(explore_world, tmp_path):
    from songspace.errors import OutputExistsError, ParameterError

    page, atlas = tmp_path / "page.html", tmp_path / "atlas.parquet"
    explore(explore_world, page)
    first = page.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        explore(explore_world, page)
    atlas.write_bytes(b"mine")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        explore(explore_world, tmp_path / "new.html", parquet=atlas)
    assert atlas.read_bytes() == b"mine" and not (tmp_path / "new.html").exists()
    with pytest.raises(ParameterError, match="two different paths"):
        explore(explore_world, page, parquet=page, overwrite=True)
    assert page.read_bytes() == first
    explore(explore_world, page, parquet=atlas, overwrite=True)
    assert atlas.read_bytes()[:4] == b"PAR1"


def test_cli_explore_over_the_dataset_exits_1_and_keeps_it(explore_world, tmp_path):
    from typer.testing import CliRunner

    from songspace.cli import app

    data, run = explore_world / "data", explore_world / "run"
    before = snapshot(data)
    base = ["--no-progress", "explore", str(run), "--data", str(data), "--method", "pca"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "songspace",
            *base,
            "-o",
            str(data / "tracks.parquet"),
            "--overwrite",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 1, res.stderr
    err = " ".join(res.stderr.split())
    assert "lies inside the input" in err and "Traceback" not in err
    assert snapshot(data) == before
    runner = CliRunner()
    page = tmp_path / "p.html"
    assert runner.invoke(app, [*base, "-o", str(page)]).exit_code == 0
    res = runner.invoke(app, [*base, "-o", str(page)])
    assert isinstance(res.exception, errors.OutputExistsError)
    assert f"output file {page} already exists" in str(res.exception)
    assert runner.invoke(app, [*base, "-o", str(page), "--overwrite"]).exit_code == 0

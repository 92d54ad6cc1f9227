"""Issue 27, items 16 and 21: the one atomic file writer (``songspace._util.atomic_write``).

Every final output file goes through it: a temporary file beside the target, fsync,
the mode a plain ``open`` gives under the umask, a rename. A failed write leaves the
old file and no temporary one; an operating-system error names the output path.
"""

from __future__ import annotations

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

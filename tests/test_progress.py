"""The progress protocol's helpers and the CLI's rich adapter."""

import io

import numpy as np
import pytest
from rich.console import Console
from typer.testing import CliRunner

from songspace._cli_progress import RichBar, RichProgress
from songspace.cli import app
from songspace.errors import OutputExistsError
from songspace.progress import EpochProgressCallback, epoch_hook, labelled, track


def test_track_reports_each_item_and_the_total():
    calls = []
    got = list(track(["a", "b", "c"], lambda *a: calls.append(a), "reading"))
    assert got == ["a", "b", "c"]
    assert calls == [(0, 3, "reading"), (1, 3, "reading"), (2, 3, "reading"), (3, 3, "reading")]
    calls.clear()
    assert list(track(iter([1, 2]), lambda *a: calls.append(a), "chunks")) == [1, 2]
    assert [c[1] for c in calls] == [0, 0, 0]  # unknown size
    assert list(track(iter([1]), None, "x")) == [1]


def test_callback_exception_stops_the_iteration():
    def stop(done, total, message):
        if done == 2:
            raise RuntimeError("budget")

    seen = []
    with pytest.raises(RuntimeError, match="budget"):
        for item in track(range(5), stop, "work"):
            seen.append(item)
    assert seen == [0, 1]


def test_labelled():
    calls = []
    cb = labelled(lambda *a: calls.append(a), "musig")
    cb(1, 4, "epoch 1")
    cb(2, 4, "")
    assert calls == [(1, 4, "musig: epoch 1"), (2, 4, "musig")]
    assert labelled(None, "x") is None


def _tasks(bars: RichProgress):
    return bars._progress.tasks


def test_rich_adapter_one_bar_restarted_when_the_work_starts_over():
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with RichProgress(console) as bars:
        bar = bars.callback("train")
        assert isinstance(bar, RichBar)
        bar(0, 10, "epoch 0")
        bar(4, 10, "epoch 4")
        (task,) = _tasks(bars)
        assert (task.completed, task.total, task.description) == (4, 10, "train: epoch 4")
        first = task.id
        bar(1, 3, "nearest neighbours")  # a new stage: a fresh task, its own ETA
        (task,) = _tasks(bars)
        assert task.id != first and (task.completed, task.total) == (1, 3)
        bar(2, 0, "[reading] x.csv")  # unknown size; markup is shown verbatim
        (task,) = _tasks(bars)
        assert task.total is None and task.description == r"train: \[reading] x.csv"
        bar.relabel("musig")
        bar(3, 0, "more")
        assert _tasks(bars)[0].description == "musig: more"
    disabled = RichProgress(console, enabled=False)
    with disabled:
        assert disabled.callback("x") is None


def test_cli_passes_a_callback_or_none(monkeypatch, tmp_path):
    import songspace.data.prepare as prep

    seen = {}

    def fake(path, *, out, gap_minutes, overwrite, progress):
        seen["progress"] = progress
        raise OutputExistsError(out)

    monkeypatch.setattr(prep, "prepare_lastfm", fake)
    runner = CliRunner()
    res = runner.invoke(app, ["prepare", "lastfm", "x.tsv", "-o", str(tmp_path)])
    assert isinstance(res.exception, OutputExistsError)
    assert isinstance(seen["progress"], RichBar)
    runner.invoke(app, ["--no-progress", "prepare", "lastfm", "x.tsv", "-o", str(tmp_path)])
    assert seen["progress"] is None
    runner.invoke(app, ["--quiet", "prepare", "lastfm", "x.tsv", "-o", str(tmp_path)])
    assert seen["progress"] is None


class _WithEpochs:
    """A progress callback that declares the epoch hook."""

    def __init__(self):
        self.epochs = []

    def __call__(self, done, total, message, /):
        pass

    def epoch_end(self, epoch, embeddings, available):
        self.epochs.append((epoch, embeddings.shape, int(available.sum())))


def test_epoch_hook_is_the_declared_epoch_end_of_the_callback():
    callback = _WithEpochs()
    assert isinstance(callback, EpochProgressCallback)
    hook = epoch_hook(callback)
    assert hook is not None
    hook(2, np.zeros((3, 4)), np.array([True, False, True]))
    assert callback.epochs == [(2, (3, 4), 2)]


def test_a_callback_without_epoch_end_has_no_epoch_hook():
    assert epoch_hook(None) is None
    assert epoch_hook(lambda done, total, message: None) is None
    assert not isinstance(lambda done, total, message: None, EpochProgressCallback)

    class NotAProgressCallback:  # epoch_end alone does not make a progress callback
        def epoch_end(self, epoch, embeddings, available):
            pass

    assert epoch_hook(NotAProgressCallback()) is None  # type: ignore[arg-type]

"""GraphSAGE's and MUSIG's ``checkpoint_dir``: where a checkpoint may be written
(:func:`check_checkpoint_dir`) and how (:func:`write_checkpoint`: the best weights so far,
``encoder.npz``, beside the marker ``checkpoint.json``, replacing the directory
atomically)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from songspace._util import atomic_directory, check_not_input
from songspace.errors import OutputIsInputError, ParameterError

#: What a ``checkpoint_dir`` holds: the marker (model, epoch, loss) and the weights.
CHECKPOINT_MARKER, CHECKPOINT_WEIGHTS = "checkpoint.json", "encoder.npz"
CHECKPOINT_FORMAT = "songspace-checkpoint"


def _checkpoint_of(path: Path) -> str | None:
    """The model name of the checkpoint in ``path`` (``checkpoint.json``: ``model`` and
    ``epoch``, and ``format`` since issue 27); None when it holds none."""
    try:
        doc = json.loads((path / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str) or "epoch" not in doc:
        return None
    if doc.get("format", CHECKPOINT_FORMAT) != CHECKPOINT_FORMAT:
        return None
    return doc["model"]


def check_checkpoint_dir(
    path: str | Path, model: str, inputs: Iterable[str | Path | None] = ()
) -> Path:
    """``path`` as a Path when a checkpoint of ``model`` may be written there; else a
    ParameterError on ``checkpoint_dir``.

    A checkpoint replaces its directory as a whole (:func:`atomic_directory`), so the
    directory must be new, empty, or hold only a previous checkpoint of the same model
    (``checkpoint.json`` naming it, and ``encoder.npz``). It must not be, contain or lie
    inside one of ``inputs`` (the command's dataset, config and output): the model does
    not know them, the command passes them (:meth:`GraphSAGE.check_write_paths
    <songspace.models.graphsage.GraphSAGE.check_write_paths>`).
    """
    path = Path(path)
    try:
        check_not_input(path, inputs, inside=True)
    except OutputIsInputError as exc:
        raise ParameterError(
            "checkpoint_dir",
            "a directory outside the command's inputs and output",
            str(path),
            fix=f"it {exc.how} {exc.source} (an input or the output of this command), which "
            "the checkpoint would replace or write into; choose a checkpoint_dir outside it",
        ) from None
    if not path.exists():
        return path
    expected = (
        f"a new or empty directory, or one holding only a previous {model} checkpoint "
        f"({CHECKPOINT_MARKER}, {CHECKPOINT_WEIGHTS}), since a checkpoint replaces its directory"
    )
    fix = "choose a new checkpoint_dir"
    if not path.is_dir():
        raise ParameterError("checkpoint_dir", expected, f"{path} (found a file)", fix=fix)
    names = sorted(p.name for p in path.iterdir())
    if not names:
        return path
    owner = _checkpoint_of(path)
    if owner == model and set(names) <= {CHECKPOINT_MARKER, CHECKPOINT_WEIGHTS}:
        return path
    if owner is not None and owner != model:
        found = f"{path} (a checkpoint of {owner})"
        raise ParameterError(
            "checkpoint_dir",
            expected,
            found,
            fix=f"{fix}: it holds a checkpoint of {owner}, not {model}",
        )
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    raise ParameterError("checkpoint_dir", expected, f"{path} (holding {shown})", fix=fix)


def write_checkpoint(
    checkpoint_dir: str | Path, model: str, encoder: Any, epoch: int, metric: float
) -> None:
    """Replace ``checkpoint_dir`` with ``encoder``'s weights after ``epoch`` (validation
    loss ``metric``) of a run of ``model``; ParameterError when the directory no longer
    holds only a checkpoint of ``model`` (:func:`check_checkpoint_dir`)."""
    state = {k: v.detach().cpu().numpy() for k, v in encoder.state_dict().items()}
    path = check_checkpoint_dir(checkpoint_dir, model)  # still ours to replace
    doc = {"format": CHECKPOINT_FORMAT, "model": model, "epoch": epoch}
    with atomic_directory(path, overwrite=True) as tmp:
        np.savez(tmp / CHECKPOINT_WEIGHTS, **state)
        (tmp / CHECKPOINT_MARKER).write_text(json.dumps({**doc, "validation_loss": metric}) + "\n")

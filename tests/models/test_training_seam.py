"""The training seam: ``fit_with`` runs a given loop, and the steps of a training run
(``songspace.models.run``) compose without ``train`` and ``distributed`` importing each
other or a model's ``_fit`` being overridden (issue 29, part 5)."""

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import songspace.models.distributed as distributed
import songspace.models.train as train
from songspace.models import create
from songspace.testing import planted_dataset

MODELS = Path(train.__file__).parent


def test_fit_with_runs_the_given_loop_and_stores_what_it_returns():
    ds = planted_dataset()
    model = create("track2vec", {})
    d = int(model.dim)
    emb = np.arange(ds.n_tracks * d, dtype=np.float64).reshape(ds.n_tracks, d)
    available = np.arange(ds.n_tracks) % 3 != 0
    calls = []

    def loop(dataset, progress, /):
        calls.append((dataset, progress))
        return emb, available

    def progress(done, total, message, /):
        pass

    assert model.fit_with(loop, ds, progress=progress) is model
    assert calls == [(ds, progress)]
    assert model.embeddings_.dtype == np.float32 and model.n_tracks_ == ds.n_tracks
    # the model's own bookkeeping around the loop: unavailable rows zeroed, time measured
    np.testing.assert_array_equal(model.embeddings_[available], emb[available])
    assert not model.embeddings_[~available].any()
    np.testing.assert_array_equal(model.available_, available)
    assert model.training_time_ >= 0
    assert "_fit" not in vars(model)
    with pytest.raises(RuntimeError, match="misaligned"):
        model.fit_with(lambda d, p, /: (emb[1:], available[1:]), ds)


def test_fit_with_validates_parameters_before_running_the_loop():
    from songspace.errors import ParameterError

    model = create("track2vec", {})
    model.dim = -1
    with pytest.raises(ParameterError):
        model.fit_with(lambda d, p, /: pytest.fail("the loop ran"), planted_dataset())


def _imports(module) -> set[str]:
    tree = ast.parse(inspect.getsource(module))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_train_and_distributed_do_not_import_each_other():
    import songspace.models.run as run

    assert "songspace.models.train" not in _imports(distributed)
    assert not {"songspace.models.train", "songspace.models.distributed"} & _imports(run)


def test_train_model_has_no_data_parallel_only_parameters():
    params = inspect.signature(train.train_model).parameters
    assert "fitter" not in params and "check_output" not in params


def test_no_model_fit_is_overridden_on_an_instance_nor_a_signature_patched():
    paths = sorted(MODELS.rglob("*.py"))
    assert MODELS / "graphsage" / "loop.py" in paths  # the subpackages are searched too
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert "._fit = " not in text and "__init__.__signature__" not in text, path

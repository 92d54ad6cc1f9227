"""Issue 12 item 4: the model cache checks what it finds, warns and retrains on any fault."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from songspace.data.fingerprint import dataset_fingerprint
from songspace.data.synthetic import generate
from songspace.reports.cache import fit_or_load, full_params, split_key

T2V = {"dim": 25, "epochs": 1, "window": 3}
SAGE = {"dim": 16, "hidden": 32, "epochs": 1, "batch_size": 64, "fanouts": (6, 4)}


@pytest.fixture(scope="module")
def ds():
    return generate(200, 300, seed=0)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def fit(ds, cache, name="track2vec", params=None, data=None):
    train = data if data is not None else ds
    return fit_or_load(
        name,
        full_params(name, params if params is not None else T2V, 0),
        train,
        cache,
        dataset_fingerprint(ds),
        split_key(0, (0.8, 0.1, 0.1)),
        label="m",
    )


def retrained_with_warning(ds, cache, caplog, reason, **kw):
    """The next fit_or_load warns (naming the entry and ``reason``) and retrains; the
    entry it writes is reused by the run after."""
    with caplog.at_level(logging.WARNING, logger="songspace"):
        caplog.clear()
        model, entry = fit(ds, cache, **kw)
    assert not entry.reused
    text = " ".join(caplog.text.split())
    assert entry.path.name in text and "unusable" in text and "retraining" in text, text
    assert reason in text, text
    again, entry2 = fit(ds, cache, **kw)
    assert entry2.reused and entry2.path == entry.path
    np.testing.assert_array_equal(again.embeddings_, model.embeddings_)
    return model, entry


def test_a_sound_entry_is_reused_silently(ds, cache, caplog):
    model, entry = fit(ds, cache)
    assert not entry.reused
    with caplog.at_level(logging.WARNING, logger="songspace"):
        caplog.clear()
        again, entry2 = fit(ds, cache)
    assert entry2.reused and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    np.testing.assert_array_equal(again.embeddings_, model.embeddings_)


def test_a_graphsage_model_swapped_into_a_track2vec_entry_is_retrained(ds, cache, caplog):
    _, t2v = fit(ds, cache)
    _, sage = fit(ds, cache, "graphsage", SAGE)
    shutil.rmtree(t2v.path / "model")
    shutil.copytree(sage.path / "model", t2v.path / "model")  # key.json left as it was
    model, _ = retrained_with_warning(ds, cache, caplog, "it holds a graphsage model")
    assert model.name == "track2vec"


def test_a_whole_entry_swapped_in_is_retrained(ds, cache, caplog):
    _, t2v = fit(ds, cache)
    _, sage = fit(ds, cache, "graphsage", SAGE)
    shutil.rmtree(t2v.path)
    shutil.copytree(sage.path, t2v.path)  # key.json too: it holds the other key
    model, _ = retrained_with_warning(ds, cache, caplog, "another key")
    assert model.name == "track2vec"


def test_a_truncated_arrays_npz_is_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache)
    npz = entry.path / "model" / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    retrained_with_warning(ds, cache, caplog, "the model does not load")


@pytest.mark.parametrize("text", ["{not json", '{"format": "something-else"}', "[]"])
def test_a_bad_model_json_is_retrained(ds, cache, caplog, text):
    _, entry = fit(ds, cache)
    (entry.path / "model" / "model.json").write_text(text)
    retrained_with_warning(ds, cache, caplog, "the model does not load")


@pytest.mark.parametrize(
    "text, reason",
    [("{", "key.json is unreadable"), ("[1]", "another key"), ('{"key": "0"}', "another key")],
)
def test_a_bad_key_json_is_retrained(ds, cache, caplog, text, reason):
    _, entry = fit(ds, cache)
    (entry.path / "key.json").write_text(text)
    retrained_with_warning(ds, cache, caplog, reason)


def test_a_missing_key_json_or_model_is_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache)
    (entry.path / "key.json").unlink()
    retrained_with_warning(ds, cache, caplog, "no key.json")
    shutil.rmtree(entry.path / "model")
    retrained_with_warning(ds, cache, caplog, "no model/model.json")


def _rewrite_arrays(entry, change):
    npz = entry.path / "model" / "arrays.npz"
    with np.load(npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(npz, **arrays)


def test_a_missing_array_is_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache)
    _rewrite_arrays(entry, lambda a: a.pop("available"))
    retrained_with_warning(ds, cache, caplog, "expected an array named 'available'")


def test_a_graphsage_entry_missing_its_encoder_arrays_is_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache, "graphsage", SAGE)
    _rewrite_arrays(entry, lambda a: a.pop("meta"))
    model, _ = retrained_with_warning(
        ds, cache, caplog, "the encoder's arrays are missing", name="graphsage", params=SAGE
    )
    assert model.embed(ds).shape == (ds.n_tracks, 16)
    _rewrite_arrays(entry, lambda a: a.pop(next(k for k in a if k.startswith("encoder."))))
    retrained_with_warning(
        ds, cache, caplog, "the model does not load", name="graphsage", params=SAGE
    )


def test_an_extra_or_misshapen_array_is_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache)
    _rewrite_arrays(entry, lambda a: a.update(stray=np.zeros(3)))
    retrained_with_warning(ds, cache, caplog, "does not hold the model's arrays (['stray'])")
    _rewrite_arrays(entry, lambda a: a.update(embeddings=a["embeddings"][:-5]))
    retrained_with_warning(ds, cache, caplog, f"expected a float matrix of {ds.n_tracks} rows")
    _rewrite_arrays(entry, lambda a: a.update(embeddings=a["embeddings"][:, :8]))
    retrained_with_warning(ds, cache, caplog, f"shape ({ds.n_tracks}, 8)")
    _rewrite_arrays(entry, lambda a: a.update(available=a["available"].astype(np.int8)))
    retrained_with_warning(ds, cache, caplog, "an available mask of int8")


def test_changed_parameters_in_model_json_are_retrained(ds, cache, caplog):
    _, entry = fit(ds, cache)
    meta = entry.path / "model" / "model.json"
    doc = json.loads(meta.read_text())
    doc["params"]["window"] = 7
    meta.write_text(json.dumps(doc))
    retrained_with_warning(ds, cache, caplog, "window=7 (expected 3)")


def test_an_entry_trained_on_other_data_is_retrained(ds, cache, caplog):
    """Same key (the fingerprint passed is ``ds``'s) but fitted on a smaller dataset."""
    small = generate(100, 150, seed=1)
    fit(ds, cache, data=small)
    retrained_with_warning(ds, cache, caplog, f"expected ({ds.n_tracks}, 25)")


def test_compare_reruns_over_a_broken_entry(tmp_path, caplog):
    """The runner itself: a corrupted entry makes the next `compare` warn and retrain
    (exit 0, right results) instead of a traceback on every run."""
    from songspace.reports.compare import run_compare
    from songspace.reports.config import parse_config
    from tests.reports.conftest import small_config

    cfg = parse_config(small_config(), only=["t2v"])
    first = run_compare(cfg, tmp_path / "run")
    (entry,) = (tmp_path / "run" / "cache").iterdir()
    npz = entry / "model" / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="songspace"):
        again = run_compare(cfg, tmp_path / "run")
    assert again.trained == ["t2v@0"] and entry.name in caplog.text
    assert (again.report_dir / "table.md").read_text() == (
        first.report_dir / "table.md"
    ).read_text()

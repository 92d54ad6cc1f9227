"""Issue 27 item 19: a damaged saved model is refused by ``EmbeddingModel.load`` with an
error that names the file and says "retrain", never "unexpected ... a bug"."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="GraphSAGE needs torch (extra `graph`)")

from songspace.errors import InputError  # noqa: E402
from songspace.models.base import EmbeddingModel  # noqa: E402
from songspace.models.graphsage import GraphSAGE  # noqa: E402
from songspace.testing import planted_dataset  # noqa: E402

FAST = {"dim": 16, "hidden": 32, "epochs": 1, "batch_size": 64, "fanouts": (6, 4)}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("load") / "model"
    GraphSAGE(**FAST).fit(planted_dataset()).save(path)
    return path


@pytest.fixture
def model_dir(saved, tmp_path):
    shutil.copytree(saved, tmp_path / "model")
    return tmp_path / "model"


def rewrite_arrays(path, change, **savez_kw):
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    change(arrays)
    np.savez(path / "arrays.npz", **arrays, **savez_kw)


def rewrite_json(path, change):
    doc = json.loads((path / "model.json").read_text())
    change(doc)
    (path / "model.json").write_text(json.dumps(doc))


def first_encoder_key(arrays):
    return next(k for k in sorted(arrays) if k.startswith("encoder."))


def truncate(path):
    npz = path / "arrays.npz"
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])


def object_array(path):
    with np.load(path / "arrays.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["embeddings"] = arrays["embeddings"].astype(object)
    np.savez(path / "arrays.npz", **arrays)  # pickles the object array


def set_param(name, value):
    return lambda p: rewrite_json(p, lambda d: d["params"].__setitem__(name, value))


def set_first_nan(arrays):
    key = first_encoder_key(arrays)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[0] = np.nan


#: (damage, file the error names, words it says)
DAMAGES = {
    "truncated arrays.npz": (truncate, "arrays.npz", "readable .npz"),
    "object array": (object_array, "arrays.npz", "readable .npz"),
    "missing encoder array": (
        lambda p: rewrite_arrays(p, lambda a: a.pop(first_encoder_key(a))),
        "arrays.npz",
        "do not fit",
    ),
    "misshapen encoder array": (
        lambda p: rewrite_arrays(
            p, lambda a: a.__setitem__(first_encoder_key(a), a[first_encoder_key(a)][:-1])
        ),
        "arrays.npz",
        "do not fit",
    ),
    "encoder arrays and meta gone": (
        lambda p: rewrite_arrays(
            p, lambda a: [a.pop(k) for k in list(a) if k.startswith("encoder.") or k == "meta"]
        ),
        "arrays.npz",
        "the encoder's arrays are missing",
    ),
    "NaN encoder weight": (lambda p: rewrite_arrays(p, set_first_nan), "arrays.npz", "finite"),
    "NaN embedding": (
        lambda p: rewrite_arrays(p, lambda a: a["embeddings"].__setitem__((3, 0), np.inf)),
        "arrays.npz",
        "NaN or inf in 1 of",
    ),
    "edited dim": (set_param("dim", 17), "arrays.npz", "do not fit"),
    "edited hidden": (set_param("hidden", 33), "arrays.npz", "do not fit"),
    "edited num_layers": (set_param("num_layers", 1), "arrays.npz", "do not fit"),
    "num_layers out of range": (set_param("num_layers", 9), "model.json", "num_layers"),
    "hidden not a number": (set_param("hidden", "wide"), "model.json", "hidden"),
    "params not an object": (
        lambda p: rewrite_json(p, lambda d: d.__setitem__("params", [1])),
        "model.json",
        "params",
    ),
    "fitted_params not an object": (
        lambda p: rewrite_json(p, lambda d: d.__setitem__("fitted_params", "all")),
        "model.json",
        "fitted_params",
    ),
    "fitted_params out of range": (
        lambda p: rewrite_json(p, lambda d: d["fitted_params"].__setitem__("num_layers", 9)),
        "model.json",
        "num_layers",
    ),
    "n_tracks edited": (
        lambda p: rewrite_json(p, lambda d: d.__setitem__("n_tracks", 3)),
        "arrays.npz",
        "3 rows",
    ),
    "n_tracks not a number": (
        lambda p: rewrite_json(p, lambda d: d.__setitem__("n_tracks", "many")),
        "model.json",
        "n_tracks",
    ),
    "unknown model name": (
        lambda p: rewrite_json(p, lambda d: d.__setitem__("model", "nosuch")),
        "model.json",
        "registered model name",
    ),
    "model.json not JSON": (
        lambda p: (p / "model.json").write_text("{broken"),
        "model.json",
        "invalid JSON",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_model_names_the_file_and_says_retrain(model_dir, damage):
    apply, file, words = DAMAGES[damage]
    apply(model_dir)
    with pytest.raises(InputError) as info:
        EmbeddingModel.load(model_dir)
    text = str(info.value)
    assert str(model_dir / file) in text, text
    assert words in text and "retrain" in text, text


def test_a_sound_model_still_loads_and_embeds(saved):
    model = EmbeddingModel.load(saved)
    ds = planted_dataset()
    np.testing.assert_allclose(model.embed(ds), GraphSAGE.load(saved).embed(ds))

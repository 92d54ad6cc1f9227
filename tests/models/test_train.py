import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.splits import split_sequences
from songspace.errors import MissingDependencyError, OutputExistsError, ParameterError
from songspace.models import available_models, create, get_model_class
from songspace.models.base import EmbeddingModel
from songspace.models.train import train_model
from songspace.testing import planted_dataset

pytest.importorskip("lightfm")


@pytest.fixture(scope="module")
def ds_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("d") / "ds"
    planted_dataset().save(path)
    return path


def test_registry_lists_and_rejects_names():
    assert {"track2vec", "track2vec_feature", "node2vec", "warp"} <= set(available_models())
    with pytest.raises(ParameterError, match=r"one of \["):
        get_model_class("nope")


def test_create_parses_command_line_strings_by_constraint():
    m = create(
        "warp",
        {"dim": "8", "learning_rate": "0.1", "feature_groups": "genre,audio"},
        from_strings=True,
    )
    assert (m.dim, m.learning_rate, m.feature_groups) == (8, 0.1, ("genre", "audio"))
    with pytest.raises(
        ParameterError, match=r"parameter `dim`: expected an integer in \[1, 4096\]"
    ):
        create("warp", {"dim": "eight"}, from_strings=True)
    with pytest.raises(ParameterError, match="songspace models"):
        create("warp", {"nope": "1"})
    with pytest.raises(ParameterError, match=r"parameter `dim`: expected .*, got 0"):
        create("warp", {"dim": 0})
    # JSON values: lists become tuples where the constraint says tuple; no string parsing
    assert create("warp", {"feature_groups": ["genre"]}).feature_groups == ("genre",)
    with pytest.raises(ParameterError, match="dim"):
        create("warp", {"dim": "8"})  # a string is not an integer unless from_strings


def test_parameter_error_reads_expected_got_fix():
    err = ParameterError("dim", "an integer in [25, 200]", 300, fix="lower it")
    assert str(err) == "parameter `dim`: expected an integer in [25, 200], got 300. Fix: lower it"


def test_train_uses_the_protocol_training_view(ds_dir, tmp_path):
    from songspace import Dataset

    ds = Dataset.load(ds_dir)
    model = train_model("warp", ds, tmp_path / "m", params={"dim": "8", "epochs": "2"})
    split = split_sequences(ds, (0.98, 0.01, 0.01), seed=0)
    view = split.training_view(ds)
    np.testing.assert_array_equal(model.available_, view.occurrences() > 0)
    # exports
    z = np.load(tmp_path / "m" / "embeddings.npz")
    np.testing.assert_array_equal(z["embeddings"], model.embeddings_)
    lines = (tmp_path / "m" / "embeddings.w2v.txt").read_text().splitlines()
    n = int(model.available_.sum())
    assert lines[0] == f"{n} 8" and len(lines) == n + 1
    first = int(np.flatnonzero(model.available_)[0])
    token, *vals = lines[1].split(" ")
    assert token == ds.tracks["track_id"][first]
    np.testing.assert_allclose(np.array(vals, float), model.embeddings_[first], rtol=1e-5)
    proj = tmp_path / "m" / "projector"
    assert len((proj / "vectors.tsv").read_text().splitlines()) == n
    meta = (proj / "metadata.tsv").read_text().splitlines()
    assert meta[0] == "track_id\ttrack_name\tartist_name\tgenre" and len(meta) == n + 1
    back = EmbeddingModel.load(tmp_path / "m" / "model")
    np.testing.assert_array_equal(back.embeddings_, model.embeddings_)
    with pytest.raises(OutputExistsError):
        train_model("warp", ds, tmp_path / "m")


def test_config_file_and_cli(ds_dir, tmp_path):
    cfg = tmp_path / "warp.toml"
    cfg.write_text("[params]\ndim = 8\nepochs = 2\n")
    out = tmp_path / "o"
    res = CliRunner().invoke(
        app,
        [
            "--no-progress",
            "train",
            "warp",
            str(ds_dir),
            "-o",
            str(out),
            "--config",
            str(cfg),
            "--param",
            "epochs=1",
        ],
    )
    assert res.exit_code == 0, res.output
    assert EmbeddingModel.load(out / "model").get_params()["epochs"] == 1
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0 and "warp" in res.output and "learning_rate" in res.output


def test_missing_dependency_names_the_extra(monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "lightfm" or name.startswith("lightfm."):
            raise ImportError("no lightfm", name="lightfm")
        return real(name, *a, **k)

    import sys

    monkeypatch.delitem(sys.modules, "songspace.models.warp", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(MissingDependencyError, match=r"songspace\[models\]"):
        get_model_class("warp")().fit(planted_dataset())

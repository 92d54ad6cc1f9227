import re
from pathlib import Path

import pytest

from songspace.errors import InputError, SongspaceError
from songspace.models import available_models
from songspace.reports.config import load_config, parse_config
from tests.reports.conftest import small_config

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


def parse(text: str, **kw):
    return parse_config(text, source=kw.pop("source", None), **kw)


def error_of(text: str, **kw) -> str:
    with pytest.raises(InputError) as info:
        parse(text, **kw)
    assert isinstance(info.value, SongspaceError)
    return str(info.value)


def test_small_config_parses_with_defaults():
    cfg = parse(small_config())
    assert cfg.name == "small"
    assert [m.name for m in cfg.models] == ["t2v", "cf"]
    t2v = cfg.models[0]
    assert t2v.model == "track2vec" and t2v.params == {"dim": 25, "epochs": 2, "window": 5}
    assert t2v.label == "TRACK2VEC" and t2v.features == "-" and t2v.baseline
    assert cfg.protocol.seeds == (0,) and cfg.protocol.fractions == pytest.approx((0.8, 0.1, 0.1))
    assert cfg.protocol.seed_fractions == (0.5,)
    assert cfg.report.diagonal == ("t2v", "cf")
    assert cfg.columns()[0] == "completion_hr"
    assert "vrc_genre" in cfg.columns() and "hardneg" not in cfg.columns()


def test_unknown_top_level_key_lists_the_valid_keys():
    msg = error_of('modles = "x"\n' + small_config())
    assert "unknown key 'modles'" in msg
    assert "valid keys are name, description, dataset, protocol, report, models" in msg


@pytest.mark.parametrize(
    ("old", "new", "where", "key"),
    [
        ("seeds = [0]", "seeds = [0]\nseed_fraction = 0.5", "[protocol]", "seed_fraction"),
        ('label = "CF"', 'label = "CF"\nparam = { dim = 3 }', "[[models]] #2 ('cf')", "param"),
        ("seed = 3 }", "seed = 3, n_track = 5 }", "[dataset.synthetic]", "n_track"),
        ("[report]", "[report]\ntitel = 'x'", "[report]", "titel"),
    ],
)
def test_unknown_keys_are_rejected_everywhere(old, new, where, key):
    msg = error_of(small_config().replace(old, new))
    assert where in msg and f"unknown key {key!r}" in msg and "valid keys are" in msg


def test_unknown_model_lists_the_registered_ones():
    msg = error_of(small_config().replace('model = "warp"', 'model = "wrap"'))
    assert "unknown model 'wrap'" in msg and "field 'model'" in msg
    for name in available_models():
        assert name in msg
    assert "songspace models" in msg


def test_unknown_parameter_names_it_and_lists_the_models_parameters():
    msg = error_of(small_config().replace("dim = 16, epochs = 3", "dimension = 16"))
    assert "dimension" in msg and "[[models]] #2 ('cf')" in msg and "field 'params'" in msg
    assert "parameters of warp: dim, epochs" in msg


def test_out_of_range_parameter_names_the_range():
    msg = error_of(small_config().replace("dim = 25,", "dim = 10,"))
    assert "parameter `dim`: expected an integer in [25, 200], got 10" in msg


@pytest.mark.parametrize(
    ("old", "new", "expect"),
    [
        ('name = "cf"', 'name = "t2v"', "a unique name"),
        ('name = "cf"', 'name = "random"', "a name other than"),
        ('name = "cf"', 'name = "c f"', "file-name-safe"),
        ("seeds = [0]", "seeds = []", "a non-empty list of integers"),
        ("seeds = [0]", "seeds = [1, 1]", "distinct seeds"),
        ("test_fraction = 0.1", "test_fraction = 0.5", "a value < 0.5"),
        ('"popularity"]', '"popularity", "clusters"]', "metric families among completion"),
        ('diagonal = ["t2v", "cf"]', 'diagonal = ["t2v", "n2v"]', "two model names among"),
        ("[report]", '[report]\ncolumns = ["hardneg"]', "metric names among completion_hr"),
        ('label = "CF"', 'label = "CF"\npaper = { hr = 0.5 }', "metric names among"),
        ('label = "CF"', "label = 3", "a non-empty string"),
        ('label = "CF"', 'label = "CF"\nbaseline = "no"', "true or false"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(old, new, expect):
    text = small_config()
    assert old in text
    assert expect in error_of(text.replace(old, new, 1))


def test_dataset_must_be_given_exactly_once():
    text = small_config()
    no_data = re.sub(r"\[dataset\]\nsynthetic = .*\n", "", text)
    assert "expected a [dataset] table" in error_of(no_data)
    both = text.replace("[dataset]\n", '[dataset]\npath = "x"\n')
    assert "exactly one of `path` and `synthetic`" in error_of(both)


def test_toml_syntax_error_and_missing_file(tmp_path):
    assert "expected valid TOML" in error_of("name = [")
    with pytest.raises(InputError, match="no such file"):
        load_config(tmp_path / "missing.toml")


def test_params_file_and_relative_paths_resolve_against_the_config(write_config, tmp_path):
    (tmp_path / "tuned.toml").write_text("[params]\nwindow = 9\nepochs = 4\n")
    text = small_config().replace(
        "params = { dim = 25, epochs = 2, window = 5 }",
        'params_file = "tuned.toml"\nparams = { dim = 25, epochs = 2 }',
    )
    text = text.replace(
        "synthetic = { n_playlists = 500, n_tracks = 600, seed = 3 }", 'path = "data/mpd"'
    )
    cfg = load_config(write_config(text))
    # params override the file's, the file overrides the defaults
    assert cfg.models[0].params == {"window": 9, "epochs": 2, "dim": 25}
    assert cfg.dataset.path == (tmp_path / "data" / "mpd").resolve()


def test_a_preset_comes_first_then_params_file_then_params(write_config, tmp_path):
    (tmp_path / "tuned.toml").write_text("[params]\nwindow = 9\n")
    text = small_config().replace(
        "params = { dim = 25, epochs = 2, window = 5 }",
        'preset = "paper"\nparams_file = "tuned.toml"\nparams = { dim = 25 }',
    )
    cfg = load_config(write_config(text))
    params = cfg.models[0].params
    # W2V Table 3 (the preset), window from the file, dim from params
    assert params == {
        "dim": 25,
        "window": 9,
        "ns_exponent": 0.75,
        "negative": 5,
        "alpha": 0.025,
        "epochs": 5,
        "sample": 1e-3,
    }
    bad = small_config().replace("params = { dim = 25, epochs = 2, window = 5 }", 'preset = "tiny"')
    assert "parameter `preset`: expected a preset of Track2Vec ('paper')" in error_of(bad)


def test_only_selects_rows_before_validation():
    text = small_config() + '\n[[models]]\nname = "future"\nmodel = "not_yet_registered"\n'
    assert "unknown model 'not_yet_registered'" in error_of(text)
    cfg = parse(text, only=["t2v"])
    assert [m.name for m in cfg.models] == ["t2v"]
    assert cfg.report.diagonal is None  # it named a model left out
    msg = error_of(text, only=["t2v", "nope"])
    assert "'nope'" in msg and "t2v, cf, future" in msg


def test_features_column_and_required_groups_come_from_the_full_parameters():
    text = small_config() + (
        '\n[[models]]\nname = "t2vf"\nmodel = "track2vec_feature"\n'
        "params = { dim = 25, epochs = 2 }\n"
        '\n[[models]]\nname = "t2vf_audio"\nmodel = "track2vec_feature"\n'
        'params = { dim = 25, feature_groups = ["audio"] }\n'
    )
    cfg = parse(text)
    default_groups = cfg.models[2]
    assert default_groups.features == "GENRE, POPULARITY, AUDIO"
    assert default_groups.requires == ("genre", "popularity", "audio")
    assert cfg.models[3].features == "AUDIO" and cfg.models[3].requires == ("audio",)


READY = sorted(EXPERIMENTS.glob("*.toml"))


def test_ready_configs_exist():
    names = {p.stem for p in READY}
    assert {"musig_table2", "musig_table3", "seed_fraction_sweep", "w2v_popularity_buckets"} <= (
        names
    )


@pytest.mark.parametrize("path", READY, ids=[p.stem for p in READY])
def test_ready_configs_parse_and_validate(path):
    import tomllib

    raw = tomllib.loads(path.read_text())
    needed = sorted({m["model"] for m in raw["models"]} - set(available_models()))
    runnable = [m["name"] for m in raw["models"] if m["model"] in available_models()]
    if runnable:
        # The rows this installation can run always validate (as `--only` selects them).
        cfg = load_config(path, only=runnable)
        assert [m.name for m in cfg.models] == runnable
    if needed:
        pytest.skip(
            f"{path.name} has rows for {needed}, which are not registered in this "
            "installation; its other rows validated"
        )
    cfg = load_config(path)
    assert len(cfg.models) == len(raw["models"])


def test_a_recommender_table_is_read_with_its_defaults(tmp_path):
    assert parse(small_config()).recommender is None
    cfg = parse(small_config() + "\n[recommender]\n")
    assert cfg.recommender.name == "twostage" and cfg.recommender.embeddings is None
    assert cfg.recommender.rankers_config is None and cfg.recommender.params == {}
    text = small_config() + (
        '\n[recommender]\nname = "rec"\nembeddings = ["t2v"]\n'
        'rankers_config = "rankers.json"\nparams = { depth = 50 }\n'
    )
    cfg = parse(text, source=tmp_path / "exp.toml")
    r = cfg.recommender
    assert (r.name, r.embeddings, r.params) == ("rec", ("t2v",), {"depth": 50})
    assert r.rankers_config == (tmp_path / "rankers.json").resolve()


@pytest.mark.parametrize(
    ("table", "key", "found"),
    [
        ('embeddings = ["nope"]', "embeddings", "nope"),
        ('name = "t2v"', "name", "t2v"),
        ('name = "popularity"', "name", "popularity"),
        ("params = { depth = 0 }", "params", "twostage.depth"),
        ("params = { nope = 1 }", "params", "twostage.nope"),
        ("depth = 3", "depth", "unknown key"),
    ],
)
def test_a_bad_recommender_table_names_the_key(table, key, found):
    msg = error_of(small_config() + f"\n[recommender]\n{table}\n")
    assert "[recommender]" in msg and key in msg and found in msg

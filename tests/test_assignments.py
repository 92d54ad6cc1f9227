import pytest

from songspace.assignments import parse_assignments, parse_model_assignments
from songspace.errors import ParameterError


def test_parse_assignments():
    assert parse_assignments(["a=b", " c = d ", "a=e"], "--map") == {"a": "e", "c": "d"}
    assert parse_assignments(None, "--map") == {}
    assert parse_assignments(["x=1=2"], "--param") == {"x": "1=2"}
    for bad in ("nope", "=v", "k=", " = "):
        with pytest.raises(ParameterError, match="--map sequence_id=session"):
            parse_assignments([bad], "--map")
    with pytest.raises(ParameterError, match="--param dim=64"):
        parse_assignments(["dim"], "--param", example="dim=64")


def test_parse_model_assignments():
    got = parse_model_assignments(["musig.epochs=20", "graphsage.dim=64", "musig.dim = 32"])
    assert got == {"musig": {"epochs": "20", "dim": "32"}, "graphsage": {"dim": "64"}}
    assert parse_model_assignments(None) == {}
    for bad in ("epochs=20", ".epochs=20", "musig.=20"):
        with pytest.raises(ParameterError) as exc:
            parse_model_assignments([bad])
        assert "MODEL.NAME=VALUE" in str(exc.value) and "musig.epochs=20" in str(exc.value)

"""Issue 27, item 21: garbled messages. One "Fix:" per message, the split-size error in
the user's terms, malformed JSON described as JSON (line and column)."""

import json

import numpy as np
import pytest

from songspace.errors import InputError, ParameterError


@pytest.mark.parametrize(
    ("fix", "want"),
    [
        ("do X", "do X"),
        ("Fix: do X", "do X"),
        ("Fix: do X.", "do X"),
        ("fix:Fix: do X..", "do X"),
        ("  do X.  ", "do X"),
        ("Fix:", None),
        (None, None),
    ],
)
def test_fix_is_normalised_in_the_error_classes(fix, want):
    from songspace.errors import normalise_fix

    assert normalise_fix(fix) == want
    p = str(ParameterError("dim", "an integer", 0, fix=fix))
    i = str(InputError("expected a number, found 'x'", path="f.csv", line=3, fix=fix))
    for msg in (p, i):
        if want is None:
            assert "Fix" not in msg
        else:
            assert msg.count("Fix:") == 1 and msg.endswith(f". Fix: {want}")
            assert ".." not in msg


def test_no_edge_at_min_weight_says_fix_once():
    """Item 21: graph/limits.py gave "Fix: Fix: lower min_weight"."""
    from songspace.models import create

    pytest.importorskip("gensim", reason="Node2Vec needs gensim (extra `models`)")
    with pytest.raises(ParameterError) as info:
        create("node2vec", {"min_weight": 10_000}).fit(_sequences(40))
    msg = str(info.value)
    assert msg.count("Fix:") == 1 and "Fix: lower min_weight" in msg


def test_an_unknown_mapped_field_says_fix_once(tmp_path):
    """Item 21: data/metadata.py gave "Fix: Fix: correct the field name"."""
    from songspace.data.metadata import check_mapped_fields

    with pytest.raises(ParameterError) as info:
        check_mapped_fields({"artst": "a"}, ["artist_name"], "--track-map", tmp_path / "t.csv")
    msg = str(info.value)
    assert msg.count("Fix:") == 1 and "Fix: correct the field name" in msg


def _sequences(n: int):
    from songspace.data.synthetic import generate

    ds = generate(n_playlists=40, n_tracks=60, seed=1)
    return ds.subset(np.arange(n))


def test_split_size_error_speaks_of_the_test_fraction_the_user_passed():
    """Item 21: "...to train on,, got (0.5, 0.25, 0.25). Fix: Fix: ..." named fractions
    the user never passed; the user passed --test-fraction 0.25."""
    from songspace.models.train import train_model

    pytest.importorskip("gensim", reason="Track2Vec needs gensim (extra `models`)")
    with pytest.raises(ParameterError) as info:
        train_model("track2vec", _sequences(2), None, test_fraction=0.25)
    msg = str(info.value)
    assert msg.startswith("parameter `test_fraction`:")
    assert "got 0.25" in msg and "(0.5, 0.25, 0.25)" not in msg
    assert "--test-fraction 0.25 holds out 1 validation and 1 test sequence" in msg
    assert "leaving 0 to train on" in msg and "at least 3 sequences" in msg
    assert msg.count("Fix:") == 1 and ",," not in msg


def test_split_size_error_suggests_a_share_that_fits():
    from songspace.data.splits import split_sequences

    ds = _sequences(4)
    with pytest.raises(ParameterError) as info:
        split_sequences(ds, (0.02, 0.49, 0.49))
    msg = str(info.value)
    assert "--test-fraction 0.49 holds out 2 validation and 2 test sequences" in msg
    assert "of the dataset's 4, leaving 0 to train on" in msg
    assert "at most 0.25" in msg
    split_sequences(ds, (0.5, 0.25, 0.25))  # the suggestion works: 1 + 1 held out, 2 train


def test_split_size_error_with_explicit_fractions_names_them():
    from songspace.data.splits import split_sequences

    with pytest.raises(ParameterError) as info:
        split_sequences(_sequences(3), (0.0, 0.6, 0.4))
    msg = str(info.value)
    assert msg.startswith("parameter `fractions`:")
    assert "hold out 2 validation and 1 test sequence of the dataset's 3, leaving 0" in msg
    assert msg.count("Fix:") == 1 and ",," not in msg


def test_an_empty_dataset_split_says_fix_once():
    from songspace.data.splits import split_sequences

    with pytest.raises(ParameterError) as info:
        split_sequences(_sequences(0), (0.98, 0.01, 0.01))
    assert str(info.value).count("Fix:") == 1


# ---------------------------------------------------------------- malformed JSON bodies
def _fastapi_json_error(body: bytes):
    """The RequestValidationError FastAPI raises for ``body`` (a real app, real request)."""
    pytest.importorskip("fastapi", reason="the service needs fastapi (extra `serve`)")
    pytest.importorskip("httpx", reason="the TestClient needs httpx (extra `serve`)")
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from fastapi.testclient import TestClient
    from pydantic import BaseModel

    class Body(BaseModel):
        k: int

    app = FastAPI()
    seen = []

    @app.post("/x")
    def x(body: Body) -> dict:
        return {}

    @app.exception_handler(RequestValidationError)
    async def handler(request, exc):
        seen.append(exc)
        return JSONResponse({}, status_code=422)

    TestClient(app).post("/x", content=body, headers={"content-type": "application/json"})
    assert seen
    return seen[0]


def test_malformed_json_is_described_as_json_with_line_and_column():
    """Item 21: a malformed body read "field '39': jSON decode error, found {}"."""
    from songspace.serving.errors import json_body_message

    body = b'{"k": 3,\n "track_ids": ["a", "b",]}'
    exc = _fastapi_json_error(body)
    first = exc.errors()[0]
    assert first["type"] == "json_invalid"
    want = json.JSONDecodeError("x", body.decode(), first["loc"][-1])
    msg = json_body_message(first, exc.body)
    assert msg.startswith("request body: expected valid JSON, found ")
    assert f"at line {want.lineno} column {want.colno}" in msg and want.lineno == 2
    assert "jSON" not in msg and "field" not in msg and "{}" not in msg
    assert msg.count("Fix:") == 1

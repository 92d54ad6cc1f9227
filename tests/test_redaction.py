"""Issue 27, item 15: every secret-bearing part of a URL is hidden wherever songspace
shows or stores one: the userinfo password and query parameters such as ``password``,
``sslpassword``, ``token``, ``api_key``, ``access_token``. One redaction,
``songspace._util.redact`` (re-exported by ``songspace.tuning.storage``), and
``redact_text`` for messages (re-exported by ``songspace.clierrors``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songspace.clierrors import redact_text
from songspace.tuning.storage import redact

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("postgresql://user:s3cret@db:5432/x", "postgresql://user:***@db:5432/x"),
        ("postgresql://u:p%40ss@h:1/d", "postgresql://u:***@h:1/d"),
        ("postgresql://u:pa/ss@h/d", "postgresql://u:***@h/d"),
        ("postgresql://user@db/x?password=s3cret", "postgresql://user@db/x?password=***"),
        (
            "postgresql://db/x?sslmode=require&PASSWORD=s3cret&application_name=a",
            "postgresql://db/x?sslmode=require&PASSWORD=***&application_name=a",
        ),
        (
            "postgresql+psycopg2://u:pw@h/d?sslpassword=s3cret&connect_timeout=5",
            "postgresql+psycopg2://u:***@h/d?sslpassword=***&connect_timeout=5",
        ),
        ("mysql://h/d?passwd=s3cret", "mysql://h/d?passwd=***"),
        ("mysql://h/d?pwd=s3cret", "mysql://h/d?pwd=***"),
        ("https://h/p?token=s3cret#frag", "https://h/p?token=***#frag"),
        ("https://h/p?api_key=s3cret&x-api-key=s3cret", "https://h/p?api_key=***&x-api-key=***"),
        (
            "https://h/p?access_token=s3cret&secret=s3cret",
            "https://h/p?access_token=***&secret=***",
        ),
        ("https://h/p?key=s3cret&sig=s3cret", "https://h/p?key=***&sig=***"),
        ("https://h/p?client_secret=s3cret", "https://h/p?client_secret=***"),
        ("https://h/p?password=s3cret&password=other", "https://h/p?password=***&password=***"),
        ("https://h/p?pass%77ord=s3cret", "https://h/p?pass%77ord=***"),
    ],
)
def test_redact_hides_every_secret_bearing_part(url, want):
    assert redact(url) == want
    assert "s3cret" not in redact(url)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///tmp/a.db",
        "sqlite:////abs/songspace-tune.db",
        "journal:///data/study.log",
        "postgresql://user@db:5432/x?sslmode=require&connect_timeout=10",
        "postgresql://db/x",
        "/plain/path.db",
        "sqlite:////home/me@host/a.db",
    ],
)
def test_redact_leaves_urls_without_secrets_unchanged(url):
    assert redact(url) == url


def test_redact_text_hides_secrets_in_every_url_of_a_message():
    text = (
        "could not open 'postgresql://u@h/d?password=s3cret', nor "
        "mysql://a:b3cret@c/d (tried sqlite:///x.db)."
    )
    out = redact_text(text)
    assert "s3cret" not in out and "b3cret" not in out
    assert "'postgresql://u@h/d?password=***'" in out and "mysql://a:***@c/d" in out
    assert out.endswith("(tried sqlite:///x.db).")
    assert redact_text("no url here: a=b&password=x") == "no url here: a=b&password=x"


def test_log_lines_hide_query_secrets():
    from songspace.clierrors import RedactingFilter

    rec = logging.LogRecord(
        "songspace", logging.INFO, "", 0, "opening %s", ("postgresql://h/d?password=s3cret",), None
    )
    RedactingFilter().filter(rec)
    assert rec.getMessage() == "opening postgresql://h/d?password=***"


def songspace(*args: str) -> subprocess.CompletedProcess:
    # wide lines: rich would otherwise wrap a long URL where the test looks for it
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "400"}
    return subprocess.run(
        [sys.executable, "-m", "songspace", "--no-progress", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    from songspace.data.prepare import prepare_synthetic

    path = tmp_path_factory.mktemp("redact") / "d"
    prepare_synthetic(path, n_playlists=300, n_tracks=500, seed=0)
    return path


def test_tune_and_tune_report_hide_a_query_password(dataset, tmp_path):
    """The real commands: tune's study line and closing hint, tune-report's lines and its
    report.json / report.md show the storage URL without the query password."""
    pytest.importorskip("optuna", reason="tuning needs the `tune` extra (optuna)")
    pytest.importorskip("gensim", reason="the study tunes Track2Vec (the `models` extra)")
    url = f"sqlite:///{tmp_path}/tune.db?password=s3cret"
    shown = f"sqlite:///{tmp_path}/tune.db?password=***"
    res = songspace(
        "tune",
        "track2vec",
        str(dataset),
        "--storage",
        url,
        "--study",
        "s",
        "--trials",
        "1",
        "--param",
        "epochs=1",
        "--budget-mode",
        "reject",
        "--test-fraction",
        "0.1",
        "--min-tracks",
        "10",
    )
    assert res.returncode == 0, res.stderr
    out = " ".join(res.stdout.split())
    assert "s3cret" not in res.stdout + res.stderr
    assert f"study s in {shown}:" in out and f"tune-report --storage {shown} --study s" in out
    rep = songspace("tune-report", "--storage", url, "--study", "s", "-o", str(tmp_path / "rep"))
    assert rep.returncode == 0, rep.stderr
    assert "s3cret" not in rep.stdout + rep.stderr
    doc = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert doc["storage"] == shown
    for f in (tmp_path / "rep").rglob("*"):
        if f.is_file() and f.suffix in (".json", ".md"):
            assert "s3cret" not in f.read_text(), f


def test_tune_error_lines_hide_a_query_password(dataset, tmp_path):
    """A real failure to open the storage: the error line names the URL, without the secret."""
    pytest.importorskip("optuna", reason="tuning needs the `tune` extra (optuna)")
    url = f"sqlite:///{tmp_path}/missing/tune.db?password=s3cret"
    res = songspace("tune", "track2vec", str(dataset), "--storage", url, "--trials", "1")
    assert res.returncode == 1, res.stderr
    err = " ".join(res.stderr.split())
    assert "s3cret" not in err + res.stdout and "Traceback" not in err
    assert "missing/tune.db?password=***" in err

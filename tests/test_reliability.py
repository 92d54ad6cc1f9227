"""Issue 12: never lose data, never show a traceback. One section per numbered item."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from songspace import Dataset
from songspace._util import (
    apply_umask,
    atomic_directory,
    atomic_write_text,
    check_not_input,
    check_output_free,
    recover_output,
)
from songspace.data.prepare import MetadataSpec, prepare_long, prepare_synthetic
from songspace.errors import (
    DatasetFormatError,
    DuplicateError,
    FormatError,
    InvalidValueError,
    OutputExistsError,
    OutputIsInputError,
    ParameterError,
)

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def songspace(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "songspace", "--no-progress", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=env,
    )


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("rel") / "d"
    prepare_synthetic(d, n_playlists=300, n_tracks=500, seed=0)
    return d


def _fingerprint(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()}


# ---------------------------------------------------------------- 1. output is an input
def test_train_over_its_own_dataset_is_refused(small):
    from songspace.models.train import train_model

    before = _fingerprint(small)
    for out in (small, small.parent):
        with pytest.raises(OutputIsInputError, match="would delete what the command reads"):
            train_model("track2vec", small, out, overwrite=True)
    assert _fingerprint(small) == before


def test_cli_train_over_its_dataset_exits_1_and_keeps_it(small):
    res = songspace("train", "track2vec", str(small), "-o", str(small), "--overwrite")
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert "is the input" in flat(res.stderr)
    assert Dataset.load(small).n_sequences == 300


def test_prepare_csv_into_the_raw_files_folder_is_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    plays = raw / "plays.csv"
    plays.write_text("sequence_id,position,track_id\na,0,t1\na,1,t2\n")
    with pytest.raises(OutputIsInputError, match="contains the input"):
        prepare_long(plays, raw, overwrite=True)
    assert plays.is_file()
    meta = tmp_path / "tracks.csv"
    meta.write_text("track_id,genre\nt1,rock\n")
    with pytest.raises(OutputIsInputError):
        prepare_long(plays, meta, metadata=MetadataSpec(tracks=meta), overwrite=True)
    assert meta.is_file()


def test_evaluate_and_config_outputs_over_inputs_are_refused(small, tmp_path):
    from songspace.evaluation.suite import run_evaluation
    from songspace.models.train import train_model

    with pytest.raises(OutputIsInputError):
        run_evaluation(small, [], out=small.parent, overwrite=True)
    cfg = tmp_path / "cfg" / "t2v.toml"
    cfg.parent.mkdir()
    cfg.write_text("[params]\nepochs = 1\n")
    with pytest.raises(OutputIsInputError):
        train_model("track2vec", small, cfg.parent, config=cfg, overwrite=True)
    assert cfg.is_file()


def test_check_not_input_sees_through_symlinks_and_dotdot(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    link = tmp_path / "link"
    link.symlink_to(data)
    with pytest.raises(OutputIsInputError):
        check_not_input(link, [data])
    with pytest.raises(OutputIsInputError):
        check_not_input(tmp_path / "x" / "..", [data])
    check_not_input(tmp_path / "other", [data, None])  # a sibling is fine
    check_not_input(data / "inside", [data])  # writing below an input deletes nothing


# ---------------------------------------------------------------- 2. redacted secrets
def test_tune_closing_hint_hides_the_password(monkeypatch, small):
    import songspace.tuning.scale as tuning  # tune_rates, which `songspace tune` runs, calls tune
    from songspace.cli import app

    result = SimpleNamespace(
        study="s1",
        storage="postgresql://user:***@db/x",
        counts={"COMPLETE": 1},
        seconds=1.0,
        reference={"metrics": {}, "params": {}},
        best=[],
    )
    monkeypatch.setattr(tuning, "tune", lambda *a, **k: result)
    url = "postgresql://user:s3cret-pw@db.example:5432/x"
    res = runner.invoke(app, ["--no-progress", "tune", "track2vec", str(small), "--storage", url])
    assert res.exit_code == 0, res.output
    assert "s3cret-pw" not in res.output
    assert "tune-report --storage postgresql://user:***@db.example:5432/x --study s1" in flat(
        res.output
    )


def test_errors_and_log_lines_are_redacted(monkeypatch, capsys):
    import songspace.cli as cli
    from songspace.clierrors import RedactingFilter, redact_text

    assert (
        redact_text("x postgresql+psycopg2://u:p%40ss@h:1/d y")
        == "x postgresql+psycopg2://u:***@h:1/d y"
    )
    assert redact_text("sqlite:///tmp/a.db") == "sqlite:///tmp/a.db"
    rec = logging.LogRecord(
        "songspace", logging.INFO, "", 0, "opening %s", ("mysql://a:b@c/d",), None
    )
    RedactingFilter().filter(rec)
    assert rec.getMessage() == "opening mysql://a:***@c/d"

    def boom():
        raise RuntimeError("could not reach postgresql://admin:hunter2@db/x")

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit):
        cli.main()
    err = capsys.readouterr().err
    assert "hunter2" not in err and "admin:***@db" in err


# ---------------------------------------------------------------- 3. baseline names
def test_evaluate_refuses_a_model_named_like_a_baseline(small, tmp_path):
    from songspace.evaluation.suite import run_evaluation

    run = tmp_path / "x" / "random"
    run.mkdir(parents=True)
    ds = Dataset.load(small)
    np.savez(run / "embeddings.npz", embeddings=np.ones((ds.n_tracks, 4)))
    with pytest.raises(ParameterError, match="other than the baselines"):
        run_evaluation(small, [run / "embeddings.npz"], out=tmp_path / "ev")
    assert not (tmp_path / "ev").exists()


# ---------------------------------------------------------------- 5. feature-group names
def test_manifest_feature_group_names_cannot_traverse(small, tmp_path):
    import shutil

    crafted = tmp_path / "crafted"
    shutil.copytree(small, crafted)
    m = json.loads((crafted / "manifest.json").read_text())
    name = next(iter(m["feature_groups"]))
    m["feature_groups"]["../../evil"] = m["feature_groups"].pop(name)
    (crafted / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatasetFormatError, match="feature group name"):
        Dataset.load(crafted)
    ds = Dataset.load(small)
    g = ds.features.pop(name)
    g.name = "../escape"
    ds.features["../escape"] = g
    with pytest.raises(DatasetFormatError, match="must not point outside"):
        ds.save(tmp_path / "out" / "d")
    assert not (tmp_path / "out" / "escape.parquet").exists()
    assert not (tmp_path / "out" / "d").exists()


# ---------------------------------------------------------------- 6. recoverable swap
_KILL_MID_SWAP = textwrap.dedent(
    """
    import os, sys
    from songspace._util import atomic_directory
    real, calls = os.replace, []
    def replace(a, b):
        calls.append(1)
        real(a, b)
        if len(calls) == 1:   # old output moved aside, new one not yet in place
            os._exit(9)
    os.replace = replace
    with atomic_directory(sys.argv[1], overwrite=True) as tmp:
        (tmp / "f").write_text("new")
    """
)


def test_a_swap_killed_midway_is_restored_by_the_next_run(tmp_path, caplog):
    out = tmp_path / "out"
    out.mkdir()
    (out / "f").write_text("old")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run([sys.executable, "-c", _KILL_MID_SWAP, str(out)], env=env, timeout=60)
    assert res.returncode == 9
    assert not out.exists()  # the state the issue reports
    left = sorted(p.name for p in tmp_path.iterdir())
    assert any(n.startswith(".out.old-") for n in left) and any(
        n.startswith(".out.tmp-") for n in left
    )
    with caplog.at_level(logging.WARNING, logger="songspace"), pytest.raises(OutputExistsError):
        check_output_free(out, overwrite=False)
    assert (out / "f").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert "restored" in caplog.text and "interrupted" in caplog.text


def test_stale_leftovers_are_cleaned_but_a_live_run_is_left_alone(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    out.mkdir()
    stale_tmp = tmp_path / f".out.tmp-{dead.pid}-abc"
    stale_old = tmp_path / f".out.old-{dead.pid}-def"
    live_tmp = tmp_path / f".out.tmp-{os.getpid()}-ghi"
    for d in (stale_tmp, stale_old / "previous", live_tmp):
        d.mkdir(parents=True)
    actions = recover_output(out)
    assert len(actions) == 2 and all("interrupted" in a for a in actions)
    assert not stale_tmp.exists() and not stale_old.exists() and live_tmp.exists()
    assert (out).is_dir()


def test_output_parent_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidValueError, match="found a file"):
        check_output_free(f / "out", overwrite=False)


# ---------------------------------------------------------------- 7. umask
def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "a.txt").write_text("x")
        atomic_write_text(tmp_path / "r.json", "{}")
        assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
        assert (tmp_path / "r.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        atomic_write_text(tmp_path / "private.json", "{}")
        assert (tmp_path / "private.json").stat().st_mode & 0o777 == 0o600
        p = tmp_path / "f"
        p.write_text("")
        os.chmod(p, 0o600)
        os.umask(0o002)
        apply_umask(p)
        assert p.stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)


def test_prepared_dataset_directory_is_not_private(tmp_path):
    old = os.umask(0o022)
    try:
        prepare_synthetic(tmp_path / "d", n_playlists=50, n_tracks=80)
    finally:
        os.umask(old)
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


# ---------------------------------------------------------------- 8. clean errors
@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OSError(errno.ENOSPC, "No space left on device", "/o/x.npz"), "/o/x.npz: no space left"),
        (OSError(errno.EROFS, "x", "/ro/out"), "/ro/out: the file system is read-only"),
        (NotADirectoryError(errno.ENOTDIR, "x", "/f/o"), "a parent of this path is"),
        (PermissionError(errno.EACCES, "Permission denied", "/p"), "/p: permission denied"),
    ],
)
def test_main_maps_os_errors_to_one_line(monkeypatch, capsys, exc, expected):
    import songspace.cli as cli

    def boom():
        raise exc

    monkeypatch.setattr(cli, "app", boom)
    with pytest.raises(SystemExit) as code:
        cli.main()
    err = flat(capsys.readouterr().err)
    assert code.value.code == 1
    assert expected in err and "Fix:" in err and "Traceback" not in err


def test_main_reports_an_unexpected_error_in_one_line_pointing_to_verbose(monkeypatch, capsys):
    import songspace.cli as cli

    def boom():
        raise IndexError("index 3 is out of bounds")

    monkeypatch.setattr(cli, "app", boom)
    logging.getLogger("songspace").setLevel(logging.INFO)
    with pytest.raises(SystemExit) as code:
        cli.main()
    err = capsys.readouterr().err
    assert code.value.code == 1
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one line (rich may wrap it)
    assert "--verbose" in err and "IndexError" in err


def test_cli_verbose_prints_the_traceback_of_an_unexpected_error(tmp_path):
    # A real command: --verbose shows where an unexpected error came from.
    script = (
        "import sys, songspace.cli as c\n"
        "def bad(*a, **k): raise ZeroDivisionError('boom')\n"
        "import songspace.reports.summary as s; s.dataset_info = bad\n"
        "sys.argv = ['songspace', '--verbose', 'info', sys.argv[1]]\n"
        "c.main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert res.returncode == 1
    assert "Traceback" in res.stderr and "ZeroDivisionError" in res.stderr


def test_cli_output_under_a_file_is_a_clear_error(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    res = songspace("prepare", "synthetic", "--playlists", "50", "-o", str(f / "out"))
    assert res.returncode == 1
    assert "Traceback" not in res.stderr and "found a file" in flat(res.stderr)


@pytest.fixture(scope="module")
def ds(small) -> Dataset:
    return Dataset.load(small)


def _bad_npy_files(tmp_path: Path, n: int) -> dict[str, tuple[Path, type, str]]:
    good = tmp_path / "good.npy"
    np.save(good, np.ones((n, 4)))
    truncated = tmp_path / "trunc.npy"
    truncated.write_bytes(good.read_bytes()[:100])
    obj = tmp_path / "obj.npy"
    np.save(obj, np.array([[1, "a"]] * n, dtype=object), allow_pickle=True)
    cplx = tmp_path / "cplx.npy"
    np.save(cplx, np.ones((n, 4)) * (1 + 2j))
    strs = tmp_path / "strs.npy"
    np.save(strs, np.full((n, 4), "1.0"))
    npz = tmp_path / "trunc.npz"
    np.savez(tmp_path / "full.npz", embeddings=np.ones((n, 4)))
    npz.write_bytes((tmp_path / "full.npz").read_bytes()[:200])
    return {
        "truncated": (truncated, FormatError, "unreadable"),
        "object": (obj, FormatError, "unreadable"),
        "complex": (cplx, InvalidValueError, "found complex"),
        "string": (strs, InvalidValueError, "found string"),
        "truncated npz": (npz, FormatError, "unreadable"),
    }


def test_bad_npy_npz_embeddings_are_clear_errors(ds, tmp_path):
    from songspace.evaluation.embeddings import load_embeddings

    for label, (path, kind, text) in _bad_npy_files(tmp_path, ds.n_tracks).items():
        with pytest.raises(kind, match=text) as err:
            load_embeddings(path, ds)
        assert str(path) in str(err.value), label


def test_bad_parquet_embeddings_are_clear_errors(ds, tmp_path):
    from songspace.evaluation.embeddings import load_embeddings

    ids = ds.tracks["track_id"].tolist()
    cases = {
        "strings": (
            pa.table({"track_id": ids, "d0": ["x"] * len(ids)}),
            InvalidValueError,
            "type string",
        ),
        "lists": (
            pa.table({"track_id": ids, "v": [[1.0, 2.0]] * len(ids)}),
            InvalidValueError,
            "one column per dimension",
        ),
        "no vector": (pa.table({"track_id": ids}), FormatError, "found none"),
        "duplicates": (
            pa.table({"track_id": ids[:2] + ids[:1], "d0": [1.0, 2.0, 3.0]}),
            DuplicateError,
            "each track_id once",
        ),
    }
    for label, (table, kind, text) in cases.items():
        path = tmp_path / f"{label.replace(' ', '_')}.parquet"
        pq.write_table(table, path)
        with pytest.raises(kind, match=text):
            load_embeddings(path, ds)
    bad = tmp_path / "trunc.parquet"
    bad.write_bytes(b"PAR1garbage")
    with pytest.raises(FormatError, match="unreadable"):
        load_embeddings(bad, ds)


def test_non_utf8_and_unknown_tables_in_config(tmp_path):
    from songspace.models.train import read_config

    latin = tmp_path / "latin.toml"
    latin.write_bytes("[params]\n# caf\xe9\nepochs = 1\n".encode("latin-1"))
    with pytest.raises(FormatError, match="expected UTF-8"):
        read_config(latin)
    extra = tmp_path / "extra.toml"
    extra.write_text("[params]\nepochs = 1\n[parms]\ndim = 3\n")
    with pytest.raises(FormatError, match=r"found also \['parms'\]"):
        read_config(extra)
    ok = tmp_path / "ok.toml"
    ok.write_text("[params]\nepochs = 2\n")
    assert read_config(ok) == {"epochs": 2}


# ---------------------------------------------------------------- 15. tune-report storage
def test_tune_report_with_a_mistyped_sqlite_storage_creates_nothing(tmp_path):
    pytest.importorskip("optuna")
    from songspace.reports.tune_report import tune_report

    typo = tmp_path / "tuen.db"
    with pytest.raises(ParameterError, match="an existing SQLite study file"):
        tune_report(["s"], tmp_path / "rep", storage=str(typo))
    assert not typo.exists()


# ---------------------------------------------------------------- 9. default evaluate
def _genre_only_csv(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    rows = ["sequence_id,position,track_id"]
    for s in range(200):
        g = s % 4
        rows += [f"s{s},{p},t{g * 30 + rng.integers(30)}" for p in range(12)]
    plays = tmp_path / "plays.csv"
    plays.write_text("\n".join(rows) + "\n")
    tracks = tmp_path / "tracks.csv"
    tracks.write_text("track_id,genre\n" + "".join(f"t{t},g{t // 30}\n" for t in range(120)))
    return plays, tracks


def test_default_evaluate_skips_what_genres_without_artists_cannot_support(tmp_path, caplog):
    from songspace.evaluation.suite import run_evaluation

    plays, tracks = _genre_only_csv(tmp_path)
    d = tmp_path / "d"
    prepare_long(plays, d, metadata=MetadataSpec(tracks=tracks))
    with caplog.at_level(logging.INFO, logger="songspace"):
        _, results, _ = run_evaluation(d, [], test_fraction=0.2)
    rnd = results[0].metrics
    assert "vrc_genre" in rnd and "genre_coherence" in rnd
    assert "vrc_artist" not in rnd and "artist_coherence" not in rnd
    assert "vrc_artist skipped: no artist labels" in caplog.text
    assert "completion skipped: no test playlist has 40 or more" in caplog.text


def test_vrc_with_no_known_label_is_not_an_index_error():
    from songspace.evaluation.clustering import vrc
    from songspace.evaluation.embeddings import Embeddings

    emb = Embeddings.from_array(np.eye(4) + 0.1, 4)
    with pytest.raises(InvalidValueError, match="found 0 groups"):  # a clear error, not IndexError
        vrc(emb, [None] * 4, min_size=5)


# ---------------------------------------------------------------- 10. w2v text ids
def test_w2v_export_round_trips_ids_with_white_space_through_gensim(tmp_path):
    gensim = pytest.importorskip("gensim")
    from songspace._util import w2v_track_id
    from songspace.models.train import export_embeddings

    ids = ["Artist\tTitle", "two words", "100% pure", "plain", "nbsp\u00a0id", "ünï code"]
    from songspace.data.dataset import make_tracks_table

    ds = Dataset(
        tracks=make_tracks_table(ids),
        indptr=np.array([0, 3, 6]),
        indices=np.arange(6, dtype=np.int32),
        sequence_ids=np.array(["a", "b"], dtype=object),
    )
    vectors = np.arange(len(ids) * 3, dtype=np.float32).reshape(len(ids), 3) / 10
    model = SimpleNamespace(embeddings_=vectors, available_=np.ones(len(ids), bool))
    export_embeddings(model, ds, tmp_path)
    kv = gensim.models.KeyedVectors.load_word2vec_format(str(tmp_path / "embeddings.w2v.txt"))
    assert [w2v_track_id(t) for t in kv.index_to_key] == ids
    np.testing.assert_allclose(kv.vectors, vectors, rtol=1e-5)
    assert "plain" in kv.key_to_index  # ids without white space are written unchanged


# ---------------------------------------------------------------- 16. data nobody tuned for
def test_playlist_csv_without_position_keeps_file_order(tmp_path, caplog):
    from songspace.data.longformat import read_long

    p = tmp_path / "songs.csv"
    p.write_text("track_id,playlist_id\nc,p1\na,p1\nb,p2\nz,p1\n")
    with caplog.at_level(logging.INFO, logger="songspace"):
        ds = read_long(p, columns={"sequence_id": "playlist_id"})
    ids = ds.tracks["track_id"].to_numpy()
    assert [list(ids[ds.sequence(s)]) for s in range(2)] == [["c", "a", "z"], ["b"]]
    assert "no position column" in caplog.text and "file order" in caplog.text


def test_headerless_pair_list_with_numbered_columns(tmp_path):
    from songspace.data.longformat import read_long
    from songspace.errors import MissingFieldError

    p = tmp_path / "pairs.csv"
    p.write_text("1,x\n1,y\n2,y\n2,z\n")
    ds = read_long(p, columns={"sequence_id": "1", "track_id": "2"}, header=False)
    assert ds.n_sequences == 2 and ds.n_entries == 4 and list(ds.lengths) == [2, 2]
    with pytest.raises(MissingFieldError, match="--map track_id=N"):
        read_long(p, columns={"sequence_id": "1"}, header=False)


def test_tab_separated_log_with_time_as_order_and_ties(tmp_path, caplog):
    from songspace.data.longformat import read_long

    p = tmp_path / "log.csv"  # a .csv suffix, but tab-separated
    p.write_text(
        "session\titem\ttime\n"
        "s\tb\t1600000005\ns\ta\t1600000001\ns\tc\t1600000005\ns\td\t1600000003\n"
    )
    cols = {"sequence_id": "session", "track_id": "item", "position": "time", "timestamp": "time"}
    with caplog.at_level(logging.INFO, logger="songspace"):
        ds = read_long(p, columns=cols)
    ids = ds.tracks["track_id"].to_numpy()
    assert list(ids[ds.sequence(0)]) == ["a", "d", "b", "c"]  # b, c tie: file order
    assert list(ds.timestamps) == [1600000001, 1600000003, 1600000005, 1600000005]
    assert "tab-separated" in caplog.text
    ds2 = read_long(p, columns={"sequence_id": "session", "track_id": "item"}, sep="\t")
    assert list(ds2.tracks["track_id"].to_numpy()[ds2.sequence(0)]) == ["b", "a", "c", "d"]


# ------------------------------------------------ 11. no training context: unavailable
def _seqs_dataset(seqs: list[list[int]], n_tracks: int) -> Dataset:
    from songspace.data.builder import finish_dataset

    lengths = [len(s) for s in seqs]
    return finish_dataset(
        track_ids=[f"t{i}" for i in range(n_tracks)],
        indptr=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        indices=np.asarray([t for s in seqs for t in s], dtype=np.int64),
        sequence_ids=np.asarray([f"s{i}" for i in range(len(seqs))], dtype=object),
    )


def test_tracks_with_context_counts_sequences_and_chunks():
    from songspace.graph.limits import tracks_with_context

    ds = _seqs_dataset([[0, 1, 2], [0, 1, 3], [4]], 6)
    assert tracks_with_context(ds).tolist() == [True, True, True, True, False, False]
    # chunks of 2: [0, 1] [2] and [0, 1] [3]: tracks 2 and 3 sit alone in their chunk
    assert tracks_with_context(ds, max_len=2).tolist() == [True, True, False, False, False, False]


def test_track2vec_one_track_sequences_are_unavailable_not_embedded(caplog):
    from songspace.models.track2vec import Track2Vec

    # before the fix: 10 of 10 "embedded", and epochs=1 / epochs=50 gave the same bits
    singles = _seqs_dataset([[t] for t in range(10)], 10)
    for epochs in (1, 50):
        with pytest.raises(InvalidValueError, match="only one-entry sequences"):
            Track2Vec(dim=25, epochs=epochs).fit(singles)
    # mixed: tracks 0-5 in real sequences, 6-9 only alone
    mixed = _seqs_dataset([[0, 1, 2], [2, 3, 4, 5], [0, 5], [6], [7], [8], [9]] * 5, 10)
    fits = []
    with caplog.at_level(logging.WARNING, logger="songspace"):
        for epochs in (1, 50):
            fits.append(Track2Vec(dim=25, epochs=epochs, seed=3).fit(mixed))
    assert fits[0].available_.tolist() == [True] * 6 + [False] * 4
    assert not fits[0].embeddings_[6:].any()
    # the trained tracks did learn: their vectors depend on the number of epochs
    assert not np.array_equal(fits[0].embeddings_[:6], fits[1].embeddings_[:6])
    assert "4 of 10 tracks occur only in one-entry sequences" in caplog.text


def test_node2vec_empty_graph_is_a_clear_error():
    from songspace.models.node2vec import Node2Vec

    ds = _seqs_dataset([[0, 1], [2, 3], [4, 5]], 6)  # every pair once: no edge at 2
    with pytest.raises(ParameterError, match="at min_weight=1, 6 of 6 tracks would have an edge"):
        Node2Vec(dim=8, walks_per_node=1, walk_length=5).fit(ds)
    fitted = Node2Vec(dim=8, walks_per_node=1, walk_length=5, min_weight=1).fit(ds)
    assert fitted.available_.all()
    singles = _seqs_dataset([[t] for t in range(4)], 4)
    with pytest.raises(ParameterError, match="no two tracks share a sequence"):
        Node2Vec(dim=8, min_weight=1).fit(singles)


# --------------------------------------------- 12. a graph that cannot fit is refused
def test_graph_bound_is_an_upper_bound_and_exact_at_min_weight_1():
    from songspace.graph.cooccurrence import build_cooccurrence
    from songspace.graph.limits import estimate_graph_entries

    rng = np.random.default_rng(0)
    seqs = [rng.choice(40, size=int(rng.integers(1, 12))).tolist() for _ in range(80)]
    ds = _seqs_dataset(seqs, 40)
    for m in (1, 2, 3, 5):
        nnz = build_cooccurrence(ds, min_weight=m, memory_limit=10**12).adjacency.nnz
        bound = estimate_graph_entries(ds, m)
        assert nnz <= bound
    # one sequence of n distinct tracks: exactly n (n - 1) entries at min_weight=1
    one = _seqs_dataset([list(range(30))], 30)
    assert estimate_graph_entries(one, 1) == 30 * 29
    assert build_cooccurrence(one, min_weight=1).adjacency.nnz == 30 * 29


def test_one_100000_entry_playlist_is_refused_before_building(monkeypatch):
    from songspace.errors import GraphTooLargeError
    from songspace.graph import cooccurrence
    from songspace.graph.limits import MEMORY_ENV

    n = 100_000
    data = (np.array([0, n]), np.arange(n), n)
    built = []
    monkeypatch.setattr(cooccurrence, "_upper_blocks", lambda *a: built.append(1) or iter(()))
    monkeypatch.setenv(MEMORY_ENV, "16G")
    with pytest.raises(GraphTooLargeError) as info:
        cooccurrence.build_cooccurrence(data, min_weight=1)
    msg = str(info.value)
    assert "up to 9,999,900,000 entries" in msg and "240.0 GB" in msg
    assert "limit of 17.2 GB" in msg  # 16 GiB
    assert "raise min_weight to 2" in msg and "the longest has 100,000 distinct tracks" in msg
    assert MEMORY_ENV in msg
    assert not built  # refused before the block pass started
    # the limit is configurable: an explicit one that fits lets a small graph through
    small = (np.array([0, 50]), np.arange(50), 50)
    monkeypatch.setenv(MEMORY_ENV, "1K")
    with pytest.raises(GraphTooLargeError):
        cooccurrence.build_cooccurrence(small, min_weight=1)
    monkeypatch.undo()
    assert cooccurrence.build_cooccurrence(small, min_weight=1, memory_limit=10**6).n_edges == 1225


def _repeated_groups(n_groups: int = 100, size: int = 20, copies: int = 10):
    """``n_groups`` disjoint groups of ``size`` tracks, each one playlist ``copies`` times:
    the bound counts every copy's pairs (``copies / min_weight`` times too many), while
    the graph has exactly ``n_groups * size * (size - 1)`` entries."""
    seqs = [list(range(g * size, (g + 1) * size)) for g in range(n_groups) for _ in range(copies)]
    return _seqs_dataset(seqs, n_groups * size)


def test_graph_whose_loose_bound_exceeds_the_limit_is_built_when_it_fits(caplog):
    from songspace.graph import build_cooccurrence
    from songspace.graph.limits import BYTES_PER_ENTRY, estimate_graph_entries

    ds = _repeated_groups()
    entries = 100 * 20 * 19  # hand count: 38,000
    assert estimate_graph_entries(ds, 2) == 1000 * 20 * 19 // 2  # 190,000: 5x too many
    limit = 2 * BYTES_PER_ENTRY * entries  # fits the graph, not the bound
    with caplog.at_level(logging.INFO, logger="songspace"):
        g = build_cooccurrence(ds, min_weight=2, memory_limit=limit, block_budget=2_000)
    assert g.adjacency.nnz == entries and g.adjacency.data.min() == 10
    assert "checking its real size while it is built" in caplog.text


def test_graph_too_large_is_stopped_during_the_build():
    from songspace.errors import GraphTooLargeError
    from songspace.graph import build_cooccurrence
    from songspace.graph.limits import BYTES_PER_ENTRY

    ds = _repeated_groups()
    limit = BYTES_PER_ENTRY * 20_000  # the graph needs 38,000 entries
    with pytest.raises(GraphTooLargeError) as info:
        build_cooccurrence(ds, min_weight=2, memory_limit=limit, block_budget=2_000)
    msg = str(info.value)
    done, total = (
        int(v.replace(",", ""))
        for v in re.search(r"after ([\d,]+) of ([\d,]+) blocks", msg).groups()
    )
    assert 1 <= done < total  # stopped part-way, not after the whole pass
    assert "its upper bound was 190,000 entries" in msg and "Fix: " in msg
    # a threshold no pair reaches: nothing is kept, the build finishes
    assert build_cooccurrence(ds, min_weight=11, memory_limit=limit).n_edges == 0


def test_graph_memory_env_is_checked(monkeypatch):
    from songspace.graph.limits import MEMORY_ENV, graph_memory_limit

    monkeypatch.setenv(MEMORY_ENV, "1.5G")
    assert graph_memory_limit() == int(1.5 * 2**30)
    monkeypatch.setenv(MEMORY_ENV, "lots")
    with pytest.raises(ParameterError, match="K, M, G or T suffix"):
        graph_memory_limit()


# ----------------------------------------------- 13. hints name options that exist
def _mpd_slice(path: Path, playlists: list[dict]) -> Path:
    path.write_text(json.dumps({"playlists": playlists}))
    return path


def _playlist(pid, uris) -> dict:
    return {"pid": pid, "tracks": [{"track_uri": u, "artist_name": "A"} for u in uris]}


def test_metadata_hints_name_the_real_options(tmp_path):
    from songspace.data.metadata import read_artist_metadata, read_track_metadata

    tracks = tmp_path / "t.csv"
    tracks.write_text("id,genre\nx,pop\n")
    with pytest.raises(Exception, match="map it with --track-map track_id=COLUMN") as info:
        read_track_metadata(tracks)
    assert "--map " not in str(info.value)  # was "map it with --map" (no such option)
    artists = tmp_path / "a.csv"
    artists.write_text("who,genres\nx,[]\n")
    with pytest.raises(Exception, match="map it with --artist-map artist_name=COLUMN"):
        read_artist_metadata(artists)
    dup = tmp_path / "d.csv"
    dup.write_text("track_id,popularity\nx,1\nx,2\n")
    with pytest.raises(DuplicateError) as info:
        read_track_metadata(dup, duplicates="error")
    assert "--merge-duplicates" not in str(info.value)  # no such option
    assert "without --strict-duplicates" in str(info.value)


def test_cli_assignment_errors_show_each_options_own_form(tmp_path, small):
    res = songspace("train", "track2vec", str(small), "-o", str(tmp_path / "r"), "--param", "dim")
    text = flat(res.stderr)
    assert res.returncode == 1
    assert "`--param NAME=VALUE`" in text and "--param dim=64" in text
    assert "COLUMN" not in text and "sequence_id=session" not in text  # was the --map hint


def test_split_error_reads_as_a_sentence(small):
    from songspace.data.splits import split_sequences

    ds = Dataset.load(small).subset(np.arange(2))
    with pytest.raises(ParameterError) as info:
        split_sequences(ds, (0.5, 0.25, 0.25))
    msg = str(info.value)
    assert "training sequence of" not in msg  # was "... sequence of 0 must hold"
    assert "holds out 1 validation and 1 test sequence of the dataset's 2, leaving 0" in msg


def test_truncated_json_and_zip_are_reported_as_such(tmp_path):
    import zipfile

    from songspace.data.mpd import read_mpd

    good = _mpd_slice(tmp_path / "mpd.slice.0-999.json", [_playlist(1, ["spotify:track:a"] * 2)])
    text = good.read_text()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index("spotify:track:a") + 5])
    with pytest.raises(FormatError) as info:
        read_mpd(cut)
    assert "at at" not in str(info.value)  # was "starting at at column"
    assert "unterminated string starting at column" in str(info.value)
    archive = tmp_path / "mpd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(good, "data/mpd.slice.0-999.json")
    data = archive.read_bytes()
    for name in ("cut.zip", "cut-without-suffix"):
        (tmp_path / name).write_bytes(data[: len(data) // 2])
        with pytest.raises(FormatError, match="truncated or damaged") as info:
            read_mpd(tmp_path / name)
        assert "JSON" not in str(info.value)  # was reported as bad JSON
    assert read_mpd(archive).n_entries == 2


def test_train_help_shows_the_params_table():
    res = runner.invoke(__import__("songspace.cli").cli.app, ["train", "--help"])
    assert "[params]" in res.output


# ------------------------------------------- 14. every input path checked before reading
def test_prepare_mpd_missing_metadata_fails_before_reading_slices(tmp_path, monkeypatch):
    from songspace.data import mpd
    from songspace.data.prepare import MetadataSpec, prepare_mpd

    missing = tmp_path / "nonexistent.csv"
    slices = tmp_path / "slices"
    slices.mkdir()
    _mpd_slice(slices / "mpd.slice.0-999.json", [_playlist(1, ["spotify:track:a"])])
    read = []
    monkeypatch.setattr(mpd, "iter_playlists", lambda *a, **k: read.append(1) or iter(()))
    for opt in ("tracks", "artists"):
        with pytest.raises(FormatError, match="found nothing") as info:
            prepare_mpd(slices, tmp_path / "o", metadata=MetadataSpec(**{opt: missing}))
        assert "nonexistent.csv" in str(info.value)
    with pytest.raises(FormatError, match="found nothing"):
        prepare_long(tmp_path / "nonexistent.csv", tmp_path / "o")
    assert not read and not (tmp_path / "o").exists()


# ------------------------------------------------------- 15. silent coercions (rest)
@pytest.mark.parametrize("pid, shown", [(None, "found null"), ("", "found ''"), (True, "True")])
def test_mpd_pid_null_or_empty_is_an_error(tmp_path, pid, shown):
    from songspace.data.mpd import read_mpd

    f = _mpd_slice(tmp_path / "s.json", [_playlist(pid, ["spotify:track:a"])])
    with pytest.raises(InvalidValueError, match="field 'pid'") as info:
        read_mpd(f)  # was: the playlist id "None"
    assert shown in str(info.value)


def test_mpd_empty_track_id_after_prefix_is_an_error(tmp_path):
    from songspace.data.mpd import read_mpd

    f = _mpd_slice(tmp_path / "s.json", [_playlist(7, ["spotify:track:a", "spotify:track:"])])
    with pytest.raises(InvalidValueError, match="track 1, field 'track_uri'") as info:
        read_mpd(f)
    assert "expected a track id after 'spotify:track:'" in str(info.value)


def test_empty_dataset_is_not_written(tmp_path):
    from songspace.data.prepare import prepare_mpd

    f = _mpd_slice(tmp_path / "s.json", [_playlist(1, [])])
    res = songspace("prepare", "mpd", str(f), "-o", str(tmp_path / "o"), "--drop-empty")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "found none (0 sequences, 1 empty ones dropped)" in flat(res.stderr)
    assert not (tmp_path / "o").exists()
    with pytest.raises(Exception, match="the dataset would be empty"):
        prepare_mpd(_mpd_slice(tmp_path / "e.json", []), tmp_path / "o")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------- 17. artists on the CSV path
def _songs_csv(tmp_path: Path, n_playlists: int = 30) -> Path:
    rng = np.random.default_rng(0)
    lines = ["track_id,track_name,track_artist,playlist_id,playlist_genre"]
    for p in range(n_playlists):
        genre = ("pop", "rock", "rap")[p % 3]
        for t in rng.choice(120, 12, replace=False):
            lines.append(f"tr{t},name {t},Artist {t % 25},pl{p},{genre}")
    f = tmp_path / "songs.csv"
    f.write_text("\n".join(lines) + "\n")
    return f


def test_csv_track_map_artist_name_attaches_artists(tmp_path, caplog):
    songs = _songs_csv(tmp_path)
    artists = tmp_path / "artists.csv"
    artists.write_text(
        "artists,genres\n" + "".join(f"Artist {a},['g{a % 4}']\n" for a in range(25))
    )
    ds = prepare_long(
        songs,
        tmp_path / "d",
        columns={"sequence_id": "playlist_id"},
        metadata=MetadataSpec(
            tracks=songs, track_columns={"artist_name": "track_artist"}, artists=artists
        ),
    )
    assert ds.summary()["artists"] == 25  # was 0
    assert ds.tracks["artist_name"].notna().all()
    assert ds.source["coverage"]["genre"]["artist_level"] == 1.0  # was a 0% join
    res = songspace("info", str(tmp_path / "d"))
    assert res.returncode == 0 and "artists" in res.stdout
    assert next(ln for ln in res.stdout.splitlines() if "artists" in ln).split()[-2] == "25"


def test_unknown_map_fields_are_rejected_with_the_valid_list(tmp_path):
    from songspace.data.metadata import (
        ARTIST_FIELDS,
        TRACK_FIELDS,
        read_artist_metadata,
        read_track_metadata,
    )
    from songspace.errors import MissingFieldError

    songs = _songs_csv(tmp_path)
    with pytest.raises(ParameterError, match="--track-map") as info:
        prepare_long(
            songs,
            tmp_path / "d",
            columns={"sequence_id": "playlist_id"},
            metadata=MetadataSpec(tracks=songs, track_columns={"artist": "track_artist"}),
        )
    assert ", ".join(TRACK_FIELDS) in str(info.value) and "artist=track_artist" in str(info.value)
    with pytest.raises(ParameterError, match="--artist-map"):
        read_artist_metadata(songs, columns={"name": "track_artist"})
    # acoustic_vector_<N> is a field of its own (accepted, then looked up as a column)
    with pytest.raises(MissingFieldError, match="acoustic_vector_0"):
        read_track_metadata(songs, columns={"acoustic_vector_0": "x"})  # was ignored
    with pytest.raises(ParameterError, match="--artist-map"):
        read_artist_metadata(songs, columns={"acoustic_vector_0": "x"})
    # the CLI's help lists exactly these fields
    res = runner.invoke(__import__("songspace.cli").cli.app, ["prepare", "csv", "--help"])
    text = flat(res.output.replace("│", " "))
    assert ", ".join(TRACK_FIELDS) + ", acoustic_vector_N" in text
    assert ", ".join(ARTIST_FIELDS) + "." in text


def test_metadata_join_below_one_percent_warns(tmp_path, caplog):
    songs = _songs_csv(tmp_path)
    other = tmp_path / "other.csv"
    other.write_text("track_id,popularity\n" + "".join(f"zz{i},5\n" for i in range(50)))
    artists = tmp_path / "artists.csv"
    artists.write_text("artists,popularity\nNobody,3\n")
    with caplog.at_level(logging.WARNING, logger="songspace"):
        prepare_long(
            songs,
            None,
            columns={"sequence_id": "playlist_id"},
            metadata=MetadataSpec(tracks=other, artists=artists),
        )
    text = flat(caplog.text)
    assert "track metadata matched 0 of" in text and "--track-map track_id=COLUMN" in text
    assert "artist metadata matched 0 of" in text and "have no artist names" in text


# ------------------------------------------------- 19. defaults for small or odd data
def test_default_test_share_gives_about_100_test_sequences():
    from songspace.data.splits import default_test_fraction

    assert default_test_fraction(1_000_000) == 0.01
    assert default_test_fraction(10_000) == 0.01
    f = default_test_fraction(471)  # 1% left 5 test playlists of 471
    assert f == 0.213 and round(f * 471) == 100
    assert default_test_fraction(200) == 0.25  # all that can: half stays for training


def test_train_and_evaluate_choose_the_same_share_and_say_so(small, tmp_path, caplog):
    from songspace.evaluation.suite import run_evaluation
    from songspace.models.train import train_model

    # 300 sequences: 1% would hold out 3; 100 would need 0.334, so the cap 0.25 (75)
    with caplog.at_level(logging.INFO, logger="songspace"):
        train_model("track2vec", small, tmp_path / "r", params={"dim": 25, "epochs": 1})
    said = "held-out share 0.25 per part (validation and test): 75 test sequences of 300; "
    assert said + "the papers' 0.01 would leave 3" in flat(caplog.text)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="songspace"):
        protocol, _, _ = run_evaluation(
            small, [tmp_path / "r" / "embeddings.npz"], families=["next_song"]
        )
    assert len(protocol.split.test) == 75
    assert said in flat(caplog.text)


def test_pair_list_keeps_both_entries_of_each_pair(tmp_path, caplog):
    from songspace.data.splits import mask_last

    ds = _seqs_dataset([[0, 1], [1, 2], [2, 0], [3, 4, 5]], 6)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        view, q, t = mask_last(ds, np.arange(4))
    # before: each pair became one track, so training saw no context at all
    assert [view.sequence(s).tolist() for s in range(4)] == [[0, 1], [1, 2], [2, 0], [3, 4]]
    assert q.tolist() == [4] and t.tolist() == [5]
    assert "3 of 4 training sequences have fewer than 3 entries" in caplog.text


def test_train_full_hint_says_it_would_score_training_playlists(small, tmp_path):
    res = songspace(
        "train",
        "track2vec",
        str(small),
        "-o",
        str(tmp_path / "r"),
        "--full",
        "--param",
        "dim=25",
        "--param",
        "epochs=1",
    )
    text = flat(res.stdout)
    assert res.returncode == 0
    assert "is refused on this dataset (the model saw its test playlists)" in text
    res = songspace(
        "train",
        "track2vec",
        str(small),
        "-o",
        str(tmp_path / "s"),
        "--param",
        "dim=25",
        "--param",
        "epochs=1",
    )
    assert f"evaluate with `songspace evaluate {small} {tmp_path / 's'} --seed 0`" in flat(
        res.stdout
    )


def test_sequence_level_label_mapped_onto_tracks_warns(tmp_path, caplog):
    songs = _songs_csv(tmp_path)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        prepare_long(
            songs,
            None,
            columns={"sequence_id": "playlist_id"},
            metadata=MetadataSpec(tracks=songs, track_columns={"genre": "playlist_genre"}),
        )
    assert "every track shares a genre label" in caplog.text
    assert "leaks the held-out answer" in caplog.text
    caplog.clear()
    tracks = tmp_path / "tracks.csv"  # a genre of the track: varies inside playlists
    tracks.write_text("track_id,genre\n" + "".join(f"tr{t},g{t % 7}\n" for t in range(120)))
    with caplog.at_level(logging.WARNING, logger="songspace"):
        prepare_long(
            songs,
            None,
            columns={"sequence_id": "playlist_id"},
            metadata=MetadataSpec(tracks=tracks),
        )
    assert "shares a genre label" not in caplog.text


def test_sparse_graph_says_how_many_tracks_would_have_an_edge_at_1(caplog):
    from songspace.graph.cooccurrence import build_cooccurrence

    ds = _seqs_dataset([[0, 1], [2, 3], [4, 5], [6, 7], [0, 1]] + [[t] for t in range(8, 30)], 30)
    with caplog.at_level(logging.WARNING, logger="songspace"):
        g = build_cooccurrence(ds, min_weight=2)
    assert g.n_active_nodes == 2
    assert "only 2 of 30 tracks (6.7%) have an edge" in caplog.text
    assert "at min_weight=1, 8 would (26.7%)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="songspace"):
        build_cooccurrence(ds, min_weight=1)
    assert "have an edge" not in caplog.text

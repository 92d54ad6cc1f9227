"""Issue 12: never lose data, never show a traceback. One section per numbered item."""

from __future__ import annotations

import errno
import json
import logging
import os
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
        capture_output=True, text=True, cwd=cwd, timeout=300, env=env,
    )  # fmt: skip


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
        study="s1", storage="postgresql://user:***@db/x", counts={"COMPLETE": 1},
        seconds=1.0, reference={"metrics": {}, "params": {}}, best=[],
    )  # fmt: skip
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
)  # fmt: skip
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
        "import songspace.summary as s; s.dataset_info = bad\n"
        "sys.argv = ['songspace', '--verbose', 'info', sys.argv[1]]\n"
        "c.main()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    res = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
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

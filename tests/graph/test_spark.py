"""The Spark engine of the graph tables gives the in-memory builders' arrays and files."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from songspace.cli import app
from songspace.data.synthetic import generate
from songspace.errors import MissingDependencyError, ParameterError
from songspace.graph.tables import GRAPH_DIR, GraphTables, build_tables
from tests.graph.test_cooccurrence import make_dataset, random_sequences

runner = CliRunner()

_WHY_NOT = (
    "pyspark is not installed (pip install 'songspace[spark]')"
    if importlib.util.find_spec("pyspark") is None
    else "no Java runtime (`java`) on PATH; pyspark needs Java 17+ "
    "(Debian: apt-get install openjdk-17-jre-headless)"
    if shutil.which("java") is None
    else None
)


@pytest.fixture(scope="module")
def spark() -> Any:
    if _WHY_NOT is not None:
        pytest.skip(_WHY_NOT)
    from songspace.graph.spark import spark_session

    session = spark_session("local[2]", app_name="songspace-tests")
    yield session
    session.stop()


def assert_same(a: GraphTables, b: GraphTables) -> None:
    for m, n in ((a.graph.adjacency, b.graph.adjacency), (a.bigrams, b.bigrams)):
        assert m.shape == n.shape
        for name in ("indptr", "indices", "data"):
            x, y = getattr(m, name), getattr(n, name)
            assert x.dtype == y.dtype, name
            np.testing.assert_array_equal(x, y)
    assert a.graph.min_weight == b.graph.min_weight
    assert a.popularity.dtype == b.popularity.dtype
    np.testing.assert_array_equal(a.popularity, b.popularity)


def test_known_answer(spark: Any) -> None:
    from songspace.graph.spark import build_tables_spark

    # sequences: [0 1 2], [1 2 2 0], [3]; weights (0,1)=2 (0,2)=2 (1,2)=2; 2->2 is a self pair
    ds = make_dataset([[0, 1, 2], [1, 2, 2, 0], [3]], 5)
    t = build_tables_spark(ds, min_weight=2, spark=spark)
    assert t.graph.adjacency.toarray().tolist() == [
        [0, 2, 2, 0, 0],
        [2, 0, 2, 0, 0],
        [2, 2, 0, 0, 0],
        [0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0],
    ]
    assert t.popularity.tolist() == [2, 2, 2, 1, 0]
    bigrams = {
        (int(a), int(b)): int(c)
        for a, b, c in zip(*t.bigrams.nonzero(), t.bigrams.data, strict=True)
    }
    assert bigrams == {(0, 1): 1, (1, 2): 2, (2, 0): 1}


@pytest.mark.parametrize("min_weight", [1, 3])
def test_random_sequences_match_memory(spark: Any, min_weight: int) -> None:
    from songspace.graph.spark import build_tables_spark

    ds = make_dataset(random_sequences(0), 40)
    assert_same(
        build_tables_spark(ds, min_weight=min_weight, spark=spark),
        build_tables(ds, min_weight=min_weight),
    )


def test_synthetic_matches_memory(spark: Any) -> None:
    from songspace.graph.spark import build_tables_spark

    ds = generate(n_playlists=400, n_tracks=500, seed=3)
    spark_tables = build_tables_spark(ds, min_weight=2, spark=spark)
    assert spark_tables.graph.n_edges > 1000
    assert_same(spark_tables, build_tables(ds, min_weight=2))


def test_cli_engine_spark_writes_the_memory_files(spark: Any, tmp_path: Path) -> None:
    args = ["prepare", "synthetic", "--playlists", "300", "--n-tracks", "400", "--seed", "1"]
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "m"), "--graph"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, [*args, "-o", str(tmp_path / "s"), "--engine", "spark"])
    assert res.exit_code == 0, res.output
    m, s = tmp_path / "m" / GRAPH_DIR, tmp_path / "s" / GRAPH_DIR
    names = sorted(p.name for p in m.iterdir())
    assert names == ["bigrams.npz", "cooccurrence.json", "cooccurrence.npz", "popularity.npy"]
    assert sorted(p.name for p in s.iterdir()) == names
    assert_same(GraphTables.load(m), GraphTables.load(s))


def test_unknown_engine_lists_the_choices(tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["prepare", "synthetic", "-o", str(tmp_path / "x"), "--engine", "dask"]
    )
    assert res.exit_code == 1
    assert not (tmp_path / "x").exists()
    with pytest.raises(ParameterError, match="memory, spark"):
        build_tables(make_dataset([[0, 1]], 2), engine="dask")


def test_missing_pyspark_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from songspace.graph.spark import check_pyspark

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(MissingDependencyError, match=r"songspace\[spark\]"):
        check_pyspark()


def test_pair_rows_and_partition_count_known_answers() -> None:
    from songspace.graph.spark import (
        DEFAULT_SHUFFLE_PARTITIONS,
        MAX_SHUFFLE_PARTITIONS,
        ROWS_PER_PARTITION,
        pair_rows,
        shuffle_partitions,
    )

    # distinct tracks per sequence: 3, 2 (2 repeats), 1 -> 3 + 1 + 0 pair rows
    assert pair_rows(make_dataset([[0, 1, 2], [1, 2, 2], [3]], 5)) == 4
    assert ROWS_PER_PARTITION == 400_000
    assert shuffle_partitions(0) == DEFAULT_SHUFFLE_PARTITIONS == 8
    assert shuffle_partitions(8 * 400_000) == 8
    assert shuffle_partitions(8 * 400_000 + 1) == 9
    # the measured case: 190,806,961 rows (MPD preset at scale 0.1) -> ceil(477.02) = 478
    assert shuffle_partitions(190_806_961) == 478
    assert shuffle_partitions(10**12) == MAX_SHUFFLE_PARTITIONS == 10_000


def test_partitions_chosen_logged_and_restored(
    spark: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import songspace.graph.spark as gs

    key, coalesce = gs.PARTITIONS_KEY, gs.COALESCE_KEY
    before = spark.conf.get(coalesce)
    assert spark.conf.get(key) == "8" and not gs.user_set_partitions(spark)
    ds = make_dataset(random_sequences(0), 40)
    rows = gs.pair_rows(ds)
    monkeypatch.setattr(gs, "ROWS_PER_PARTITION", max(1, rows // 11))  # -> 11 or 12
    expected = gs.shuffle_partitions(rows)
    assert expected > 8
    seen: list[tuple[str, str]] = []
    read_back = gs._read_back

    def spy(df: Any, *args: Any) -> Any:
        seen.append((spark.conf.get(key), spark.conf.get(coalesce)))
        return read_back(df, *args)

    monkeypatch.setattr(gs, "_read_back", spy)
    with caplog.at_level("INFO", logger="songspace.graph.spark"):
        tables = gs.build_tables_spark(ds, min_weight=1, spark=spark)
    assert seen == [(str(expected), "false")] * 3
    assert f"Spark shuffle partitions: {expected} for" in caplog.text
    assert (spark.conf.get(key), spark.conf.get(coalesce)) == ("8", before)
    assert_same(tables, build_tables(ds, min_weight=1))

    # a count the user set is kept, and so is coalescing
    spark.conf.set(key, "3")
    try:
        assert gs.user_set_partitions(spark)
        assert gs.planned_partitions(spark, rows) == 3
        seen.clear()
        caplog.clear()
        with caplog.at_level("INFO", logger="songspace.graph.spark"):
            gs.build_tables_spark(ds, min_weight=1, spark=spark)
        assert seen == [("3", before)] * 3
        assert "Spark shuffle partitions: 3 (set by the user" in caplog.text
        # spark_session() on the running session does not overwrite the user's count
        assert gs.spark_session("local[2]").conf.get(key) == "3"
    finally:
        spark.conf.set(key, "8")


_SESSIONS = """
from songspace.graph.spark import PARTITIONS_KEY, spark_session, user_set_partitions

spark = spark_session("local[1]")  # a fresh JVM: it reads $SPARK_CONF_DIR/spark-defaults.conf
print("DEFAULTS", spark.conf.get(PARTITIONS_KEY), user_set_partitions(spark), flush=True)
spark.stop()
spark = spark_session("local[1]", conf={PARTITIONS_KEY: "6"})
print("CONF", spark.conf.get(PARTITIONS_KEY), user_set_partitions(spark), flush=True)
spark.stop()
"""


def test_counts_chosen_before_the_session_are_the_users(tmp_path: Path) -> None:
    """A count in spark-defaults.conf or in ``conf`` is kept and counts as the user's
    (songspace's own default 8, and its choice per build, apply only without one)."""
    import os
    import subprocess

    if _WHY_NOT is not None:
        pytest.skip(_WHY_NOT)
    (tmp_path / "spark-defaults.conf").write_text(
        "# comment\n\nspark.sql.shuffle.partitions   5\nspark.ui.enabled false\n"
    )
    env = {**os.environ, "SPARK_CONF_DIR": str(tmp_path), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_GATEWAY_PORT", None)
    proc = subprocess.run(
        [sys.executable, "-c", _SESSIONS], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "DEFAULTS 5 True" in proc.stdout
    assert "CONF 6 True" in proc.stdout

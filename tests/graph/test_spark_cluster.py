"""The Spark engine on a real standalone cluster: a master and a worker on 127.0.0.1.

The same ``build_tables_spark`` that runs in ``local[2]`` elsewhere here runs against
``spark://127.0.0.1:PORT``, with its tasks in an executor JVM that the worker starts, and
must give the in-memory builders' arrays. The cluster is pyspark's own (``spark-class``
with the standalone Master and Worker classes), started and stopped by this module.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from songspace.data.synthetic import generate
from songspace.graph.tables import build_tables
from tests.graph.test_spark import _WHY_NOT, assert_same

pytestmark = pytest.mark.slow  # three JVMs: about 30 s


def _free_port() -> int:
    from songspace.models.distributed import free_port

    return free_port()


def _wait_for(log: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    pytest.fail(f"the Spark daemon did not log {text!r}: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def master_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if _WHY_NOT is not None:
        pytest.skip(_WHY_NOT)
    import pyspark

    home = Path(pyspark.__file__).parent
    tmp = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("SPARK_CONF_DIR", None)
    port = _free_port()
    url = f"spark://127.0.0.1:{port}"
    cls = "org.apache.spark.deploy"
    daemons = [
        (
            [
                f"{cls}.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(_free_port()),
            ],
            "master.log",
            "I have been elected leader",
        ),
        (
            [
                f"{cls}.worker.Worker",
                "--host",
                "127.0.0.1",
                "--cores",
                "2",
                "--memory",
                "1g",
                "--webui-port",
                str(_free_port()),
                "--work-dir",
                str(tmp / "work"),
                url,
            ],
            "worker.log",
            "Successfully registered with master",
        ),
    ]
    procs: list[subprocess.Popen] = []
    try:
        for args, log_name, ready in daemons:
            log = tmp / log_name
            with open(log, "w") as out:
                proc = subprocess.Popen(
                    [str(home / "bin" / "spark-class"), *args],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            procs.append(proc)
            _wait_for(log, ready, proc)
        yield url
    finally:
        for proc in reversed(procs):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)


def test_standalone_cluster_gives_the_memory_arrays(
    master_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from songspace.graph.spark import build_tables_spark, spark_session

    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")  # read if this call starts the JVM
    spark = spark_session(
        master_url,
        app_name="songspace-cluster-test",
        conf={
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.executor.memory": "512m",
            "spark.cores.max": "2",
        },
    )
    try:
        assert spark.sparkContext.master == master_url
        ds = generate(n_playlists=300, n_tracks=400, seed=5)
        # staging: a folder the executor can read and write (here the same disk)
        tables = build_tables_spark(ds, min_weight=2, spark=spark, staging=tmp_path)
        executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size()
    finally:
        spark.stop()
    assert executors >= 2  # the driver and at least one executor of the worker
    assert tables.graph.n_edges > 1000
    assert_same(tables, build_tables(ds, min_weight=2))


_DRIVER = """
import sys

from pyspark.sql import SparkSession

from songspace.data.dataset import Dataset
from songspace.graph.spark import user_set_partitions
from songspace.graph.tables import build_tables

data, staging, out = sys.argv[1:4]
# No master named: the one spark-submit was given holds (not songspace's local[2]).
tables = build_tables(Dataset.load(data), min_weight=2, engine="spark", staging=staging)
spark = SparkSession.getActiveSession()
print("MASTER", spark.sparkContext.master, flush=True)
print("PARTITIONS", spark.conf.get("spark.sql.shuffle.partitions"), flush=True)
print("USER_SET", user_set_partitions(spark), flush=True)
tables.save(out)
spark.stop()
"""


@pytest.mark.parametrize("partitions", [None, 3])
def test_spark_submit_runs_a_driver_on_the_cluster(
    master_url: str, tmp_path: Path, partitions: int | None
) -> None:
    """``spark-submit --master URL job.py``, job.py calling ``build_tables(engine="spark")``
    without a master: the submitted master and ``--conf`` hold (a submitted partition
    count is the user's; without one songspace chooses), and the tables written are the
    memory engine's (docs/scaling.md, "The graph tables: Spark")."""
    import sys

    import pyspark

    from songspace.graph.tables import GraphTables

    ds = generate(n_playlists=300, n_tracks=400, seed=6)
    ds.save(tmp_path / "data")
    (tmp_path / "job.py").write_text(_DRIVER)
    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }
    env.pop("SPARK_CONF_DIR", None)
    env.pop("SONGSPACE_SPARK_MASTER", None)
    proc = subprocess.run(
        [
            str(home / "bin" / "spark-submit"),
            "--master",
            master_url,
            "--conf",
            "spark.driver.host=127.0.0.1",
            "--conf",
            "spark.driver.bindAddress=127.0.0.1",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.executor.memory=512m",
            "--conf",
            "spark.cores.max=2",
            *(["--conf", f"spark.sql.shuffle.partitions={partitions}"] if partitions else []),
            str(tmp_path / "job.py"),
            str(tmp_path / "data"),
            str(tmp_path / "staging"),
            str(tmp_path / "tables"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"MASTER {master_url}" in proc.stdout
    if partitions:  # the submitted --conf, not songspace's choice
        assert f"PARTITIONS {partitions}" in proc.stdout
        assert "USER_SET True" in proc.stdout
    else:  # songspace's session default, which build_tables_spark replaces for its jobs
        assert "PARTITIONS 8" in proc.stdout
        assert "USER_SET False" in proc.stdout
    assert_same(GraphTables.load(tmp_path / "tables"), build_tables(ds, min_weight=2))

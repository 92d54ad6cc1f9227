"""The graph tables computed with Spark DataFrames (``songspace prepare --engine spark``).

Needs the extra ``spark`` (pyspark) and a Java 17+ runtime. The dataset's entries are
staged as Parquet (``seq, pos, track``); Spark then counts

- popularity: distinct ``(seq, track)`` pairs per track;
- co-occurrence weights: a self-join of the distinct ``(seq, track)`` pairs on ``seq``
  with ``a < b``, counted per pair and kept when ``>= min_weight`` (MUSIG §3.1);
- bigrams: a join of entry ``pos`` with entry ``pos + 1`` of the same sequence, without
  self pairs, counted per ordered pair (W2V §2.2);

and writes the results as Parquet, which the driver reads back into the same CSR
arrays the in-memory builders produce (:mod:`songspace.graph.tables`). The counting
is distributed; the final tables (one CSR graph, one bigram matrix) are assembled on
the driver, so they must fit there, as they must for every later step.

The session is ``local[2]`` unless ``master`` (or ``$SONGSPACE_SPARK_MASTER``) names
another; a local driver binds to 127.0.0.1. With a cluster master, ``staging`` must be
a folder every executor can read and write (a shared filesystem).

Shuffle partitions: the self-join's pair rows (:func:`pair_rows`) are the largest
intermediate, and too few partitions run a small heap out of memory in the map-side
partial aggregation. Unless the user chose ``spark.sql.shuffle.partitions`` (see
:func:`user_set_partitions`), :func:`build_tables_spark` sets it for its jobs to
:func:`shuffle_partitions` of the pair-row count and turns adaptive partition coalescing
off (which would merge the partitions again), restoring both settings afterwards.
"""

from __future__ import annotations

import atexit
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from songspace._optional import optional_import
from songspace._util import atomic_write_text
from songspace.data.dataset import Dataset
from songspace.graph.cooccurrence import CooccurrenceGraph
from songspace.graph.defaults import DEFAULT_MIN_WEIGHT
from songspace.params import POSITIVE_INT, check_param

if TYPE_CHECKING:
    from songspace.graph.tables import GraphTables

logger = logging.getLogger(__name__)

#: The master of the sessions songspace starts itself.
DEFAULT_MASTER = "local[2]"
MASTER_ENV = "SONGSPACE_SPARK_MASTER"

PARTITIONS_KEY = "spark.sql.shuffle.partitions"
COALESCE_KEY = "spark.sql.adaptive.coalescePartitions.enabled"
#: songspace's session default of ``spark.sql.shuffle.partitions``, and the fewest
#: partitions :func:`shuffle_partitions` chooses.
DEFAULT_SHUFFLE_PARTITIONS = 8
#: The most partitions :func:`shuffle_partitions` chooses (4e9 pair rows; beyond that,
#: set ``spark.sql.shuffle.partitions`` yourself or give the executors more memory).
MAX_SHUFFLE_PARTITIONS = 10_000
#: Self-join pair rows per shuffle partition. From the one measured case (BENCHMARKS.md,
#: "Graph tables: Spark local[2] vs the in-memory builders"): the MPD-shaped preset at
#: scale 0.1 (``generate_preset("mpd", scale=0.1, seed=0)``, 190,806,961 pair rows)
#: completed in a 512m driver with 400 partitions and failed with 8 (and with 64 that
#: adaptive execution coalesced): 477,017 rows per partition, rounded down to 400,000 so
#: that case gets at least 400 (478).
ROWS_PER_PARTITION = 400_000
#: Set on sessions made by :func:`spark_session` when it applied
#: :data:`DEFAULT_SHUFFLE_PARTITIONS` itself (the user chose no count).
AUTO_PARTITIONS_MARKER = "spark.songspace.autoShufflePartitions"


def _pyspark() -> Any:
    return optional_import("pyspark.sql", "the Spark engine").SparkSession


_LOG4J = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{1}: %m%n
"""


def _quiet_log_config() -> str:
    """A log4j2 file that shows only errors (written once per process, in the temp dir)."""
    path = Path(tempfile.gettempdir()) / f"songspace-spark-log4j2-{os.getpid()}.properties"
    if not path.is_file():
        atomic_write_text(path, _LOG4J)
        atexit.register(path.unlink, missing_ok=True)
    return str(path)


def check_pyspark() -> None:
    """Raise MissingDependencyError (naming the extra ``spark``) when pyspark is absent."""
    _pyspark()


def spark_session(
    master: str | None = None,
    *,
    app_name: str = "songspace",
    conf: Mapping[str, str] | None = None,
) -> Any:
    """A SparkSession (created, or the active one reused) with quiet logs.

    ``master`` defaults to ``$SONGSPACE_SPARK_MASTER``; without either, the master that
    ``spark-submit --master URL`` gave a driver it started (:func:`launched_by_spark_submit`)
    or that an active session runs on is kept, and otherwise it is ``local[2]``. A local
    driver binds to 127.0.0.1 and has no web UI. ``conf``: further Spark settings
    (``{"spark.driver.memory": "2g"}``); they apply when this call starts the JVM.
    """
    session_cls = _pyspark()
    submitted = launched_by_spark_submit()
    running = session_cls.getActiveSession() is not None
    master = master or os.environ.get(MASTER_ENV)
    if master is None and not (submitted or running):
        master = DEFAULT_MASTER
    builder = session_cls.builder.config("spark.ui.showConsoleProgress", "false")
    if not submitted:  # else spark-submit's --name (or the script's) holds
        builder = builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
    if not os.environ.get("SPARK_CONF_DIR"):  # a user's own Spark configuration wins
        builder = builder.config(
            "spark.driver.extraJavaOptions", f"-Dlog4j.configurationFile={_quiet_log_config()}"
        )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    if master is not None and master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # read when the JVM starts
        builder = (
            builder.config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.ui.enabled", "false")
        )
    with warnings.catch_warnings():  # pyspark's notice about the pandas version
        warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")
        spark = builder.getOrCreate()
    # songspace's partition default only where nobody chose a count. The context's
    # SparkConf holds every count chosen before the session: in ``conf``, in
    # spark-defaults.conf, or given to spark-submit (--conf, --properties-file). A session
    # already running keeps whatever it has.
    if not running and not spark.sparkContext.getConf().contains(PARTITIONS_KEY):
        spark.conf.set(PARTITIONS_KEY, str(DEFAULT_SHUFFLE_PARTITIONS))
        spark.conf.set(AUTO_PARTITIONS_MARKER, "true")
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def launched_by_spark_submit() -> bool:
    """Whether this Python process is a driver that ``spark-submit`` started (its JVM,
    with ``--master`` and ``--conf`` applied, is already running and hands pyspark the
    gateway through ``PYSPARK_GATEWAY_PORT``)."""
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def pair_rows(dataset: Dataset) -> int:
    """Rows of the co-occurrence self-join: sum over sequences of m(m-1)/2, m the
    sequence's distinct tracks."""
    distinct = np.diff(dataset.incidence().indptr).astype(np.int64)
    return int((distinct * (distinct - 1) // 2).sum())


def shuffle_partitions(rows: int) -> int:
    """``ceil(rows / ROWS_PER_PARTITION)`` clamped to
    ``[DEFAULT_SHUFFLE_PARTITIONS, MAX_SHUFFLE_PARTITIONS]``."""
    need = -(-int(rows) // ROWS_PER_PARTITION)
    return max(DEFAULT_SHUFFLE_PARTITIONS, min(MAX_SHUFFLE_PARTITIONS, need))


def user_set_partitions(spark: Any) -> bool:
    """Whether ``spark.sql.shuffle.partitions`` on ``spark`` is the user's choice.

    It is songspace's to choose only on a session made by :func:`spark_session` that
    applied its default (no count in ``conf``, in spark-defaults.conf, or on an already
    running session) and where the count is still that default. A session made
    elsewhere keeps its settings.
    """
    marked = spark.conf.get(AUTO_PARTITIONS_MARKER, "false") == "true"
    return not (marked and spark.conf.get(PARTITIONS_KEY) == str(DEFAULT_SHUFFLE_PARTITIONS))


def planned_partitions(spark: Any, rows: int) -> int:
    """The shuffle partitions :func:`build_tables_spark` uses on ``spark`` for ``rows``
    pair rows: the user's count, else :func:`shuffle_partitions`."""
    if user_set_partitions(spark):
        return int(spark.conf.get(PARTITIONS_KEY))
    return shuffle_partitions(rows)


@contextmanager
def _partitions_for(spark: Any, rows: int) -> Iterator[int]:
    """Set the shuffle partitions for ``rows`` pair rows (coalescing off) unless the user
    chose them; yield the count in effect; restore the previous settings afterwards."""
    count = planned_partitions(spark, rows)
    if user_set_partitions(spark):
        logger.info(
            "Spark shuffle partitions: %d (set by the user; %s pair rows)", count, f"{rows:,}"
        )
        yield count
        return
    before = {k: spark.conf.get(k) for k in (PARTITIONS_KEY, COALESCE_KEY)}
    spark.conf.set(PARTITIONS_KEY, str(count))
    spark.conf.set(COALESCE_KEY, "false")
    logger.info(
        "Spark shuffle partitions: %d for %s self-join pair rows (%s per partition), "
        "adaptive coalescing off",
        count,
        f"{rows:,}",
        f"{ROWS_PER_PARTITION:,}",
    )
    if count == MAX_SHUFFLE_PARTITIONS:
        logger.warning(
            "the self-join's %s pair rows need more than %d shuffle partitions; set %s "
            "yourself or give the executors more memory",
            f"{rows:,}",
            MAX_SHUFFLE_PARTITIONS,
            PARTITIONS_KEY,
        )
    try:
        yield count
    finally:
        for k, v in before.items():
            spark.conf.set(k, v)


def _stage_entries(dataset: Dataset, folder: Path) -> Path:
    """Write the entries as Parquet (``seq`` int64, ``pos`` int64, ``track`` int64)."""
    seq = dataset.sequence_of_entry()
    pos = np.arange(dataset.n_entries, dtype=np.int64) - np.repeat(
        dataset.indptr[:-1].astype(np.int64), dataset.lengths
    )
    table = pa.table(
        {
            "seq": pa.array(seq),
            "pos": pa.array(pos),
            "track": pa.array(dataset.indices.astype(np.int64)),
        }
    )
    path = folder / "entries.parquet"
    pq.write_table(table, path, row_group_size=1 << 20)
    return path


def _read_back(df: Any, folder: Path, name: str, columns: list[str]) -> dict[str, np.ndarray]:
    """Write ``df`` as Parquet under ``folder`` and read its columns into numpy."""
    out = folder / name
    df.write.mode("overwrite").parquet(str(out))
    table = pq.read_table(out, columns=columns)
    return {c: table.column(c).to_numpy() for c in columns}


def build_tables_spark(
    dataset: Dataset,
    *,
    min_weight: int = DEFAULT_MIN_WEIGHT,
    master: str | None = None,
    staging: str | Path | None = None,
    spark: Any = None,
) -> GraphTables:
    """The graph tables of ``dataset`` counted by Spark (identical to the memory engine).

    ``spark``: a session to use (else :func:`spark_session` with ``master``).
    ``staging``: folder for the staged entries and results (default: a temporary
    folder, removed afterwards).
    """
    from songspace.graph.tables import GraphTables

    _pyspark()  # MissingDependencyError naming the extra when pyspark is absent
    from pyspark.sql import functions as F

    min_weight = check_param("min_weight", min_weight, POSITIVE_INT)
    if spark is None:
        spark = spark_session(master)
    n = dataset.n_tracks
    t0 = time.perf_counter()
    if staging is not None:
        Path(staging).mkdir(parents=True, exist_ok=True)
    with (
        _partitions_for(spark, pair_rows(dataset)),
        tempfile.TemporaryDirectory(prefix="songspace-spark-", dir=staging) as tmp,
    ):
        folder = Path(tmp)
        staged = _stage_entries(dataset, folder)
        size = staged.stat().st_size
        logger.info(
            "Spark input: %s entries staged as Parquet (%.1f MiB)",
            f"{dataset.n_entries:,}",
            size / 2**20,
            extra={"staged_rows": dataset.n_entries, "staged_bytes": size},
        )
        entries = spark.read.parquet(str(staged))
        distinct = entries.select("seq", "track").distinct().cache()
        pop = _read_back(
            distinct.groupBy("track").count(), folder, "popularity", ["track", "count"]
        )
        a, b = distinct.alias("a"), distinct.alias("b")
        pairs = (
            a.join(b, (F.col("a.seq") == F.col("b.seq")) & (F.col("a.track") < F.col("b.track")))
            .groupBy(F.col("a.track").alias("u"), F.col("b.track").alias("v"))
            .count()
            .where(F.col("count") >= int(min_weight))
        )
        co = _read_back(pairs, folder, "cooccurrence", ["u", "v", "count"])
        distinct.unpersist()
        x, y = entries.alias("x"), entries.alias("y")
        adjacent = (
            x.join(y, (F.col("x.seq") == F.col("y.seq")) & (F.col("y.pos") == F.col("x.pos") + 1))
            .where(F.col("x.track") != F.col("y.track"))
            .groupBy(F.col("x.track").alias("a"), F.col("y.track").alias("b"))
            .count()
        )
        bi = _read_back(adjacent, folder, "bigrams", ["a", "b", "count"])
    popularity = np.zeros(n, dtype=np.int64)
    popularity[pop["track"]] = pop["count"]
    upper = sp.coo_matrix((co["count"].astype(np.int32), (co["u"], co["v"])), shape=(n, n)).tocsr()
    upper.sort_indices()
    adjacency = (upper + upper.T).tocsr()
    adjacency.sort_indices()
    if adjacency.dtype != np.int32:
        adjacency = adjacency.astype(np.int32)
    bigrams = sp.coo_matrix(
        (bi["count"].astype(np.int64), (bi["a"], bi["b"])), shape=(n, n)
    ).tocsr()
    bigrams.sum_duplicates()
    logger.info(
        "Spark graph tables: %d edges (min_weight=%d), %d bigram pairs in %.1fs",
        adjacency.nnz // 2,
        min_weight,
        bigrams.nnz,
        time.perf_counter() - t0,
    )
    return GraphTables(
        graph=CooccurrenceGraph(adjacency=adjacency, min_weight=int(min_weight)),
        bigrams=bigrams,
        popularity=popularity,
    )


__all__ = [
    "DEFAULT_MASTER",
    "DEFAULT_SHUFFLE_PARTITIONS",
    "MASTER_ENV",
    "MAX_SHUFFLE_PARTITIONS",
    "ROWS_PER_PARTITION",
    "build_tables_spark",
    "check_pyspark",
    "pair_rows",
    "planned_partitions",
    "shuffle_partitions",
    "spark_session",
    "user_set_partitions",
]

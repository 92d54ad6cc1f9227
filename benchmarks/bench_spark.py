"""Spark ``local[N]`` vs the in-memory builders for the graph tables (issue 17, item 2).

One synthetic dataset (the MPD-shaped preset times ``--scale``) is written once, or an
already prepared dataset directory is read (``--dataset PATH``); then each engine builds
the graph tables (co-occurrence graph at ``--min-weight``, bigram counts, popularity) from
it in its own fresh subprocess. Reported per engine: wall time of ``build_tables`` (for
Spark including the session start and the JVM), peak memory (VmHWM of the Python process,
plus, for Spark, the VmHWM of its JVM read from /proc before the session stops), and
whether the arrays of the two engines are identical. For Spark also: the shuffle
partitions it used (chosen from the self-join's pair rows unless ``--conf
spark.sql.shuffle.partitions=N``) and the size of its input, the staged entries Parquet
(bytes and rows), next to ``spark.driver.memory``.

    python benchmarks/bench_spark.py --scale 0.02
    python benchmarks/bench_spark.py --scale 0.02 --driver-memory 512m
    python benchmarks/bench_spark.py --dataset runs/ds --driver-memory 512m
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_worker


def _vmhwm_kib(pid: int | str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_bytes(text: str) -> int:
    """Bytes of a JVM memory string as Spark reads it: ``512m``, ``2g``, ``1024k``; a
    plain number is MiB (``spark.driver.memory``'s unit)."""
    t = text.strip().lower().removesuffix("b")
    if t and t[-1] in _UNITS:
        return int(float(t[:-1]) * _UNITS[t[-1]])
    return int(float(t) * 2**20)


class _StagedInput(logging.Handler):
    """Keeps the staged-input figures that build_tables_spark logs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.rows: int | None = None
        self.bytes: int | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "staged_bytes"):
            self.rows, self.bytes = record.staged_rows, record.staged_bytes


def worker(
    data: str,
    engine: str,
    min_weight: int,
    master: str,
    out: str,
    driver_memory: str,
    conf: dict[str, str],
) -> None:
    """One measured build, in a fresh process; writes the tables and a JSON line."""
    from songspace.data.dataset import Dataset
    from songspace.graph.tables import build_tables

    ds = Dataset.load(data)
    t0 = time.perf_counter()
    jvm_kib = 0
    partitions = None
    staged = _StagedInput()
    if engine == "spark":
        from songspace.graph.spark import (
            build_tables_spark,
            pair_rows,
            planned_partitions,
            spark_session,
        )

        spark = spark_session(master, conf={"spark.driver.memory": driver_memory, **conf})
        partitions = planned_partitions(spark, pair_rows(ds))
        spark_log = logging.getLogger("songspace.graph.spark")
        spark_log.setLevel(logging.INFO)
        spark_log.addHandler(staged)
        tables = build_tables_spark(ds, min_weight=min_weight, spark=spark)
        seconds = time.perf_counter() - t0
        jvm_kib = sum(_vmhwm_kib(p) for p in _descendants(os.getpid()))
        spark.stop()
    else:
        tables = build_tables(ds, min_weight=min_weight)
        seconds = time.perf_counter() - t0
    tables.save(out)
    print(
        json.dumps(
            {
                "engine": engine,
                "seconds": round(seconds, 2),
                "python_vmhwm_mib": round(_vmhwm_kib("self") / 1024, 1),
                "jvm_vmhwm_mib": round(jvm_kib / 1024, 1),
                "edges": tables.graph.n_edges,
                "bigram_pairs": int(tables.bigrams.nnz),
                "driver_memory": driver_memory if engine == "spark" else None,
                "shuffle_partitions": partitions,
                "staged_rows": staged.rows,
                "staged_parquet_bytes": staged.bytes,
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=0.005, help="share of the MPD preset")
    p.add_argument(
        "--dataset",
        type=Path,
        metavar="PATH",
        help="an already prepared dataset directory to read (then --scale/--seed are unused)",
    )
    p.add_argument("--min-weight", type=int, default=2)
    p.add_argument("--master", default="local[2]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--driver-memory", default="1g", help="spark.driver.memory (local mode: all)")
    p.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a further Spark setting (repeatable), e.g. spark.sql.shuffle.partitions=64",
    )
    p.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if bad := [c for c in args.conf if "=" not in c.strip("=")]:
        p.error(f"--conf expects KEY=VALUE, got {bad[0]!r}")
    conf = dict(c.split("=", 1) for c in args.conf)
    if args.worker:
        data, engine, master, out = args.worker
        worker(data, engine, args.min_weight, master, out, args.driver_memory, conf)
        return

    import numpy as np

    from songspace.data.dataset import Dataset
    from songspace.data.prepare import prepare_synthetic
    from songspace.data.synthetic import PRESETS
    from songspace.graph.spark import pair_rows
    from songspace.graph.tables import GraphTables

    with tempfile.TemporaryDirectory(prefix="bench-spark-") as tmp:
        if args.dataset is not None:
            data = args.dataset
            ds = Dataset.load(data)
        else:
            data = Path(tmp) / "data"
            ds = prepare_synthetic(data, seed=args.seed, **PRESETS["mpd"](args.scale))
        print(
            f"data: {data if args.dataset else 'MPD preset x ' + str(args.scale)}: "
            f"{ds.n_sequences:,} playlists, {ds.n_tracks:,} tracks, {ds.n_entries:,} entries",
            flush=True,
        )
        rows_of_join = pair_rows(ds)
        del ds
        print(
            f"co-occurrence self-join: {rows_of_join:,} (u < v) pair rows before counting "
            f"(~{rows_of_join * 16 / 2**20:,.0f} MiB as two int64 columns); "
            f"spark.driver.memory={args.driver_memory}",
            flush=True,
        )
        rows = []
        for engine in ("memory", "spark"):
            out = Path(tmp) / engine
            cmd = [
                sys.executable,
                __file__,
                "--min-weight",
                str(args.min_weight),
                "--driver-memory",
                args.driver_memory,
                *(f"--conf={c}" for c in args.conf),
                "--worker",
                str(data),
                engine,
                args.master,
                str(out),
            ]
            row = run_worker(cmd, f"the {engine} engine")
            rows.append(row)
            print(json.dumps(row), flush=True)
        a, b = (GraphTables.load(Path(tmp) / e) for e in ("memory", "spark"))
        same = all(
            np.array_equal(getattr(x, n), getattr(y, n))
            for x, y in ((a.graph.adjacency, b.graph.adjacency), (a.bigrams, b.bigrams))
            for n in ("indptr", "indices", "data")
        ) and np.array_equal(a.popularity, b.popularity)
        ratio = rows[1]["seconds"] / max(rows[0]["seconds"], 1e-9)
        staged_bytes = rows[1]["staged_parquet_bytes"] or 0
        heap = memory_bytes(args.driver_memory)
        print(
            f"Spark: {rows[1]['shuffle_partitions']} shuffle partitions; input "
            f"{rows[1]['staged_rows']:,} rows, {staged_bytes:,} bytes "
            f"({staged_bytes / 2**20:,.1f} MiB) staged Parquet "
            f"(~{rows[1]['staged_rows'] * 24 / 2**20:,.0f} MiB as three int64 columns) "
            f"vs spark.driver.memory={args.driver_memory} ({heap / 2**20:,.0f} MiB): input "
            f"{'larger' if staged_bytes > heap else 'not larger'} than driver memory"
        )
        print(f"identical arrays: {same}; spark/memory time: {ratio:.1f}x")


if __name__ == "__main__":
    main()

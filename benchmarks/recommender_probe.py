"""Stage 1 / stage 2 cost of a fitted recommender (issue 30 part 5, Scale; docs/recommender.md):
load time and memory of its structures, then, per query (prefixes of 1 or 5 tracks of the
test sequences), the wall and CPU time of stage 1, the features and LightGBM, and of each
generator and feature block apart. ``hnsw``: the embeddings' neighbours from an HNSW
index, as the service searches above ``--exact-max``.

    OPENBLAS_NUM_THREADS=1 python benchmarks/recommender_probe.py REC DATA 400 [hnsw]
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from songspace.evaluation.suite import evaluation_protocol
from songspace.recommender.features import feature_matrix
from songspace.reports.recommender import load_recommender


def memory_mib() -> dict[str, float]:
    """VmRSS and VmHWM of this process, MiB."""
    text = Path("/proc/self/status").read_text()
    return {
        line.split(":")[0]: int(line.split()[1]) / 1024
        for line in text.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }


def ms(values: list[float]) -> dict[str, float]:
    return {
        "mean": round(1000 * float(np.mean(values)), 2),
        "p50": round(1000 * float(np.percentile(values, 50)), 2),
        "p99": round(1000 * float(np.percentile(values, 99)), 2),
    }


def main() -> None:
    rec_dir, data, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    search = None
    if len(sys.argv) > 4 and sys.argv[4] == "hnsw":
        from songspace.serving.twostage import IndexChoice

        search = IndexChoice({"index": "hnsw", "m": 16, "ef_construction": 80, "ef_search": 128})
    before = memory_mib()
    t0 = time.perf_counter()
    ranker, ds = load_recommender(rec_dir, data, search=search)
    load_s = time.perf_counter() - t0
    after = memory_mib()
    sizes = {}
    for g in ranker.stage1.generators:
        r = getattr(g, "ranker", None)
        for attr in ("similarity", "_co", "incidence", "_positions", "_by_track", "transitions"):
            m = getattr(r, attr, None)
            if m is not None and hasattr(m, "nnz"):
                nbytes = m.data.nbytes + m.indices.nbytes + m.indptr.nbytes
                sizes[f"{g.name}.{attr}"] = {"nnz": int(m.nnz), "MiB": round(nbytes / 2**20, 1)}
    record = json.loads(Path(rec_dir, "recommender.json").read_text())["provenance"]
    protocol, _ = evaluation_protocol(
        ds,
        seed=record["seed"],
        test_fraction=record["test_fraction"],
        min_tracks=record["min_tracks"],
    )
    rng = np.random.default_rng(0)
    seqs = [ds.indices[ds.indptr[s] : ds.indptr[s + 1]] for s in protocol.split.test[:2000]]
    queries = []
    for i in range(n):
        s = seqs[rng.integers(len(seqs))]
        end = int(rng.integers(1, len(s)))
        queries.append(np.asarray(s[max(0, end - (1 if i % 2 == 0 else 5)) : end]))
    depth = ranker.params["depth"]
    wall: dict[str, list[float]] = {"stage1": [], "features": [], "predict": []}
    cpu = {"stage1": 0.0, "features": 0.0, "predict": 0.0}
    per_gen: dict[str, list[float]] = {g.name: [] for g in ranker.stage1.generators}
    per_feat: dict[str, list[float]] = {f.name: [] for f in ranker.features}
    cands = []
    for q in queries:
        c0, w0 = time.process_time(), time.perf_counter()
        c = ranker.stage1.candidates(q, depth)
        c1, w1 = time.process_time(), time.perf_counter()
        x = feature_matrix(ranker.features, q, c)
        c2, w2 = time.process_time(), time.perf_counter()
        ranker._predict(x)
        c3, w3 = time.process_time(), time.perf_counter()
        for key, (a, b, ca, cb) in {
            "stage1": (w0, w1, c0, c1),
            "features": (w1, w2, c1, c2),
            "predict": (w2, w3, c2, c3),
        }.items():
            wall[key].append(b - a)
            cpu[key] += cb - ca
        cands.append(len(c))
        for g in ranker.stage1.generators:
            a = time.perf_counter()
            g.candidates(q, min(depth, ranker.stage1.limits.get(g.name, depth)))
            per_gen[g.name].append(time.perf_counter() - a)
        for f in ranker.features:
            a = time.perf_counter()
            f.values(q, c)
            per_feat[f.name].append(time.perf_counter() - a)
    out = {
        "tracks": ds.n_tracks,
        "sequences": ds.n_sequences,
        "entries": len(ds.indices),
        "load_s": round(load_s, 1),
        "rss_before_load_mib": before,
        "rss_after_load_mib": after,
        "structures": sizes,
        "indexes": search.chosen if search is not None else "exact",
        "queries": n,
        "candidates_mean": round(float(np.mean(cands)), 1),
        "cpu_ms_per_query": {k: round(1000 * v / n, 2) for k, v in cpu.items()},
        **{f"{k}_ms": ms(v) for k, v in wall.items()},
        "per_generator_ms": {k: ms(v) for k, v in per_gen.items()},
        "per_feature_block_ms": {k: ms(v) for k, v in per_feat.items()},
        "vmhwm_mib": memory_mib()["VmHWM"],
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

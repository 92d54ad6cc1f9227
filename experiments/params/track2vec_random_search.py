"""Seeded random search of Track2Vec that produced track2vec_tuned.toml.

    python experiments/params/track2vec_random_search.py DATASET_DIR

Tunes on the split with seed 1 (w2v_popularity_buckets.toml evaluates on seed 0); prints one
JSON line per trial and the best parameters.
"""

import json
import sys

import numpy as np

from songspace.data.dataset import Dataset
from songspace.evaluation.embeddings import Embeddings
from songspace.evaluation.protocol import make_protocol
from songspace.evaluation.suite import evaluate
from songspace.models.track2vec import Track2Vec

ds = Dataset.load(sys.argv[1])
prot = make_protocol(ds, seed=1, fractions=(0.98, 0.01, 0.01))
rng = np.random.default_rng(0)


def score(params):
    # the default of the time (W2V Table 3, now the "paper" preset) under the drawn values
    m = Track2Vec(**{**Track2Vec.preset_params("paper"), **params}, seed=0).fit(prot.train)
    e = Embeddings.from_array(m.embeddings_, ds.n_tracks, available=m.available_, name="t")
    r = evaluate(prot, e, families=["next_song"])
    return m.training_time_, r.metrics["next_song_hit_rate"].value


t_def, hr_def = score({})
print(json.dumps({"trial": "default", "time": t_def, "hr": hr_def}), flush=True)
best = ({}, hr_def)
for i in range(6):
    # W2V §4.7: only configurations that train within 1.25x the default's time; draw from the
    # Table 3 ranges until the cost proxy dim * window * (negative + 1) is within budget.
    while True:
        p = {
            "dim": int(rng.integers(25, 201)),
            "window": int(rng.integers(1, 41)),
            "ns_exponent": float(round(rng.uniform(-1, 1), 3)),
            "negative": int(rng.integers(1, 101)),
            "alpha": float(round(10 ** rng.uniform(-3, -1), 5)),
        }
        cost = p["dim"] * p["window"] * (p["negative"] + 1) / (100 * 5 * 6)
        if cost <= 1.25:
            break
    t, hr = score(p)
    ok = t <= 1.25 * t_def
    print(
        json.dumps({"trial": i, "params": p, "time": t, "hr": hr, "within_budget": ok}), flush=True
    )
    if ok and hr > best[1]:
        best = (p, hr)
print(json.dumps({"best": best[0], "hr": best[1]}), flush=True)

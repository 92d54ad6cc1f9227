"""Next-song HR@100 of global popularity vs popularity within the query's planted genre on
the MPD preset (issue 16: why the popularity baseline wins next-song there).

    python benchmarks/next_song_genre_oracle.py
"""

import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from songspace.data.synthetic import generate_preset

ds = generate_preset("mpd", scale=0.05, seed=0)
rng = np.random.default_rng(0)
test = np.sort(rng.choice(ds.n_sequences, 500, replace=False))
mask = np.ones(ds.n_sequences, bool)
mask[test] = False
lengths = np.diff(ds.indptr)
seq = np.repeat(np.arange(ds.n_sequences), lengths)
train_entries = mask[seq]
occ = np.bincount(ds.indices[train_entries], minlength=ds.n_tracks)
genre = ds.tracks["genre"].fillna("none").to_numpy(dtype=str)
codes = np.unique(genre, return_inverse=True)[1]
top_global = set(np.argsort(-occ)[:100].tolist())
top_genre = {}
for g in np.unique(codes):
    idx = np.flatnonzero(codes == g)
    top_genre[g] = set(idx[np.argsort(-occ[idx])[:100]].tolist())
hits_g = hits_gg = n = 0
for s in test:
    tr = ds.indices[ds.indptr[s] : ds.indptr[s + 1]]
    for q, t in itertools.pairwise(tr):
        if q == t:
            continue
        n += 1
        hits_g += t in top_global
        hits_gg += t in top_genre[codes[q]]
print(
    f"pairs {n}: HR@100 global popularity {hits_g / n:.4f}, "
    f"popularity within the query's genre {hits_gg / n:.4f}"
)

"""Where Track2Vec's time goes (issue 16): one pass of our corpus iterator alone, one gensim
epoch on it (2 workers), and one epoch in gensim's corpus_file mode, on the first N
sequences of a prepared dataset.

    python benchmarks/profile_track2vec_corpus.py DATASET_DIR 10000
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from gensim.models import Word2Vec

from songspace.data.dataset import Dataset
from songspace.models.track2vec import CsrCorpus

ds = Dataset.load(sys.argv[1])
n = int(sys.argv[2])
indptr = ds.indptr[: n + 1]
indices = ds.indices[: indptr[-1]]
words = int(indptr[-1])
c = CsrCorpus(indptr, indices)
t = time.perf_counter()
k = sum(len(s) for s in c)
corpus_s = time.perf_counter() - t
out = {"playlists": n, "words": words, "corpus_pass_s": corpus_s}
kw = dict(
    vector_size=100, window=5, negative=5, epochs=1, workers=2, seed=0, sg=1, hs=0, min_count=1
)
t = time.perf_counter()
Word2Vec(c, **kw)
out["iterable_s"] = time.perf_counter() - t
with tempfile.TemporaryDirectory() as d:
    p = os.path.join(d, "corpus.txt")
    t = time.perf_counter()
    with open(p, "w") as f:
        for s in c:
            f.write(" ".join(s))
            f.write("\n")
    out["write_file_s"] = time.perf_counter() - t
    t = time.perf_counter()
    Word2Vec(corpus_file=p, **kw)
    out["corpus_file_s"] = time.perf_counter() - t
out["iterable_words_per_s"] = words / out["iterable_s"]
out["corpus_file_words_per_s"] = words / out["corpus_file_s"]
out["load_avg"] = os.getloadavg()[0]
print(json.dumps(out))

"""Node2Vec passes the shared model suite (planted genres recovered honestly)."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from songspace.models.node2vec import Node2Vec
from songspace.models.registry import get_model_class
from songspace.testing import ModelTestMixin


class TestNode2Vec(ModelTestMixin):
    model_class = Node2Vec
    fast_params: ClassVar[dict[str, Any]] = {
        "dim": 32,
        "walk_length": 20,
        "walks_per_node": 5,
        "epochs": 2,
    }

    def test_registered(self):
        assert get_model_class("node2vec") is Node2Vec

    def test_no_edges_is_an_error(self, dataset):
        # min_weight above every co-occurrence count: no edge, so nothing could be
        # embedded; an error naming min_weight, not "0 of n embedded" (issue 12 item 11)
        import pytest

        from songspace.errors import ParameterError

        with pytest.raises(ParameterError, match="min_weight=1"):
            Node2Vec(**{**self.fast_params, "min_weight": 10**6}).fit(dataset)

    def test_rejects_non_integer(self, dataset):
        import pytest

        from songspace.errors import ParameterError

        with pytest.raises(ParameterError, match="walk_length"):
            Node2Vec(**{**self.fast_params, "walk_length": 5.5}).fit(dataset)


@pytest.mark.slow
def test_deterministic_across_processes():
    """gensim seeds vectors with a token hash: ours is stable under PYTHONHASHSEED."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import hashlib\n"
        "from songspace.data.synthetic import generate\n"
        "from songspace.models.node2vec import Node2Vec\n"
        "d = generate(200, 100, n_genres=3, mean_length=10, seed=0)\n"
        "m = Node2Vec(dim=8, walk_length=5, walks_per_node=1, seed=3).fit(d)\n"
        "print(hashlib.sha1(m.embeddings_.tobytes()).hexdigest())\n"
    )
    out = []
    for h in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": h}
        res = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        out.append(res.stdout.strip())
    assert out[0] == out[1] and len(out[0]) == 40

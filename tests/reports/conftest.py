"""Small synthetic experiments shared by the report tests (a few seconds each)."""

from __future__ import annotations

import pytest

SMALL = """
name = "small"
description = "tiny synthetic comparison for the tests"

[dataset]
synthetic = { n_playlists = 500, n_tracks = 600, seed = 3 }

[protocol]
seeds = [0]
test_fraction = 0.1
min_tracks = 20
metrics = ["completion", "next_song", "clustering", "popularity"]
pairs_per_cell = 100

[report]
diagonal = ["t2v", "cf"]

[[models]]
name = "t2v"
model = "track2vec"
label = "TRACK2VEC"
params = { dim = 25, epochs = 2, window = WINDOW }

[[models]]
name = "cf"
model = "warp"
label = "CF"
params = { dim = 16, epochs = 3 }
"""


def small_config(window: int = 5) -> str:
    return SMALL.replace("WINDOW", str(window))


@pytest.fixture
def write_config(tmp_path):
    def write(text: str, name: str = "exp.toml"):
        path = tmp_path / name
        path.write_text(text)
        return path

    return write

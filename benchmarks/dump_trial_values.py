"""Every trial's parameters, values and metrics of four small deterministic studies, as
JSON: run it with two checkouts' sources and compare the files, to check that a change
to tuning or scoring leaves trial results bit-identical (issue 28, item 10).

    PYTHONPATH=OLD/src python benchmarks/dump_trial_values.py old.json /tmp/old.db
    PYTHONPATH=NEW/src python benchmarks/dump_trial_values.py new.json /tmp/new.db
    cmp old.json new.json

The studies (a synthetic dataset, 300 playlists over 400 tracks, seed 3) have no time
budget, so what they run does not depend on the machine's speed: single-objective
HitRate, with and without the successive-halving pruner, lambda_genre(0.01) and VRC_artist.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

STUDIES = {
    "hr": {"objectives": ["hit_rate"]},
    "hr-sha": {"objectives": ["hit_rate"], "pruner": "sha"},
    "lambda": {"objectives": ["hit_rate", "vrc_genre"], "alpha": 0.01},
    "vrc-artist": {"objectives": ["vrc_artist"]},
}


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    out, db = Path(sys.argv[1]), Path(sys.argv[2])
    import optuna

    from songspace.data import synthetic
    from songspace.tuning import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = Path(tempfile.mkdtemp()) / "ds"
    synthetic.generate(300, 400, seed=3).save(data)
    doc = {}
    for name, kw in STUDIES.items():
        res = tune(
            "track2vec",
            data,
            trials=4,
            storage=f"sqlite:///{db}",
            study=name,
            budget_factor=None,
            budget_mode="reject",
            params={"epochs": 3},
            heldout_fraction=0.1,
            min_tracks=10,
            startup_trials=2,
            heartbeat=None,
            **kw,
        )
        st = optuna.load_study(study_name=name, storage=f"sqlite:///{db}")
        doc[name] = {
            "reference": res.reference["metrics"],
            "trials": [
                {
                    "number": t.number,
                    "state": t.state.name,
                    "params": t.params,
                    "values": t.values,
                    "metrics": t.user_attrs.get("metrics"),
                    "intermediate": t.intermediate_values,
                }
                for t in st.trials
            ],
        }
    out.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str) + "\n")


if __name__ == "__main__":
    main()

"""Do next-song quality and clustering move together over a study's configurations?

For each study ``STORAGE=NAME``: over its complete trials (which record every objective's
validation value, W2V §4.3-4.4), the Spearman rank correlation of validation HitRate with
the given VRC, and the mean validation HitRate of the trials in the top tenth by that VRC
against the bottom half, beside the study's reference (default) configuration. Used by
docs/tuning.md's reading of Table 4's clustering rows:

    T=runs/tuning
    python experiments/w2v_objective_correlation.py \\
        sqlite:///$T/tune-vrc_artist.db=track2vec-vrc_artist:vrc_artist \\
        sqlite:///$T/tune-vrc_genre.db=track2vec-vrc_genre:vrc_genre \\
        "sqlite:///$T/tune-lambda_genre_0.01.db=track2vec-hit_rate+vrc_genre-a0.01:vrc_genre"
"""

from __future__ import annotations

import argparse

import numpy as np

HR = "next_song_hit_rate"


def correlation(spec: str) -> str:
    """One markdown row for ``STORAGE=NAME:VRC``."""
    import optuna
    from scipy import stats

    target, _, vrc = spec.rpartition(":")
    storage, _, name = target.rpartition("=")
    st = optuna.load_study(study_name=name, storage=storage)
    values = np.array(
        [
            (t.user_attrs["metrics"][HR], t.user_attrs["metrics"][vrc])
            for t in st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
            if {HR, vrc} <= set(t.user_attrs.get("metrics", {}))
        ]
    )
    rho = stats.spearmanr(values[:, 0], values[:, 1])
    top = values[values[:, 1] >= np.quantile(values[:, 1], 0.9), 0].mean()
    bottom = values[values[:, 1] <= np.median(values[:, 1]), 0].mean()
    ref = st.user_attrs["reference"]["metrics"]
    return (
        f"| {name} | {vrc} | {len(values)} | {rho.statistic:.2f} | {rho.pvalue:.1e} | "
        f"{top:.4f} | {bottom:.4f} | {ref[HR]:.4f} | {ref[vrc]:.2f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("studies", nargs="+", metavar="STORAGE=NAME:VRC")
    args = ap.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(
        "| Study | VRC | complete trials | Spearman (HitRate, VRC) | p | mean HitRate, top "
        "tenth by VRC | mean HitRate, bottom half | default HitRate | default VRC |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for spec in args.studies:
        print(correlation(spec))


if __name__ == "__main__":
    main()

#!/bin/bash
# One W2V Table 4 / Table 6 study on the MPD subset, as docs/tuning.md's rows were run
# (issue 28): one worker, niced, its own SQLite file, the stopping rule's 150 trained
# trials, validation and test 2% each. Resumable: the same command continues the study.
#
#   CHECKOUT=/path/to/pinned/checkout WORK=runs/tuning \
#       experiments/w2v_study.sh NAME [songspace tune options...]
#
#   experiments/w2v_study.sh hit_rate --objective hit_rate
#   experiments/w2v_study.sh lambda_genre_0.01 --objective hit_rate --objective vrc_genre --alpha 0.01
#   experiments/w2v_study.sh scale_0.05 --objective hit_rate --sample-rate 0.05
#   experiments/w2v_study.sh scale_0.05-rep1 --objective hit_rate --sample-rate 0.05 --replicate 1
#
# CHECKOUT: a `git worktree` pinned to one commit (its src/ is imported; default: this
# checkout), recorded in WORK/commit.txt; WORK: where the prepared dataset (WORK/mpd, made
# on first use from DATA), the study files (WORK/tune-NAME.db), the logs and
# WORK/studies.log (start and end of each run, with the load average) go.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CHECKOUT=${CHECKOUT:-$here}
WORK=${WORK:-runs/tuning}
DATA=${DATA:-$here/../shared/data}
PY=${PY:-$here/.venv/bin/python}
name=$1; shift
mkdir -p "$WORK" && cd "$WORK"
export PYTHONPATH=$CHECKOUT/src
songspace() { "$PY" -c 'from songspace.cli import main; main()' "$@"; }
git -C "$CHECKOUT" rev-parse HEAD > commit.txt
[ -d mpd ] || songspace --no-progress prepare mpd "$DATA/mpd-subset" \
    --tracks "$DATA/spotify-tracks-114k/tracks.csv" \
    --artists "$DATA/spotify-artists/data_w_genres.csv" -o mpd > prepare.log 2>&1
echo "start $name $(date -u) load $(cat /proc/loadavg)" >> studies.log
nice -n 15 "$PY" -c 'from songspace.cli import main; main()' --no-progress tune track2vec mpd \
    "$@" --trials 150 --test-fraction 0.02 --storage "sqlite:///tune-$name.db" \
    >> "study-$name.log" 2>&1
echo "end $name $(date -u) load $(cat /proc/loadavg)" >> studies.log

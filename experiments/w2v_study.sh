#!/bin/bash
# One issue-28 study on the MPD subset, as docs/tuning.md's Table 4 / Table 6 rows and
# docs/results.md's MUSIG-against-GraphSAGE rows were run: one worker, niced, its own
# SQLite file. Resumable: the same command continues the study.
#
#   CHECKOUT=/path/to/pinned/checkout WORK=runs/tuning \
#       experiments/w2v_study.sh NAME [songspace tune options...]
#
# Table 4 / Table 6 (Track2Vec; the stopping rule's 150 trained trials, 2% held out):
#   experiments/w2v_study.sh hit_rate --objective hit_rate
#   experiments/w2v_study.sh lambda_genre_0.01 --objective hit_rate --objective vrc_genre --alpha 0.01
#   experiments/w2v_study.sh scale_0.05 --objective hit_rate --sample-rate 0.05
#   experiments/w2v_study.sh scale_0.05-rep1 --objective hit_rate --sample-rate 0.05 --replicate 1
# MUSIG against GraphSAGE (item 8: 25% sample, 5% held out, equal training CPU-hours):
#   experiments/musig_vs_graphsage.sh runs its three studies through this script, then the
#   report.
#
# CHECKOUT: a `git worktree` pinned to one commit (its src/ is imported; default: this
# checkout), recorded in WORK/commit.txt; WORK: where the study files (WORK/tune-NAME.db),
# the logs and WORK/studies.log (start and end of each run, with the load average) go;
# DATASET: the prepared dataset (default WORK/mpd, made on first use from DATA).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
CHECKOUT=${CHECKOUT:-$here}
WORK=${WORK:-runs/tuning}
DATA=${DATA:-$here/../shared/data}
PY=${PY:-$here/.venv/bin/python}
MODEL=${MODEL:-track2vec}
TRIALS=${TRIALS:-150}
TEST_FRACTION=${TEST_FRACTION:-0.02}
DATASET=${DATASET:-mpd}
name=$1; shift
mkdir -p "$WORK" && cd "$WORK"
export PYTHONPATH=$CHECKOUT/src
songspace() { "$PY" -c 'from songspace.cli import main; main()' "$@"; }
git -C "$CHECKOUT" rev-parse HEAD > commit.txt
[ -d "$DATASET" ] || songspace --no-progress prepare mpd "$DATA/mpd-subset" \
    --tracks "$DATA/spotify-tracks-114k/tracks.csv" \
    --artists "$DATA/spotify-artists/data_w_genres.csv" -o "$DATASET" > prepare.log 2>&1
echo "start $name $(date -u) load $(cat /proc/loadavg)" >> studies.log
nice -n 15 "$PY" -c 'from songspace.cli import main; main()' --no-progress tune "$MODEL" \
    "$DATASET" "$@" --trials "$TRIALS" --test-fraction "$TEST_FRACTION" \
    --storage "sqlite:///tune-$name.db" >> "study-$name.log" 2>&1 || {
    echo "failed $name $(date -u) load $(cat /proc/loadavg)" >> studies.log
    echo "study $name failed; the end of $PWD/study-$name.log:" >&2
    tail -n 5 "study-$name.log" >&2
    exit 1
}
echo "end $name $(date -u) load $(cat /proc/loadavg)" >> studies.log

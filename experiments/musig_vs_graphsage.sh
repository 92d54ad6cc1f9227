#!/bin/bash
# Issue 28 item 8 end to end: the four studies of MUSIG against GraphSAGE (MUSIG Table 2's
# feature groups, plus GraphSAGE with MUSIG's own POPULARITY group, the like-for-like
# control of MUSIG's auxiliary tasks), each tuned for the same training CPU-hours on a 25%
# sample of the training playlists on the validation completion HR, then
# experiments/musig_vs_graphsage.py (each study's default and best retrained on 100%,
# scored on the test split, paired tests).
#
#   nohup experiments/musig_vs_graphsage.sh > runs/item8.log 2>&1 &
#
# Two lanes (at most two processes at once on the 2-core machine, one worker and one
# torch thread each: OMP_NUM_THREADS=1, as torch otherwise takes both cores per process,
# and two lanes of two threads would inflate the CPU time the budgets count):
#   lane 1: musig-popularity, then graphsage-all;
#   lane 2: graphsage-audio, the retraining of its rows and of musig-popularity's (into the
#           shared model cache), then graphsage-popularity and its rows' retraining, while
#           lane 1 still tunes graphsage-all;
# then the report, which finds six of its eight models in the cache and trains the other two,
# and beside it the seed check (experiments/musig_vs_graphsage.py --sample-seeds: each row
# retrained on the sample with model seeds 0, 1, 2, to see whether a study's gain holds
# for another seed at the scale it was found).
# Resumable: run it again and each study continues (finished ones start no new trial,
# their budget being spent); a report directory that exists is kept, so delete
# WORK/report to redo it.
#
# CPU_HOURS: the training CPU-hours of each study (default 1); WORK (default runs/item8),
# CHECKOUT, DATASET and PY as in experiments/w2v_study.sh; WORK/commit.txt records the
# checkout's commit and WORK/studies.log the start, end and load average of each step.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CHECKOUT=${CHECKOUT:-$here} PY=${PY:-$here/.venv/bin/python}
export WORK=$(mkdir -p "${WORK:-runs/item8}" && cd "${WORK:-runs/item8}" && pwd)
export DATASET=$(realpath -m "${DATASET:-$WORK/mpd}")
export TRIALS=1000 TEST_FRACTION=0.05 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
I8=(--objective completion_hr --sample-rate 0.25 --cpu-hours "${CPU_HOURS:-1}")
NAME=completion_hr-r0.25
study() { "$here/experiments/w2v_study.sh" "$@"; }
report() {  # report OUT [--sample-seeds K,K] STUDY... (nice 15, the pinned checkout's script)
    local out=$WORK/$1 specs=(); shift
    [ -d "$out" ] && return 0
    if [ "$1" = --sample-seeds ]; then specs=(--sample-seeds "$2"); shift 2; fi
    for s in "$@"; do specs+=(--study "sqlite:///$WORK/tune-$s.db=${s%%-*}-$NAME"); done
    echo "start report $(basename "$out") $(date -u) load $(cat /proc/loadavg)" >> "$WORK/studies.log"
    PYTHONPATH=$CHECKOUT/src nice -n 15 "$PY" "$CHECKOUT/experiments/musig_vs_graphsage.py" \
        "$DATASET" -o "$out" --cache "$WORK/cache" "${specs[@]}" > "$out.log" 2>&1 || {
        echo "report $(basename "$out") failed; the end of $out.log:" >&2
        tail -n 5 "$out.log" >&2
        return 1
    }
    echo "end report $(basename "$out") $(date -u) load $(cat /proc/loadavg)" >> "$WORK/studies.log"
}
(
    MODEL=musig study musig-popularity "${I8[@]}" -p feature_groups=popularity -p dim=64 \
        -p hidden=128 --enqueue 'task_weights=1,0,0' --enqueue 'task_weights=0.7,0.1,0.2' \
        --enqueue 'task_weights=0.4,0.2,0.4'
    touch "$WORK/musig-popularity.done"
    MODEL=graphsage study graphsage-all "${I8[@]}" -p feature_groups=genre,popularity,audio
) &
lane1=$!
(
    MODEL=graphsage study graphsage-audio "${I8[@]}" -p feature_groups=audio
    report warm-audio graphsage-audio
    while [ ! -e "$WORK/musig-popularity.done" ] && kill -0 "$lane1" 2> /dev/null; do sleep 30; done
    if [ -e "$WORK/musig-popularity.done" ]; then report warm-musig musig-popularity; fi
    MODEL=graphsage study graphsage-popularity "${I8[@]}" -p feature_groups=popularity
    report warm-popularity graphsage-popularity
) &
lane2=$!
wait "$lane1" "$lane2"
all=(musig-popularity graphsage-audio graphsage-all graphsage-popularity)
# the report and, beside it, each row retrained on the 25% sample with model seeds 0-2
report report "${all[@]}" &
report seeds --sample-seeds 0,1,2 "${all[@]}"
wait $!
echo "item 8 done: $WORK/report/tables.md and $WORK/seeds/seeds.md"

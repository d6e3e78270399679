#!/usr/bin/env bash
# The reduced grid whose results are in docs/scaling/ (see README.md there). From the repository root:
#   B2=PATH/B2_20220520_full.csv docs/scaling/run_reduced.sh
# One numba/OpenMP thread per process: on a machine shared with other jobs this uses far less CPU
# than two threads (idle OpenMP threads spin), and the results do not depend on the thread count.
set -euo pipefail
B2=${B2:-../shared/data/b2/B2_20220520_full.csv}
LABNET=${LABNET:-python -m labnet.runs}
export NUMBA_NUM_THREADS=${NUMBA_NUM_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
COMMON="--m-grid 10 20 40 80 --repeats 10 --members 4 --epochs 100 --pretrain-epochs 40 --bootstrap 500 --no-progress"
for pair in Tc:M M:Sp Sp:Tc; do
  s=${pair%%:*}; t=${pair##*:}
  $LABNET scaling --data "$B2" --source "$s" --target "$t" --n-grid 25 50 100 200 400 800 1600 $COMMON \
    --out "docs/scaling/$s-to-$t"
done
$LABNET scaling --scenario sim2real --source P0_sim --target P0 --n-grid 25 50 100 200 400 800 $COMMON \
  --out docs/scaling/P0_sim-to-P0
$LABNET scaling --scenario docs/scaling/sim2real_world_5000.yaml --source P0_sim --target P0 \
  --n-grid 25 50 100 200 400 800 1600 3200 $COMMON --out docs/scaling/P0_sim-to-P0-5000

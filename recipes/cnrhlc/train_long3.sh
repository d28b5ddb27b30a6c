#!/bin/sh
# The third drnl training (issue 24's third session): warm-started from the second run's
# final weights (train_long.sh's cnrhlc_drnl2.pt, 1700 steps, the checkpoint shipped before
# this run) with --init: a fresh Adam and a fresh schedule (50-step warm-up, cosine to 0.05) of
# STEPS steps at half the earlier peak learning rate (5e-4), a new seed (new crops), the same
# three corpora. One CPU thread; resumable: rerun the same command to go on. (The shipped run
# was started with STEPS=800, resumed at step 50 (the end of the warm-up) with STEPS=1000 and
# at step 150 with STEPS=1300, as the shared CPU turned out faster than planned.)
#   DATA: folder holding the corpora made by data.sh.   OUT: where checkpoints go.
#   INIT: the checkpoint to start from (default: the second run's final checkpoint).
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
OUT=${OUT:-/work/out/cnrhlc3/runs}
INIT=${INIT:-/work/out/cnrhlc2/runs/cnrhlc_drnl2.pt}
STEPS=${STEPS:-1300}
LR=${LR:-5e-4}
export DATA OUT INIT STEPS LR
SEED=2 NAME=cnrhlc_drnl3 EXTRA="" exec "$(dirname "$0")/warm_start.sh"

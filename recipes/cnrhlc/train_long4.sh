#!/bin/sh
# The fourth drnl training (issue 24's fourth session): warm-started from the third run's final
# weights (train_long3.sh's cnrhlc_drnl3.pt, the checkpoint shipped before this run) with
# --init: a fresh Adam and a fresh schedule (50-step warm-up, cosine to 0.05) of STEPS steps at
# peak lr 5e-4, a new seed (new crops), the same three corpora, and the two options that pull
# the severe losses' high frequencies harder (docs/cnrhlc.md, "Fourth run"):
# --hlc-weighting level (each crop's and channel's HLC error weighted by
# clip(rms A_NH / rms A_HI, 1, 10)) and --severe-weight 2 (N6, N7, S2, S3 drawn twice as often).
# One CPU thread; resumable: rerun the same command to go on. (The shipped run was started
# with STEPS=2400 and resumed at step 250 with STEPS=1700, as the shared CPU was slower than
# planned.)
#   DATA: folder holding the corpora made by data.sh.   OUT: where checkpoints go.
#   INIT: the checkpoint to start from (default: the third run's final checkpoint).
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
OUT=${OUT:-/work/out/cnrhlc4/runs}
INIT=${INIT:-/work/out/cnrhlc3/runs/cnrhlc_drnl3.pt}
STEPS=${STEPS:-1700}
LR=${LR:-5e-4}
export DATA OUT INIT STEPS LR
SEED=3 NAME=cnrhlc_drnl4 EXTRA="--hlc-weighting level --hlc-max-weight 10 --severe-weight 2" exec "$(dirname "$0")/warm_start.sh"

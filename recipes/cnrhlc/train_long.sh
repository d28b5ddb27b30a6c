#!/bin/sh
# The second, longer drnl training (the shipped cnrhlc.pt from issue 24's second session):
# warm-started from the first drnl run's 350-step checkpoint (train.sh drnl with STEPS=600,
# stopped at step 350), a fresh Adam and schedule of STEPS steps, with the recorded
# reverberant scenes' train split added to the two anechoic corpora. One CPU thread;
# resumable: rerun the same command to go on. The shipped run was started with STEPS=2000
# and, at step 625 (for time), resumed with STEPS=1700: its cosine schedule was shortened
# from there (the learning rate at step 625 moved from 0.81 to 0.74 of the peak).
#   DATA: folder holding the corpora made by data.sh.   OUT: where checkpoints go.
#   INIT: the checkpoint to start from (default: the first session's 350-step run).
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
OUT=${OUT:-/work/out/cnrhlc2/runs}
INIT=${INIT:-/work/out/cnrhlc/runs/cnrhlc_drnl_long.pt}
STEPS=${STEPS:-1700}
hltk train cnrhlc \
  --data "$DATA/recorded-noisy/manifest.csv" --data "$DATA/synth-noisy/manifest.csv" \
  --data "$DATA/recorded-reverb/manifest.csv" \
  --auditory-model drnl --size cpu --steps "$STEPS" --batch-size 8 --lr 1e-3 \
  --segment-seconds 1.0 --max-seconds 4.0 --threads 1 --seed 1 --init "$INIT" \
  -o "$OUT/cnrhlc_drnl2.pt"

#!/bin/sh
# The commands that trained the shipped checkpoints (one CPU thread each; resumable: rerun to go on).
#   DATA: folder holding the corpora made by data.sh.   OUT: where checkpoints go.
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
OUT=${OUT:-/work/out/cnrhlc/runs}
TARGET=${1:-msbg}   # msbg | drnl
STEPS=${STEPS:-260}   # both shipped checkpoints: 260 (the msbg run: 200 steps of a 400-step
                      # schedule, then resumed with STEPS=260; see hltk/checkpoints/cnrhlc_msbg.md)
hltk train cnrhlc \
  --data "$DATA/recorded-noisy/manifest.csv" --data "$DATA/synth-noisy/manifest.csv" \
  --auditory-model "$TARGET" --size cpu --steps "$STEPS" --batch-size 8 --lr 1e-3 \
  --segment-seconds 1.0 --max-seconds 4.0 --threads 1 --seed 0 \
  -o "$OUT/cnrhlc_$TARGET.pt"

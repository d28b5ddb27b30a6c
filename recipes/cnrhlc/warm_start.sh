#!/bin/sh
# One warm-started drnl run on the three corpora of data.sh (train_long3.sh and train_long4.sh
# set its variables): --init INIT gives a fresh Adam and a fresh schedule (50-step warm-up,
# cosine to 0.05) of STEPS steps at peak LR, SEED draws new crops, EXTRA adds training options.
# One CPU thread; resumable: rerun the same command to go on.
#   DATA: folder holding the corpora made by data.sh.   OUT/NAME.pt: the checkpoint written.
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
: "${OUT:?}" "${INIT:?}" "${STEPS:?}" "${SEED:?}" "${NAME:?}"
LR=${LR:-5e-4}
# shellcheck disable=SC2086  # EXTRA is a list of options
hltk train cnrhlc \
  --data "$DATA/recorded-noisy/manifest.csv" --data "$DATA/synth-noisy/manifest.csv" \
  --data "$DATA/recorded-reverb/manifest.csv" \
  --auditory-model drnl --size cpu --steps "$STEPS" --batch-size 8 --lr "$LR" \
  --segment-seconds 1.0 --max-seconds 4.0 --threads 1 --seed "$SEED" --init "$INIT" \
  ${EXTRA:-} -o "$OUT/$NAME.pt"

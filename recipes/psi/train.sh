#!/usr/bin/env bash
# The psi-msbg models of docs/listener-profiles.md, one after another on one thread:
# the shipped checkpoints (3 and 6 psi, 40 training individuals), the audiogram twin, a 6-psi
# model on 10 individuals, and individual-specific models for four individuals.
#   DATA=manifest.csv LISTENERS=listeners.json OUT=/work/out/psi recipes/psi/train.sh
# Resumable: each command goes on from its last checkpoint when run again.
set -euo pipefail
DATA=${DATA:-/work/main/data/recorded/manifest.csv}
LISTENERS=${LISTENERS:-/work/main/data/listeners/listeners.json}
OUT=${OUT:-/work/out/psi}
STEPS=${STEPS:-12000}
SMALL_STEPS=${SMALL_STEPS:-12000}
SPECIFIC_STEPS=${SPECIFIC_STEPS:-2000}
HLTK=${HLTK:-.venv/bin/hltk}
common=(--data "$DATA" --listeners "$LISTENERS" --cache-dir "$OUT/cache" --threads 1 -q)

"$HLTK" train psi-msbg "${common[@]}" -o "$OUT/psi6.pt" --n-psi 6 --steps "$STEPS"
"$HLTK" train psi-msbg "${common[@]}" -o "$OUT/psi3.pt" --n-psi 3 --steps "$STEPS"
"$HLTK" train psi-msbg "${common[@]}" -o "$OUT/twin.pt" --condition audiogram --steps "$STEPS"
"$HLTK" train psi-msbg "${common[@]}" -o "$OUT/psi6_10.pt" --n-psi 6 --individuals 10 --steps "$SMALL_STEPS"
for id in L0034a L0009a L0005a L0025a; do
  "$HLTK" train psi-msbg "${common[@]}" -o "$OUT/specific_$id.pt" --condition none \
    --individual "$id" --steps "$SPECIFIC_STEPS"
done
# the shipped checkpoints: weights and record only (no optimizer state)
cp "$OUT/psi3.pt" hltk/checkpoints/psi_msbg_3.pt
cp "$OUT/psi6.pt" hltk/checkpoints/psi_msbg_6.pt

#!/bin/sh
# The cnrhlc recipe, step by step (each step resumable or cheap to redo). One CPU thread each.
#   recipes/cnrhlc/run.sh data|train|table|grid|masks|bench|all
#   recipes/cnrhlc/run.sh train2|valid2|table2   (the second session's longer drnl run, below;
#   its grid and masks: EVAL=$EVAL2 CKPT=$OUT2/cnrhlc_drnl2.pt run.sh grid|masks)
#   recipes/cnrhlc/run.sh train3|valid3|table3   (the third session's run, from the second's end)
#   recipes/cnrhlc/run.sh train4|valid4|diag4|table4|floor|table32   (the fourth session's run, from the
#   third's end, with --hlc-weighting level --severe-weight 2; floor: the inference floor on
#   validation items)
# DATA (corpora), OUT (runs and tables) default to /work/out/cnrhlc/...
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
export DATA=${DATA:-/work/out/cnrhlc/data}
export OUT=${OUT:-/work/out/cnrhlc/runs}
EVAL=${EVAL:-/work/out/cnrhlc/eval}
PY=${PY:-python}
ITEMS=${ITEMS:-2}        # held-out items per corpus
ITEMS2=${ITEMS2:-4}      # the same, for table2
export OUT2=${OUT2:-/work/out/cnrhlc2/runs}
EVAL2=${EVAL2:-/work/out/cnrhlc2/eval}
export OUT3=${OUT3:-/work/out/cnrhlc3/runs}
EVAL3=${EVAL3:-/work/out/cnrhlc3/eval}
export OUT4=${OUT4:-/work/out/cnrhlc4/runs}
EVAL4=${EVAL4:-/work/out/cnrhlc4/eval}
SECONDS_EACH=${SECONDS_EACH:-2.5}
step=${1:-all}
case $step in
  data) "$HERE/data.sh" ;;
  train) STEPS=260 "$HERE/train.sh" msbg; STEPS=260 "$HERE/train.sh" drnl ;;
  table)
    # every system with the msbg-trained model, then the drnl-trained model's two rows
    $PY "$HERE/table.py" --out "$EVAL/table-msbg" --checkpoint "$OUT/cnrhlc_msbg.pt" --tag "[msbg]" \
      --items "$ITEMS" --seconds "$SECONDS_EACH" --nrmse-model drnl
    $PY "$HERE/table.py" --out "$EVAL/table" --checkpoint "$OUT/cnrhlc_drnl.pt" --tag "[drnl]" \
      --systems cnrhlc,cnrhlc-nr+nalr --items "$ITEMS" --seconds "$SECONDS_EACH" --nrmse-model drnl \
      --merge "$EVAL/table-msbg/rows.csv" ;;
  train2) "$HERE/train_long.sh" ;;
  valid2)
    # the first (260-step) and second drnl checkpoints on the same validation crops
    $PY "$HERE/valid_loss.py" "$OUT/cnrhlc_drnl.pt" "$OUT2/cnrhlc_drnl2.pt" --crops 128 ;;
  table2)
    # the second drnl checkpoint (OUT2) beside the first (OUT): (a) its two rows on the first
    # session's 8 items (ITEMS=2), pooled with that session's rows of every other system;
    # (b) a larger held-out set, ITEMS2 items per corpus, most important rows first
    T="$PY $HERE/table.py --seconds $SECONDS_EACH --nrmse-model drnl"
    NEW="$OUT2/cnrhlc_drnl2.pt"; OLD="$OUT/cnrhlc_drnl.pt"
    $T --out "$EVAL2/t8-drnl2" --checkpoint "$NEW" --tag "[drnl-2]" --items "$ITEMS" \
      --systems cnrhlc,cnrhlc-nr+nalr --merge "$EVAL/table/rows.csv" "$EVAL/table-msbg/rows.csv"
    $T --out "$EVAL2/t16-new-a" --checkpoint "$NEW" --tag "[drnl-2]" --items "$ITEMS2" --systems cnrhlc
    $T --out "$EVAL2/t16-old-a" --checkpoint "$OLD" --tag "[drnl-1]" --items "$ITEMS2" --systems cnrhlc
    $T --out "$EVAL2/t16-base" --items "$ITEMS2" --systems noisy+nalr,two-stage,neuroamp-denoise
    $T --out "$EVAL2/t16-new-b" --checkpoint "$NEW" --tag "[drnl-2]" --items "$ITEMS2" \
      --systems cnrhlc-nr+nalr
    $T --out "$EVAL2/t16-base2" --items "$ITEMS2" --systems nalr-wdrc,noisy
    $T --out "$EVAL2/t16-old-b" --checkpoint "$OLD" --tag "[drnl-1]" --items "$ITEMS2" \
      --systems cnrhlc-nr+nalr
    $T --out "$EVAL2/t16-msbg" --checkpoint hltk/checkpoints/cnrhlc_msbg.pt --tag "[msbg]" \
      --items "$ITEMS2" --systems cnrhlc,cnrhlc-nr+nalr
    $PY "$HERE/per_profile.py" "$EVAL2"/t16-*/rows.csv --summary --metrics haspi,nrmse ;;
  train3) OUT=$OUT3 INIT=$OUT2/cnrhlc_drnl2.pt "$HERE/train_long3.sh" ;;
  valid3)
    # the second (shipped before) and third drnl checkpoints on the same validation crops
    $PY "$HERE/valid_loss.py" "$OUT2/cnrhlc_drnl2.pt" "$OUT3/cnrhlc_drnl3.pt" --crops 128 ;;
  table3)
    # the third drnl checkpoint's rows on table2's 16 items (ITEMS2=4), pooled with table2's
    # rows of every other system (same items, same code)
    T="$PY $HERE/table.py --seconds $SECONDS_EACH --nrmse-model drnl --items $ITEMS2"
    NEW="$OUT3/cnrhlc_drnl3.pt"
    $T --out "$EVAL3/t16-new3-a" --checkpoint "$NEW" --tag "[drnl-3]" --systems cnrhlc \
      --merge "$EVAL2"/t16-base/rows.csv "$EVAL2"/t16-base2/rows.csv "$EVAL2"/t16-new-a/rows.csv
    $T --out "$EVAL3/t16-new3-b" --checkpoint "$NEW" --tag "[drnl-3]" --systems cnrhlc-nr+nalr
    $PY "$HERE/per_profile.py" "$EVAL3"/t16-new3-*/rows.csv "$EVAL2"/t16-new-[ab]/rows.csv \
      "$EVAL2"/t16-base/rows.csv "$EVAL2"/t16-base2/rows.csv --summary --metrics haspi,nrmse ;;
  train4) OUT=$OUT4 INIT=$OUT3/cnrhlc_drnl3.pt "$HERE/train_long4.sh" ;;
  valid4)
    # the third (shipped before) and fourth drnl checkpoints on the same validation crops
    $PY "$HERE/valid_loss.py" "$OUT3/cnrhlc_drnl3.pt" "$OUT4/cnrhlc_drnl4.pt" --crops 128 \
      --per-profile NH,N1,N2,N3,N4,N5,N6,N7,S1,S2,S3 ;;
  diag4)
    # the high-frequency gains of both against NAL-R and the loss's static optimum (one item)
    for c in "$OUT3/cnrhlc_drnl3.pt" "$OUT4/cnrhlc_drnl4.pt"; do
      $PY "$HERE/gain_diagnosis.py" --checkpoint "$c" --profiles N6,N7,S2; done ;;
  table4)
    # the fourth drnl checkpoint's rows on table2's 16 items (ITEMS2=4), pooled with table2's
    # and table3's rows of every other system (same items, same code)
    T="$PY $HERE/table.py --seconds $SECONDS_EACH --nrmse-model drnl --items $ITEMS2"
    NEW="$OUT4/cnrhlc_drnl4.pt"
    $T --out "$EVAL4/t16-new4-a" --checkpoint "$NEW" --tag "[drnl-4]" --systems cnrhlc \
      --merge "$EVAL3"/t16-new3-a/rows.csv "$EVAL2"/t16-base/rows.csv "$EVAL2"/t16-base2/rows.csv
    $T --out "$EVAL4/t16-new4-b" --checkpoint "$NEW" --tag "[drnl-4]" --systems cnrhlc-nr+nalr \
      --merge "$EVAL3"/t16-new3-b/rows.csv
    $PY "$HERE/per_profile.py" "$EVAL4"/t16-new4-[ab]/rows.csv "$EVAL3"/t16-new3-[ab]/rows.csv \
      "$EVAL2"/t16-base/rows.csv "$EVAL2"/t16-base2/rows.csv --summary --metrics haspi,nrmse ;;
  table32)
    # the shipped checkpoint at its default floor against every baseline on 32 held-out items
    # (ITEMS32=8 per corpus: table2's 16 and the next 4 of each corpus), to see how wide the
    # margins of the 16-item table are; per-profile HASPI / NRMSE
    T="$PY $HERE/table.py --seconds $SECONDS_EACH --nrmse-model drnl --items ${ITEMS32:-8}"
    $T --out "$EVAL4/t32" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" \
      --systems cnrhlc,noisy+nalr,neuroamp-denoise,two-stage,nalr-wdrc
    $PY "$HERE/per_profile.py" "$EVAL4"/t32/rows.csv --summary --metrics haspi,nrmse,hasqi,pesq \
      --paired "cnrhlc|noisy+nalr" --paired "cnrhlc|neuroamp-denoise" --paired "cnrhlc|two-stage" ;;
  floor)
    # the inference floor / cap against PESQ (NH), HASPI and NRMSE on VALIDATION items only
    $PY "$HERE/floor_sweep.py" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" --items 4 \
      --floors=-10,-15,-20,-25,-30,-40,-50,-60 \
      --out "$EVAL4/floor" ;;
  grid) $PY "$HERE/alpha_grid.py" --out "$EVAL/grid" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" --items 1 ;;
  masks) $PY "$HERE/masks.py" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" ;;
  bench) $PY bench/cnrhlc_speed.py --items 8 --seconds 4 --repeats 3 ;;
  all) for s in data train table grid masks bench; do "$0" "$s"; done ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
esac

#!/bin/sh
# The cnrhlc recipe, step by step (each step resumable or cheap to redo). One CPU thread each.
#   recipes/cnrhlc/run.sh data|train|table|grid|masks|bench|all
#   recipes/cnrhlc/run.sh train2|valid2|table2   (the second session's longer drnl run, below)
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
    # the second drnl checkpoint, every system, on ITEMS2 held-out items per corpus, then the
    # first drnl checkpoint's two rows on the same items
    $PY "$HERE/table.py" --out "$EVAL2/table-drnl2" --checkpoint "$OUT2/cnrhlc_drnl2.pt" \
      --tag "[drnl-2]" --items "$ITEMS2" --seconds "$SECONDS_EACH" --nrmse-model drnl \
      --systems cnrhlc,cnrhlc-nr+nalr,noisy+nalr,two-stage,neuroamp-denoise,nalr-wdrc,noisy
    $PY "$HERE/table.py" --out "$EVAL2/table-drnl1" --checkpoint "$OUT/cnrhlc_drnl.pt" \
      --tag "[drnl-1]" --items "$ITEMS2" --seconds "$SECONDS_EACH" --nrmse-model drnl \
      --systems cnrhlc,cnrhlc-nr+nalr --merge "$EVAL2/table-drnl2/rows.csv" ;;
  grid) $PY "$HERE/alpha_grid.py" --out "$EVAL/grid" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" --items 1 ;;
  masks) $PY "$HERE/masks.py" --checkpoint "${CKPT:-hltk/checkpoints/cnrhlc.pt}" ;;
  bench) $PY bench/cnrhlc_speed.py --items 8 --seconds 4 --repeats 3 ;;
  all) for s in data train table grid masks bench; do "$0" "$s"; done ;;
  *) echo "unknown step $step" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# NeuroAMP and Denoising NeuroAMP: the exact commands that made the shipped checkpoints
# (hltk/checkpoints/neuroamp_*.pt) and the figures in their model cards.
#
#   recipes/neuroamp/run.sh STAGE      (stages in order: data train-<arch> finetune-lstm train-denoise ship
#                                   heldout amplify evaluate denoise-table tables gain speed cards)
#
# Corpora (hltk synth, made for Neuro-MSBG: `make data`-style commands, 16 kHz):
#   $NM/speech  hltk synth speech -o $NM/speech --n 1200 --sample-rate 16000
#   $NM/noisy   hltk synth noisy  -o $NM/noisy  --n 1200 --sample-rate 16000   (SNR -5..15 dB)
# Everything else goes under $WORK. CPU only: one torch thread per job, nice 5 (shared machine).
#
# Retraining on recorded speech (issue #28 part 3, stages rec-*): fine-tunes of the checkpoints
# shipped before it (INIT_REV) on the corpora of `make data` ($DATA_DIR): recorded, recorded-noisy,
# recorded-babble (Asterisk es/fr/it/ru talkers; babble of other recorded talkers, 0-5 dB) and
# speech, noisy (espeak-ng); scored on held-out English recordings (recorded-en,
# recorded-en-babble: no model trains on them) and a few synthetic test items:
#   DATA_DIR=/work/main/data recipes/neuroamp/run.sh rec-init   (then rec-heldout,
#   rec-amplify before, rec-evaluate before, rec-finetune-lstm, rec-finetune-denoise,
#   rec-amplify after, rec-evaluate after, rec-ship, rec-tables)
# The babble retrainings (stages babble-*): babble-data, babble-finetune (v2); babble-data2,
# babble-tune (v3: TUNE_DATA2=1 LEVEL_WEIGHT=2 STOI_WEIGHT=0.5 from v2); babble-data3 (speed-
# perturbed talkers), babble-tune again (the shipped model: TUNE_DATA2=1 TUNE_DATA3=1
# TUNE_INIT=hltk/checkpoints/neuroamp_denoise_v3.pt TUNE_STEPS=2500 TUNE_SEED=5 LEVEL_WEIGHT=2
# STOI_WEIGHT=0.5); babble-valid NAME [CKPT] (selection on validation items, VSET=valid-babble
# or valid-talker, DENOISE_ARGS="--max-attenuation A"), babble-levels, babble-syncheck.
set -euo pipefail
NM=${NM:-/work/data/nm}
WORK=${WORK:-/work/data/namp}
HLTK=${HLTK:-.venv/bin/hltk}
PY=${PY:-.venv/bin/python}
RUN="nice -n 5 env OMP_NUM_THREADS=1"
CACHE=$WORK/cache
CKPT=$WORK/ckpt
SEED=0
# every core trains on the same cached pairs: clean, noisy and denoised speech, and music
DATA="--data $NM/speech/manifest.csv --data $NM/noisy/manifest.csv --data $WORK/denoised/manifest.csv --data $WORK/music/manifest.csv"
COMMON="--max-items 400 --max-seconds 3 --segment-seconds 1 --batch-size 16 --lr 1e-3 --seed $SEED --cache-dir $CACHE -q --format csv"
HELD=$WORK/heldout
EVAL=$WORK/eval
OUTFMT="--audio-format wav32f --format csv"
# held-out items scored per condition (HASPI+HASQI cost ~2.8 CPU s per second of audio, and
# the machine was shared); the shipped figures used NCLEAN=30 NMUSIC=16 NNOISY=20
# NDENOISED=20 (the --against join keeps the ids both systems scored)
NSPEECH=${NSPEECH:-20}
NMUSIC=${NMUSIC:-12}
NCLEAN=${NCLEAN:-$NSPEECH}
NNOISY=${NNOISY:-$NSPEECH}
NDENOISED=${NDENOISED:-$NSPEECH}
# retraining on recorded speech (stages rec-*)
DATA_DIR=${DATA_DIR:-data}
ROUT=${ROUT:-/work/out/retrain}
RH=$ROUT/heldout
REVAL=$ROUT/eval
# the checkpoints shipped before the retraining (commit 62a25fa), the fine-tunes' start
INIT_REV=${INIT_REV:-62a25fa}
REC_STEPS=${REC_STEPS:-6000}
DENOISE_STEPS=${DENOISE_STEPS:-2500}
NREC=${NREC:-30}
NBABBLE=${NBABBLE:-16}
NSYN=${NSYN:-10}
NSYN_NOISY=${NSYN_NOISY:-6}
# the babble retraining (stages babble-*)
BABBLE=${BABBLE:-$DATA_DIR/recorded-babble600}
BABBLE_STEPS=${BABBLE_STEPS:-8000}
BABBLE_LR=${BABBLE_LR:-5e-4}
BABBLE2=${BABBLE2:-$DATA_DIR/recorded-babble600b}
BABBLE3=${BABBLE3:-$DATA_DIR/recorded-babble600c}
REC_COMMON="--max-items 300 --max-seconds 3 --segment-seconds 1 --batch-size 16 --lr 3e-4 --seed 2 --threads ${REC_THREADS:-1} -q --format csv"
declare -A STEPS=([cnn]=1500 [lstm]=15000 [crnn]=2000 [transformer]=1200)
# the shipped LSTM (the default core) and the denoiser were retrained at the published width
# (2 x LSTM 256) on a quieter machine; the other cores are the "basic" size
declare -A SIZE=([cnn]=basic [lstm]=published [crnn]=basic [transformer]=basic)
declare -A THREADS=([cnn]=1 [lstm]=1 [crnn]=1 [transformer]=1)

# the NeuroAMP core evaluations (every core on the same items; the evaluation ledger makes a
# rerun with a larger --limit score only the new items):
#   NCLEAN=30 NMUSIC=16 NNOISY=20 NDENOISED=20 recipes/neuroamp/run.sh evaluate
stage=${1:?stage}
case $stage in
  data)
    $RUN $HLTK -q synth music -o $WORK/music --n 200 --seconds 6 --sample-rate 16000 --seed 11 \
      --jobs 1 --listeners $NM/speech/listeners.json
    # the first 651 noisy items through RNNoise (the two-stage baseline's first stage)
    $RUN $HLTK -q train neuroamp-denoised-corpus $NM/noisy/manifest.csv -o $WORK/denoised --limit 651
    ;;
  train-cnn|train-lstm|train-crnn|train-transformer)
    arch=${stage#train-}
    $RUN $HLTK train neuroamp $DATA -o $CKPT/neuroamp_$arch.pt --arch $arch --size ${SIZE[$arch]} \
      --steps ${STEPS[$arch]} --threads ${THREADS[$arch]} $COMMON
    ;;
  finetune-lstm)
    # the shipped LSTM: train-lstm's 15000 steps, then 6000 more from them at lr 3e-4, seed 1
    $RUN $HLTK train neuroamp $DATA -o $CKPT/neuroamp_lstm_ft.pt --arch lstm --size published \
      --init $CKPT/neuroamp_lstm.pt --steps 6000 --threads 2 \
      ${COMMON/--lr 1e-3 --seed $SEED/--lr 3e-4 --seed 1}
    ;;
  train-denoise)
    $RUN $HLTK train neuroamp-denoise --data $NM/noisy/manifest.csv -o $CKPT/neuroamp_denoise.pt \
      --arch lstm --size published --steps 12000 --threads 2 $COMMON
    ;;
  ship)
    for name in cnn crnn transformer denoise; do
      cp $CKPT/neuroamp_$name.pt hltk/checkpoints/neuroamp_$name.pt
    done
    cp $CKPT/neuroamp_lstm_ft.pt hltk/checkpoints/neuroamp_lstm.pt
    ;;
  heldout)
    # test rows (voices / songs unseen in training; listeners from the corpora's listeners.json,
    # never drawn in training); music: test and valid songs (valid only monitored the loss)
    for corpus in clean:$NM/speech noisy:$NM/noisy denoised:$WORK/denoised; do
      $PY recipes/neuroamp/heldout.py ${corpus#*:}/manifest.csv $HELD/${corpus%%:*} --n 40 --max-seconds 4.5
    done
    $PY recipes/neuroamp/heldout.py $WORK/music/manifest.csv $HELD/music --n 40 --split test,valid
    ;;
  amplify)
    # every system on every held-out condition (float WAV, so no clipping by the writer)
    for cond in clean noisy denoised music; do
      $RUN $HLTK -q amplify $HELD/$cond/manifest.csv -o $EVAL/$cond/nalr-wdrc --backend nalr-wdrc $OUTFMT
      for arch in cnn lstm crnn transformer; do
        $RUN $HLTK -q amplify $HELD/$cond/manifest.csv -o $EVAL/$cond/neuroamp-$arch --backend neuroamp --arch $arch $OUTFMT
      done
    done
    $RUN $HLTK -q denoise-amplify $HELD/noisy/manifest.csv -o $EVAL/noisy/two-stage --backend two-stage $OUTFMT
    $RUN $HLTK -q denoise-amplify $HELD/noisy/manifest.csv -o $EVAL/noisy/neuroamp-denoise --backend neuroamp-denoise $OUTFMT
    ;;
  evaluate)
    # scores against the clean speech (HASPI, HASQI; clarity engine, as the shipped figures
    # were made: --engine clarity) or the unprocessed music (HAAQI); each NeuroAMP core
    # --against nalr-wdrc's scores (LCC, SRCC, MSE with 95% CIs)
    for cond in clean music noisy denoised; do
      case $cond in
        clean) metric="--metrics haspi,hasqi --reference-column input --limit $NCLEAN" ;;
        music) metric="--metrics haaqi --reference-column input --limit $NMUSIC" ;;
        noisy) metric="--metrics haspi,hasqi --reference-column reference --limit $NNOISY" ;;
        denoised) metric="--metrics haspi,hasqi --reference-column reference --limit $NDENOISED" ;;
      esac
      metric="$metric --engine clarity"
      $RUN $HLTK -q evaluate $EVAL/$cond/nalr-wdrc/manifest.csv -o $EVAL/$cond/nalr-wdrc/scores $metric --format csv
      for arch in ${ARCHS-cnn lstm crnn transformer}; do
        $RUN $HLTK -q evaluate $EVAL/$cond/neuroamp-$arch/manifest.csv -o $EVAL/$cond/neuroamp-$arch/scores $metric \
          --against $EVAL/$cond/nalr-wdrc/scores/scores.csv --no-plots --format csv
      done
    done
    ;;
  denoise-table)
    # the shipped figures: NSPEECH=40 recipes/neuroamp/run.sh denoise-table
    # nalr-wdrc on the noisy input at $NSPEECH items (a core evaluation with a smaller --limit
    # rewrites its scores.csv; the ledger makes this a re-read), then the two other systems
    for system in nalr-wdrc two-stage neuroamp-denoise; do
      $RUN $HLTK -q evaluate $EVAL/noisy/$system/manifest.csv -o $EVAL/noisy/$system/scores \
        --metrics haspi,hasqi --reference-column reference --limit $NSPEECH --engine clarity --format csv
    done
    ;;
  tables)
    $PY recipes/neuroamp/tables.py $EVAL
    ;;
  cards)
    $PY -m hltk.train.neuroamp_card $EVAL
    cp $EVAL/gain/gain.png recipes/neuroamp/gain.png
    ;;
  gain)
    $RUN $PY recipes/neuroamp/gain.py $HELD/clean/manifest.csv --listeners $HELD/clean/listeners.json \
      --listener L0003 --listener L0010 -o $EVAL/gain --seconds 30
    ;;
  speed)
    $RUN $PY bench/neuroamp_speed.py --items 4 --seconds 4 --repeats 2
    ;;
  rec-init)
    # the checkpoints as shipped before the retraining: the fine-tunes start from them
    mkdir -p $ROUT
    for name in lstm denoise; do
      git show $INIT_REV:hltk/checkpoints/neuroamp_$name.pt > $ROUT/init_$name.pt
    done
    ;;
  rec-heldout)
    # held-out English recordings (clean; babble of other recorded talkers at 0-5 dB SNR) and
    # a few synthetic test items (espeak-ng voices unseen in training)
    $PY recipes/neuroamp/heldout.py $DATA_DIR/recorded-en/manifest.csv $RH/rec-clean --n $NREC --max-seconds 4.5
    $PY recipes/neuroamp/heldout.py $DATA_DIR/recorded-en-babble/manifest.csv $RH/rec-babble --n $NBABBLE --max-seconds 4.5
    $PY recipes/neuroamp/heldout.py $DATA_DIR/speech/manifest.csv $RH/syn-clean --n $NSYN --max-seconds 4.5
    $PY recipes/neuroamp/heldout.py $DATA_DIR/noisy/manifest.csv $RH/syn-noisy --n $NSYN --max-seconds 4.5
    ;;
  rec-finetune-lstm)
    # NeuroAMP LSTM: recorded clean + noisy + babble, synthetic clean + noisy, and music (so the
    # fine-tune keeps the music it was trained on); from the shipped checkpoint at lr 3e-4
    $RUN $HLTK train neuroamp --data $DATA_DIR/recorded/manifest.csv --data $DATA_DIR/recorded-noisy/manifest.csv \
      --data $DATA_DIR/recorded-babble/manifest.csv --data $DATA_DIR/speech/manifest.csv \
      --data $DATA_DIR/noisy/manifest.csv --data $DATA_DIR/music/manifest.csv \
      -o $ROUT/ckpt/neuroamp_lstm.pt --arch lstm --size published --init $ROUT/init_lstm.pt \
      --steps $REC_STEPS --cache-dir $ROUT/cache $REC_COMMON
    ;;
  rec-finetune-denoise)
    # Denoising NeuroAMP: recorded speech in noise (six types, babble of recorded talkers
    # included) and in babble alone, synthetic noisy speech; target nalr-wdrc of the clean reference
    $RUN $HLTK train neuroamp-denoise --data $DATA_DIR/recorded-noisy/manifest.csv \
      --data $DATA_DIR/recorded-babble/manifest.csv --data $DATA_DIR/noisy/manifest.csv \
      -o $ROUT/ckpt/neuroamp_denoise.pt --arch lstm --size published --init $ROUT/init_denoise.pt \
      --steps $DENOISE_STEPS --cache-dir $ROUT/cache $REC_COMMON
    ;;
  babble-data)
    # a larger corpus of recorded talkers in babble of other recorded talkers (600 items,
    # -2..8 dB SNR, its own seed): the recorded-babble corpus of `make data` has 83 training items
    $RUN $HLTK synth noisy --source recorded --noise babble --snr -2:8 -o $BABBLE --n 600 \
      --sample-rate 16000 --seed 7 --jobs 1 --listeners $DATA_DIR/listeners/listeners.json
    ;;
  babble-finetune)
    # the denoiser fine-tuned on that babble corpus with recorded-noisy and the synthetic noisy
    # corpus (test on ROUT=... NBABBLE=36: every held-out English babble item up to 4.5 s)
    $RUN $HLTK train neuroamp-denoise --data $BABBLE/manifest.csv \
      --data $DATA_DIR/recorded-noisy/manifest.csv --data $DATA_DIR/noisy/manifest.csv \
      -o $ROUT/ckpt/neuroamp_denoise.pt --arch lstm --size published --init $ROUT/init_denoise.pt \
      --steps $BABBLE_STEPS --cache-dir $ROUT/cache --max-items 600 --max-seconds 3 \
      --segment-seconds 1 --batch-size 16 --lr $BABBLE_LR --seed ${BABBLE_SEED:-3} --threads ${REC_THREADS:-1} -q --format csv
    ;;
  babble-data2)
    # a second corpus of the same kind (its own seed 8): more prompt / babble / SNR / listener
    # combinations of the same training talkers
    $RUN $HLTK synth noisy --source recorded --noise babble --snr -2:8 -o $BABBLE2 --n 600 \
      --sample-rate 16000 --seed 8 --jobs 1 --listeners $DATA_DIR/listeners/listeners.json
    ;;
  babble-data3)
    # a third corpus (seed 9) whose talkers are speed-perturbed (--speed 0.85:1.15: virtual
    # talkers, pitch and formants scaled together; the babble as recorded): talker variety for a
    # denoiser that must keep talkers it never heard
    $RUN $HLTK synth noisy --source recorded --noise babble --snr -2:8 -o $BABBLE3 --n 600 \
      --sample-rate 16000 --seed 9 --speed 0.85:1.15 --jobs 1 --listeners $DATA_DIR/listeners/listeners.json
    ;;
  babble-tune)
    # the babble fine-tune with the extra loss terms (--level-weight, --stoi-weight), from
    # $TUNE_INIT (the checkpoint shipped before it), on the babble corpora (BABBLE2 too when
    # TUNE_DATA2=1, BABBLE3 too when TUNE_DATA3=1), recorded-noisy and the synthetic noisy corpus
    extra=""; [ "${TUNE_DATA2:-0}" = 1 ] && extra="--data $BABBLE2/manifest.csv"
    [ "${TUNE_DATA3:-0}" = 1 ] && extra="$extra --data $BABBLE3/manifest.csv"
    $RUN $HLTK train neuroamp-denoise --data $BABBLE/manifest.csv $extra \
      --data $DATA_DIR/recorded-noisy/manifest.csv --data $DATA_DIR/noisy/manifest.csv \
      -o $ROUT/ckpt/${TUNE_NAME:-neuroamp_denoise_tuned}.pt --arch lstm --size published \
      --init ${TUNE_INIT:?the checkpoint to start from} --steps ${TUNE_STEPS:-4000} \
      --cache-dir $ROUT/cache --max-items 600 --max-seconds 3 --segment-seconds 1 --batch-size 16 \
      --lr ${TUNE_LR:-3e-4} --seed ${TUNE_SEED:-4} --threads ${REC_THREADS:-1} \
      --stoi-weight ${STOI_WEIGHT:-0} --level-weight ${LEVEL_WEIGHT:-0} -q --format csv
    ;;
  babble-valid)
    # babble-valid NAME [CHECKPOINT]: model selection on validation items, never the test set
    # (DENOISE_ARGS: further neuroamp-denoise options, e.g. "--max-attenuation 12").
    # VSET=valid-babble (default): the first 20 valid rows (unseen prompts of the training
    # talkers) of $BABBLE up to 4.5 s. VSET=valid-talker: the talker no model trains on
    # (es-mx-allison, the corpora's held-out test talker) in babble, every row up to 4.5 s of
    # $BABBLE and $BABBLE2 (not the English test items). Through nalr-wdrc, two-stage or a
    # neuroamp-denoise checkpoint, HASPI + HASQI; then
    # `rec_tables.py $ROUT/valid --conditions valid-babble,valid-talker`
    name=${2:?nalr-wdrc, two-stage or neuroamp-denoise-TAG}
    V=$ROUT/valid
    vset=${VSET:-valid-babble}
    case $vset in
      valid-babble) H=$V/heldout
        [ -f $H/manifest.csv ] || $PY recipes/neuroamp/heldout.py $BABBLE/manifest.csv $H --n 20 --split valid --max-seconds 4.5 ;;
      valid-talker) H=$V/heldout-talker
        if [ ! -f $H/manifest.csv ]; then
          for corpus in $BABBLE $BABBLE2; do
            $PY recipes/neuroamp/heldout.py $corpus/manifest.csv $H --n 100 --split test --voice es-mx-allison \
              --max-seconds 4.5 --append
          done
        fi ;;
      *) echo "VSET is valid-babble or valid-talker" >&2; exit 2 ;;
    esac
    case $name in
      nalr-wdrc) $RUN $HLTK -q amplify $H/manifest.csv -o $V/$vset/$name --backend nalr-wdrc $OUTFMT ;;
      two-stage) $RUN $HLTK -q denoise-amplify $H/manifest.csv -o $V/$vset/$name --backend two-stage $OUTFMT ;;
      *) $RUN $HLTK -q denoise-amplify $H/manifest.csv -o $V/$vset/$name --backend neuroamp-denoise \
           --checkpoint ${3:?checkpoint} ${DENOISE_ARGS:-} $OUTFMT ;;
    esac
    $RUN $HLTK -q evaluate $V/$vset/$name/manifest.csv -o $V/$vset/$name/scores --metrics haspi,hasqi \
      --reference-column reference --engine clarity --no-plots --format csv
    ;;
  babble-levels)
    # the validation items' output levels against nalr-wdrc of the clean speech (the target):
    # babble-levels "SYSTEM ..." (folders under $ROUT/valid/valid-babble)
    V=$ROUT/valid
    $PY - "$V" <<'PY'
import sys, pandas as pd
from pathlib import Path
valid = Path(sys.argv[1])
rows = pd.read_csv(valid / "heldout" / "manifest.csv")
rows["audio"] = rows["reference"]
(valid / "clean").mkdir(exist_ok=True)
rows.to_csv(valid / "clean" / "manifest.csv", index=False)
PY
    cp $V/heldout/listeners.json $V/clean/
    $RUN $HLTK -q amplify $V/clean/manifest.csv -o $V/oracle --backend nalr-wdrc $OUTFMT >/dev/null
    $PY recipes/neuroamp/levels.py --target $V/oracle $(for s in ${2:?systems}; do echo $V/valid-babble/$s; done)
    ;;
  babble-syncheck)
    # the denoiser before / after on NSYN_CHECK (20) synthetic noisy test items (espeak-ng
    # voices, six noise types): the retraining must not lose the synthetic corpus
    $PY recipes/neuroamp/heldout.py $DATA_DIR/noisy/manifest.csv $RH/syn-noisy20 --n ${NSYN_CHECK:-20} --max-seconds 4.5
    for tag in before after; do
      den=$ROUT/init_denoise.pt; [ "$tag" = after ] && den=$ROUT/ckpt/neuroamp_denoise.pt
      $RUN $HLTK -q denoise-amplify $RH/syn-noisy20/manifest.csv -o $REVAL/syn-noisy20/neuroamp-denoise-$tag \
        --backend neuroamp-denoise --checkpoint $den $OUTFMT
      $RUN $HLTK -q evaluate $REVAL/syn-noisy20/neuroamp-denoise-$tag/manifest.csv \
        -o $REVAL/syn-noisy20/neuroamp-denoise-$tag/scores --metrics haspi,hasqi --reference-column reference \
        --engine clarity --no-plots --format csv
    done
    ;;
  rec-amplify)
    # rec-amplify before|after: the old (init_*) or the fine-tuned checkpoints; nalr-wdrc and
    # two-stage once (with "before")
    tag=${2:?before or after}
    conds=${3:-rec-clean rec-babble syn-clean syn-noisy}
    if [ "$tag" = before ]; then lstm=$ROUT/init_lstm.pt; den=$ROUT/init_denoise.pt; else lstm=$ROUT/ckpt/neuroamp_lstm.pt; den=$ROUT/ckpt/neuroamp_denoise.pt; fi
    for cond in $conds; do
      if [ "$tag" = before ]; then
        $RUN $HLTK -q amplify $RH/$cond/manifest.csv -o $REVAL/$cond/nalr-wdrc --backend nalr-wdrc $OUTFMT
      fi
      case $cond in
        rec-clean|syn-clean)
          $RUN $HLTK -q amplify $RH/$cond/manifest.csv -o $REVAL/$cond/neuroamp-$tag --backend neuroamp --checkpoint $lstm $OUTFMT ;;
        *)
          [ "$tag" = before ] && $RUN $HLTK -q denoise-amplify $RH/$cond/manifest.csv -o $REVAL/$cond/two-stage --backend two-stage $OUTFMT
          $RUN $HLTK -q denoise-amplify $RH/$cond/manifest.csv -o $REVAL/$cond/neuroamp-denoise-$tag --backend neuroamp-denoise --checkpoint $den $OUTFMT ;;
      esac
    done
    ;;
  rec-evaluate)
    # rec-evaluate before|after ["CONDITIONS"]: HASPI + HASQI (clarity engine); clean conditions
    # against the unprocessed input, NeuroAMP --against nalr-wdrc's scores (SRCC, LCC, MSE);
    # noisy conditions against the clean reference (the denoising table)
    tag=${2:?before or after}
    for cond in ${3:-rec-clean rec-babble syn-clean syn-noisy}; do
      case $cond in
        rec-clean) n=$NREC ;; rec-babble) n=$NBABBLE ;; syn-noisy) n=$NSYN_NOISY ;; *) n=$NSYN ;;
      esac
      case $cond in
        *clean)
          metric="--metrics haspi,hasqi --reference-column input --limit $n --engine clarity"
          [ "$tag" = before ] && $RUN $HLTK -q evaluate $REVAL/$cond/nalr-wdrc/manifest.csv -o $REVAL/$cond/nalr-wdrc/scores $metric --no-plots --format csv
          $RUN $HLTK -q evaluate $REVAL/$cond/neuroamp-$tag/manifest.csv -o $REVAL/$cond/neuroamp-$tag/scores $metric \
            --against $REVAL/$cond/nalr-wdrc/scores/scores.csv --no-plots --format csv ;;
        *)
          metric="--metrics haspi,hasqi --reference-column reference --limit $n --engine clarity"
          # the baselines on the recorded babble only (the synthetic check compares the models)
          systems=neuroamp-denoise-$tag
          [ "$tag" = before ] && [ $cond = rec-babble ] && systems="nalr-wdrc two-stage $systems"
          systems=${REC_SYSTEMS:-$systems}  # one system at a time (two evaluations in parallel)
          for system in $systems; do
            $RUN $HLTK -q evaluate $REVAL/$cond/$system/manifest.csv -o $REVAL/$cond/$system/scores $metric --no-plots --format csv
          done ;;
      esac
    done
    ;;
  rec-ship)
    cp $ROUT/ckpt/neuroamp_${2:?lstm or denoise}.pt hltk/checkpoints/neuroamp_$2.pt
    ;;
  rec-tables)
    $PY recipes/neuroamp/rec_tables.py $REVAL
    ;;
  *)
    echo "unknown stage $stage" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Digest of every output byte of the demo runs: the `simulate` demo (msbg, torch-msbg,
# neuro-msbg), amplification (nalr-wdrc, the CEC2 nalr-compressor, neuroamp),
# denoise-amplify and `evaluate` (clarity and fast engines; the fast one by its former name,
# torch). Run it before and after a
# refactor and diff the two listings: a line that differs is an output that changed.
# run.json and ledger.jsonl hold timings and are left out; every other file is listed. Each
# manifest.csv names its input relative to OUT (a temporary folder), so it holds the checkout's
# path: compare digests made from the same checkout folder.
#   tools/output_digest.sh [HLTK] > digest.txt
set -euo pipefail
cd "$(dirname "$0")/.."
HLTK=${1:-.venv/bin/hltk}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
demo=manifests/demo/speech.csv
run() { "$HLTK" "$@" -q --format csv >/dev/null 2>"$work/stderr" || { cat "$work/stderr" >&2; exit 1; }; }
run simulate "$demo" -o "$work/sim-msbg" --jobs 2
run simulate "$demo" -o "$work/sim-torch-msbg" --backend torch-msbg --device cpu
run simulate "$demo" -o "$work/sim-neuro-msbg" --backend neuro-msbg --device cpu
run amplify "$demo" -o "$work/amp-nalr-wdrc" --device cpu
run amplify "$demo" -o "$work/amp-cec2" --backend nalr-compressor --jobs 2
run amplify "$demo" -o "$work/amp-neuroamp" --backend neuroamp --device cpu
run denoise-amplify "$demo" -o "$work/den-two-stage" --backend two-stage --jobs 2
run evaluate "$work/sim-msbg/manifest.csv" -o "$work/eval-clarity" --reference-column input \
    --metrics haspi,hasqi,stoi,estoi,pesq,sisdr --jobs 2 --engine clarity
run evaluate "$work/amp-cec2/manifest.csv" -o "$work/eval-torch" --reference-column input \
    --metrics haspi,hasqi,haaqi --engine torch
cd "$work"
find . -type f ! -name run.json ! -name ledger.jsonl ! -name stderr | LC_ALL=C sort | xargs sha256sum

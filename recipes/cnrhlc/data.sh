#!/bin/sh
# The training corpora (hltk synth noisy): recorded es/fr/it prompts and espeak speech, each in
# all of synth's noise types at -5..10 dB SNR; split train/valid/test by synth's rules.
set -eu
DATA=${DATA:-/work/out/cnrhlc/data}
hltk synth noisy --source recorded:es,fr,it -o "$DATA/recorded-noisy" --n 400 --snr -5:10 --noise all --seed 24 -q
hltk synth noisy -o "$DATA/synth-noisy" --n 200 --snr -5:10 --seed 24 -q
# held-out reverberant scenes (test rows only are used: image-source rooms, RT60 0.1-0.7 s,
# 1-3 noise sources; reference = the direct-path talker)
hltk synth noisy --source recorded:es,fr,it --room reverberant -o "$DATA/recorded-reverb" --n 150 --snr -5:10 --seed 25 -q

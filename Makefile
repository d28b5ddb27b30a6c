# hltk — one command installs, one tests, one runs the demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
DEMO_OUT ?= out/demo
BENCH_OUT ?= out/bench

.PHONY: install system-deps test test-all demo lint typecheck bench bench-readme clean

# The Debian packages (python3-venv for the venv; the corpora's tools, see system-deps), then
# the venv with hltk.
install:
	@$(MAKE) --no-print-directory system-deps SYSTEM_DEPS_OPTIONAL=1
	@$(MAKE) --no-print-directory $(BIN)/hltk

$(BIN)/hltk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel -q
	# torch first, pinned: the CPU wheel; an unpinned torch pulls several GB of CUDA wheels.
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]" "$(TORCH_PIN)"
	@touch $(BIN)/hltk

# Debian packages the synthetic corpora and tests use. Idempotent: installs only the missing
# ones (nothing to do, no apt-get, when all are there), as root or with passwordless sudo;
# otherwise it prints the one command to run (`make install` goes on without them: the tests
# that need them are skipped; `make system-deps` alone fails).
DEB_PACKAGES ?= python3-venv espeak-ng sox fluidsynth fluid-soundfont-gm ffmpeg \
	asterisk-core-sounds-es-g722 asterisk-core-sounds-fr-g722 asterisk-core-sounds-it-g722 \
	asterisk-core-sounds-ru-g722 asterisk-core-sounds-en-g722 asterisk-prompt-fr-armelle \
	asterisk-prompt-es-co asterisk-prompt-it-menardi-wav
system-deps:
	@missing=$$(for package in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$package 2>/dev/null | grep -q "ok installed" || echo $$package; \
	done | xargs); \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else sudo=none; fi; \
	if ! command -v apt-get >/dev/null || [ "$$sudo" = none ]; then \
		echo "hltk: the synthetic corpora need the Debian packages: $$missing" >&2; \
		echo "hltk: install them with:  sudo apt-get install -y $$missing" >&2; \
		exit $(if $(SYSTEM_DEPS_OPTIONAL),0,1); \
	fi; \
	echo "hltk: installing the Debian packages $$missing" >&2; \
	$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m "slow or not slow"

demo: install
	$(BIN)/hltk simulate manifests/demo/speech.csv -o $(DEMO_OUT)

lint: install
	$(BIN)/ruff check hltk cli tests bench recipes tools
	$(BIN)/mypy hltk

# Speed and fidelity of every registered backend and metric engine (defaults: 8 items x 2 s);
# tables, plots and run.json in $(BENCH_OUT). `bench-readme` pastes report.md into README.md.
bench: install
	$(BIN)/hltk benchmark -o $(BENCH_OUT)

bench-readme:
	$(BIN)/python tools/update_readme.py $(BENCH_OUT)

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache

# Standard small synthetic corpora under $(DATA) (git-ignored), made by `hltk synth` from
# espeak-ng and fluidsynth; the check names the Debian packages if a tool is missing.
DATA ?= data
SYNTH_SEED ?= 0
SYNTH_JOBS ?= 2
.PHONY: data
data: install
	@$(BIN)/python -m hltk.synth.tools || { echo "after installing them, run make data again" >&2; exit 1; }
	$(BIN)/hltk synth listeners -o $(DATA)/listeners --n 44 --seed $(SYNTH_SEED)
	$(BIN)/hltk synth speech -o $(DATA)/speech --n 300 --sample-rate 16000 --seed $(SYNTH_SEED) --jobs $(SYNTH_JOBS) --listeners $(DATA)/listeners/listeners.json
	$(BIN)/hltk synth speech -o $(DATA)/speech-44k --n 100 --sample-rate 44100 --seed $(SYNTH_SEED) --jobs $(SYNTH_JOBS) --listeners $(DATA)/listeners/listeners.json
	$(BIN)/hltk synth noisy -o $(DATA)/noisy --n 300 --sample-rate 16000 --seed $(SYNTH_SEED) --jobs $(SYNTH_JOBS) --listeners $(DATA)/listeners/listeners.json
	$(BIN)/hltk synth music -o $(DATA)/music --n 30 --seed $(SYNTH_SEED) --jobs $(SYNTH_JOBS) --listeners $(DATA)/listeners/listeners.json
	$(MAKE) recorded-data

# Recorded speech from Debian's Asterisk prompts (es, fr, it, ru: train/valid/test by prompt and
# talker); English is a test-only corpus. Noisy: babble of other recorded talkers, 0-5 dB too.
REC_FLAGS = --sample-rate 16000 --seed $(SYNTH_SEED) --jobs $(SYNTH_JOBS) --listeners $(DATA)/listeners/listeners.json
.PHONY: recorded-data
recorded-data: install
	@$(BIN)/python -m hltk.synth.tools || { echo "after installing them, run make recorded-data again" >&2; exit 1; }
	test -f $(DATA)/listeners/listeners.json || $(BIN)/hltk synth listeners -o $(DATA)/listeners --n 44 --seed $(SYNTH_SEED)
	$(BIN)/hltk synth speech --source recorded -o $(DATA)/recorded --n 600 $(REC_FLAGS)
	$(BIN)/hltk synth noisy --source recorded -o $(DATA)/recorded-noisy --n 300 $(REC_FLAGS)
	$(BIN)/hltk synth noisy --source recorded --noise babble --snr 0:5 -o $(DATA)/recorded-babble --n 100 $(REC_FLAGS)
	$(MAKE) recorded-en-data

# The held-out English corpora alone (a talker and a language no model is trained on).
.PHONY: recorded-en-data fidelity-neuro-msbg-recorded
recorded-en-data: install
	test -f $(DATA)/listeners/listeners.json || $(BIN)/hltk synth listeners -o $(DATA)/listeners --n 44 --seed $(SYNTH_SEED)
	$(BIN)/hltk synth speech --source recorded:en -o $(DATA)/recorded-en --n 100 $(REC_FLAGS)
	$(BIN)/hltk synth noisy --source recorded:en --noise babble --snr 0:5 -o $(DATA)/recorded-en-babble --n 50 $(REC_FLAGS)

# Neuro-MSBG against msbg on that held-out recorded speech, clean and in recorded babble.
fidelity-neuro-msbg-recorded: recorded-en-data
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(DATA)/recorded-en/manifest.csv \
		--noisy $(DATA)/recorded-en-babble/manifest.csv -o $(NM_OUT)/fidelity-recorded \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_lstm.pt --per-corpus 100

# Neuro-MSBG: the corpora, the shipped checkpoint and its fidelity table (hours on 2 CPU cores).
# Items of `hltk synth` are seeded per id, so --n 500 gives the first 500 items of --n 1200.
NM_DATA ?= $(DATA)/neuro-msbg
NM_OUT ?= out/neuro-msbg
NM_TRAIN = --data $(NM_DATA)/speech/manifest.csv --data $(NM_DATA)/noisy/manifest.csv \
	--cache-dir $(NM_DATA)/cache --batch-size 8 --segment-seconds 1.5 --threads 1
.PHONY: neuro-msbg-data train-neuro-msbg neuro-msbg-ablation fidelity-neuro-msbg
neuro-msbg-data: install
	$(BIN)/hltk synth speech -o $(NM_DATA)/speech --n 1200 --sample-rate 16000 --seed 11
	$(BIN)/hltk synth noisy -o $(NM_DATA)/noisy --n 500 --sample-rate 16000 --seed 12 --snr=-5:20
# The shipped model: 2500 steps with the paper's losses, then three fine-tunes of 1500 steps
# that add an L1 loss on log compressed magnitudes with weights 0.1, 0.3, 1.0 (see its card).
train-neuro-msbg: neuro-msbg-data
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 2500 --lr 2e-3 -o $(NM_OUT)/stage0.pt
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 1500 --lr 2e-3 --log-magnitude 0.1 \
		--init $(NM_OUT)/stage0.pt -o $(NM_OUT)/stage1.pt
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 1500 --lr 2e-3 --log-magnitude 0.3 \
		--init $(NM_OUT)/stage1.pt -o $(NM_OUT)/stage2.pt
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 1500 --lr 2e-3 --log-magnitude 1.0 \
		--init $(NM_OUT)/stage2.pt -o $(NM_OUT)/neuro_msbg_cnn.pt
	cp $(NM_OUT)/neuro_msbg_cnn.pt hltk/checkpoints/neuro_msbg_cnn_v1.pt
neuro-msbg-ablation: neuro-msbg-data
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 800 --lr 2e-3 --phase residual \
		-o $(NM_OUT)/ablation/phase_residual.pt
	$(BIN)/hltk train neuro-msbg $(NM_TRAIN) --block cnn --steps 800 --lr 2e-3 --phase none \
		-o $(NM_OUT)/ablation/magnitude_only.pt
fidelity-neuro-msbg: neuro-msbg-data
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(NM_DATA)/speech/manifest.csv \
		--noisy $(NM_DATA)/noisy/manifest.csv -o $(NM_OUT)/fidelity \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		$(foreach c,$(wildcard $(NM_OUT)/ablation/*.pt),--checkpoint $(c))

# Neuro-MSBG on the broadened data (issue 28): recorded train rows (es/fr/it/ru, clean, noisy,
# babble of other recorded talkers) + the synthetic speech and noisy corpora; the phase losses
# weighted by the target magnitude. Fine-tunes the first shipped model (same config) into what is
# now neuro_msbg_cnn_v2.pt (the default before the silence-aware fine-tune below).
NM_BROAD = --data $(DATA)/recorded/manifest.csv --data $(DATA)/recorded-noisy/manifest.csv \
	--data $(DATA)/recorded-babble/manifest.csv --data $(NM_DATA)/speech300/manifest.csv \
	--data $(NM_DATA)/noisy200/manifest.csv --cache-dir $(NM_DATA)/cache-broad --batch-size 8 \
	--segment-seconds 1.5 --threads 1
.PHONY: neuro-msbg-broad-data train-neuro-msbg-broad train-neuro-msbg-lstm neuro-msbg-phase-ablation fidelity-neuro-msbg-broad
neuro-msbg-broad-data: install
	$(BIN)/hltk synth speech -o $(NM_DATA)/speech300 --n 300 --sample-rate 16000 --seed 11
	$(BIN)/hltk synth noisy -o $(NM_DATA)/noisy200 --n 200 --sample-rate 16000 --seed 12 --snr=-5:20
train-neuro-msbg-broad: neuro-msbg-broad-data
	$(BIN)/hltk train neuro-msbg $(NM_BROAD) --block cnn --steps 1200 --lr 1e-3 --log-magnitude 1.0 \
		--phase-loss weighted --init hltk/checkpoints/neuro_msbg_cnn_v1.pt -o $(NM_OUT)/neuro_msbg_cnn_broad.pt
	cp $(NM_OUT)/neuro_msbg_cnn_broad.pt hltk/checkpoints/neuro_msbg_cnn_v2.pt
# The lstm option: from scratch, with the phase fix (identity start, weighted phase losses).
train-neuro-msbg-lstm: neuro-msbg-broad-data
	$(BIN)/hltk train neuro-msbg $(NM_BROAD) --block lstm --channels 16 --hidden 24 --steps 1500 \
		--lr 2e-3 --log-magnitude 1.0 --phase-loss weighted --identity-phase \
		-o $(NM_OUT)/neuro_msbg_lstm_broad.pt
	cp $(NM_OUT)/neuro_msbg_lstm_broad.pt hltk/checkpoints/neuro_msbg_lstm.pt
# The controlled phase experiment and the paper's ablation (300 steps each, the shipped config).
neuro-msbg-phase-ablation: neuro-msbg-broad-data
	$(BIN)/python recipes/neuro_msbg/phase_diagnosis.py --data $(NM_DATA)/speech300/manifest.csv \
		--cache-dir $(NM_DATA)/cache -o $(NM_OUT)/phase/phase_oracle.csv
	$(BIN)/python recipes/neuro_msbg/phase_ablation.py --data $(NM_DATA)/speech300/manifest.csv \
		--cache-dir $(NM_DATA)/cache -o $(NM_OUT)/phase --steps 300 --variant none \
		--variant residual --variant residual-identity --variant residual-identity-weighted \
		--variant absolute --variant none-noenc --variant residual-identity-weighted-noenc
fidelity-neuro-msbg-broad: recorded-en-data neuro-msbg-broad-data
	rm -rf $(NM_OUT)/fidelity-recorded-broad/neuro_msbg_cnn $(NM_OUT)/fidelity-recorded-broad/eval-neuro_msbg_cnn \
		$(NM_OUT)/fidelity-synthetic-broad/neuro_msbg_cnn $(NM_OUT)/fidelity-synthetic-broad/eval-neuro_msbg_cnn
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(DATA)/recorded-en/manifest.csv \
		--noisy $(DATA)/recorded-en-babble/manifest.csv -o $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v1.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v2.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_lstm.pt --per-corpus 100
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(NM_DATA)/speech300/manifest.csv \
		--noisy $(NM_DATA)/noisy200/manifest.csv -o $(NM_OUT)/fidelity-synthetic-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v1.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v2.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_lstm.pt --per-corpus 60

# Neuro-MSBG with silence-aware targets (issue 28): where the magnitude error sat, and the default
# it gave. The fine-tune: the previous default (now neuro_msbg_cnn_v2.pt) 5500 more steps with the
# target's magnitude floor 1e-20 and the log-magnitude L1's floor 0.002 (first models: 1e-9, 0.01);
# same network, same speed. The diagnosis: per-band STOI and oracles on the recorded fidelity run
# (fidelity.py reuses outputs by file stem: the default's are removed first, it may have changed).
.PHONY: train-neuro-msbg-floored neuro-msbg-magnitude-diagnosis
train-neuro-msbg-floored: neuro-msbg-broad-data
	$(BIN)/python recipes/neuro_msbg/train_floored.py $(NM_BROAD) --init hltk/checkpoints/neuro_msbg_cnn_v2.pt \
		--steps 5500 --lr 1e-3 --log-magnitude 1.0 --phase-loss weighted --target-floor 1e-20 \
		--log-floor 0.002 -o $(NM_OUT)/neuro_msbg_cnn_floored.pt
	cp $(NM_OUT)/neuro_msbg_cnn_floored.pt hltk/checkpoints/neuro_msbg_cnn.pt
neuro-msbg-magnitude-diagnosis: recorded-en-data
	rm -rf $(NM_OUT)/fidelity-recorded-broad/neuro_msbg_cnn $(NM_OUT)/fidelity-recorded-broad/eval-neuro_msbg_cnn
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(DATA)/recorded-en/manifest.csv \
		--noisy $(DATA)/recorded-en-babble/manifest.csv -o $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v2.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt --per-corpus 100
	$(BIN)/python recipes/neuro_msbg/magnitude_diagnosis.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn_v2 -o $(NM_OUT)/diagnosis-v2 --every 3
	$(BIN)/python recipes/neuro_msbg/magnitude_diagnosis.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn -o $(NM_OUT)/diagnosis --every 3
	$(BIN)/python recipes/neuro_msbg/plot_bands.py --run "v2 (old default)=$(NM_OUT)/diagnosis-v2" \
		--run "new default (silence-aware)=$(NM_OUT)/diagnosis" -o docs/figures/neuro_msbg_bands.png

# Neuro-MSBG, the low-log-floor option (issue 28): the default 7500 more steps with the
# log-magnitude L1's floor 0.001, the compressed magnitude of the target's floor (sqrt(1e-20) ** 0.3,
# the default: 0.002); same network, same speed. An option, not the default: better PESQ on both
# held-out sets, but the recorded STOI bias (+0.023) leaves the goal. The fidelity target scores it
# next to the default (msbg and outputs already in NM_OUT are reused by file stem).
.PHONY: train-neuro-msbg-lowfloor fidelity-neuro-msbg-lowfloor
train-neuro-msbg-lowfloor: neuro-msbg-broad-data
	$(BIN)/python recipes/neuro_msbg/train_floored.py $(NM_BROAD) --init hltk/checkpoints/neuro_msbg_cnn.pt \
		--steps 7500 --lr 1e-3 --log-magnitude 1.0 --phase-loss weighted --target-floor 1e-20 \
		--log-floor 0.001 -o $(NM_OUT)/neuro_msbg_cnn_lowfloor.pt
	cp $(NM_OUT)/neuro_msbg_cnn_lowfloor.pt hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt
fidelity-neuro-msbg-lowfloor: recorded-en-data neuro-msbg-broad-data
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(DATA)/recorded-en/manifest.csv \
		--noisy $(DATA)/recorded-en-babble/manifest.csv -o $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt --per-corpus 100
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(NM_DATA)/speech300/manifest.csv \
		--noisy $(NM_DATA)/noisy200/manifest.csv -o $(NM_OUT)/fidelity-synthetic-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt --per-corpus 60
	$(BIN)/python recipes/neuro_msbg/pta_table.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn --checkpoint-stem neuro_msbg_cnn_lowfloor
	$(BIN)/python recipes/neuro_msbg/pta_table.py --fidelity $(NM_OUT)/fidelity-synthetic-broad \
		--checkpoint-stem neuro_msbg_cnn --checkpoint-stem neuro_msbg_cnn_lowfloor

# Neuro-MSBG, the default since issue 28's fifth session: the low-floor option 7000 more steps with
# a loss on STOI's band correlations (weight 3, hltk.train.losses.stoi_band_loss) and the compressed
# complex MSE at weight 2 (the paper's 0.1); same network, same speed. The previous default ships
# unchanged as neuro_msbg_cnn_v3.pt. The fidelity target scores it next to v3 and the low-floor
# option (msbg and outputs already in NM_OUT are reused by file stem: the default's are removed).
.PHONY: train-neuro-msbg-stoiband fidelity-neuro-msbg-stoiband
train-neuro-msbg-stoiband: neuro-msbg-broad-data
	$(BIN)/python recipes/neuro_msbg/train_floored.py $(NM_BROAD) --init hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt \
		--steps 7000 --lr 5e-4 --log-magnitude 1.0 --phase-loss weighted --target-floor 1e-20 \
		--log-floor 0.001 --stoi-weight 3 --complex-weight 2 -o $(NM_OUT)/neuro_msbg_cnn_stoiband.pt
	cp $(NM_OUT)/neuro_msbg_cnn_stoiband.pt hltk/checkpoints/neuro_msbg_cnn.pt
fidelity-neuro-msbg-stoiband: recorded-en-data neuro-msbg-broad-data
	rm -rf $(NM_OUT)/fidelity-recorded-broad/neuro_msbg_cnn $(NM_OUT)/fidelity-recorded-broad/eval-neuro_msbg_cnn \
		$(NM_OUT)/fidelity-synthetic-broad/neuro_msbg_cnn $(NM_OUT)/fidelity-synthetic-broad/eval-neuro_msbg_cnn
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(DATA)/recorded-en/manifest.csv \
		--noisy $(DATA)/recorded-en-babble/manifest.csv -o $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v3.pt --checkpoint hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt --per-corpus 100
	$(BIN)/python recipes/neuro_msbg/fidelity.py --speech $(NM_DATA)/speech300/manifest.csv \
		--noisy $(NM_DATA)/noisy200/manifest.csv -o $(NM_OUT)/fidelity-synthetic-broad \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn_v3.pt --checkpoint hltk/checkpoints/neuro_msbg_cnn_lowfloor.pt \
		--checkpoint hltk/checkpoints/neuro_msbg_cnn.pt --per-corpus 60
	$(BIN)/python recipes/neuro_msbg/pta_table.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn_v3 --checkpoint-stem neuro_msbg_cnn_lowfloor --checkpoint-stem neuro_msbg_cnn
	$(BIN)/python recipes/neuro_msbg/pta_table.py --fidelity $(NM_OUT)/fidelity-synthetic-broad \
		--checkpoint-stem neuro_msbg_cnn_v3 --checkpoint-stem neuro_msbg_cnn_lowfloor --checkpoint-stem neuro_msbg_cnn
	$(BIN)/python recipes/neuro_msbg/silenced_bands.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn_v3
	$(BIN)/python recipes/neuro_msbg/silenced_bands.py --fidelity $(NM_OUT)/fidelity-recorded-broad \
		--checkpoint-stem neuro_msbg_cnn

# hltk — one command installs, one tests, one runs the demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN := torch==2.13.0
DEMO_OUT ?= out/demo
BENCH_OUT ?= out/bench

.PHONY: install system-deps test test-all demo lint typecheck bench bench-readme clean

install: $(BIN)/hltk

$(BIN)/hltk: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip setuptools wheel -q
	# torch first, pinned: the CPU wheel; an unpinned torch pulls several GB of CUDA wheels.
	$(BIN)/pip install -q "$(TORCH_PIN)"
	$(BIN)/pip install -q -e ".[dev]" "$(TORCH_PIN)"
	@touch $(BIN)/hltk

# Debian packages the synthetic corpora and tests use (run as root).
system-deps:
	apt-get update -qq && apt-get install -y -qq espeak-ng sox fluidsynth fluid-soundfont-gm

test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m "slow or not slow"

demo: install
	$(BIN)/hltk simulate manifests/demo/speech.csv -o $(DEMO_OUT)

lint: install
	$(BIN)/ruff check hltk cli tests bench
	$(BIN)/mypy hltk

# Speed and fidelity of every registered backend and metric engine (defaults: 8 items x 2 s);
# tables, plots and run.json in $(BENCH_OUT). `bench-readme` pastes report.md into README.md.
bench: install
	$(BIN)/hltk benchmark -o $(BENCH_OUT)

bench-readme:
	$(BIN)/python bench/update_readme.py $(BENCH_OUT)

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

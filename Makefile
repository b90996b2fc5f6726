# The two commands of the README work on a machine with only Python 3.10+ and make:
#   make train   creates .venv, installs nnctl, trains configs/default.yaml on the bundled MNIST
#   make test    creates .venv if missing, runs the whole test suite (with the sweep extra: Ray)
#                and builds the documentation site strictly (make docs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install train test test-fast lint docs results bench serve-bench sweep-bench reproduce clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

train: install
	$(BIN)/nnctl train configs/default.yaml

# `make install` stays light; the tests also run sweeps on a real Ray, from the `sweep` extra.
SWEEP_STAMP := $(VENV)/.installed-sweep

$(SWEEP_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[sweep]'
	touch $(SWEEP_STAMP)

# Every test, on every core (pytest-xdist, test by test; docs/contributing.md has the timings
# that chose this); `make test-fast` leaves out the slow ones and those that
# start real processes, Ray or a browser, for the edit loop.
PYTEST := $(BIN)/python -m pytest -n auto --dist load

# Python writes the bytecode of what it imports (nnctl's own modules: an editable install has none
# from pip) even where the environment says not to: otherwise every one of the ~200 processes the
# tests start compiles nnctl's source again, and pytest rewrites every test module in each worker.
unexport PYTHONDONTWRITEBYTECODE

# numba compiles the fused engine's kernels once, into its cache, while the linters and the
# documentation build keep one core busy (tools/warm_kernels.py: on a fresh clone the test
# processes would otherwise compile them side by side, about 35 s of CPU each time).
test: install $(SWEEP_STAMP)
	@$(BIN)/python tools/warm_kernels.py float32 & f32=$$!; \
	$(BIN)/python tools/warm_kernels.py float64 & f64=$$!; \
	$(MAKE) --no-print-directory lint docs; built=$$?; \
	wait $$f32; w32=$$?; wait $$f64; w64=$$?; [ $$built = 0 ] && [ $$w32 = 0 ] && [ $$w64 = 0 ]
	$(PYTEST)

test-fast: install
	$(PYTEST) -m "not slow and not subprocess and not ray and not browser"

# The linters and their configuration (pyproject.toml: [tool.ruff], [tool.importlinter]) come
# with the test extra: ruff, and the layers of nnctl/ (docs/contributing.md) by lint-imports.
lint: install
	$(BIN)/ruff check nnctl tests tools benchmarks docs/hooks
	$(BIN)/lint-imports --no-cache

# The documentation site (mkdocs.yml, docs/) into site/, offline; --strict: a broken link or
# anchor, a page missing from the nav or a reference that no longer resolves fails the build.
DOCS_STAMP := $(VENV)/.installed-docs

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) runs site .pytest_cache

CONFIGS := single-layer-perceptron single-layer-delta single-layer-softmax mlp-300 mlp-300-100
SEEDS   := 0 1 2

# Train every shipped config on the full bundled MNIST once per seed (runs/results/CONFIG/seed-K)
# and write the table of docs/shipped-results.md: mean +- sd of the test accuracy over the seeds.
results: install
	@for c in $(CONFIGS); do for s in $(SEEDS); do \
	  echo "== $$c, seed $$s" >&2; \
	  $(BIN)/nnctl train configs/$$c.yaml --out runs/results/$$c/seed-$$s --force --quiet \
	    --set training.seed=$$s > /dev/null || exit 1; \
	done; done
	$(BIN)/python tools/results_table.py --write docs/shipped-results.md \
	  $(addprefix runs/results/,$(CONFIGS))

# Speed and memory, measured in one run (medians and ratios): see benchmarks/README.md.
# The peers (PyTorch at batch size 1, scikit-learn) come from the optional `bench` extra.
bench: install $(SWEEP_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench.py --profile --memory --end-to-end --inputs --out docs/benchmarks.md
	@echo >> docs/benchmarks.md
	$(BIN)/python benchmarks/serve_bench.py --section >> docs/benchmarks.md
	@echo >> docs/benchmarks.md
	$(BIN)/python benchmarks/sweep_bench.py >> docs/benchmarks.md
	@echo >> docs/benchmarks.md
	$(BIN)/python benchmarks/sweep_memory.py >> docs/benchmarks.md
	@echo >> docs/benchmarks.md
	$(BIN)/python benchmarks/large_data.py >> docs/benchmarks.md

# Requests per second and latency of `nnctl serve`'s POST /predict, 784-300-10, on loopback.
# `nnctl serve` alone (make bench appends the same report to docs/benchmarks.md)
serve-bench: install
	$(BIN)/python benchmarks/serve_bench.py

# The classic MNIST table (LeCun et al. 1998, Simard et al. 2003): trains configs/classic/ and
# writes docs/results.md. Takes a while (progress shown per epoch).
reproduce: install
	$(BIN)/python tools/reproduce.py

# One group of rows alone: make reproduce-plain, -deskew, -distortions, -dropout
reproduce-%: install
	$(BIN)/python tools/reproduce.py --group $*

# nnctl sweep against the same runs one after another with nnctl train (24 trials, 2 workers):
# the speed-up and Ray's overhead per trial; then the workers' memory on full MNIST (make bench
# appends both to docs/benchmarks.md).
sweep-bench: install $(SWEEP_STAMP)
	$(BIN)/python benchmarks/sweep_bench.py
	$(BIN)/python benchmarks/sweep_memory.py

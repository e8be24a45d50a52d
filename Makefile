# `make help` lists the targets. Everything runs inside .venv, built from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The install stamp is named by the hash of what is installed (the CI cache key hashes the same
# files): it has no prerequisites, so a .venv restored beside a newer checkout is up to date.
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup setup-dask run test test-fast lint report bench clean-venv

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The installer is uv, at the version requirements.lock pins (the lock is the one source of
# versions): pip brings it into the venv, then uv installs the lock, with progress, in seconds.
# --compile-bytecode writes every module's .pyc at install: a Python started with
# PYTHONDONTWRITEBYTECODE (as on CI machines) would otherwise compile pandas, scikit-learn and
# DVC from source in every stage process, which took 4.8 s of each stage's start here (1.5 s with).
UV_PIN = $(shell grep -E '^uv==' requirements.lock)
$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	@test -n "$(UV_PIN)" || { echo "error: requirements.lock pins no uv (uv==VERSION)" >&2; exit 2; }
	@test -x $(BIN)/python || { echo "creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "installing the installer: $(UV_PIN)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check '$(UV_PIN)'
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@ && echo "$(VENV) is ready"

setup: $(STAMP) ## create .venv from the pinned requirements (done by every target that needs it)

# The optional extra `dask` (compute.engine: dask, docs/scale.md) on top: the tests install it,
# the quickstart (`make run`) does not pay for it. Its own stamp, named by the hash of both locks.
DASK_STAMP := $(VENV)/.dask-$(shell cat requirements.lock requirements-dask.lock | cksum | cut -d' ' -f1)
$(DASK_STAMP): | $(STAMP)
	$(BIN)/uv pip install --python $(BIN)/python --compile-bytecode -r requirements.lock \
		-r requirements-dask.lock
	@rm -f $(VENV)/.dask-* && touch $@ && echo "the dask extra is installed"

setup-dask: $(DASK_STAMP) ## make setup, and the optional dask extra (requirements-dask.lock)

run: setup ## run the loop on the embedded data: land batches, dvc repro, promote, commit
	$(BIN)/iterate loop

# The tests run on every core (pytest-xdist); a worker that runs out takes queued tests from the
# other (worksteal), so the longest files do not serialise the run.
PYTEST = $(BIN)/python -m pytest -n auto --dist worksteal

test: setup-dask ## run the whole test suite, end-to-end tests included
	$(PYTEST) --durations=10

test-fast: setup-dask ## run the tests without the slow end-to-end ones
	$(PYTEST) -m "not slow"

lint: setup ## ruff, and the import contract (the layers in src/iterate point one way)
	$(BIN)/ruff check src tests bench
	$(BIN)/lint-imports

BASE ?= main
report: setup ## write report/report.md (+ plots): the gate, metrics, params and data vs BASE (default main)
	$(BIN)/iterate report --base '$(BASE)'

bench: setup-dask ## run the benchmarks under bench/ (several minutes)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv: ## remove .venv
	rm -rf $(VENV)

# Experiments (docs/experiments.md). They start from the last commit, so `make run` first.
# DVC runs them in a copy of the repository under .dvc/tmp/exps, where each stage runs `python`
# (and the queue workers `dvc`) from PATH: the venv's bin goes first, and PYTHONPATH=src makes
# a stage import the code of its own copy instead of the workspace's (the editable install).
.PHONY: exp exp-grid exp-show exp-branch
EXP_ENV = PATH="$(abspath $(BIN)):$$PATH" PYTHONPATH=src
EXP_READY = git cat-file -e HEAD:dvc.lock 2>/dev/null || { echo "error: no iteration is \
	committed yet; run \`make run\` first (experiments start from the last commit)" >&2; exit 2; }
GRID ?= split.window=4,8
JOBS ?= 2
# exp-show: the params that differ between rows; these metrics of metrics/numbers/ (evaluate.json
# and gate.json's passed: 1 when the gate would promote)
EXP_METRICS = metrics\.(roc_auc|f1|log_loss)\.(candidate|delta)\b
EXP_KEEP = Experiment\b|Created\b|State\b|passed\b|$(EXP_METRICS)
PARAM_SECTIONS = $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\):.*/\1/p' params.yaml | paste -sd'|')

exp: setup ## one experiment in a copy of the last commit: make exp S="KEY=VALUE KEY=VALUE"
	@test -n "$(S)" || { echo 'usage: make exp S="model.params.max_iter=100 split.window=4"' \
		>&2; exit 2; }
	@$(EXP_READY)
	$(EXP_ENV) $(BIN)/dvc exp run --temp $(foreach s,$(S),-S '$(s)')

exp-grid: setup ## queue the sweep GRID (default "split.window=4,8"), run it JOBS=2 at a time, wait
	@$(EXP_READY)
	@set -eo pipefail; export $(EXP_ENV); \
	out=$$($(BIN)/dvc exp run --queue $(foreach s,$(GRID),-S '$(s)')); echo "$$out"; \
	names=$$(sed -n "s/^Queued experiment '\([^']*\)'.*/\1/p" <<< "$$out"); \
	test -n "$$names" || { echo "error: nothing was queued" >&2; exit 1; }; \
	$(BIN)/dvc queue start -j $(JOBS); \
	echo "waiting for:" $$names "(dvc queue status; dvc queue logs -f NAME)"; \
	while $(BIN)/dvc queue status | grep -E ' (Queued|Running) *$$' >/dev/null; do sleep 5; done; \
	status=$$($(BIN)/dvc queue status); echo "$$status"; failed=; \
	for n in $$names; do \
		grep -Eq "^[0-9a-f]+ +$$n +.* Success *$$" <<< "$$status" || failed="$$failed $$n"; \
	done; \
	test -z "$$failed" || { echo "error: failed:$$failed (dvc queue logs NAME)" >&2; exit 1; }; \
	echo "compare them: make exp-show"

exp-show: setup ## the last commit's experiments as markdown: changed params, key metrics, gate passed
	@$(EXP_READY)
	@$(BIN)/dvc exp show --md --no-pager --only-changed --keep '$(EXP_KEEP)' \
		--drop '^(?!(params\.yaml:)?($(PARAM_SECTIONS))\.)' \
		--sort-by metrics.roc_auc.candidate --sort-order desc

exp-branch: setup ## experiment EXP as git branch BRANCH: make exp-branch EXP=name BRANCH=try-x
	@test -n "$(EXP)" && test -n "$(BRANCH)" || \
		{ echo 'usage: make exp-branch EXP=name BRANCH=try-x (names: make exp-show)' >&2; exit 2; }
	$(BIN)/dvc exp branch '$(EXP)' '$(BRANCH)'
	@echo "next: git switch $(BRANCH) && dvc checkout && dvc push && git push -u origin" \
		"$(BRANCH), then open a pull request"

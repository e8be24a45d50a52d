# `make help` lists the targets. Everything runs inside .venv, built from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast lint report bench clean-venv

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP) ## create .venv from the pinned requirements (done by every target that needs it)

run: setup ## run the loop on the embedded data: land batches, dvc repro, promote, commit
	$(BIN)/iterate loop

test: setup ## run the whole test suite, end-to-end tests included
	$(BIN)/python -m pytest

test-fast: setup ## run the tests without the slow end-to-end ones
	$(BIN)/python -m pytest -m "not slow"

lint: setup ## ruff
	$(BIN)/ruff check src tests bench

BASE ?= main
report: setup ## write report/report.md (+ plots): the gate, metrics, params and data vs BASE (default main)
	$(BIN)/iterate report --base '$(BASE)'

bench: setup ## run the benchmarks under bench/ (several minutes)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean-venv: ## remove .venv
	rm -rf $(VENV)

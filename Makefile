# gsepconv — one-command entry points. Everything runs inside a local virtual environment (.venv)
# that `make` creates and fills from constraints.txt (exact pins) the first time.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.installed
PROFILE ?= quick
TMPDIR ?= /tmp
# Offline data mirror (read-only, same layout as the data folder); see README "Data".
export GSEPCONV_MIRROR ?= $(abspath ../shared/data)

.PHONY: help venv test test-fast bench data gpu-check clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e ".[test,data,plot]"
	touch $(STAMP)

venv: $(STAMP)  ## create/update the virtual environment

test: $(STAMP)  ## the full test suite (slow cases included), as CI runs it
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the test suite without the cases marked slow
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)  ## efficiency benchmark for PROFILE (default quick)
	$(PY) -m gsepconv bench --profile $(PROFILE)

gpu-check: $(STAMP)  ## on a CUDA machine: smoke grid on cuda:0, then the GPU benchmark (results/paper/efficiency-gpu.csv)
	$(PY) -m gsepconv run mnist_rot --profile smoke --devices cuda:0 --runs $(TMPDIR)/gsepconv-gpu-runs --results $(TMPDIR)/gsepconv-gpu-results
	$(PY) -m gsepconv results mnist_rot --profile smoke --results $(TMPDIR)/gsepconv-gpu-results
	$(PY) -m gsepconv bench --profile paper --device cuda

data: $(STAMP)  ## copy/verify the datasets the quick profile needs
	$(PY) -m gsepconv data prepare mnist_rot_seeded cifar10_subset

clean:  ## remove caches (keeps .venv and results/)
	rm -rf .pytest_cache .hypothesis _build build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

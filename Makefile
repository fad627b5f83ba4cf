# Two entry points do all the set-up on a fresh machine:
#   make book   install into .venv, generate the demo cohort, execute every notebook, build the book
#   make test   install into .venv, run the test suite (including every notebook on the smoke profile)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PROFILE ?= demo

.PHONY: book test install bench clean

install: $(VENV)/.installed

# torch goes first, pinned, so nothing pulls a CUDA build; the package and its pinned tools follow.
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e ".[dev]"
	touch $@

book: install
	$(VENV)/bin/sclesion book --profile $(PROFILE)

test: install
	$(VENV)/bin/python -m pytest

# The reference tools the benchmarks can install themselves, so that every ratio is measured in the same run:
# TPTBox in its own environment (.venv-bench, away from the project's pins); nnU-Net's nnUNetv2_predict
# comes with the project's own environment.
BENCH_VENV ?= .venv-bench
TPTBOX     ?= tptbox==1.1.0

bench: install $(BENCH_VENV)/.installed
	$(VENV)/bin/python benchmarks/run_all.py

$(BENCH_VENV)/.installed:
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet "$(TPTBOX)"
	test -x $(VENV)/bin/nnUNetv2_predict
	touch $@

clean:
	rm -rf _build

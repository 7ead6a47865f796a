# asyncdag — two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck unit bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: run the main example
demo: $(STAMP)
	$(PY) examples/demo.py

## test: lint, type checks and the test suite
test: check unit

check: lint typecheck

lint: $(STAMP)
	$(VENV)/bin/ruff check asyncdag tests examples benchmarks
	$(VENV)/bin/ruff format --check asyncdag tests examples benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest -q

## bench: the benchmarks, bounded in time
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

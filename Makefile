# asyncdag — two commands do all the set-up: `make demo` and `make test`.
#
# `make demo` installs only what the crawl needs (asyncdag with its `crawl` and `progress`
# extras: aiohttp and rich); `make test` installs the rest (`dev`: ruff, mypy, pytest, pandas,
# Dask, Ray, Hamilton, uvicorn, OpenTelemetry, an IPython kernel...). Both share one .venv,
# each with its own stamp, so a `make demo` after `make test` installs nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --quiet
DEMO_STAMP := $(VENV)/.installed-demo
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck unit bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PIP) install -e '.[crawl,progress]'
	touch $(DEMO_STAMP)

$(STAMP): pyproject.toml | $(PY)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[dev]'
	touch $(STAMP) $(DEMO_STAMP)

## demo: run the main example (a crawl of an embedded site, with a live progress bar)
demo: $(DEMO_STAMP)
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

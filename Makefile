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

.PHONY: demo test check lint typecheck unit bench bench-3.12 clean

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

## bench: the benchmarks, bounded in time; then W0 and W1 again on Python 3.12 where there
## is one (eager tasks: the per-run and per-item targets are reported there and on 3.11 apart)
bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) -m benchmarks
	@if [ -n "$(PYTHON312)" ]; then $(MAKE) --no-print-directory bench-3.12; \
	else echo "(no python3.12 on PATH: W0 and W1 on Python 3.12 left out)"; fi

# the first Python 3.12 that runs: on PATH, or one pyenv has (its shim fails when 3.12 is not
# the selected version)
PYTHON312 ?= $(shell for p in python3.12 \
	$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12 2>/dev/null); do \
	$$p -c '' 2>/dev/null && { echo $$p; break; }; done)
VENV312 := .venv-3.12
STAMP312 := $(VENV312)/.installed

$(STAMP312): pyproject.toml
	$(PYTHON312) -m venv $(VENV312)
	$(VENV312)/bin/python -m pip install --quiet -e . 'apache-hamilton>=1.88'
	touch $(STAMP312)

bench-3.12: $(STAMP312)
	$(VENV312)/bin/python -m benchmarks w0 w1

clean:
	rm -rf $(VENV) $(VENV312) .mypy_cache .ruff_cache

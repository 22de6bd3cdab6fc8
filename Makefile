# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test lint bench reliability clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found %s)." % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m sandbox.demo demo-output

lint: $(STAMP)
	$(VENV)/bin/ruff check exporter connectors sandbox tests bench reliability
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -n 2 -q

# Every bench/ script, then one table of each figure beside its target (bench/report.py).
bench: $(STAMP)
	$(PY) bench/report.py

# The long reliability campaign, for releases (docs/reliability.md); `make test` runs the
# short one. SEED=N replays another campaign.
SEED ?= 1
reliability: $(STAMP)
	$(PY) -m reliability --long --seed $(SEED)

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache

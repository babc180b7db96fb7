# The README's commands. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# pytest keeps its rewritten test modules next to the code only when Python may write bytecode;
# some machines turn that off (PYTHONDONTWRITEBYTECODE), which costs every run seconds.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test test-fast lint serve bench bench-import bench-pages clean

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed-app: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed-app

demo: $(VENV)/.installed-app ## set up and serve the demo on http://127.0.0.1:5000
	$(BIN)/mtm demo

serve: $(VENV)/.installed-app ## serve your own instance (settings from .env)
	$(BIN)/mtm serve

test: $(VENV)/.installed-test ## set up and run the whole test suite (property tests in full)
	HYPOTHESIS_PROFILE=thorough $(BIN)/pytest -n auto --cov --cov-report=term-missing:skip-covered

test-fast: $(VENV)/.installed-test ## everything but the browser and PostgreSQL tiers, quick property tests
	$(BIN)/pytest -n auto -m "not browser and not postgres" -q

lint: $(VENV)/.installed-test ## undefined or unused names, syntax errors (ruff)
	$(BIN)/ruff check src tests bench

bench: bench-import bench-pages ## both benchmarks (README: Performance)

bench-import: $(VENV)/.installed-app ## import benchmark: generated exports of 100k and 1M plays
	$(BIN)/python bench/import.py

bench-pages: $(VENV)/.installed-app ## page benchmark on 1M generated plays
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) instance .pytest_cache .coverage htmlcov

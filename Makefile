# The two commands a newcomer needs: `make up` and `make test`. Each installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: up test test-fast lint bench schemas fuzz clean

$(BIN)/vidpipe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

up: $(BIN)/vidpipe  ## start the whole system on the embedded defaults
	$(BIN)/vidpipe up

lint: $(BIN)/vidpipe
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m schemas.generate --check

test: lint  ## lint, type-check, then the whole suite (real broker, PostgreSQL, ffmpeg)
	$(BIN)/python -m pytest

test-fast: $(BIN)/vidpipe  ## the suite without the slow end-to-end cases
	$(BIN)/python -m pytest -m 'not slow'

fuzz: $(BIN)/vidpipe  ## the parsers' property tests at length (FUZZ_EXAMPLES, default 5000)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-5000} $(BIN)/python -m pytest -q -p no:cacheprovider tests/unit/test_fuzz.py

schemas: $(BIN)/vidpipe  ## regenerate JSON Schemas and the AsyncAPI document
	$(BIN)/python -m schemas.generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Two commands on a fresh machine (Python >= 3.11 and make):
#   make run    set up .venv, generate the demo data and run the pipeline (dvc repro)
#   make test   set up .venv and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test fuzz lint bench dictionary clean help

help:
	@echo "make run    - set up .venv, then run the pipeline on the demo data (dvc repro)"
	@echo "make test   - set up .venv, then run the test suite"
	@echo "make fuzz   - the property tests of validation with thousands of generated inputs"
	@echo "make lint   - ruff"
	@echo "make bench  - feature benchmark (bench/features.py)"

$(STAMP): pyproject.toml Makefile
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required, found " + sys.version' || exit 1
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,spark]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/churn repro

test: $(STAMP)
	$(BIN)/python -m pytest

fuzz: $(STAMP)
	$(BIN)/python -m pytest tests/features/test_input_fuzz.py --hypothesis-profile=fuzz

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/features.py

dictionary: $(STAMP)
	$(BIN)/churn dictionary

clean:
	rm -rf data reports .pytest_cache

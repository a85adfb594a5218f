# Two commands: `make lab` opens the course, `make test` runs every check.
# Both set up what they need first: a .venv with the package, and (for tests)
# Debian's chromium for the browser tests.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
PORT   ?= 8888
LAB_ARGS ?=
WORK   ?= work
LAB    = $(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --port=$(PORT) \
	  $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

.PHONY: lab lab-solutions reset-work test lint chromium release grade bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

chromium:
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "chromium: $$($(CHROMIUM) --version 2>/dev/null)"; \
	elif [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  && echo "chromium: installed $$($(CHROMIUM) --version 2>/dev/null)"; \
	else \
	  echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests need it)" >&2; exit 1; \
	fi

# The learner's workspace: blank copies in work/ (git-ignored). Later runs add what is missing
# and never overwrite a notebook you changed; `make reset-work` starts over (with a backup).
lab: $(STAMP)
	$(BIN)/python -m wslearn release --source notebooks --out $(WORK)
	$(LAB) --notebook-dir=$(WORK)

reset-work: $(STAMP)
	$(BIN)/python -m wslearn release --source notebooks --out $(WORK) --force

# For teachers and readers: the reference notebooks, solved and executed.
lab-solutions: $(STAMP)
	$(LAB) --notebook-dir=notebooks

lint: $(STAMP)
	$(BIN)/ruff check wslearn tests benchmarks notebooks

test: $(STAMP) chromium lint
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/python -m wslearn release --out student

grade: $(STAMP)  # make grade DIR=submissions/ada
	$(BIN)/python -m pytest --grade $(or $(DIR),student)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) student .pytest_cache .ruff_cache

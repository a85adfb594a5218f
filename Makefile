# Two commands: `make lab` opens the course, `make test` runs every check.
# Both set up what they need first: a .venv with the package, and (for tests)
# Debian's chromium, redis-server and nginx (`make system-deps`).

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

.PHONY: lab lab-solutions reset-work test lint system-deps system-deps-if-possible release grade bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Debian packages the course runs for real: chromium (browser tests), redis-server and nginx
# (notebook 09). Installed when missing and we are root, without starting their system
# services (a temporary policy-rc.d that answers 101, "action not allowed"); otherwise one
# line says what to run. The course starts private copies of them itself.
REDIS_SERVER ?= /usr/bin/redis-server
NGINX  ?= /usr/sbin/nginx
system-deps:
	@missing=""; \
	[ -x "$(CHROMIUM)" ] || missing="$$missing chromium"; \
	[ -x "$(REDIS_SERVER)" ] || missing="$$missing redis-server"; \
	[ -x "$(NGINX)" ] || missing="$$missing nginx"; \
	if [ -z "$$missing" ]; then \
	  echo "system packages: chromium, redis-server and nginx are installed"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "missing Debian packages:$$missing; run 'sudo make system-deps'" >&2; exit 1; \
	else \
	  policy=/usr/sbin/policy-rc.d; ours=""; \
	  if [ ! -e $$policy ]; then \
	    ours=1; printf '#!/bin/sh\nexit 101\n' > $$policy; chmod 755 $$policy; \
	  fi; \
	  trap '[ -n "$$ours" ] && rm -f '$$policy EXIT; \
	  echo "installing$$missing (services not started)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    $$missing >/dev/null || exit 1; \
	  for tool in "$(CHROMIUM)" "$(REDIS_SERVER)" "$(NGINX)"; do \
	    [ -x "$$tool" ] || { echo "$$tool is still missing after apt-get install" >&2; exit 1; }; \
	  done; \
	fi

# `make lab` works without them (notebook 09 then says what to run).
system-deps-if-possible:
	@$(MAKE) --no-print-directory system-deps || echo "make lab: carrying on without them"

# The learner's workspace: blank copies in work/ (git-ignored). Later runs add what is missing
# and never overwrite a notebook you changed; `make reset-work` starts over (with a backup).
lab: $(STAMP) system-deps-if-possible
	$(BIN)/python -m wslearn release --source notebooks --out $(WORK)
	$(LAB) --notebook-dir=$(WORK)

reset-work: $(STAMP)
	$(BIN)/python -m wslearn release --source notebooks --out $(WORK) --force

# For teachers and readers: the reference notebooks, solved and executed.
lab-solutions: $(STAMP)
	$(LAB) --notebook-dir=notebooks

lint: $(STAMP)
	$(BIN)/ruff check wslearn tests benchmarks notebooks

test: $(STAMP) system-deps lint
	$(BIN)/python -m pytest

release: $(STAMP)
	$(BIN)/python -m wslearn release --out student

grade: $(STAMP)  # make grade DIR=submissions (a class) or DIR=submissions/ada
	$(BIN)/python -m pytest --grade $(or $(DIR),submissions)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) student .pytest_cache .ruff_cache

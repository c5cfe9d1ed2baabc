# contimg: set-up, demo, tests and benchmarks on a fresh machine.
# Every target is idempotent: a second run installs nothing and starts at once.

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.contimg-installed
# Debian packages the pipeline and its tests call: imager, flagger, browser for the
# dashboard test, PostgreSQL server for the state-store contract suite.
APT_PACKAGES := wsclean aoflagger chromium chromium-driver postgresql

.PHONY: setup system-deps demo test bench lint clean-venv

setup: system-deps $(STAMP)

system-deps:
	@missing=""; \
	for cmd in wsclean aoflagger chromium chromedriver; do \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$cmd"; \
	done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 \
	  || missing="$$missing initdb"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing system packages (missing:$$missing)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	  else \
	    echo "missing:$$missing; run as root: apt-get install $(APT_PACKAGES)" >&2; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: setup
	$(VENV)/bin/contimg demo

test: setup
	$(VENV)/bin/python -m pytest

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

lint: setup
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

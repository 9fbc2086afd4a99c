# loanchain: `make run` and `make test` each do the whole setup first; a second run skips
# every step whose inputs did not change (stamp files under .make/).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BROWNIE_VENV := .venv-brownie
STAMPS := .make
NODE_BIN := $(CURDIR)/node_modules/.bin
export SOLCX_BINARY_PATH := $(CURDIR)/var/solcx
SOL_SOURCES := $(shell find contracts -name '*.sol' 2>/dev/null)
# Two pytest workers (pytest-xdist), one test file each at a time: every worker has its own Anvil,
# databases and browser, so files never share state; most tests wait on chain and worker rounds,
# so two workers cut the wall time by about a third on two cores. `PYTEST_WORKERS=0 make test` runs serially.
# The slowest tests are listed at the end (--durations), where a slow run is looked into first.
PYTEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(PYTEST_WORKERS) --dist loadfile --durations=15

.PHONY: setup run stop test test-python brownie-setup brownie-test brownie-deploy compile bench slither clean help

help:
	@echo "make run    - set up, start a local chain, deploy, migrate, serve http://127.0.0.1:8000"
	@echo "make test   - set up and run every test (pytest suite + brownie contract tests)"
	@echo "make setup  - set up only (.venv, node_modules, compiled contracts)"
	@echo "make stop   - stop what make run started"
	@echo "make bench  - gas, scoring, outbox, disclosure-read, alerts-read and loan-trace benchmarks (JSON under reports/)"

$(STAMPS):
	@mkdir -p $@

$(STAMPS)/venv: pyproject.toml | $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

# SCARF_ANALYTICS: swagger-ui-dist's dependency would report the install to scarf.sh (also off in package.json).
$(STAMPS)/npm: package.json package-lock.json | $(STAMPS)
	SCARF_ANALYTICS=false npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(STAMPS)/compile: $(STAMPS)/venv $(STAMPS)/npm $(SOL_SOURCES) tools/solc-adapter.js
	$(BIN)/loanchain compile
	@touch $@

# The UI tests drive Debian's chromium (never a browser a test tool downloads).
$(STAMPS)/browser: | $(STAMPS)
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }
	@command -v chromium >/dev/null
	@touch $@

setup: $(STAMPS)/venv $(STAMPS)/npm $(STAMPS)/compile $(STAMPS)/browser
	@echo "setup up to date"

compile: $(STAMPS)/compile

# Brownie pins ~80 packages exactly, so it lives in its own tool venv.
$(STAMPS)/brownie: tools/brownie-requirements.txt $(STAMPS)/compile
	@test -x $(BROWNIE_VENV)/bin/python || $(PYTHON) -m venv $(BROWNIE_VENV)
	$(BROWNIE_VENV)/bin/pip install --quiet -r tools/brownie-requirements.txt
	PATH=$(NODE_BIN):$$PATH $(BROWNIE_VENV)/bin/brownie networks list | grep -q loanchain-dev || \
	  PATH=$(NODE_BIN):$$PATH $(BROWNIE_VENV)/bin/brownie networks add Development loanchain-dev cmd=anvil \
	    host=http://127.0.0.1 port=8555 accounts=10 mnemonic="test test test test test test test test test test test junk"
	@touch $@

brownie-setup: $(STAMPS)/brownie

BROWNIE := PATH=$(NODE_BIN):$$PATH $(BROWNIE_VENV)/bin/brownie

brownie-test: brownie-setup
	$(BROWNIE) compile
	$(BROWNIE) test tests/brownie --network loanchain-dev --confcutdir tests/brownie

brownie-deploy: brownie-setup
	$(BROWNIE) run scripts/deploy.py --network loanchain-dev

test-python: setup
	$(BIN)/pytest $(PYTEST_ARGS)

test: setup brownie-setup
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory brownie-test

# The server runs by its absolute path, so `make stop` finds this checkout's server only; the
# [l] keeps pkill's pattern from matching the recipe's own shell, whose command line holds it.
SERVE := $(CURDIR)/$(BIN)/loanchain serve

run: setup
	$(BIN)/loanchain chain up
	$(BIN)/loanchain deploy
	$(BIN)/loanchain db upgrade
	$(SERVE)

stop:
	-@pkill -f "$(CURDIR)/$(BIN)/[l]oanchain serve" && echo "API stopped" || true
	-$(BIN)/loanchain chain down

bench: setup
	@mkdir -p reports
	$(BIN)/loanchain bench gas --json | tee reports/gas.json
	$(BIN)/loanchain bench score --json | tee reports/score.json
	$(BIN)/loanchain bench outbox --json | tee reports/outbox.json
	$(BIN)/loanchain bench disclosure --json | tee reports/disclosure.json
	$(BIN)/loanchain bench alerts --json | tee reports/alerts.json
	$(BIN)/loanchain bench trace --json | tee reports/trace.json

SLITHER_VENV := .venv-slither

# slither pins its own crytic-compile and solc-select: a tool venv of its own, like brownie's.
$(STAMPS)/slither: tools/slither-requirements.txt | $(STAMPS)
	@test -x $(SLITHER_VENV)/bin/python || $(PYTHON) -m venv $(SLITHER_VENV)
	$(SLITHER_VENV)/bin/pip install --quiet -r tools/slither-requirements.txt
	@touch $@

slither: setup $(STAMPS)/slither
	bash tools/slither.sh

clean:
	rm -rf $(STAMPS) artifacts build var/solcx

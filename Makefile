# `make run` creates or refreshes .venv with what running needs (requirements.lock); `make lint` and `make test` add
# the dev tools (requirements-dev.lock). Both install the locked versions, checked by hash, then Reelbot itself.
# `make lock` regenerates both lock files from pyproject.toml (`make lock LOCK_FLAGS=--upgrade` to take new releases).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed
LOCK_TOOLS := $(VENV)/lock-tools
LOCK_FLAGS ?=
COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_TOOLS)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links --no-emit-trusted-host $(LOCK_FLAGS)

.PHONY: run test lint bench lock clean messages

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(DEV_STAMP): requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

run: $(RUN_STAMP)
	$(BIN)/python -m bot

lint: $(DEV_STAMP)
	$(BIN)/ruff check bot cogs tests bench
	$(BIN)/ruff format --check bot cogs tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest -n auto -q

bench: $(DEV_STAMP)
	$(BIN)/python -m bench.poller
	$(BIN)/python -m bench.download
	$(BIN)/python -m bench.ack
	$(BIN)/python -m bench.claims
	$(BIN)/python -m bench.discord
	$(BIN)/python -m bench.encode
	$(BIN)/python -m bench.scale

# Extract the message ids from bot/ and cogs/ into bot/locales/reelbot.pot and bring each language's catalogue up to
# it; then translate the new (empty or fuzzy) entries. tests/test_locales.py checks that none is missing.
messages: $(DEV_STAMP)
	$(BIN)/python -m bot.locales

$(LOCK_TOOLS)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_TOOLS)
	$(LOCK_TOOLS)/bin/python -m pip install --quiet 'pip-tools>=7.4,<8'

# The dev lock is constrained by the runtime lock, so both install the same version of every package they share.
lock: $(LOCK_TOOLS)/bin/pip-compile
	$(COMPILE) --output-file requirements.lock pyproject.toml
	$(COMPILE) --extra dev --constraint requirements.lock --output-file requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

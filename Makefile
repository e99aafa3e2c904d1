# Relance: `make run` and `make test` do all set-up on a fresh machine (README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install messages lint clean help

help:
	@echo "make run    set up the embedded default and serve http://$(HOST):$(PORT)"
	@echo "make test   lint, import contracts, tests on SQLite and on PostgreSQL"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP) messages

messages: $(STAMP)
	@if find relance -type d -name locale | grep -q .; then \
	  $(BIN)/relance compilemessages --verbosity 0 --ignore=.venv --ignore=var --ignore=node_modules; fi

run: install
	$(BIN)/relance run --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

test: install
	@bash scripts/run-tests

clean:
	rm -rf $(VENV) var/test relance.egg-info

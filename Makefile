# Relance: `make run` and `make test` do all set-up on a fresh machine (README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install messages lint clean help sms-oracle smsc-sim jasmin a11y bench chaos tools

help:
	@echo "make run    set up the embedded default and serve http://$(HOST):$(PORT)"
	@echo "make test   lint, import contracts, tests on SQLite and on PostgreSQL"
	@echo "make bench  the SPEC §7 benchmarks on PostgreSQL (docs/benchmarks.md)"
	@echo "make chaos  the long fault-injection runs on PostgreSQL (docs/reliability.md)"

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

test: install sms-oracle smsc-sim jasmin a11y tools
	@bash scripts/run-tests

# Every figure of SPEC §7 (docs/benchmarks.md), on PostgreSQL databases of their own that it drops and
# creates again: about 17 minutes on a 2-core machine. BENCH_ARGS=--quick tries the chain in minutes.
BENCH_DB   ?= postgres://postgres@127.0.0.1:5432/relance_bench
BENCH_KEYS ?= postgres://postgres@127.0.0.1:5432/relance_bench_keys
bench: install smsc-sim jasmin
	DATABASE_URL=$(BENCH_DB) RELANCE_KEYSTORE_URL=$(BENCH_KEYS) $(BIN)/relance bench all --fresh $(BENCH_ARGS)

# The long part of issue 9 (docs/reliability.md): the tests marked `chaos` at their long scale
# (RELANCE_CHAOS=long: 20,000 sends and five kill -9, a minute of SMSC outage, five minutes of API load
# with the worker sending...) on PostgreSQL (about 20 minutes), then the leak scan of what they left and
# the table of what they recorded under artifacts/reliability/. `make test` runs the same tests at a small scale.
CHAOS_DB   ?= postgres://postgres@127.0.0.1:5432/relance
CHAOS_KEYS ?= postgres://postgres@127.0.0.1:5432/relance_keys
chaos: install sms-oracle smsc-sim jasmin a11y tools
	@status=0; \
	RELANCE_CHAOS=long RELANCE_TEST_DATABASE=postgres DATABASE_URL=$(CHAOS_DB) RELANCE_KEYSTORE_URL=$(CHAOS_KEYS) \
	  RELANCE_VAR_DIR=$(CURDIR)/var/test $(BIN)/pytest -m chaos $(CHAOS_ARGS) || status=1; \
	echo "== leak scan of the logs and artefacts these runs left"; \
	RELANCE_VAR_DIR=$(CURDIR)/var/test $(BIN)/python -m tests.reliability.leakscan artifacts var/test || status=1; \
	$(BIN)/python -m tests.reliability.report --scale long; exit $$status

# Debian packages the tests drive: wrk (the second process that loads the API, tests/reliability/test_load.py),
# nginx (`nginx -t` on deploy/nginx and the proxied production-style run, tests/test_deploy.py) and systemd
# (`systemd-analyze verify` on deploy/systemd). Installed with apt-get when we may (root); otherwise their
# tests skip with the reason (and fail with CI=true).
TOOLS := wrk:wrk nginx:nginx systemd-analyze:systemd
tools:
	@missing=""; for pair in $(TOOLS); do command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || true; \
	  else echo "tools: not installed:$$missing (apt-get install$$missing); their tests will be skipped"; fi; fi

# The independent SMS segment oracle (R-26, relance/lib/tests/test_sms_oracle.py), pinned by
# tests/oracle/package-lock.json. Without npm its tests skip; with CI=true they fail.
ORACLE_STAMP := tests/oracle/node_modules/.installed
# The system's CA bundle (Debian), so that npm trusts what the machine trusts (e.g. a TLS proxy).
NPM_CA := $(if $(wildcard /etc/ssl/certs/ca-certificates.crt),--cafile=/etc/ssl/certs/ca-certificates.crt)
sms-oracle: $(ORACLE_STAMP)

$(ORACLE_STAMP): tests/oracle/package.json tests/oracle/package-lock.json
	@if command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund $(NPM_CA) --prefix tests/oracle; then touch $@; \
	elif [ "$${CI:-false}" = "true" ]; then echo "sms-oracle: npm missing or npm ci failed, and CI=true"; exit 1; \
	else echo "sms-oracle: npm missing or npm ci failed; the oracle tests will be skipped"; fi

# The SMSC simulator (tests/smsc, relance/providers/testing/smsc.py) our SMPP client and Jasmin bind
# to, pinned by tests/smsc/package-lock.json. Without npm its tests skip; with CI=true they fail.
SMSC_STAMP := tests/smsc/node_modules/.installed
smsc-sim: $(SMSC_STAMP)

$(SMSC_STAMP): tests/smsc/package.json tests/smsc/package-lock.json
	@if command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund $(NPM_CA) --prefix tests/smsc; then touch $@; \
	elif [ "$${CI:-false}" = "true" ]; then echo "smsc-sim: npm missing or npm ci failed, and CI=true"; exit 1; \
	else echo "smsc-sim: npm missing or npm ci failed; the SMSC simulator tests will be skipped"; fi

# axe-core, injected by the browser tests into the public pages (relance/testing_browser.py), pinned by
# tests/a11y/package-lock.json. Without npm the accessibility checks skip; with CI=true they fail.
A11Y_STAMP := tests/a11y/node_modules/.installed
a11y: $(A11Y_STAMP)

$(A11Y_STAMP): tests/a11y/package.json tests/a11y/package-lock.json
	@if command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund $(NPM_CA) --prefix tests/a11y; then touch $@; \
	elif [ "$${CI:-false}" = "true" ]; then echo "a11y: npm missing or npm ci failed, and CI=true"; exit 1; \
	else echo "a11y: npm missing or npm ci failed; the accessibility checks will be skipped"; fi

clean:
	rm -rf $(VENV) var/test relance.egg-info

# Jasmin 0.11.1, the real SMPP gateway of the SMPP tests (docs/smpp-testing.md), in its own
# .jasmin-venv (scripts/jasmin-install patches it and stamps it). Without it the Jasmin tests skip;
# with CI=true a failed install fails.
JASMIN_STAMP := .jasmin-venv/.installed-$(shell cat tests/jasmin/requirements.txt scripts/jasmin-install | sha1sum | cut -c1-12)
jasmin: $(JASMIN_STAMP)

$(JASMIN_STAMP): tests/jasmin/requirements.txt scripts/jasmin-install
	@if bash scripts/jasmin-install; then :; \
	elif [ "$${CI:-false}" = "true" ]; then echo "jasmin: scripts/jasmin-install failed, and CI=true"; exit 1; \
	else echo "jasmin: scripts/jasmin-install failed; the Jasmin tests will be skipped"; fi

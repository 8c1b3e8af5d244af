# Safe-Address Gateway: every set-up step a fresh machine needs is here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
REGISTER ?= ../shared/contracts/register.example.yaml
# A checkout without ../shared (e.g. an installed copy) falls back to the copy in examples/.
ifeq ($(wildcard $(REGISTER)),)
REGISTER := examples/register.example.yaml
endif

.PHONY: run scan-examples test screenshots bench lint install clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the gateway on 127.0.0.1:10025 with a local upstream that writes
## delivered mail into data/delivered/ (SQLite store and key in data/); other ports:
## make run LISTEN=127.0.0.1:2525 CONSOLE=127.0.0.1:8080 SINK_PORT=2526
LISTEN    ?= 127.0.0.1:10025
CONSOLE   ?= 127.0.0.1:8025
SINK_PORT ?= 10026
run: $(STAMP)
	$(BIN)/python -m gateway.demo --data-dir data --register $(REGISTER) \
		--listen $(LISTEN) --console $(CONSOLE) --sink-port $(SINK_PORT)

## make scan-examples: scan the example messages and print the verdicts and why
scan-examples: $(STAMP)
	$(BIN)/gateway scan --register $(REGISTER) --internal-domain council.example.gov.uk \
		--explain examples/messages

## make test: the whole suite (unit, integration, corpus)
test: $(STAMP)
	$(BIN)/pytest

## make screenshots: the README's console screenshots (docs/screenshots/), taken by
## the browser tests that show those pages
screenshots: $(STAMP)
	GATEWAY_SCREENSHOTS=docs/screenshots $(BIN)/pytest \
		tests/integration/console/test_browser.py \
		tests/integration/console/test_accessibility.py \
		tests/integration/console/test_user_admin.py \
		tests/integration/console/test_register_page.py

## make bench: index build, scan speed and the naive baseline at 100k and 1M cases,
## then the SMTP load test (direct, plain relay, gateway; benchmarks/smtp_load.py),
## the milter benchmark (Postfix alone, accept-all milter, gateway milter;
## benchmarks/milter.py, needs root and the postfix package) and one node on SQLite
## against two on one PostgreSQL database (benchmarks/pg_nodes.py, needs the
## postgresql package)
bench: $(STAMP)
	$(BIN)/python -m benchmarks --smtp --milter --pg

lint: $(STAMP)
	$(BIN)/ruff check gateway tests benchmarks
	$(BIN)/ruff format --check gateway tests benchmarks
	$(BIN)/mypy gateway
	$(BIN)/hadolint Dockerfile

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

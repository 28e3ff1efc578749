# `make run` serves the app on SQLite; `make test` runs the whole suite. Both set up .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Tokens (`iss`), discovery, the device-login URL and emailed links name the issuer: by default
# the address `make run` serves on. Set MICRO_ISSUER (environment or `make run MICRO_ISSUER=…`)
# when clients reach it through another address. On the loopback address the issuer says
# localhost: browsers offer passkeys (WebAuthn) to a domain name, never to an IP address.
MICRO_ISSUER ?= http://$(if $(filter 127.0.0.1,$(HOST)),localhost,$(HOST)):$(PORT)
RUN_ENV := DJANGO_DEBUG=true MICRO_ISSUER='$(MICRO_ISSUER)'
# The SDKs' toolchains (make sdk, sdk-test): Go, and Node >= 20 with npm.
GO ?= go
NPM ?= npm
GO_SDK := clients/go
JS := clients/js
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k tokens -x"`.
PYTEST_ARGS ?=

.PHONY: run test lint typecheck pytest client-test sdk sdk-deps federation-deps sdk-check sdk-test bench bench-smoke bench-floor load-test fault-test setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The client packages (clients/python: micro_client, which the service imports too;
# clients/cli: micro_cli and its `micro` console script, so `.venv/bin/micro`), installed
# editable from this checkout. requirements.txt pins their dependencies, hence --no-deps.
CLIENTS := clients/python clients/cli
$(VENV)/.clients: clients/python/pyproject.toml clients/cli/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps $(foreach package,$(CLIENTS),-e $(package))
	touch $@

$(VENV)/.runtime: requirements.txt | $(BIN)/python $(VENV)/.clients
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python $(VENV)/.clients
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

setup: $(VENV)/.runtime

run: $(VENV)/.runtime
	@mkdir -p var
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(if $(OBJECTS_DATABASE_URL),$(RUN_ENV) $(BIN)/python manage.py migrate --noinput --database objects)
	$(RUN_ENV) $(BIN)/python manage.py rotate_signing_key --if-missing
	$(RUN_ENV) $(BIN)/python manage.py ensure_admin
	@echo "Serving on $(MICRO_ISSUER)/  (API reference: $(MICRO_ISSUER)/api/docs/; listening on $(HOST):$(PORT))"
	$(RUN_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(VENV)/.dev
	$(BIN)/mypy .

# The suite runs each SDK's live tests (tests/clients/test_sdk_live.py): it needs their deps;
# and the federation tests' OpenID provider (tests/federation): it needs its npm package.
pytest: $(VENV)/.dev sdk-deps federation-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck sdk-check sdk-test pytest

# The OpenAPI schema the SDKs under clients/ are generated from, and the files generated from
# it; all are checked in. Run after changing the API, then commit what changed.
SDK_SCHEMA := clients/openapi.json
SDK_GENERATED := $(SDK_SCHEMA) $(JS)/src/schema.d.ts $(GO_SDK)/apitypes
sdk: $(VENV)/.dev sdk-deps
	$(RUN_ENV) $(BIN)/python manage.py spectacular --format openapi-json --validate --fail-on-warn --file $(SDK_SCHEMA)
	cd $(GO_SDK) && $(GO) generate ./...
	cd $(JS) && $(NPM) run --silent generate
	$(BIN)/python clients/testdata/generate.py --check

# Fails when a generated file differs from what is committed (`make sdk` has rewritten it).
sdk-check: sdk
	@git diff --exit-code --stat -- $(SDK_GENERATED) || { \
		echo "The generated SDK files above were stale: make sdk rewrote them; commit them." >&2; \
		exit 1; }

# The SDKs' dependencies: npm ci from package-lock.json, the Go modules of go.sum.
$(JS)/node_modules/.installed: $(JS)/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "npm (Node >= 20) is needed for clients/js" >&2; exit 1; }
	cd $(JS) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

sdk-deps: $(JS)/node_modules/.installed
	@command -v $(GO) >/dev/null || { echo "go is needed for clients/go" >&2; exit 1; }
	cd $(GO_SDK) && $(GO) mod download

# The federation tests' upstream OpenID provider: npm's oidc-provider, pinned by the folder's
# package-lock.json (tests/federation/conftest.py starts it with node).
FEDERATION_PROVIDER := tests/federation/provider
$(FEDERATION_PROVIDER)/node_modules/.installed: $(FEDERATION_PROVIDER)/package-lock.json
	@command -v $(NPM) >/dev/null || { echo "npm (Node >= 20) is needed for tests/federation" >&2; exit 1; }
	cd $(FEDERATION_PROVIDER) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

federation-deps: $(FEDERATION_PROVIDER)/node_modules/.installed

# Each SDK's own checks and unit tests, the shared vectors included. Their live tests are left
# out here: pytest runs them against a real server (tests/clients/test_sdk_live.py). make
# client-test runs the Python packages' tests again, each installed alone.
sdk-test: $(VENV)/.dev sdk-deps
	$(BIN)/pytest -q -m "not live" -c clients/python/pyproject.toml --rootdir clients/python clients/python/tests
	$(BIN)/pytest -q -c clients/cli/pyproject.toml --rootdir clients/cli clients/cli/tests
	@test -z "$$(cd $(GO_SDK) && gofmt -l .)" || { (cd $(GO_SDK) && gofmt -l .); echo "gofmt: reformat the files above" >&2; exit 1; }
	cd $(GO_SDK) && $(GO) mod tidy -diff && $(GO) vet ./... && $(GO) test -race -count=1 -skip '^TestLive' ./...
	$(GO_SDK)/scripts/test-consumer
	cd $(JS) && $(NPM) run --silent typecheck && $(NPM) test && $(NPM) run --silent test:pack

# Each client package alone in a clean virtual environment (no Django): installs it (the CLI
# with micro-client), checks that Django cannot be imported there, runs its own tests.
client-test:
	PYTHON=$(PYTHON) ./clients/test-isolated

bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

bench-smoke: $(VENV)/.dev
	$(BIN)/python bench/run.py --smoke

# How close to the bare Argon2id rate a sign-in can come before its own work (bench/README.md).
bench-floor: $(VENV)/.dev
	$(BIN)/python bench/p5_floor.py $(BENCH_FLOOR_ARGS)

# Two gunicorn instances on PostgreSQL + Redis under a mixed load (tests/load), for
# LOAD_TEST_SECONDS (default here 120; the suite's own run is 10 s). Needs DATABASE_URL
# (postgres://, a server where the role may create databases) and REDIS_URL.
LOAD_TEST_SECONDS ?= 120
load-test: $(VENV)/.dev
	LOAD_TEST_SECONDS=$(LOAD_TEST_SECONDS) $(BIN)/pytest -p no:randomly -s tests/load $(PYTEST_ARGS)

# PostgreSQL and Redis outages under load (tests/faults; docs/reliability.md). As root: it
# creates a PostgreSQL cluster `faults` on port 5439 and a redis-server on port 6390, and
# removes both; the same DATABASE_URL (postgres://) and REDIS_URL as load-test must be set.
fault-test: $(VENV)/.dev
	$(BIN)/pytest -p no:randomly -s tests/faults $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

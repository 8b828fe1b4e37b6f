# Renraku: `make demo` runs the service on a fresh machine; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The development pins hold the runtime pins too (see `lock`).
STAMP := $(VENV)/.installed-$(shell sha1sum requirements-dev.lock pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test test-fast lint typecheck pytest services browser venv web bench lock clean test-clients

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# Builds the PWA when it exists (mobile-web/package.json).
web:
	@if [ -f mobile-web/package.json ]; then \
		cd mobile-web && npm ci --no-audit --no-fund && npm run build; \
	else echo "mobile-web: no web app to build yet"; fi

demo: $(STAMP) web
	mkdir -p var
	$(BIN)/renraku demo

# lint-imports checks the layers and independent domains declared in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check backend tests bench seed
	$(BIN)/ruff format --check backend tests bench seed
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

services:
	scripts/ensure-services

# The Node graphql-ws clients the live-feed tests drive, installed from their lock file with the
# machine's Node.js and npm; again only when the lock file changes.
JS_CLIENTS := tests/js/node_modules/.installed-$(shell sha1sum tests/js/package-lock.json | cut -c1-12)

$(JS_CLIENTS): tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund
	touch $(JS_CLIENTS)

test-clients: $(JS_CLIENTS)

# Debian's Chromium and the Noto CJK fonts for the browser tests (tests/web), and the app they drive.
browser:
	scripts/ensure-browser

# One pytest-xdist worker per core (at most 8: tests/support/workers.py gives each its own
# Redis databases); much of a test's time is spent waiting on servers, not on this process.
PYTEST_WORKERS ?= auto
XDIST := -n $(PYTEST_WORKERS) --maxprocesses 8

pytest: $(STAMP) services browser web $(JS_CLIENTS)
	$(BIN)/pytest $(XDIST)

test: lint typecheck pytest

# The inner loop on any machine with Python 3.11 and Node: the SQLite half, without PostgreSQL,
# Redis, root or a browser. `make test` stays the whole truth.
test-fast: $(STAMP) $(JS_CLIENTS)
	$(BIN)/ruff check backend tests bench seed
	$(BIN)/pytest $(XDIST) -m "not postgres and not redis and not browser"

# The benchmarks at their default (quick) scale; seed.py and access.py take --full for 410,000
# patients / 230,000 professionals, feed.py runs without --quick for 1,000 subscribers at 50/s
# for 60 s (see README "Benchmarks"). Never part of `make test`.
bench: $(STAMP) services
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/access.py
	$(BIN)/python bench/feed.py --quick

# Regenerates the pins from pyproject.toml (needs network access to PyPI), keeping the versions
# already pinned where they still fit: requirements.lock the runtime dependencies, which is all
# `pip install .` needs; requirements-dev.lock those and the dev extra, constrained to the
# runtime pins so that both files agree.
lock:
	$(PYTHON) -m venv /tmp/renraku-lock && /tmp/renraku-lock/bin/pip install --quiet uv
	/tmp/renraku-lock/bin/uv pip compile pyproject.toml --python-version 3.11 -o requirements.lock
	/tmp/renraku-lock/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
		--constraint requirements.lock -o requirements-dev.lock

clean:
	rm -rf $(VENV) var mobile-web/dist

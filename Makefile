# Renraku: `make demo` runs the service on a fresh machine; `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.lock pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck pytest services venv web bench lock clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
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

lint: $(STAMP)
	$(BIN)/ruff check backend tests bench seed
	$(BIN)/ruff format --check backend tests bench seed

typecheck: $(STAMP)
	$(BIN)/mypy

services:
	scripts/ensure-services

pytest: $(STAMP) services
	$(BIN)/pytest

test: lint typecheck pytest

# Both benchmarks at their default (quick) scale; each takes --full for 410,000 patients /
# 230,000 professionals (see README "Benchmarks").
bench: $(STAMP) services
	$(BIN)/python bench/seed.py
	$(BIN)/python bench/access.py

# Regenerates requirements.lock from pyproject.toml (needs network access to PyPI).
lock:
	$(PYTHON) -m venv /tmp/renraku-lock && /tmp/renraku-lock/bin/pip install --quiet uv
	/tmp/renraku-lock/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) var mobile-web/dist

# Haat: `make demo` runs the product on SQLite with the sandbox marketplaces; `make test` runs the checks.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements-installed
PYTEST_ARGS ?= -n 2
HOST ?= 127.0.0.1
PORT ?= 8000

# The demo: sandbox marketplaces on, everything on SQLite in demo.sqlite3, webhooks back to this server.
DEMO_ENV := SANDBOX=on DATABASE_URL=sqlite:///$(CURDIR)/demo.sqlite3 SITE_URL=http://$(HOST):$(PORT) \
	SANDBOX_WEBHOOK_TARGET=http://$(HOST):$(PORT) STATICFILES_BACKEND=whitenoise.storage.CompressedManifestStaticFilesStorage

.PHONY: install demo test lint bench system-packages clean

$(STAMP): requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)
	@# Translations: rebuilt from locale/*.po when gettext is present; otherwise the committed .mo files serve.
	@if command -v msgfmt >/dev/null 2>&1; then $(BIN)/python manage.py compilemessages --ignore=$(VENV) --verbosity 0; \
	else echo "msgfmt not found: using the committed locale/*.mo"; fi

demo: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  Haat is starting at http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	@echo "  Log in as coordinator / haat-demo-2026  -  Ctrl-C stops the web server and the worker."
	@echo ""
	$(DEMO_ENV) HOST=$(HOST) PORT=$(PORT) $(BIN)/honcho -f Procfile.demo start

lint: install
	$(BIN)/ruff check .

test: install system-packages
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest $(PYTEST_ARGS)

# Debian's chromium for the browser tests (never a downloaded browser); skipped when present, and when
# there is no root or passwordless sudo (the browser test then skips, and fails under CI=true).
system-packages:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi; \
	  if [ "$$SUDO" = none ]; then echo "chromium is missing; run: sudo apt-get install -y chromium"; \
	  else $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; fi; \
	fi

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) staticfiles demo.sqlite3*

# fundapp: `make run` sets up and starts the app; `make test` sets up and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench docs setup sysdeps sysdeps-test translations lint messages clean

run: setup sysdeps translations
	$(BIN)/fundapp db upgrade heads
	@if [ "$${FUNDAPP_DEMO:-1}" = 0 ]; then \
	  echo "FUNDAPP_DEMO=0: no demo. First run: fundapp users create --role admin, then sign in" \
	    "(or fundapp fund create); see docs/setup.md"; \
	else $(BIN)/fundapp demo load --if-empty; fi
	HOST=$(HOST) PORT=$(PORT) scripts/run.sh

# Tests run in parallel, one process per core (pytest-xdist): each test has its own database.
PYTEST_ARGS ?= -n auto

test: setup sysdeps sysdeps-test translations
	$(BIN)/ruff check fundapp reports tests bench migrations/env.py
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: setup sysdeps translations
	$(BIN)/python -m bench $(BENCH_ARGS)

# PNG pages of the demo fund's PDFs (IC pack, minutes, quarterly report, ledger verification; zh, en,
# both) in docs/images/ for review, from a scratch demo database in a temporary folder. Not committed.
# Also the user guide's screenshots (docs/images/guide/*.png, committed: docs/guide/*.md shows them,
# and so does the in-app help).
docs: setup sysdeps sysdeps-test translations
	$(BIN)/python -m fundapp.documents docs/images $(DOCS_ARGS)
	$(BIN)/python -m fundapp.guide_images docs/images/guide

setup: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# System packages WeasyPrint and Chinese text need (Pango, a CJK font); installed when missing and
# running as root, otherwise the exact command is printed.
sysdeps:
	@scripts/sysdeps.sh app

# What the tests need besides: Debian's Chromium for Playwright, pdftotext to read PDFs back.
sysdeps-test:
	@scripts/sysdeps.sh test

translations: setup
	@$(BIN)/pybabel --quiet compile -f -d fundapp/translations

# Re-extract the user-visible strings after changing them, then translate the new ones in
# fundapp/translations/zh/LC_MESSAGES/messages.po (tests fail while one is missing).
messages: setup
	$(BIN)/pybabel --quiet extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
	  --project fundapp -o fundapp/translations/messages.pot .
	$(BIN)/pybabel --quiet update --no-fuzzy-matching -i fundapp/translations/messages.pot \
	  -d fundapp/translations

lint: setup
	$(BIN)/ruff check fundapp reports tests bench

clean:
	rm -rf $(VENV) build *.egg-info

# Propflow — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app app
HOST   ?= 127.0.0.1
PORT   ?= 5000
SERVE_PORT ?= 8000

.PHONY: install run serve test test-pg bench bench-floor bench-load lint clean

# Compiled message catalogues are build products, made from the committed .po files.
PO     := $(wildcard web/translations/*/LC_MESSAGES/messages.po)
MO     := $(PO:.po=.mo)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile -i $< -o $@

# Front-end libraries come from npm (package-lock.json) and are served by the app itself.
VENDOR := web/static/vendor
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js
	mkdir -p $(VENDOR)/bpmn-js
	cp node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js \
	   node_modules/bpmn-js/dist/assets/diagram-js.css node_modules/bpmn-js/dist/assets/bpmn-js.css $(VENDOR)/bpmn-js/
	touch $@

install: $(VENV)/.installed $(MO) $(VENDOR)/.installed

## run: install, create/upgrade the SQLite database, load demo data, start app + timer worker
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load --history
	HOST=$(HOST) PORT=$(PORT) FLASK="$(FLASK)" scripts/run.sh

## serve: production serving (gunicorn web workers + timer workers) on DATABASE_URL, no demo
## data; needs PROPFLOW_SECRET_KEY; WEB_WORKERS and TIMER_WORKERS may be set
serve: install
	$(FLASK) db upgrade
	BIN=$(BIN) HOST=$(HOST) PORT=$(SERVE_PORT) scripts/serve.sh

## test: the whole suite (also on PostgreSQL when PROPFLOW_TEST_PG_URL is set, as CI does)
test: install
	$(BIN)/ruff check .
	$(BIN)/pytest

## test-pg: start a throwaway local PostgreSQL and run the suite on SQLite and PostgreSQL
test-pg: install
	PROPFLOW_TEST_PG_URL="$$(scripts/postgres.sh start)" $(BIN)/pytest

bench: install
	$(BIN)/python bench/engine.py

## bench-floor: a task completion against this stack's floor, piece by piece (SQLite, in process)
bench-floor: install
	$(BIN)/python bench/floor.py

## bench-load: the HTTP load benchmark's README set (gunicorn on loopback, SQLite and PostgreSQL)
bench-load: install
	$(BIN)/python bench/load.py --suite

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache node_modules $(VENDOR)

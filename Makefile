# permitmap: `make run` sets everything up and serves the demo map; `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PERMITMAP := $(BIN)/permitmap

.PHONY: run test setup chromium gdal lint bench-load bench-screen bench-serve bench-web bench-import clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## setup: Python deps into .venv, PostgreSQL + PostGIS (apt, as root), embedded cluster, migrations
setup: $(STAMP)
	$(PERMITMAP) db start
	$(PERMITMAP) db migrate

## run: set up, load the demo province if the database is empty, screen it, serve :8000 and
## receive HJ 212 packets on :9212 (the receiver runs beside the server as a background process
## of this recipe's shell, stopped when the server stops: Ctrl-C ends both)
run: setup
	$(PERMITMAP) demo --if-empty
	$(PERMITMAP) screen
	$(PERMITMAP) layers refresh
	$(PERMITMAP) user demo
	$(PERMITMAP) monitor serve & receiver=$$!; \
	trap 'kill $$receiver 2>/dev/null; wait $$receiver' EXIT; \
	trap 'exit 130' INT TERM; \
	$(PERMITMAP) serve

## chromium: Debian's chromium for the browser tests (Playwright cannot download its own here)
chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing chromium from Debian (apt-get)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium is missing: run 'sudo apt-get install chromium'"; exit 1; fi; }

## gdal: Debian's GDAL clients (ogrinfo), the OGC API client the interoperability tests drive
gdal:
	@command -v ogrinfo >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing gdal-bin from Debian (apt-get)…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdal-bin >/dev/null; \
	  else echo "ogrinfo is missing: run 'sudo apt-get install gdal-bin'"; exit 1; fi; }

## test: set up, lint, run the whole suite against a real PostGIS, headless chromium and GDAL
test: $(STAMP) chromium gdal
	$(PERMITMAP) db start
	$(BIN)/ruff check .
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## bench-load: generate and load the 1,000,000-unit demo into a scratch database
bench-load: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.load --units 1000000

## bench-screen: screen the 1,000,000-unit demo, beside a bare PostGIS join and geopandas
bench-screen: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.screen --units 1000000

## bench-serve: tiles and OGC API Features of the 1,000,000-unit demo, permitmap beside tipg
bench-serve: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.serve --units 1000000

## bench-reminders: the monthly permit reminder list of the 1,000,000-unit demo (target < 2 s),
## beside pandas; reuses bench-serve's scratch database (built if missing, never dropped)
.PHONY: bench-reminders
bench-reminders: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.reminders --units 1000000

## bench-import: 1,000,000 units from CSV through `permitmap import units` (validation, upsert,
## re-screening), beside ogr2ogr loading the same CSV into PostGIS without validation
bench-import: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.imports --units 1000000

## bench-monitor: 10,000 simulated HJ 212 devices sending minute data for 60 s to the receiver
## (every check), then to a bare receiver (frame + parse + COPY) on the same simulator
.PHONY: bench-monitor
bench-monitor: $(STAMP)
	$(PERMITMAP) db start
	$(BIN)/python -m bench.monitor --devices 10000 --duration 60

## bench-web: first paint and panning of the staff and public maps (1,000,000 units) in headless
## chromium, beside a plain Leaflet page on tipg's tiles
bench-web: $(STAMP) chromium
	$(PERMITMAP) db start
	$(BIN)/python -m bench.web --units 1000000 --reuse

clean:
	-$(PERMITMAP) db stop
	rm -rf .permitmap $(VENV)

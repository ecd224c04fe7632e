# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format audit bench clean scale-out

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when the dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

## run: migrate ./var/drumbeat.db, load the demo when empty, ensure an admin, serve on :8000
run: $(VENV)/.installed
	$(BIN)/drumbeat db upgrade
	$(BIN)/drumbeat demo load --if-empty
	$(BIN)/drumbeat user ensure-admin
	$(BIN)/drumbeat serve --host $(HOST) --port $(PORT)

# axe-core for the studio's accessibility tests, pinned by tests/studio/package-lock.json.
tests/studio/node_modules/axe-core/axe.min.js: tests/studio/package-lock.json
	@if command -v npm >/dev/null; then npm ci --prefix tests/studio --no-audit --no-fund --silent \
	  && touch $@; else echo "npm not found: the studio's accessibility tests will skip"; fi

## test: lint, then the whole suite (SQLite, PostgreSQL, Chromium; skips say what is missing)
test: $(VENV)/.installed-dev tests/studio/node_modules/axe-core/axe.min.js
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadfile

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## audit: high-severity findings in our code (bandit) and known vulnerabilities in the
## installed packages (pip-audit, asks PyPI); either fails the target
# pip-audit skips (and names) the packages whose release PyPI does not describe: a package
# from a local wheel mirror is not audited.
audit: $(VENV)/.installed-dev
	$(BIN)/bandit --quiet --recursive --severity-level high app alembic
	$(BIN)/pip-audit --skip-editable --progress-spinner off

## bench: the figures promised in docs/benchmarks.md
bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench.import_subscribers
	$(BIN)/python -m bench.segment_count
	$(BIN)/python -m bench.render
	$(BIN)/python -m bench.deliver
	$(BIN)/python -m bench.track
	$(BIN)/python -m bench.studio_pages

## scale-out: two apps (:8001, :8002) and two delivery workers on PostgreSQL and Redis
## (DRUMBEAT_DATABASE_URL, DRUMBEAT_BROKER_URL; local defaults); Ctrl-C stops all four
scale-out: $(VENV)/.installed
	$(BIN)/python -m bench.scale_out

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

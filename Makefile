# 督办 Duban: `make run` starts the whole product in demo mode; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: install run test lint format bench bench-hooks bench-e2e bench-profile bench-pushes bench-admin console clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DUBAN_DEMO=$${DUBAN_DEMO:-1} $(PY) -m bot.run

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) -m bench.commands

bench-hooks: $(STAMP)
	@command -v wrk >/dev/null || echo "wrk not found (apt-get install -y wrk): using Python load threads"
	$(PY) -m bench.hooks --seconds 4 --rounds 3 --connections 100

bench-e2e: $(STAMP)
	$(PY) -m bench.e2e

bench-profile: $(STAMP)
	$(PY) -m bench.e2e --servers queue --rates 20 --max-rate 20 --seconds 10 --profile

bench-pushes: $(STAMP)
	$(PY) -m bench.pushes

bench-admin: $(STAMP)
	$(PY) -m bench.admin

console: $(STAMP)
	$(PY) -m bot.console --user demo --name 演示用户

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

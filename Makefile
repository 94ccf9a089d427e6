# 督办 Duban: `make run` starts the whole product in demo mode; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# `make run` needs the runtime dependencies only; `make test` (and `make install`) add the
# development tools (pytest, ruff, Playwright, schemathesis) of pyproject's [dev] extra.
RUN_STAMP := $(VENV)/.run-stamp
STAMP := $(VENV)/.installed-stamp
PIP := $(PY) -m pip install -qq --disable-pip-version-check

.PHONY: install run test lint format bench bench-commands bench-hooks bench-load bench-e2e bench-profile bench-pushes bench-admin console clean

$(RUN_STAMP): pyproject.toml
	@echo "正在安装依赖（约1分钟）……"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PIP) -e .
	@touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	@echo "正在安装开发和测试工具……"
	@$(PIP) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# demo/campaigns/ adds a second campaign (another district, same table) to the demo
run: $(RUN_STAMP)
	@DUBAN_DEMO=$${DUBAN_DEMO:-1} DUBAN_CAMPAIGNS_DIR=$${DUBAN_CAMPAIGNS_DIR:-$(CURDIR)/demo/campaigns} $(PY) -m bot.run

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# every benchmark, one table (each figure next to its baseline from the same run; a few minutes)
bench: $(STAMP)
	$(PY) -m bench.all

bench-commands: $(STAMP)
	$(PY) -m bench.commands

bench-hooks: $(STAMP)
	@command -v wrk >/dev/null || echo "wrk not found (apt-get install -y wrk): using Python load threads"
	$(PY) -m bench.hooks --seconds 4 --rounds 3 --connections 100

bench-e2e: $(STAMP)
	$(PY) -m bench.e2e

bench-profile: $(STAMP)
	$(PY) -m bench.e2e --servers queue --rates 20 --max-rate 20 --seconds 10 --profile

# the load test: the mix of signed commands at 100/s for 60 s (queue mode against bare Flask):
# throughput, p50/p99, errors (there must be none) and Redis memory per assignment
bench-load: $(STAMP)
	$(PY) -m bench.e2e --servers queue,bare --rates 100 --max-rate 100 --seconds 60

bench-pushes: $(STAMP)
	$(PY) -m bench.pushes

bench-admin: $(STAMP)
	$(PY) -m bench.admin

console: $(RUN_STAMP)
	$(PY) -m bot.console --user demo --name 演示用户

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache

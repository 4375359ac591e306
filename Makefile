# Two set-up commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .state/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# The Dagster instance profile (hindcast_assets/instance.py): sqlite, or postgres (make dev INSTANCE=postgres)
INSTANCE ?= sqlite
export HINDCAST_INSTANCE := $(INSTANCE)
export DAGSTER_HOME := $(CURDIR)/.state/$(if $(filter postgres,$(INSTANCE)),dagster-postgres,dagster)
PROFILE_YAML := deploy/instance/$(INSTANCE).yaml
export UV_PYTHON_DOWNLOADS := never
# Third-party data lives only in the shared folder; install builds the inputs from it into the
# git-ignored data/ (scripts/build_inputs.py). With INPUT_DATA_DIR set, your own inputs are used.
SHARED_DATA ?= ../shared/data
DATA := data

.PHONY: install inputs demo test docs dev workers clean bench kill-trials

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --quiet --compile-bytecode
	touch $@

$(DAGSTER_HOME)/dagster.yaml: $(PROFILE_YAML)
	mkdir -p $(DAGSTER_HOME)
	cp $(PROFILE_YAML) $@

$(DATA)/inputs.sha256: scripts/build_inputs.py $(wildcard $(SHARED_DATA)/*/*) | $(VENV)/.installed
	$(VENV)/bin/python scripts/build_inputs.py $(SHARED_DATA) $(DATA) >/dev/null
	@echo "inputs built from $(SHARED_DATA) into $(DATA)/ ($(DATA)/inputs.sha256 lists them)"

inputs: $(DATA)/inputs.sha256  ## rebuild data/ where a built file is missing or changed (a checkout of an old commit)
	@$(VENV)/bin/python scripts/build_inputs.py $(SHARED_DATA) $(DATA) --if-damaged >/dev/null

install: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml $(if $(INPUT_DATA_DIR),,inputs)

demo: install  ## full hindcast of configs/corn_usa.yaml on the bundled data; last line = run_dir
	$(VENV)/bin/hindcast run hindcast --config configs/corn_usa.yaml

# Debian's chromium: the report tests open the pages in a real browser (playwright drives it)
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 || \
	  { apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null; }

test: install $(CHROMIUM)
	$(VENV)/bin/pytest

docs: install  ## the docs site into .state/site (strict: a broken link or a stale generated page fails)
	$(VENV)/bin/python scripts/docs_reference.py docs/reference
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

dev: install  ## the Dagster UI (and daemon) on http://127.0.0.1:3000; INSTANCE=postgres for the team profile
	$(VENV)/bin/python -m hindcast_assets.instance >/dev/null
	$(VENV)/bin/dagster dev -w workspace.yaml

WORKERS ?= 2
workers: install  ## WORKERS Celery workers (RabbitMQ broker, Redis results on loopback) for --executor celery; Ctrl-C stops them
	$(VENV)/bin/python -m hindcast_assets.defs.celery --workers $(WORKERS)

clean:
	rm -rf $(VENV) .state

bench: install  ## benchmarks/results/<date>T<HHMM>.{json,md}; not part of make test
	$(VENV)/bin/python benchmarks/bench.py

TRIALS ?= 20
SIGNAL ?= KILL
kill-trials: install  ## kill -9 (SIGNAL=INT: Ctrl-C) a hindcast TRIALS times at random points, resume each; not part of make test
	$(VENV)/bin/python scripts/kill_trials.py --trials $(TRIALS) --signal $(SIGNAL) $(if $(CONFIG),--config $(CONFIG))

# Two set-up commands on a fresh machine: `make demo` and `make test`. Both install what they need.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .state/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export DAGSTER_HOME := $(CURDIR)/.state/dagster
export UV_PYTHON_DOWNLOADS := never

.PHONY: install demo test dev clean bench kill-trials

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --quiet --compile-bytecode
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

install: $(VENV)/.installed $(DAGSTER_HOME)/dagster.yaml

demo: install  ## full hindcast of configs/corn_usa.yaml on the bundled data; last line = run_dir
	$(VENV)/bin/hindcast run hindcast --config configs/corn_usa.yaml

test: install
	$(VENV)/bin/pytest

dev: install  ## the Dagster UI (and daemon) on http://127.0.0.1:3000
	$(VENV)/bin/dagster dev -w workspace.yaml

clean:
	rm -rf $(VENV) .state

bench: install  ## benchmarks/results/<date>T<HHMM>.{json,md}; not part of make test
	$(VENV)/bin/python benchmarks/bench.py

TRIALS ?= 20
kill-trials: install  ## kill -9 a hindcast TRIALS times at random points, resume each; not part of make test
	$(VENV)/bin/python scripts/kill_trials.py --trials $(TRIALS) $(if $(CONFIG),--config $(CONFIG))

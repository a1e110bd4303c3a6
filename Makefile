# The two commands of the README: `make demo` and `make test`. Each bootstraps .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test chaos hosts lint up clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/demo.py

test: $(STAMP)
	$(PY) -m pytest

# The fault suite as a soak: CHAOS_SCALE (default 10) times the sagas, kills, restarts, inputs.
chaos: $(STAMP)
	CHAOS_SCALE=$${CHAOS_SCALE:-10} $(PY) -m pytest -o timeout=7200 \
		tests/reliability tests/bridge/test_bridge_restart.py \
		tests/workflows/test_swarm_agent_killed.py

# Several hosts on this machine (network namespaces, root): replicas, cut links (tests/hosts).
hosts: $(STAMP)
	ORCH_TEST_HOSTS=1 $(PY) -m pytest -o timeout=1800 tests/hosts

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

up: $(STAMP)
	$(VENV)/bin/orchestration up

clean:
	rm -rf $(VENV) .orchestration .pytest_cache .mypy_cache .ruff_cache

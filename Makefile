# Two entry points for a fresh machine with only Python, pip, git and make:
#   make demo   run the example DAG on real Airflow against the local Domo Workflows emulator
#   make test   ruff, mypy and the whole test suite
#   make browser  install Debian's Chromium for the browser test (apt-get; sudo when not root);
#                 without it that test skips, unless DOMO_REQUIRE_BROWSER_TESTS=1 (as .ci/run sets)
PYTHON ?= python3
VENV ?= .venv
AIRFLOW_VERSION ?= 3.3.2
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHROMIUM := /usr/bin/chromium

.PHONY: venv demo test lint browser clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "apache-airflow==$(AIRFLOW_VERSION)" -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

browser:
	@if [ -x $(CHROMIUM) ]; then \
		echo "$(CHROMIUM) is installed."; \
	else \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	fi

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache test-artifacts

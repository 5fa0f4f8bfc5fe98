# The two commands a newcomer needs:  `make demo`  and  `make test`.
# Both install what is missing first (Python packages from requirements.lock, jars from Maven Central).
PYTHON ?= python3
VENV ?= .venv
IAC_VENV ?= .venv-iac
CHECKOV_VENV ?= .venv-checkov
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: setup demo test test-fast lint bench clean-stack help

help:
	@echo "make demo   - run the whole pipeline locally (installs what is missing first)"
	@echo "make test   - run the test suite (installs what is missing first)"
	@echo "make test-fast - the unit tests that need nothing beyond Python (no JVM, PostgreSQL, stack, moto server or IaC tool), on every core"
	@echo "make lint   - ruff"
	@echo "make bench  - benchmarks (figures and ratios against in-run baselines)"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(BIN)/uv requirements.lock pyproject.toml
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

$(IAC_VENV)/.installed: requirements-iac.lock
	$(PYTHON) -m venv $(IAC_VENV)
	$(IAC_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(IAC_VENV)/bin/uv pip install --quiet --python $(IAC_VENV)/bin/python -r requirements-iac.lock
	touch $@

# checkov and aws-sam-cli pin conflicting boto3 versions, so each infrastructure tool has its own venv.
$(CHECKOV_VENV)/.installed: requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(CHECKOV_VENV)/bin/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python -r requirements-checkov.lock
	touch $@

setup: $(VENV)/.installed $(IAC_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(BIN)/smartcity setup
	@# Headless Chromium for the dashboard's browser test (Debian packages; the machine runs as root).
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

demo: setup
	$(BIN)/smartcity demo

# Tests run with Python's bytecode cache on, even where the environment turns it off
# (PYTHONDONTWRITEBYTECODE): otherwise every CLI, stream and Spark worker process a test starts compiles
# its imports from source again, and pytest rewrites every test module again (docs/testing.md).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test: setup
	$(PYTEST)

# The markers are registered in pyproject.toml; tests/conftest.py fails this run if a test starts a JVM or
# PostgreSQL without saying so.
test-fast: $(VENV)/.installed
	SMARTCITY_TEST_PROFILE=fast $(PYTEST) -n auto --needs-nothing -m unit tests/unit

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m smartcity.template_blocks --check template.yaml

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

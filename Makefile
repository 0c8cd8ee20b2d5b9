# airflow-k8s: `make demo` runs the seed DAG on a local cluster, `make test` runs every test.
SHELL := /bin/bash
PY := .venv/bin/python
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export HELM ?= $(CURDIR)/.tools/bin/helm

.PHONY: install sync docs lint test test-fast test-chart test-hooks test-e2e bench fuzz cluster cluster-down images demo

install: ## tools, Debian packages and the Python environment
	bash ci/install.sh

sync: ## copy pod_templates/ and hooks/ into chart/files/
	$(PY) ci/sync_chart_files.py

docs: ## regenerate the README's values table from chart/values.yaml
	$(PY) ci/values_doc.py

lint: ## ruff, mypy, helm lint (Helm 4 and 3), generated files up to date
	$(PY) -m ruff check hooks tests ci chart/files
	$(PY) -m mypy hooks tests/chart ci/values_doc.py ci/sync_chart_files.py
	helm lint chart --strict
	helm3 lint chart --strict
	$(PY) ci/sync_chart_files.py --check
	$(PY) ci/values_doc.py --check
	bash ci/checkov.sh

test-fast: ## render tests and unit tests (no services, no cluster)
	$(PY) -m pytest tests/chart tests/hooks -m "not integration and not e2e" -q

test-chart:
	$(PY) -m pytest tests/chart -q

test-hooks: ## hook library, with real PostgreSQL, Redis, scheduler and Celery workers
	$(PY) -m pytest tests/hooks -q

test: install lint ## everything CI runs
	$(PY) -m pytest tests -q

bench: ## speed figures (render, render suite, hand-over)
	$(PY) tests/bench/bench_chart.py

fuzz: ## the values property test at 1,000 examples (the suite runs 150)
	FUZZ_EXAMPLES=1000 $(PY) -m pytest tests/chart/test_values_fuzz.py -q

# airflow-k8s: `make demo` runs the seed DAG on a local cluster, `make test` runs every test.
SHELL := /bin/bash
PY := .venv/bin/python
# The newest stack Airflow 3.3.2 resolves to (ci/images/locks/airflow-newest.txt); .venv is the stock image's.
PY_NEWEST := .venv-newest/bin/python
export PATH := $(CURDIR)/.tools/bin:$(PATH)
export HELM ?= $(CURDIR)/.tools/bin/helm

.PHONY: install docs lint test test-fast test-chart test-hooks test-hooks-newest test-e2e test-switch bench fuzz cluster cluster-down cluster-status images demo

install: ## tools, Debian packages and the Python environment
	bash ci/install.sh

docs: ## regenerate the README's values table from chart/values.yaml
	$(PY) ci/values_doc.py

lint: ## ruff, mypy, helm lint (Helm 4 and 3), generated files up to date
	$(PY) -m ruff check hooks tests ci chart/files
	$(PY) -m mypy hooks tests/chart tests/chart_files tests/e2e ci/cluster ci/values_doc.py
	$(PY) -m mypy ci/images ci/services tests/bench
	$(PY) -m mypy ci/release.py ci/demo.py ci/airflow_api.py
	helm lint chart --strict --set secrets.renderOffline=true
	helm3 lint chart --strict --set secrets.renderOffline=true
	$(PY) ci/values_doc.py --check
	bash ci/checkov.sh

test-fast: ## render tests and unit tests (no services, no cluster), the hook unit tests on both stacks
	$(PY) -m pytest tests/chart tests/chart_files tests/hooks -m "not integration and not e2e" -q
	$(MAKE) --no-print-directory test-hooks-newest

test-hooks-newest: ## hook unit tests on the newest stack (.venv-newest); everything else runs on .venv
	PYTHONPATH=hooks $(PY_NEWEST) -m pytest tests/hooks -m "not integration" -q -p no:cacheprovider

test-chart:
	$(PY) -m pytest tests/chart tests/chart_files -q

test-hooks: ## hook library, with real PostgreSQL, Redis, scheduler and Celery workers
	$(PY) -m pytest tests/hooks -q

test: install lint ## everything CI runs: all tests, the end-to-end ones on the local cluster
	bash ci/test-all.sh

test-e2e: ## end-to-end tests on the cluster KUBECONFIG names, else the local one (`make cluster`)
	$(PY) -m pytest tests/e2e -q -m e2e -s

test-switch: ## executor switches on the cluster: work in flight, faults, timeouts, keep-old-executor, Helm 3
	$(PY) -m pytest tests/e2e/test_executor_switch.py tests/e2e/test_executor_switch_faults.py -q -m e2e -s

images: ## build the chart's images into .state/images (and import them when the cluster runs)
	bash ci/install-cluster-deps.sh
	$(PY) ci/images/build.py --import

cluster: ## the local two-node Kubernetes, two node types (idempotent); prints `export KUBECONFIG=...`
	bash ci/install-cluster-deps.sh
	$(PY) ci/images/build.py --only pause
	$(PY) ci/cluster/cluster.py up

cluster-down: ## stop the local cluster and remove its network state
	$(PY) ci/cluster/cluster.py down

cluster-status:
	$(PY) ci/cluster/cluster.py status

demo: install ## cluster, images, helm install, the example DAG run through the REST API, its pod
	@if [ -z "$$KUBECONFIG" ]; then $(MAKE) --no-print-directory images cluster; fi
	KUBECONFIG=$${KUBECONFIG:-$(CURDIR)/.state/cluster/admin.kubeconfig} $(PY) ci/demo.py

bench: install ## speed figures: chart render and render suite, hook hand-over, plan and drain overhead, task-pod launch rate and start overhead (cluster)
	$(PY) tests/bench/bench_chart.py
	$(PY) tests/bench/bench_hooks.py
	$(PY) tests/bench/bench_launch_rate.py
	$(PY) tests/bench/bench_task_start.py

fuzz: ## the values property tests at 1,000 examples (the suite runs 150 and 40), every hostile payload
	FUZZ_EXAMPLES=1000 HOSTILE_EXAMPLES=1000 HOSTILE_PAYLOADS=all $(PY) -m pytest tests/chart/test_values_fuzz.py \
		tests/chart/test_values_hostile.py -q

# The two commands (see README): `make serve` serves the bundled demo model on 127.0.0.1:8080;
# `make test` runs every test, the Docker image's included.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/dev.lock pyproject.toml | cksum | cut -d' ' -f1)
# The SageMaker Python SDK v2, for tests/test_sdk_local_mode.py and test_image_multi_host.py: its own venv, its pins conflicting with dev.lock's.
SDK_VENV := .venv-sdk
SDK_STAMP := $(SDK_VENV)/.installed-$(shell cksum < requirements/sdk.lock | cut -d' ' -f1)
# The C extension modules: the XGBoost tree walk (container/flavours/compiled_walk.py), TreeSHAP
# (container/tree_shap.py) and the CSV, one-row JSON and libsvm readers (container/codecs/, also
# training's, container/training/chunks.py). Without a C
# compiler or Python's headers the numpy walk, numpy TreeSHAP and the simdjson routes serve
# instead, and the tests that check the C code say what is missing.
EXT_SUFFIX := $(shell python3 -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
EXTENSIONS := container/flavours/_tree_walk$(EXT_SUFFIX) container/_tree_shap$(EXT_SUFFIX) container/codecs/_row_reader$(EXT_SUFFIX)
# artillery from npm, pinned by tools/artillery/package-lock.json, for tests/test_artillery_report.py
# (a real artillery run, planned from). 2.0.21 is the last release that runs on Node.js 20.
ARTILLERY_DIR := tools/artillery
ARTILLERY_STAMP := $(ARTILLERY_DIR)/node_modules/.installed-$(shell cksum < $(ARTILLERY_DIR)/package-lock.json | cut -d' ' -f1)

.PHONY: serve test lint demo-model image audit bytecode $(SDK_VENV) artillery

serve: $(STAMP) $(EXTENSIONS) bytecode
	@SM_MODEL_DIR=$${SM_MODEL_DIR:-model} BYOM_HOST=$${BYOM_HOST:-127.0.0.1} exec ./serve

# The server package's bytecode, compiled ahead as the image's is: where PYTHONDONTWRITEBYTECODE
# is set (this project's CI machines), every start would otherwise compile it again (~0.07 s).
bytecode: $(STAMP)
	@$(PYTHON) -m compileall -q container

test: lint $(EXTENSIONS) bytecode $(SDK_STAMP) $(ARTILLERY_STAMP)
	bash -c 'if source .ci/docker-env; then docker build -q --build-arg BASE_IMAGE=$$BYOM_BASE_IMAGE -t $${BYOM_TEST_IMAGE:-byom:test} . >/dev/null; \
	  else echo "make test: no Docker engine; container tests will skip"; fi; \
	  exec $(PYTHON) -m pytest $(PYTEST_ARGS)'

lint: $(STAMP)
	$(PYTHON) -m ruff check byom container tests scripts bench
	$(PYTHON) -m ruff format --check byom container tests scripts bench
	$(PYTHON) -m mypy

# pip-audit on requirements/runtime.lock; needs PyPI's JSON API (BYOM_REQUIRE_AUDIT=1: fail without it).
audit: $(STAMP)
	.ci/audit

demo-model: $(STAMP)
	$(PYTHON) scripts/make_demo_model.py model

# Built as `pip install .` builds them (scripts/build-extensions); both at once.
$(EXTENSIONS) &: container/flavours/tree_walk.c container/tree_shap.c container/codecs/row_reader.c scripts/build-extensions pyproject.toml $(STAMP)
	@PYTHON=$(PYTHON) scripts/build-extensions && echo "built the C tree walk, the C TreeSHAP and the C CSV, one-row JSON and libsvm readers" \
	  || echo "C extensions not built (no C compiler or Python headers?): XGBoost models get the slower numpy walk, contributions the slower numpy TreeSHAP, CSV and one-row JSON bodies the slower simdjson routes, training files the slower Python path"

image:
	docker build -t byom:latest .

# --no-deps: the lock already lists every transitive pin; without it pip 23 resolves an extra
# (pytest-cov's coverage[toml]) afresh from the index and fails hash checking once a newer release exists.
$(STAMP): requirements/dev.lock pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --no-deps --require-hashes -r requirements/dev.lock
	rm -f $(VENV)/.installed-* && touch $@

# `make .venv-sdk`: (re)built from requirements/sdk.lock when the lock changes (~20 s), as $(STAMP) is.
$(SDK_VENV): $(SDK_STAMP)
$(SDK_STAMP): requirements/sdk.lock
	test -x $(SDK_VENV)/bin/python || python3 -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements/sdk.lock
	rm -f $(SDK_VENV)/.installed-* && touch $@

# `make artillery`: npm ci from the lock when it changes (~25 s with npm's cache warm, ~45 s cold;
# 600 MB). No install scripts: they would download a browser for artillery's Playwright engine,
# which this project does not use. Without npm it says so and the artillery test skips
# (fails under BYOM_REQUIRE_DOCKER=1, as CI sets).
artillery: $(ARTILLERY_STAMP)
$(ARTILLERY_STAMP): $(ARTILLERY_DIR)/package-lock.json
	@if command -v npm >/dev/null; then \
	  cd $(ARTILLERY_DIR) && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error \
	  && rm -f node_modules/.installed-* && touch node_modules/$(notdir $@); \
	else echo "make: no npm, so no artillery; tests/test_artillery_report.py's real run will skip"; fi

# The benchmark (bench/run.py; --quick for a smoke check): writes bench/results/latest.md and .json.
.PHONY: bench
bench: $(STAMP) $(EXTENSIONS) bytecode
	$(PYTHON) bench/run.py

# The C modules with AddressSanitizer + UBSan (clang: apt-get install clang libclang-rt-14-dev), in
# build/sanitized/, and the suites that call them (scripts/sanitize); `make fuzz FUZZ_SECONDS=3600`
# fuzzes each target of tests/helpers/fuzz_targets.py against that build (scripts/fuzz); .ci/sanitize
# runs a bounded share of both in CI. See docs/hardening.md.
.PHONY: sanitize fuzz
sanitize: $(STAMP)
	PYTHON=$(PYTHON) scripts/sanitize $(SANITIZE_TESTS)
fuzz: $(STAMP)
	PYTHON=$(PYTHON) scripts/sanitize build && FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

# The soak (not in CI): the demo model and the benchmark's XGBoost model under ./serve, mixed valid
# and invalid requests at 70% of their measured capacity for SOAK_SECONDS (an hour), RSS of every
# process sampled; judged and written to bench/results/soak.md and .csv (bench/soak.py).
SOAK_SECONDS ?= 3600
.PHONY: soak
soak: $(STAMP) $(EXTENSIONS) bytecode
	$(PYTHON) bench/soak.py --seconds $(SOAK_SECONDS)

# cargohold: two commands. `make run` starts the registry, `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the test suite drives as real peers.
TEST_DEBS := skopeo umoci docker-registry postgresql redis-server docker.io buildah containerd busybox-static openssl rpm golang-go
BENCH_DEBS := docker-registry nginx wrk apache2-utils

.PHONY: run test lint format bench deps test-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

deps: $(STAMP)

run: $(STAMP)
	$(BIN)/cargohold serve

# Install only the Debian packages that are missing (apt-get update once, when needed).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

test-deps: $(STAMP)
	$(call apt_install,$(TEST_DEBS))

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: test-deps lint
	$(BIN)/pytest

bench: $(STAMP)
	$(call apt_install,$(BENCH_DEBS))
	$(BIN)/python bench/run.py

# cargohold: two commands. `make run` starts the registry, `make test` runs everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: serving needs only the runtime dependencies; tests and lint add the test extra.
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
# `make run ADDR=0.0.0.0:5000` listens there (otherwise CARGOHOLD_ADDR, or 127.0.0.1:5000).
ADDR ?=
# Debian packages the test suite drives as real peers.
TEST_DEBS := git skopeo umoci docker-registry postgresql redis-server docker.io buildah containerd busybox-static openssl rpm db5.3-util golang-go ruby composer \
  debootstrap docker-compose nginx prometheus apache2-utils
BENCH_DEBS := docker-registry nginx wrk apache2-utils
# apt-get waiting (up to 10 minutes) for another package manager's run instead of failing at once:
# install waits for dpkg's lock by itself; update does not wait for the package lists' lock, so it
# is tried again every 10 s, 30 times.
APT_GET := DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
APT_UPDATE := for try in $$(seq 30); do $(APT_GET) update -qq && break; \
  [ $$try -lt 30 ] || exit 1; echo "apt-get update failed (another package manager running?); again in 10 s"; sleep 10; done

.PHONY: run test lint format bench deps test-deps

$(RUN_STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) 2>/dev/null || { \
	  rm -rf $(VENV); { $(APT_UPDATE); } && $(APT_GET) install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $(RUN_STAMP)

$(TEST_STAMP): $(RUN_STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(TEST_STAMP)

deps: $(TEST_STAMP)

run: $(RUN_STAMP)
	$(BIN)/cargohold serve $(if $(ADDR),--addr $(ADDR))

# Install only the Debian packages that are missing (apt-get update once, when needed).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  { $(APT_UPDATE); } && $(APT_GET) install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

test-deps: $(TEST_STAMP)
	$(call apt_install,$(TEST_DEBS))

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

format: $(TEST_STAMP)
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

test: test-deps lint
	$(BIN)/pytest

bench: $(TEST_STAMP)
	$(call apt_install,$(BENCH_DEBS))
	$(BIN)/python bench/run.py

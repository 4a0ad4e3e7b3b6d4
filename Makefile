# RNN Lab. `make run` serves the dashboard, `make test` runs the whole suite; both set up what they need first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup setup-dev browser import mlflow-ui train export bench screenshots clean-store \
  postgresql tracking-server serve-model

# The stamp files make a second `make run` skip installs unless a requirements file changed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import torch, streamlit, mlflow"
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-server.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import pytest, playwright"
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Debian's chromium for the Playwright tests (Playwright cannot download its own browsers offline), and
# Apertium, the rule-based translation peer. Installed only when missing; needs root or sudo.
browser:
	@command -v chromium >/dev/null 2>&1 && command -v apertium >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium apertium apertium-eng-spa >/dev/null; }

IMPORT_BUNDLES := $(BIN)/python -m training.bundles import

import: setup
	$(IMPORT_BUNDLES)

# A failed import (a tracking server that is down, a locked store) does not stop the dashboard: it says so itself
# and serves the shipped models.
run: setup
	-$(IMPORT_BUNDLES)
	@echo "RNN Lab: http://127.0.0.1:$(PORT)"
	$(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT) \
	  --browser.gatherUsageStats false --server.headless true

test: setup-dev browser postgresql lint
	$(BIN)/python -m pytest

# ruff (pinned in requirements-dev.txt, settings in pyproject.toml): the lint rules, and the formatting as a check.
lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mlflow-ui: import
	@echo "MLflow UI: http://127.0.0.1:5000"
	$(BIN)/mlflow ui --backend-store-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns/mlflow.db}" \
	  --default-artifact-root "$(CURDIR)/mlruns/artifacts" --host 127.0.0.1 --port 5000 --workers 1

# make train T=one_to_one [C=training/configs/one_to_one/cnn.toml] [ARGS="--set epochs=3"]
train: setup
	$(BIN)/python -m training.train $(T) $(if $(C),--config $(C)) $(ARGS)

# make export RUN=<run id>: write a finished run as a bundle under models/checkpoints/
export: setup
	$(BIN)/python -m training.bundles export $(RUN)

# The speed comparisons: each runs a non-neural peer and our champion side by side in one process.
bench: setup
	for script in bench/*.py; do $(BIN)/python -m bench.$$(basename $$script .py) || exit 1; done

# The dashboard in headless chromium: page times, prediction round-trips, a crowd of sessions and the server's memory.
bench-dashboard: setup-dev browser
	$(BIN)/python -m bench.dashboard

screenshots: setup-dev browser import
	$(BIN)/python -m tests.screenshots docs/screenshots

clean-store:
	rm -rf mlruns/mlflow.db mlruns/artifacts

# Debian's PostgreSQL for the tracking server and its test, installed only when missing (root or sudo). Its binaries
# live in /usr/lib/postgresql/<version>/bin, off the PATH. A failed install does not stop `make test`: the
# tracking-server tests then skip and say why, and `make tracking-server` stops with the cause.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "PostgreSQL could not be installed (apt-get needs root or sudo)"

$(VENV)/.server: requirements-server.txt $(VENV)/.runtime
	$(BIN)/pip install --quiet -r requirements-server.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import psycopg"
	touch $@

# MLflow on a local PostgreSQL cluster (under ~/.cache/rnnlab), both on 127.0.0.1, until Ctrl-C; artifacts are served
# by MLflow. make tracking-server [TRACKING_PORT=5000] [ARGS="--database-url postgresql+psycopg://…"]
TRACKING_PORT ?= 5000
tracking-server: $(VENV)/.server postgresql
	$(BIN)/python -m training.servers --port $(TRACKING_PORT) $(ARGS)

# make serve-model T=many_to_one [MODEL_PORT=5001]: a topology's champion over REST, by MLflow's scoring server
# (POST /invocations; docs/deploy.md has the request of each topology). MLflow starts uvicorn from the PATH.
MODEL_PORT ?= 5001
serve-model: import
	PATH="$(CURDIR)/$(BIN):$$PATH" MLFLOW_TRACKING_URI="$${MLFLOW_TRACKING_URI:-sqlite:///$(CURDIR)/mlruns/mlflow.db}" \
	  $(BIN)/mlflow models serve -m "models:/rnnlab-$(T)@champion" --env-manager local --host 127.0.0.1 \
	  --port $(MODEL_PORT)

# dhan-trading: the two commands of the README, and helpers. Each target creates .venv when missing.
PY      ?= python3.11
VENV    ?= .venv
BIN      = $(VENV)/bin
# what the install builds from: a change to any of them reinstalls (the native extension is compiled then)
BUILD_INPUTS = pyproject.toml setup.py $(wildcard feed/*.c feed/*.h feed/*/*.c shared/*.c writer/*.c)
STAMP    = $(VENV)/.installed-$(shell cat $(BUILD_INPUTS) | cksum | cut -d' ' -f1)

.PHONY: run test venv lint bench clean compose-check

$(STAMP): $(BUILD_INPUTS)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[gui,dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## Live system on the simulator: sim, feed, writer, greeks and a live status screen (Ctrl-C stops all).
run: $(STAMP)
	@$(BIN)/python -m shared.preflight
	@$(BIN)/dhan up $(ARGS)

## The whole test suite against the local Redis and MariaDB.
test: $(STAMP)
	@$(BIN)/python -m shared.preflight
	@QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q $(ARGS)

## The compose stack on a running Docker engine, start to finish (scripts/compose_check.py; needs no venv).
compose-check:
	@python3 -m scripts.compose_check $(ARGS)

## ruff over the code, its tests and tools; mypy --strict ([tool.mypy] in pyproject.toml) over the product packages.
lint: $(STAMP)
	@$(BIN)/ruff check shared feed writer viz control tests bench scripts devkit
	@$(BIN)/mypy shared feed writer viz control

bench: $(STAMP)
	@$(BIN)/python bench/decode.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info

# One entry point for people and CI. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60

.PHONY: install demo test lint typecheck unit controlplane clean

$(BIN)/botfleet: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "botfleet needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/botfleet

demo: install
	$(BIN)/botfleet demo --duration $(DURATION)

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy

controlplane:
	bash tests/controlplane/build.sh

unit: install
	$(BIN)/pytest tests/unit -q

test: install lint typecheck controlplane
	$(BIN)/pytest -q -ra

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

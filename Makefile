# One entry point for people and CI. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DURATION ?= 60
TESTS ?= tests/integration/runtime
N ?= 5

.PHONY: install image deps demo test lint typecheck unit controlplane generate lock realnode-deps realnode clean flake-check

$(BIN)/botfleet: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "botfleet needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/botfleet

demo: install
	$(BIN)/botfleet demo --duration $(DURATION)

# Style, then the import arrows of docs/architecture.md (pyproject [tool.importlinter]), then the
# declared dependencies (pyproject [tool.deptry]).
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/deptry .

typecheck: install
	$(BIN)/mypy

# The botfleet image: docker where a Docker engine runs, else buildah (root). BASE=debootstrap builds
# without the base image's registry; PUSH=1 pushes IMAGE to its registry.
IMAGE ?= botfleet/botfleet:$(shell $(PYTHON) -c 'import tomllib;print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])')
BASE ?= official
image: install deps
	$(BIN)/python -m botfleet_tools.devcluster.image --tag $(IMAGE) --base $(BASE) $(if $(PUSH),--push)

# Debian packages of the image, chart, journal and real-node tests: installed when root, else named.
deps:
	bash tools/install-debian-deps.sh

controlplane:
	bash tools/controlplane/build.sh

# Every checked-in generated file, in dependency order (the chart copies the CRD). tests/ fail on
# drift; the dashboard pictures (docs/images) need Prometheus: tools/botfleet_tools/generate/render_dashboards.py.
generate: install
	$(BIN)/botfleet crd -o crds/tradingbots.botfleet.io.yaml
	$(BIN)/python -m botfleet_operator.apidocs > docs/api-reference.md
	$(BIN)/python -m botfleet_tools.generate.sync_chart
	$(BIN)/python -m botfleet_tools.generate.gen_dashboards

# The image's dependencies, pinned with their sha256 (the Dockerfile installs them with
# --require-hashes): re-run after changing [project] dependencies or build-system.requires.
lock: install
	$(BIN)/pip install -q pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe \
		--strip-extras --build-deps-for wheel --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

# The real node's packages (containerd, runc, CNI plugins, iptables, conntrack, ipset) come with the
# others: see tools/install-debian-deps.sh. Kept as a name people look for.
realnode-deps: deps

# A cluster with a real node in the background (root): pods run as containers; prints the KUBECONFIG
# to export. See docs/local-cluster.md ("A real node").
realnode: install deps controlplane
	$(BIN)/botfleet dev cluster up --real-node

unit: install
	$(BIN)/pytest tests/unit -q

test: install deps lint typecheck controlplane
	$(BIN)/pytest -q -ra

# Run TESTS N times, each a fresh pytest process (no rerun plugin); reports failures per test.
flake-check: install
	$(BIN)/python -m botfleet_tools.flake_check $(TESTS) -n $(N)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Two commands for a fresh machine:
#   make demo   install everything into .venv and run amlctl on the bundled example estate
#   make test   install everything and run the whole test suite
# Only python3 (3.10+) is needed beforehand (and Node.js with npm for make test's Azurite); everything
# else comes from PyPI, the Go module proxy and npm.

VENV   ?= .venv
PY     := $(VENV)/bin/python
AMLCTL := $(VENV)/bin/amlctl
STAMP  := $(VENV)/.installed

.PHONY: install engine azurite demo test bench schemas clean

$(PY):
	python3 -m venv $(VENV)
	# The system pip (23.x) cannot resolve azure-ai-ml's dependency tree; a current pip can.
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

# The Pulumi engine, built from Go modules for the pinned pulumi SDK version into
# ~/.cache/amlctl/pulumi (outside the repository); a no-op when that version is already built.
engine: install
	scripts/build-pulumi-engine.sh "$$($(PY) -c 'import importlib.metadata as m; print(m.version("pulumi"))')"

# Azurite (Microsoft's Azure Storage emulator, npm package, version pinned in tests/azurite.py), for
# the team-backend tests: npm-installed into ~/.cache/amlctl/azurite/<version>, outside the
# repository; a no-op when that version is there. Needs Node.js and npm.
azurite: install
	$(PY) tests/azurite.py install

demo: install engine
	@echo "== amlctl validate --strict (manifests/ and stacks/)"
	$(AMLCTL) validate --strict
	@echo "== amlctl plan --stack prod --from-scratch (what a first apply of prod creates; offline)"
	$(AMLCTL) plan --stack prod --from-scratch
	@echo "== amlctl plan --stack dev (the working tree against the merge base with main)"
	$(AMLCTL) plan --stack dev
	@echo "== end to end on the local simulation target (a throwaway git copy of the estate)"
	scripts/demo-local.sh

# Two workers: the suite is mostly engine runs in subprocesses, and the machines it runs on have two cores.
# --dist loadgroup keeps a module marked xdist_group (the team-backend tests, which go on from each
# other's shared state) on one worker, in order; every other test is spread as before.
test: install engine azurite
	$(PY) -m pytest -n 2 --dist loadgroup

bench: install
	$(PY) benchmarks/validate_bench.py
	$(PY) benchmarks/plan_bench.py
	$(PY) benchmarks/many_stacks_bench.py

schemas: install
	$(AMLCTL) schema export out/schemas

clean:
	rm -rf $(VENV) out .pytest_cache

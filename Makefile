# Two commands for a fresh machine:
#   make demo   install everything into .venv and run amlctl on the bundled example estate
#   make test   install everything and run the whole test suite
# Only python3 (3.10+) is needed beforehand; everything else comes from PyPI.

VENV   ?= .venv
PY     := $(VENV)/bin/python
AMLCTL := $(VENV)/bin/amlctl
STAMP  := $(VENV)/.installed

.PHONY: install demo test bench schemas clean

$(PY):
	python3 -m venv $(VENV)
	# The system pip (23.x) cannot resolve azure-ai-ml's dependency tree; a current pip can.
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	@echo "== amlctl validate --strict (manifests/ and stacks/)"
	$(AMLCTL) validate --strict
	@echo "== amlctl plan --stack prod --from-scratch (what a first apply of prod creates; offline)"
	$(AMLCTL) plan --stack prod --from-scratch
	@echo "== amlctl plan --stack dev (the working tree against the merge base with main)"
	$(AMLCTL) plan --stack dev

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/validate_bench.py
	$(PY) benchmarks/plan_bench.py

schemas: install
	$(AMLCTL) schema export out/schemas

clean:
	rm -rf $(VENV) out .pytest_cache

# The two commands of the README. Each sets up its own virtual environment on first use.
PYTHON ?= python3
VENV := .venv
DEMO_VENV := .venv-demo
SOURCES := pyproject.toml $(shell find gumbelkit -name '*.py')

.PHONY: demo test lint docs clean

$(DEMO_VENV)/.installed: $(SOURCES)
	$(PYTHON) -m venv $(DEMO_VENV)
	$(DEMO_VENV)/bin/python -m pip install --quiet .
	touch $@

## demo: install gumbelkit with NumPy only and run `gumbelkit demo`
demo: $(DEMO_VENV)/.installed
	$(DEMO_VENV)/bin/gumbelkit demo

# torch is pinned through constraints.txt (a CPU build), never in the package's dependencies.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -c constraints.txt -e ".[test,docs,torch,jax,dask,triton]"
	touch $@

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check gumbelkit tests
	$(VENV)/bin/mypy --strict gumbelkit

## docs: build the documentation site into build/site; any warning (a broken link or anchor,
## a page missing from the nav, a docstring that does not parse) fails the build
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

## test: install every backend this machine can run, then lint, type-check, build the docs, run
## the unit tests and the statistical conformance suite on every installed backend, one pytest
## worker per core (pytest-xdist); every test has its own seed, so the order does not matter
# JAX compiling each new shape is most of the suite's time, so XLA compiles faster here than by
# default: with its classic CPU emitters instead of its fusion emitters (about 30% off a first
# call on a new shape), and with LLVM's optimisation off (about half of what remains). The
# programs compute the same values; tests/test_jax.py runs the deterministic conformance checks
# on JAX once more under XLA's default code generation.
XLA_FAST_COMPILE := --xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0
test: lint docs
	XLA_FLAGS="$(XLA_FAST_COMPILE) $${XLA_FLAGS:-}" \
		$(VENV)/bin/python -m pytest -n auto tests gumbelkit/conformance

clean:
	rm -rf $(VENV) $(DEMO_VENV) build dist *.egg-info

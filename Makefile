# The two commands a newcomer needs (README): `make demo` and `make test`.
# Both create .venv and install the project into it on first use.
PYTHON ?= python3
VENV   := .venv
STAMP  := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: demo test soak bench lint smoke smoke-edge smoke-central smoke-demo
demo: $(STAMP)
	$(VENV)/bin/gatepost demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

# Each extra alone in a clean venv (.smoke/<extra>): the import walk and its smoke script.
smoke:
	tests/install/smoke.sh edge central demo

smoke-edge smoke-central smoke-demo:
	tests/install/smoke.sh $(@:smoke-%=%)

soak: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

bench: $(STAMP)
	for b in tests/bench/*.py; do $(VENV)/bin/python $$b; done

lint: $(STAMP)
	$(VENV)/bin/ruff check edge central tests
	$(VENV)/bin/mypy

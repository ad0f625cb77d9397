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

.PHONY: demo test soak bench lint
demo: $(STAMP)
	$(VENV)/bin/gatepost demo

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

soak: $(STAMP)
	$(VENV)/bin/python -m pytest -q -m slow

bench: $(STAMP)
	for b in tests/bench/*.py; do $(VENV)/bin/python $$b; done

lint: $(STAMP)
	$(VENV)/bin/ruff check edge central tests
	$(VENV)/bin/mypy

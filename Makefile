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

.PHONY: demo test test-under-load soak bench lint smoke smoke-edge smoke-central smoke-demo
demo: $(STAMP)
	$(VENV)/bin/gatepost demo

# Three workers, each taking whole files (module-scoped brokers and centrals stay together):
# most tests wait on brokers, servers and simulated hardware rather than use the CPU.
PYTEST := $(VENV)/bin/python -m pytest -q -n 3 --dist loadfile

test: $(STAMP)
	$(PYTEST)

# The suite on a busy machine: two CPU hogs for its whole run (this box has 2 cores).
test-under-load: $(STAMP)
	@hogs=""; for i in 1 2; do ( while :; do :; done ) & hogs="$$hogs $$!"; done; \
	trap 'kill $$hogs 2>/dev/null' EXIT INT TERM; \
	start=$$(date +%s); $(PYTEST); rc=$$?; \
	echo "test-under-load: exit $$rc in $$(( $$(date +%s) - start )) s"; exit $$rc

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
	$(VENV)/bin/ruff format --check edge central tests
	$(VENV)/bin/mypy

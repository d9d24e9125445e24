# The README's commands. Each one installs what it is missing first.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench lint

$(STAMP): requirements.txt requirements-dev.txt scripts/setup-python
	scripts/setup-python
	touch $@

run: $(STAMP)
	$(PY) manage.py serve

test: $(STAMP)
	scripts/setup-debian test
	scripts/test

bench: $(STAMP)
	scripts/setup-debian bench
	$(PY) bench/run.py
	$(PY) bench/search.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

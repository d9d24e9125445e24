# The README's commands. Each one installs what it is missing first.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Front-end packages from npm (package-lock.json), served through staticfiles.
NODE_STAMP := node_modules/.installed

.PHONY: run test bench lint

$(STAMP): requirements.txt requirements-dev.txt scripts/setup-python
	scripts/setup-python
	touch $@

$(NODE_STAMP): package.json package-lock.json
	command -v npm >/dev/null || scripts/setup-debian python
	npm ci --no-audit --no-fund
	touch $@

run: $(STAMP) $(NODE_STAMP)
	scripts/setup-debian run || echo "Automated builds need git and buildah; install them to build."
	$(PY) manage.py serve

test: $(STAMP) $(NODE_STAMP)
	scripts/setup-debian test
	scripts/test

bench: $(STAMP) $(NODE_STAMP)
	scripts/setup-debian bench
	$(PY) bench/run.py
	$(PY) bench/slow.py
	$(PY) bench/search.py
	$(PY) bench/builds.py
	$(PY) bench/container.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

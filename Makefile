# The two commands a newcomer needs:
#   make run    set up .venv and execute notebooks/quickstart.ipynb end to end
#   make test   set up .venv with the test tools and run every test, lint and type check
#               (the tests build the documentation site too)
#   make lab    open a copy of the quickstart (.out/lab/quickstart.ipynb) in JupyterLab
#   make docs   build the documentation site into site/ (strict: a broken link fails it)
#   make screenshots   re-take the README's screenshots (docs/images/*.png) in JupyterLab
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run lab test setup setup-test setup-docs docs lint bench screenshots clean

# setuptools says "Editable installation… be careful with folders in your working directory"
# on every `pip install -e .`: true of any checkout, and nothing to act on here.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# what notebooks/quickstart.ipynb needs, and nothing `make test` happens to install
setup: $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e ".[quickstart]"

setup-test: $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e ".[test,browser,docs]"
	@# Browser tests drive Debian's chromium (never a downloaded browser); root installs it.
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
		echo "note: /usr/bin/chromium is missing, so the browser tests will be skipped"; }
	@# The team ledger's tests start Debian's PostgreSQL server themselves; root installs it.
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null && (apt-get update -qq && \
		apt-get install -y -qq postgresql >/dev/null) || \
		echo "note: PostgreSQL's server is missing, so the team ledger's tests will be skipped"; }

setup-docs: $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/python -m pip install --quiet -e ".[docs]"

docs: setup-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --site-dir site

run: setup
	$(BIN)/python scripts/run_quickstart.py

# JupyterLab saves what it opens: it opens a copy (kept between runs, with your edits),
# so the tracked notebooks/quickstart.ipynb stays as it is in git. (As root, in a container
# say, JupyterLab needs --allow-root.)
LAB_COPY := .out/lab/quickstart.ipynb
lab: setup
	@mkdir -p $(dir $(LAB_COPY))
	@test -e $(LAB_COPY) || cp notebooks/quickstart.ipynb $(LAB_COPY)
	@echo "Opening $(LAB_COPY), a copy of notebooks/quickstart.ipynb (delete it to start over)."
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_COPY)

lint: setup-test
	$(BIN)/ruff check orjupyter tests benchmarks scripts
	$(BIN)/ruff format --check orjupyter tests benchmarks scripts
	$(BIN)/mypy

# The tests must leave the checkout as they found it (`git status` before = after).
test: setup-test lint
	@before="$$(git status --porcelain 2>/dev/null)"; \
	$(BIN)/python -m pytest -q -n 2 --dist loadfile || exit $$?; \
	after="$$(git status --porcelain 2>/dev/null)"; \
	if [ "$$before" != "$$after" ]; then \
		echo "make test: the tests changed the checkout (git status), and they must not:"; \
		printf '%s\n' "$$after"; exit 1; \
	fi

screenshots: setup-test
	ORJUPYTER_SCREENSHOTS=1 $(BIN)/python -m pytest -q -p no:cacheprovider \
		tests/test_browser.py::test_screenshots_of_the_panel tests/test_browser_panel.py \
		tests/test_browser_map.py tests/test_browser_compare.py
	@git status --short docs/images 2>/dev/null || true

bench: setup-test
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .out site build dist *.egg-info

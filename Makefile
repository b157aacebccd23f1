# Two commands on a fresh clone (Python 3.11+, Node 20+):
#   make demo   set up, then cancel a running import end to end on the local stack
#   make test   set up, then lint and run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python

.PHONY: demo test lint soak soak-kill soak-outage bench stack mutate setup clean faketime

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: setup
	$(PY) -m devtools.demo

# The local stack (ADT emulator, Azurite, queue pump, HTTP host) until Ctrl-C.
stack: setup
	$(PY) -m devtools.stack

# ruff (with its complexity limit), ruff's formatter, and strict mypy over the deployed code.
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

# The suite on four workers, then the fleet measurements alone: they time a fleet of
# processes against the rate limit, and three other workers' tests on 2 cores would be
# what they measured.
test: setup lint faketime
	$(PY) -m pytest -m "not fleet"
	$(PY) -m pytest -m fleet -n 0

# libfaketime (Debian's faketime) skews one process's clock in a fleet test. Installed here
# when it is missing and this is Debian as root (CI); elsewhere that one test says it skips.
faketime:
	@ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime) >/dev/null 2>&1; } \
	  || echo "note: libfaketime is not installed (apt-get install faketime): the skewed-clock fleet test will skip"

soak: setup
	$(PY) -m devtools.soak --messages 1000

# The soak with 4 pump processes, one killed with SIGKILL every 2-5 s and restarted at once.
soak-kill: setup
	$(PY) -m devtools.soak --messages 1000 --kill

# The soak with 4 pump processes while Azurite stops for 5 s and starts again with its data.
soak-outage: setup
	$(PY) -m devtools.soak --messages 1000 --storage-outage 5

bench: setup
	$(PY) -m devtools.bench

# Mutation testing of the rule modules (most of an hour on 2 cores; not in CI): mutmut for
# the code in functions, devtools/mutate_constants.py for module-level constants, then
# devtools/mutation_report.py writes docs/testing.md. A fresh run each time.
mutate: setup
	rm -rf mutants
	start=$$(date +%s) && $(BIN)/mutmut run --max-children 8 && $(PY) -m devtools.mutate_constants \
	  && $(PY) -m devtools.mutation_report --seconds $$(( $$(date +%s) - start ))

# Every cache and build product .gitignore lists. Kept: local.settings.json and .azure/ (azd's
# environments), which hold your own settings, not something a command made.
clean:
	rm -rf $(VENV) node_modules .pytest_cache .ruff_cache .mypy_cache .hypothesis mutants build .azurite \
	  AzuriteConfig __queuestorage__ __azurite_db_queue*.json *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.pyc' -type f -delete

# Two commands do all set-up on a fresh machine with Python 3.11: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install install-compiled clean-compiled demo test test-unit test-integration bench bench-nab bench-engine bench-quality bench-quality-matrix soak lint clean

# Re-install only when the project definition or the pins change; otherwise this is
# instant. The runtime closure installs at the versions deploy/constraints.txt pins (the
# image's), so the tests run on what ships and a new release upstream cannot turn CI red.
$(STAMP): pyproject.toml deploy/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c deploy/constraints.txt \
	  -e '.[embedded,dev]'
	@touch $(STAMP)

install: $(STAMP)

# Opt-in: the hot modules compiled with mypyc (setup.py says which, and why not the rest);
# replay takes about 30 % less CPU and decides the same. Rebuild after changing a
# compiled module's source: the packages refuse to import a stale build.
# `make clean-compiled` goes back to the sources.
install-compiled: install
	$(PY) -m pip install --quiet --disable-pip-version-check "setuptools>=69" wheel
	AFTERSALES_COMPILE=1 $(PY) -m pip install --quiet --disable-pip-version-check \
	  --no-build-isolation --no-deps -e .

clean-compiled:
	rm -rf build
	find thresholds streams -name '*.so' -delete
	rm -f ./*__mypyc.*.so

demo: install
	$(VENV)/bin/aftersales demo $(DEMO_ARGS)

# The whole suite in two phases, both always run; fails if either fails (a phase that selects
# no test, e.g. with PYTEST_ARGS="tests/unit/test_config.py", is not a failure unless both do).
# 1. The integration tests one at a time: each starts brokers, workers and intake children, and
#    two at once overload a 2-core machine (slow rebalances, timeouts). They mostly wait on
#    brokers and clocks: about a third of one core over a run.
# 2. Beside them, everything else at low priority (nice $(UNIT_NICE)), so it takes only the
#    CPU the integration tests leave; spread over TEST_WORKERS processes (pytest-xdist), whole
#    files per process so that module fixtures are built once (TEST_WORKERS=0: one process).
#    Not --dist loadgroup: with pytest 9.2 xdist 3.8 no longer applies xdist_group. Its output
#    is printed after the integration phase's. Side by side the two take about as long as the
#    integration phase alone (SERIAL=1: one after the other, as before).
# PYTEST_ARGS goes to both phases.
TEST_WORKERS ?= 2
UNIT_NICE ?= 10
SERIAL ?=

test: install
	@unit_log=$$(mktemp); unit_pid=; \
	trap '[ -z "$$unit_pid" ] || kill $$unit_pid 2>/dev/null; rm -f "$$unit_log"' EXIT; \
	trap 'exit 130' INT TERM; \
	if [ -n "$(SERIAL)" ]; then \
	  echo "make test: 1/2, all but the integration tests, TEST_WORKERS=$(TEST_WORKERS)"; \
	  $(PY) -m pytest -m "not integration" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS); \
	  unit=$$?; \
	else \
	  echo "make test: all but the integration tests (TEST_WORKERS=$(TEST_WORKERS)," \
	    "nice $(UNIT_NICE)) run beside them; their output follows the integration tests'"; \
	  nice -n $(UNIT_NICE) $(PY) -m pytest -m "not integration" -n $(TEST_WORKERS) \
	    --dist loadfile $(PYTEST_ARGS) > "$$unit_log" 2>&1 & unit_pid=$$!; \
	fi; \
	echo "make test: the integration tests, one at a time"; \
	$(PY) -m pytest -m integration $(PYTEST_ARGS); \
	integration=$$?; \
	if [ -n "$$unit_pid" ]; then \
	  wait $$unit_pid; unit=$$?; unit_pid=; \
	  echo "make test: all but the integration tests:"; cat "$$unit_log"; \
	fi; \
	for rc in $$unit $$integration; do \
	  case $$rc in 0|5) ;; *) echo "make test: unit phase exit $$unit," \
	    "integration phase exit $$integration" >&2; exit $$rc ;; esac; \
	done; \
	if [ $$unit -eq 5 ] && [ $$integration -eq 5 ]; then exit 5; fi

# Static checks: ruff with the selection in pyproject.toml, the ruff format check, then
# mypy strict over thresholds, alerts and streams ([tool.mypy]); run by .ci/run before
# the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-unit: install
	$(PY) -m pytest -m "not integration and not slow" -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test-integration: install
	$(PY) -m pytest -m integration $(PYTEST_ARGS)

# Service benchmarks: figures and ratios, never pass/fail; raw output in benchmarks/results/.
bench: install
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/latency.py
	$(PY) benchmarks/memory.py
	$(PY) benchmarks/replay.py

bench-nab: install
	$(PY) benchmarks/nab.py

bench-engine: install
	$(PY) benchmarks/engine.py

# Detection quality on the simulator's default scenario; QUALITY_ARGS="--seed 2 --orders-per-day 5000"
bench-quality: install
	$(PY) benchmarks/quality.py $(QUALITY_ARGS)

# Detection-quality matrix (issue 16): 3 volumes x TUNE/REPORT seeds x obvious/subtle incidents,
# about half an hour on one core; MATRIX_ARGS="--quick" for a few minutes (1x, one seed).
bench-quality-matrix: install
	$(PY) benchmarks/quality_matrix.py $(MATRIX_ARGS)

soak: install
	$(PY) benchmarks/soak.py $(SOAK_ARGS)

clean: clean-compiled
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info nab-results bench-data demo-data

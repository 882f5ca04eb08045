# Two commands do all set-up on a fresh machine with Python 3.11: `make demo`, `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit test-integration bench bench-nab bench-engine bench-quality bench-quality-matrix soak lint clean

# Re-install only when the project definition changes; otherwise this is instant.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[embedded,dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/aftersales demo $(DEMO_ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

# Static checks: ruff with the selection in pyproject.toml, then mypy strict over
# thresholds, alerts and streams ([tool.mypy]); run by .ci/run before the tests.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test-unit: install
	$(PY) -m pytest -m "not integration and not slow" $(PYTEST_ARGS)

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

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info nab-results bench-data demo-data

# The two commands: `make demo` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean bench soak

$(STAMP): pyproject.toml
	@command -v java >/dev/null || { echo "Java 17 is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/journey-triggers demo

# The benchmark (tests/perf/bench.py): not part of `make test`; about 30 minutes on 2 cores.
bench: $(STAMP)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# Fault injection on a standalone cluster (tests/soak): not part of `make test`; about 5 minutes.
soak: $(STAMP)
	$(BIN)/pytest tests/soak

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) .journey-triggers .pytest_cache .mypy_cache .ruff_cache

# The two commands: `make demo` and `make test`. Each sets up .venv on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The project's Java operators (jvm/src), compiled against the installed PyFlink's jars.
JAR := jvm/build/journey-triggers-jvm.jar
JAVA_SOURCES := $(wildcard jvm/src/journeytriggers/*.java)

.PHONY: demo test install clean bench soak

$(STAMP): pyproject.toml
	@command -v javac >/dev/null || { echo "A Java 17 JDK is required (apt-get install openjdk-17-jdk-headless)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

# Order-only on the venv, so an image build can make the jar with its own: make $(JAR) STAMP= BIN=...
$(JAR): $(JAVA_SOURCES) | $(STAMP)
	rm -rf jvm/build/classes && mkdir -p jvm/build/classes
	javac --release 11 -nowarn -cp "$$($(BIN)/python -c 'import pyflink, os; d = os.path.dirname(pyflink.__file__); print(f"{d}/lib/*:{d}/opt/*")')" \
	  -d jvm/build/classes $(JAVA_SOURCES)
	jar --create --file $(JAR) -C jvm/build/classes .

install: $(STAMP) $(JAR)

demo: $(STAMP) $(JAR)
	$(BIN)/journey-triggers demo

# The benchmark (tests/perf/bench.py): not part of `make test`; about 30 minutes on 2 cores.
bench: $(STAMP) $(JAR)
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# The heavy variants (the tests marked soak): not part of `make test`.
soak: $(STAMP) $(JAR)
	$(BIN)/pytest -m soak tests/integration

test: $(STAMP) $(JAR)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) jvm/build .journey-triggers .pytest_cache .mypy_cache .ruff_cache

# The two commands: `make demo` and `make test`. Each checks the machine's prerequisites, sets
# up .venv and builds the JVM side (jvm/pom.xml) on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MVN ?= mvn -B -ntp
# The Maven build: the project's operator jar, the local broker's Kafka jars, the Kafka SQL
# connector and the benchmark's Java baselines (journey_triggers/jvm_build.py says where each
# lands). Maven caches in ~/.m2.
JVM_STAMP := jvm/target/.built
JVM_INPUTS := jvm/pom.xml jvm/operators/pom.xml jvm/runtime/pom.xml jvm/bench/pom.xml \
  $(shell find jvm/operators/src/main jvm/bench/src/main -type f 2>/dev/null)

.PHONY: demo test install clean bench soak prerequisites prerequisites-test

# What `make demo` needs; each missing tool is named with the Debian package that brings it.
prerequisites:
	@missing=""; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3.11 python3.11-venv"; \
	command -v javac >/dev/null || missing="$$missing openjdk-17-jdk-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if command -v javac >/dev/null; then \
	  v=$$(javac -version 2>&1 | sed -E 's/^javac ([0-9]+).*/\1/'); \
	  [ "$$v" -ge 17 ] 2>/dev/null || missing="$$missing openjdk-17-jdk-headless(found-javac-$$v)"; \
	fi; \
	if [ -n "$$missing" ]; then \
	  echo "missing prerequisites:$$missing"; \
	  echo "install them with: sudo apt-get install -y$$(echo "$$missing" | sed -E 's/\(found[^)]*\)//g')"; \
	  exit 1; \
	fi

# `make test` also renders the backtest report in headless Chromium.
prerequisites-test: prerequisites
	@command -v chromium >/dev/null || { \
	  echo "missing prerequisite: chromium (the backtest report's browser test)"; \
	  echo "install it with: sudo apt-get install -y chromium"; exit 1; }

$(STAMP): pyproject.toml | prerequisites
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip check
	touch $(STAMP)

$(JVM_STAMP): $(JVM_INPUTS) | prerequisites
	rm -rf jvm/runtime/target/kafka-broker jvm/runtime/target/flink-connectors
	$(MVN) -q -f jvm/pom.xml -DskipTests package
	mkdir -p $(dir $(JVM_STAMP)) && touch $(JVM_STAMP)

install: $(STAMP) $(JVM_STAMP)

demo: install
	$(BIN)/journey-triggers demo

# The benchmark (tests/perf/bench.py, with the Java baselines of jvm/bench): not part of
# `make test`; about 30 minutes on 2 cores.
bench: install
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# The heavy variants (the tests marked soak): not part of `make test`.
soak: install
	$(BIN)/pytest -m soak tests/integration

test: prerequisites-test install
	$(MVN) -f jvm/pom.xml verify
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest

clean:
	rm -rf $(VENV) jvm/target jvm/operators/target jvm/runtime/target jvm/bench/target \
	  .journey-triggers \
	  .pytest_cache .mypy_cache .ruff_cache

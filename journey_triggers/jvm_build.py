"""Where the Maven build (``jvm/pom.xml``) puts the jars the project runs.

``make install`` (or ``mvn -f jvm/pom.xml package``) builds and fetches them; Maven caches the
downloads in ``~/.m2``. Each accessor raises a clear error naming the command when its jars are
missing, instead of a class-not-found error deep in a JVM.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from journey_triggers.errors import JourneyTriggersError

ROOT = Path(__file__).resolve().parent.parent
JVM = ROOT / "jvm"
OPERATORS_JAR = JVM / "operators" / "target" / "journey-triggers-jvm.jar"
"""The project's own Java operators (``jvm/operators``), shipped with every job."""
CONNECTORS_DIR = JVM / "runtime" / "target" / "flink-connectors"
"""The official Flink Kafka SQL connector (one shaded jar), shipped with every job."""
KAFKA_BROKER_DIR = JVM / "runtime" / "target" / "kafka-broker"
"""Apache Kafka's jars and a Log4j 2 backend: the local broker's classpath."""
BENCH_JAR = JVM / "bench" / "target" / "journey-triggers-bench.jar"
"""The benchmark's Java baselines (``jvm/bench``): Flink CEP cart abandonment, parse and count."""
BENCH_CEP_JOB = "journeytriggers.bench.CepAbandonmentJob"
BENCH_PARSE_COUNT_JOB = "journeytriggers.bench.ParseAndCountJob"

_BUILD_HINT = "build it with `make install` (it needs a Java 17 JDK and Maven)"


class JvmBuildMissingError(JourneyTriggersError):
    """A jar of the Maven build is missing."""


def operators_jar() -> Path:
    """Return the project's operator jar; raise when it is not built."""
    if not OPERATORS_JAR.is_file():
        msg = f"{OPERATORS_JAR} is missing: {_BUILD_HINT}"
        raise JvmBuildMissingError(msg)
    return OPERATORS_JAR


def connector_jars() -> list[Path]:
    """Return the Flink Kafka SQL connector jar(s); raise when they are not fetched."""
    jars = sorted(CONNECTORS_DIR.glob("flink-sql-connector-kafka-*.jar"))
    if not jars:
        msg = f"the Flink Kafka SQL connector is missing from {CONNECTORS_DIR}: {_BUILD_HINT}"
        raise JvmBuildMissingError(msg)
    return jars


def kafka_broker_classpath() -> str:
    """Return the local Kafka broker's classpath; raise when its jars are not fetched."""
    jars = sorted(KAFKA_BROKER_DIR.glob("*.jar"))
    if not any(jar.name.startswith("kafka_2.13-") for jar in jars):
        msg = f"Apache Kafka's jars are missing from {KAFKA_BROKER_DIR}: {_BUILD_HINT}"
        raise JvmBuildMissingError(msg)
    return ":".join(str(jar) for jar in jars)


def job_jars() -> list[str]:
    """Return the ``pipeline.jars`` entries every job ships: the operators and the connector."""
    return [operators_jar().as_uri(), *(jar.as_uri() for jar in connector_jars())]


def bench_jar() -> Path:
    """Return the benchmark's Java baselines jar; raise when it is not built."""
    if not BENCH_JAR.is_file():
        msg = f"{BENCH_JAR} is missing: {_BUILD_HINT}"
        raise JvmBuildMissingError(msg)
    return BENCH_JAR


def pyflink_lib_jars() -> list[Path]:
    """Return the jars of the installed PyFlink's ``lib``: Flink itself, flink-cep included."""
    spec = importlib.util.find_spec("pyflink")
    locations = list(spec.submodule_search_locations or []) if spec else []
    jars = sorted(Path(locations[0]).joinpath("lib").glob("*.jar")) if locations else []
    if not any(jar.name.startswith("flink-dist") for jar in jars):
        msg = "PyFlink's lib jars are missing: install the project (`make install`)"
        raise JvmBuildMissingError(msg)
    return jars


def bench_command(main_class: str, args: Sequence[str], java: str = "java") -> list[str]:
    """Return the command that runs a Java baseline in a plain JVM (a local MiniCluster).

    The classpath is the bench jar and PyFlink's lib jars, so the baseline runs on the very
    Flink that runs the project's jobs.
    """
    classpath = ":".join(str(jar) for jar in [bench_jar(), *pyflink_lib_jars()])
    return [java, "-cp", classpath, main_class, *args]

"""The Kubernetes deployment (``deploy/k8s``): no container engine runs here, so the manifests
are parsed and the fields that decide whether the job starts are checked against the project.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from pathlib import Path
from typing import Any

import pyflink
import pytest
import yaml

from jobs.sql import CONFIG_PROVIDERS
from jobs.triggers_job import add_job_arguments, job_from_args

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
IMAGE_ROOT = "/opt/journey-triggers"
PYFLINK = Path(pyflink.__file__).parent


def _pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for dependency in project["dependencies"]:
        name, sep, version = dependency.partition("==")
        if sep:
            pins[name] = version
    return {**pins, "version": project["version"], "python": project["requires-python"]}


@pytest.fixture(scope="module")
def deployment() -> dict[str, Any]:
    return dict(yaml.safe_load((K8S / "flinkdeployment.yaml").read_text()))


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (K8S / "Dockerfile").read_text()


def test_the_image_is_official_flink_of_the_pinned_version_with_python_3_11(dockerfile):
    pins = _pins()
    assert re.search(rf"^FROM flink:{re.escape(pins['apache-flink'])}-java17$", dockerfile, re.M)
    version = re.search(r"^ARG PYTHON_VERSION=(\S+)$", dockerfile, re.M)
    assert version and version.group(1).startswith("3.11."), pins["python"]
    assert pins["python"] == ">=3.11,<3.12"
    # Every top-level directory the job imports or reads is copied into the image.
    copied = set(re.findall(rf"^COPY (\S+) {IMAGE_ROOT}/\1$", dockerfile, re.M))
    assert copied >= {"journey_triggers", "jobs", "udfs", "schemas", "rules", "jvm"}
    assert "pip install --no-cache-dir -e ." in dockerfile
    assert "pip check" in dockerfile
    # The Maven build makes the operator jar and fetches the official Kafka SQL connector, which
    # goes onto the image's Flink classpath.
    assert "mvn -B -ntp -q -f jvm/pom.xml -DskipTests package" in dockerfile
    assert re.search(
        r"cp jvm/runtime/target/flink-connectors/flink-sql-connector-kafka-\S*\.jar "
        r"/opt/flink/lib/",
        dockerfile,
    )


def test_the_deployment_runs_the_pythondriver_of_the_same_flink(deployment):
    pins = _pins()
    spec = deployment["spec"]
    assert deployment["apiVersion"] == "flink.apache.org/v1beta1"
    assert deployment["kind"] == "FlinkDeployment"
    major, minor, _ = pins["apache-flink"].split(".")
    assert spec["flinkVersion"] == f"v{major}_{minor}"
    assert spec["image"] == f"journey-triggers:{pins['version']}"
    job = spec["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    jar = f"flink-python-{pins['apache-flink']}.jar"
    assert job["jarURI"] == f"local:///opt/flink/opt/{jar}"
    assert (PYFLINK / "opt" / jar).is_file(), "the pinned PyFlink ships no such driver jar"
    assert job["upgradeMode"] == "savepoint"
    assert isinstance(job["parallelism"], int) and job["parallelism"] > 0


def _driver_args(args: list[str]) -> tuple[dict[str, str], list[str]]:
    """Split PythonDriver's own options from the job's flags (everything after ``-py``)."""
    index = args.index("-py")
    own = dict(zip(args[:index:2], args[1:index:2], strict=True))
    own["-py"] = args[index + 1]
    return own, args[index + 2 :]


def test_the_job_arguments_are_the_jobs_own_valid_flags(deployment, dockerfile):
    own, flags = _driver_args(deployment["spec"]["job"]["args"])
    assert own["-py"] == f"{IMAGE_ROOT}/jobs/triggers_job.py"
    assert (ROOT / "jobs" / "triggers_job.py").is_file()
    # The Python of the image's venv runs the client and the workers.
    assert own["-pyexec"] == own["-pyclientexec"] == "/opt/venv/bin/python"
    assert "python3.11 -m venv /opt/venv" in dockerfile

    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    local = [flag.replace(IMAGE_ROOT, str(ROOT)) for flag in flags]
    source, _sink, config = job_from_args(parser.parse_args(local))
    assert [r.id for r in config.rules]  # the rule file is in the image and valid
    properties = source.properties  # type: ignore[union-attr]
    assert properties["security.protocol"] == "SASL_SSL"
    # The secret is a placeholder that the Kafka client resolves on the TaskManager.
    assert properties["sasl.jaas.config"] == "${env:KAFKA_SASL_JAAS_CONFIG}"


def test_secrets_come_from_a_kubernetes_secret_never_from_the_manifest(deployment):
    container = deployment["spec"]["podTemplate"]["spec"]["containers"][0]
    assert container["name"] == "flink-main-container"
    env = {e["name"]: e for e in container["env"]}
    used = re.findall(r"\$\{env:(\w+)\}", yaml.safe_dump(deployment["spec"]["job"]["args"]))
    assert used == ["KAFKA_SASL_JAAS_CONFIG"]
    for name in used:
        assert "value" not in env[name]
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "journey-triggers-kafka"
    assert set(CONFIG_PROVIDERS) == {"env", "file"}


def test_state_lives_in_object_storage_with_rocksdb_and_kubernetes_ha(deployment):
    conf = deployment["spec"]["flinkConfiguration"]
    for key in (
        "execution.checkpointing.dir",
        "execution.checkpointing.savepoint-dir",
        "high-availability.storageDir",
    ):
        assert conf[key].startswith("s3://"), key
    assert conf["state.backend.type"] == "rocksdb"
    assert conf["high-availability.type"] == "kubernetes"
    assert conf["execution.checkpointing.mode"] == "EXACTLY_ONCE"
    _own, flags = _driver_args(deployment["spec"]["job"]["args"])
    assert flags[flags.index("--checkpoint-dir") + 1] == conf["execution.checkpointing.dir"]
    plugin = deployment["spec"]["podTemplate"]["spec"]["containers"][0]["env"][0]
    flink = _pins()["apache-flink"]
    assert plugin == {"name": "ENABLE_BUILT_IN_PLUGINS", "value": f"flink-s3-fs-presto-{flink}.jar"}


def test_the_prometheus_reporter_is_the_one_pyflink_ships(deployment):
    conf = deployment["spec"]["flinkConfiguration"]
    factory = conf["metrics.reporter.prom.factory.class"]
    jars = list((PYFLINK / "plugins" / "metrics-prometheus").glob("*.jar"))
    assert jars, "no Prometheus reporter plugin in PyFlink"
    import zipfile

    names = zipfile.ZipFile(jars[0]).namelist()
    assert factory.replace(".", "/") + ".class" in names

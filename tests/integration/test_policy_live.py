"""A live policy job keeps deciding when its input goes quiet.

A Python operator holds a watermark back while its bundle is open, and releases it when the
bundle closes. If the operator's input went idle in between, its output has announced
idleness, and an idle output drops watermarks (Flink's ``RecordWriterOutput``), so the
released watermark never reached the next operator. PyFlink's ``key_by`` puts such an
operator in front of the policy stage: the stage then never saw event time pass its last
inputs and decided nothing until more traffic came. Measured with this file's scenario at
parallelism 1 (each run a fresh job): with ``key_by``, 3 of 6 runs made no decision within
45 s; with one-element bundles, 0 of 6; keyed in the JVM (``jvm_streams.keyed_by_first_column``),
0 of 6.
"""

from __future__ import annotations

import json

import pytest
from pyflink.table import ExplainDetail

from jobs.specs import KafkaCatalogSpec, KafkaSourceSpec
from jobs.triggers_job import build_pipeline, create_table_env
from journey_triggers import broker
from journey_triggers.config import JobConfig
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.policy import parse_policy_text
from journey_triggers.rules.loader import load_rules
from tests.integration.conftest import (
    BROWSING_RULES,
    kafka_sink,
    live_job,
    page_view,
)

pytestmark = pytest.mark.integration


def _config(tmp_path, **overrides) -> JobConfig:
    rules = tmp_path / "rules.yaml"
    rules.write_text(BROWSING_RULES)
    return JobConfig(
        rules=tuple(item.rule for item in load_rules([rules])),
        policy=parse_policy_text("version: 1\n", source="test"),
        **overrides,
    )


def test_keys_and_event_times_are_set_in_the_jvm_without_python_steps(tmp_path):
    """The policy inputs' keys, the control topic's and the catalog's event times."""
    config = _config(
        tmp_path,
        parallelism=1,
        catalog=KafkaCatalogSpec(bootstrap_servers="127.0.0.1:9", topic="catalog"),
        policy_topic=KafkaSourceSpec(bootstrap_servers="127.0.0.1:9", topic="policy"),
    )
    source = KafkaSourceSpec(bootstrap_servers="127.0.0.1:9", topic="events")
    t_env = create_table_env(config)
    statements = build_pipeline(t_env, source, kafka_sink("127.0.0.1:9", "x"), config)
    plan = statements.explain(ExplainDetail.JSON_EXECUTION_PLAN)
    heading = "== Physical Execution Plan =="
    nodes = {n["id"]: n for n in json.loads(plan[plan.index(heading) + len(heading) :])["nodes"]}
    types = {node["type"] for node in nodes.values()}
    # The names PyFlink gives its Python steps for key_by and for a Python timestamp assigner.
    assert not types & {"_stream_key_by_map_operator", "Extract-Timestamp"}, sorted(types)
    assert {"catalog-version-times", "policy-control", "decision-policy"} <= types
    policy = next(n for n in nodes.values() if n["type"] == "decision-policy")
    inputs = sorted(
        (edge["ship_strategy"], nodes[edge["id"]]["type"]) for edge in policy["predecessors"]
    )
    # Customers hash-partitioned straight from the table planner's conversion (a JVM
    # operator); the control versions broadcast from the JVM timestamp step.
    assert [strategy for strategy, _ in inputs] == ["BROADCAST", "HASH"], inputs
    assert inputs[1][1].startswith("SinkConversion"), inputs


def test_a_live_job_decides_the_last_events_before_its_input_goes_quiet(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    broker.create_topics(
        bootstrap, {f"q.{kind}": 1 for kind in ("events", "decisions", "dlq", "late", "erasures")}
    )
    # Parallelism 1 and a 1 s idle timeout: the input goes idle about when the first Python
    # bundle closes, which is where the watermark used to be lost.
    config = _config(tmp_path, parallelism=1, checkpoint_interval_ms=1_000, idle_timeout_ms=1_000)
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="q.events")
    with live_job(source, kafka_sink(bootstrap, "q"), config):
        # bob's view moves event time past ann's; then nothing more arrives.
        produce(bootstrap, "q.events", [page_view("ann", 0), page_view("bob", 1)])
        decided = consume_json(bootstrap, "q.decisions", expected=1, max_wait_s=60)
        assert [(d["customer_id"], d["status"]) for d in decided] == [("ann", "send")]

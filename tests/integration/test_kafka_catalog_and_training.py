"""The catalog and the training history from Kafka, and catalog updates while the job runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from jobs.specs import (
    KafkaCatalogSpec,
    KafkaSourceSpec,
)
from journey_triggers import broker, cli
from journey_triggers.catalog import read_catalog
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.kafka_io import consume_json, produce
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.training import examples, read_history
from tests.integration.conftest import (
    assert_same_decisions,
    kafka_sink,
    live_job,
    run_pipeline,
)
from udfs.model import read_model

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
RULES = tuple(item.rule for item in load_rules([DATA / "identity_rules.yaml"]))
T0 = 1_800_000_000_000
MINUTE = 60_000


def catalog_record(product: str, price: float, updated_at: int | None = None) -> tuple[str, str]:
    record: dict[str, object] = {"product_id": product, "category": "c", "price": price}
    if updated_at is not None:
        record["updated_at"] = updated_at
    return product, json.dumps(record)


def test_catalog_topic_enriches_and_history_topic_trains(
    local_broker, no_leftover_processes, tmp_path, capsys
):
    bootstrap = local_broker.bootstrap_servers
    topics = {"k.events": 2, "k.catalog": 1, "k.decisions": 2, "k.dlq": 1, "k.late": 1}
    broker.create_topics(bootstrap, topics)
    records = list(generate(GeneratorConfig(customers=200, seed=31, horizon_ms=4 * 86_400_000)))
    produce(bootstrap, "k.events", records)
    start = 1_798_761_600_000
    catalog = [catalog_record(f"p{i:04d}", 10.0 + i) for i in range(0, 60, 3)]
    catalog += [catalog_record(f"p{i:04d}", 1.0 + i, start + 86_400_000) for i in range(0, 60, 6)]
    catalog.append(("bad", "{not json"))
    produce(bootstrap, "k.catalog", catalog)

    run_pipeline(
        KafkaSourceSpec(bootstrap_servers=bootstrap, topic="k.events", bounded=True),
        kafka_sink(bootstrap, "k"),
        JobConfig(
            parallelism=2,
            checkpoint_interval_ms=1_000,
            rules=RULES,
            catalog=KafkaCatalogSpec(bootstrap_servers=bootstrap, topic="k.catalog", bounded=True),
        ),
    )
    valid = [e for _, line in records if isinstance(e := parse_event(line), Event)]
    reference_catalog, rejected = read_catalog(line for _, line in catalog)
    expected = [d.to_record() for d in evaluate_rules(RULES, valid, catalog=reference_catalog)]
    prices = {
        d["product"]["price"] for d in expected if d["product"] and d["product"]["in_catalog"]
    }
    assert len(prices) >= 10
    decisions = consume_json(bootstrap, "k.decisions", expected=len(expected), max_wait_s=60)
    assert_same_decisions(decisions, expected)
    dead = consume_json(bootstrap, "k.dlq", expected=1, max_wait_s=30)
    assert [(d["reason"], d["source"], d["raw"]) for d in dead] == [
        ("invalid_catalog_record", "k.catalog", rejected[0])
    ]

    model = tmp_path / "kafka.model"
    code = cli.main(
        ["train", "--bootstrap-servers", bootstrap, "--topic", "k.events", "--output", str(model)]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    history = read_history(((0, line) for _, line in records), 10_000)
    assert summary["events"] == len(history.events) == len(valid)
    assert summary["examples"] == len(examples(history.events, 86_400_000).labels)
    assert read_model(model)[1].version == summary["model_version"]


def test_catalog_updates_apply_while_the_job_runs(
    local_broker, no_leftover_processes, tmp_path, capsys
):
    bootstrap = local_broker.bootstrap_servers
    topics = {"l.events": 1, "l.catalog": 1, "l.decisions": 1, "l.dlq": 1, "l.late": 1}
    broker.create_topics(bootstrap, topics)
    # The first version comes from a file, loaded with the CLI; a bad line refuses the file.
    bad = tmp_path / "bad.jsonl"
    bad.write_text(catalog_record("p1", 10.0)[1] + "\n{not json\n")
    load = ["load-catalog", "--bootstrap-servers", bootstrap, "--topic", "l.catalog"]
    assert cli.main([*load, str(bad)]) == 2
    assert f"{bad}:2: not a valid catalog record" in capsys.readouterr().err
    good = tmp_path / "catalog.jsonl"
    good.write_text(catalog_record("p1", 10.0)[1] + "\n")
    assert cli.main([*load, str(good)]) == 0
    assert "published 1 catalog records" in capsys.readouterr().out
    catalog = KafkaCatalogSpec(bootstrap_servers=bootstrap, topic="l.catalog")

    def add(event_id: str, minute: float) -> tuple[str, str]:
        record = {
            "event_id": event_id,
            "event_type": "add_to_cart",
            "customer_id": f"c-{event_id}",
            "ts": T0 + int(minute * MINUTE),
            "properties": {"product_id": "p1"},
        }
        return record["customer_id"], json.dumps(record)  # type: ignore[return-value]

    config = JobConfig(
        parallelism=1,
        checkpoint_interval_ms=1_000,
        idle_timeout_ms=1_000,
        rules=RULES,
        catalog=catalog,
    )
    sink = kafka_sink(bootstrap, "l")
    source = KafkaSourceSpec(bootstrap_servers=bootstrap, topic="l.events")
    with live_job(source, sink, config) as client:
        # Carts abandoned before the price change, then the change, then carts after it; a
        # last event pushes event time past every abandonment window.
        produce(bootstrap, "l.events", [add("before", 0)])
        first = consume_json(bootstrap, "l.decisions", idle_timeout_s=2, max_wait_s=5)
        assert first == []
        produce(bootstrap, "l.events", [add("push-1", 30)])
        first = consume_json(bootstrap, "l.decisions", expected=1, max_wait_s=180)
        status = client.get_job_status().result()
        assert [d["product"]["price"] for d in first] == [10.0], status

        produce(bootstrap, "l.catalog", [catalog_record("p1", 7.5, T0 + 40 * MINUTE)])
        time.sleep(3)
        # The next cart alone first, so that event time passes the new version while the
        # cart of minute 30 is still inside its window: it must keep the version of its time.
        produce(bootstrap, "l.events", [add("after", 45)])
        time.sleep(3)
        produce(bootstrap, "l.events", [add("push-2", 100)])
        every = consume_json(bootstrap, "l.decisions", expected=3, max_wait_s=180)
        prices = {d["explanation"]["anchor_event_id"]: d["product"]["price"] for d in every}
        assert prices == {"before": 10.0, "push-1": 10.0, "after": 7.5}

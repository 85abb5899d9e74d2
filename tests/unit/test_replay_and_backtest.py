"""Replay ranges and progress, and the backtest's numbers and report, without Flink."""

from __future__ import annotations

import io
import json

import pytest

from jobs import sql
from jobs.backtest_job import load_backtest
from jobs.specs import KafkaSourceSpec, format_offsets, parse_offsets
from journey_triggers.backtest import (
    DAY_MS,
    HOUR_MS,
    Purchase,
    bucket_size_ms,
    conversion,
    newcombe,
    outcomes,
    summarize,
    wilson,
)
from journey_triggers.config import JobConfig
from journey_triggers.errors import ConfigError
from journey_triggers.replay import Progress, client_config, parse_bound
from journey_triggers.report import render_report


def test_bounds_are_open_words_epoch_ms_or_iso_times_utc_without_a_zone():
    assert parse_bound("earliest", "--from", "earliest") is None
    assert parse_bound("latest", "--to", "latest") is None
    assert parse_bound("1798761600000", "--from", "earliest") == 1_798_761_600_000
    assert parse_bound("2027-01-01T00:00:00Z", "--from", "earliest") == 1_798_761_600_000
    assert parse_bound("2027-01-01 00:00", "--to", "latest") == 1_798_761_600_000
    with pytest.raises(ConfigError, match="--to takes latest, epoch ms or an ISO-8601 time"):
        parse_bound("yesterday", "--to", "latest")
    with pytest.raises(ConfigError, match="--from takes earliest"):
        parse_bound("latest", "--from", "earliest")


def test_offsets_round_trip_and_bad_ones_name_the_flag():
    offsets = parse_offsets("0:42, 1:300", "--start-offsets")
    assert offsets == ((0, 42), (1, 300))
    assert format_offsets(offsets) == "0:42,1:300"
    for bad in ("0-42", "a:1", "0:", "0:1,,1:2"):
        with pytest.raises(ConfigError, match="--stop-offsets takes PARTITION:OFFSET"):
            parse_offsets(bad, "--stop-offsets")
    with pytest.raises(ConfigError, match="names a partition twice"):
        KafkaSourceSpec(bootstrap_servers="b", start_offsets=((0, 1), (0, 2)))
    with pytest.raises(ConfigError, match="must name the same partitions"):
        KafkaSourceSpec(bootstrap_servers="b", start_offsets=((0, 1),), stop_offsets=((1, 2),))
    with pytest.raises(ConfigError, match=r"before --start-offsets on partitions \[0\]"):
        KafkaSourceSpec(bootstrap_servers="b", start_offsets=((0, 5),), stop_offsets=((0, 2),))


def test_offsets_become_the_kafka_connectors_specific_offsets():
    spec = KafkaSourceSpec(
        bootstrap_servers="b", start_offsets=((0, 3), (1, 2)), stop_offsets=((0, 6), (1, 6))
    )
    ddl = sql.source_ddl(spec, JobConfig())
    assert "'scan.startup.mode' = 'specific-offsets'" in ddl
    assert "'scan.startup.specific-offsets' = 'partition:0,offset:3;partition:1,offset:2'" in ddl
    assert "'scan.bounded.mode' = 'specific-offsets'" in ddl
    assert "'scan.bounded.specific-offsets' = 'partition:0,offset:6;partition:1,offset:6'" in ddl
    assert spec.is_bounded and not KafkaSourceSpec(bootstrap_servers="b").is_bounded


def test_java_client_properties_map_to_kafka_python_for_the_offset_lookup(capsys):
    config = client_config(
        {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "PLAIN",
            "sasl.jaas.config": "org.apache.kafka.common.security.plain.PlainLoginModule "
            'required username="jt" password="s3cret";',
            "ssl.truststore.location": "/etc/truststore.jks",
        }
    )
    assert config == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "jt",
        "sasl_plain_password": "s3cret",
    }
    assert "ignores the Kafka property ssl.truststore.location" in capsys.readouterr().err


def test_progress_shows_count_share_rate_and_time_left():
    progress = Progress(1_000, io.StringIO())
    assert progress.line(250, 5.0) == (
        "replay [########......................] 250 / 1,000 events  25%  50 events/s  ETA 0:00:15"
    )
    assert progress.line(0, 0.0).endswith("0 events/s  ETA --:--:--")
    assert "1,000 / 1,000 events 100%" in progress.line(1_200, 10.0)  # the estimate is a bound
    out = io.StringIO()
    printing = Progress(10, out, every_s=10.0)
    for second in range(25):
        printing.update(second, float(second))
    printing.update(10, 25.0, final=True)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[-1].startswith("replay [" + "#" * 30 + "] 10 / 10 events")
    # The clock starts at the last poll that saw no records: start-up is not reading.
    starting = io.StringIO()
    timed = Progress(100, starting, every_s=0.0)
    for count, now in ((0, 0.0), (0, 30.0), (50, 31.0)):
        timed.update(count, now)
    assert starting.getvalue().splitlines()[-1].endswith("50 events/s  ETA 0:00:01")
    quiet = io.StringIO()
    silent = Progress(10, quiet, quiet=True)
    silent.update(3, 0.0)
    silent.update(10, 1.0, final=True)
    assert len(quiet.getvalue().splitlines()) == 1


def test_wilson_and_newcombe_intervals_match_the_published_examples():
    # Newcombe (1998), Statistics in Medicine 17:873-890, tables I and II.
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert newcombe(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    assert newcombe(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)


def record(decision: str, customer: str, rule: str, status: str, at: int, **extra: object):
    return {
        "decision_id": decision,
        "customer_id": customer,
        "rule_id": rule,
        "status": status,
        "trigger_time_ms": at,
        **extra,
    }


def test_the_outcome_of_a_deferred_decision_counts_and_a_lone_deferral_stays_deferred():
    records = [
        record("a", "c1", "r", "deferred", 10),
        record("a", "c1", "r", "send", 10),
        record("b", "c2", "r", "deferred", 20),
    ]
    assert [(r["decision_id"], r["status"]) for r in outcomes(records)] == [
        ("a", "send"),
        ("b", "deferred"),
    ]
    assert [r["status"] for r in outcomes(list(reversed(records)))] == ["send", "deferred"]


def test_conversion_counts_a_purchase_inside_the_window_after_the_first_exposure_only():
    window = 100
    records = [
        record("1", "t1", "r", "send", 1_000, experiment="x"),
        record("2", "t1", "r", "send", 1_050, experiment="x"),  # same unit, later
        record("3", "t2", "r", "send", 1_000, experiment="x"),
        record("4", "t3", "r", "send", 1_000, experiment="x"),
        record("5", "h1", "r", "holdout", 1_000, experiment="x", reason="holdout"),
        record("6", "h2", "r", "holdout", 1_000, experiment="x", reason="holdout"),
        record("7", "n1", "r", "send", 1_000),  # no experiment: not a unit
    ]
    purchases = {
        "t1": [1_100],  # exactly at the end of the window: counts
        "t2": [1_000],  # at the exposure itself: not after it
        "t3": [1_101],  # after the window
        "h1": [1_050],
        "n1": [1_010],
    }
    result = conversion(records, purchases, window)
    assert result["treatment"]["units"] == 3 and result["treatment"]["converted"] == 1
    assert result["holdout"]["units"] == 2 and result["holdout"]["converted"] == 1
    assert result["lift"]["absolute"] == pytest.approx(1 / 3 - 1 / 2)
    low, high = result["lift"]["ci95"]
    assert low < result["lift"]["absolute"] < high
    none = conversion([record("7", "n1", "r", "send", 1_000)], purchases, window)
    assert none["lift"] is None and "no experiment" in none["note"]


def test_buckets_follow_the_span_of_the_history():
    assert bucket_size_ms(0, 2 * DAY_MS) == HOUR_MS
    assert bucket_size_ms(0, 2 * DAY_MS + 1) == DAY_MS
    assert bucket_size_ms(0, 61 * DAY_MS) == 7 * DAY_MS


def test_the_summary_counts_and_the_report_holds_every_number_without_outside_resources():
    start = 1_798_761_600_000
    records = [
        record("a", "c1", "cart", "send", start + 10, experiment="x"),
        record("b", "c1", "browse", "suppressed", start + 20, reason="frequency_cap"),
        record("c", "c2", "browse", "send", start + HOUR_MS + 5),
        record("d", "c3", "cart", "holdout", start + 2 * HOUR_MS, experiment="x"),
        record("e", "c2", "cart", "suppressed", start + 3 * HOUR_MS, reason="<quiet & hours>"),
    ]
    summary = summarize(
        [("v<1>", ["cart", "browse", "unused"], records)],
        [Purchase("c1", start + 60, 12.5), Purchase("c3", start + 2 * HOUR_MS + 1, None)],
        window_ms=HOUR_MS,
        history={"source": "file.jsonl", "records": 9},
    )
    (variant,) = summary["variants"]
    assert variant["by_status"] == {"send": 2, "suppressed": 2, "holdout": 1, "deferred": 0}
    assert variant["triggers_over_time"] == {
        "cart": [1, 0, 1, 1],
        "browse": [1, 1, 0, 0],
        "unused": [0, 0, 0, 0],
    }
    assert variant["suppressed_by_reason"] == {"<quiet & hours>": 1, "frequency_cap": 1}
    assert variant["messages_per_customer"]["histogram"]["0"] == 1  # c3: held out only
    assert variant["messages_per_customer"]["histogram"]["1"] == 2
    assert variant["overlap"] == {"rules": ["cart", "browse"], "customers": [[3, 2], [2, 2]]}
    assert variant["conversion"]["treatment"]["converted"] == 1
    assert variant["conversion"]["holdout"]["converted"] == 1
    assert summary["history"]["purchase_value"] == 12.5
    json.dumps(summary)  # the summary is plain JSON
    page = render_report(summary)
    assert "&lt;quiet &amp; hours&gt;" in page and "<quiet & hours>" not in page
    assert 'data-variant="v&lt;1&gt;"' in page
    assert "<script" not in page and "<link" not in page and "src=" not in page


def test_a_variants_file_names_the_file_and_the_variant_in_every_problem(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: browsing\n    version: 1\n    description: Views.\n"
        "    trigger: {kind: event, on: {event: page_view}}\n"
        "    output: {action: nudge, channels: [email]}\n"
    )
    path = tmp_path / "variants.yaml"

    def problem(text: str) -> str:
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_backtest(path)
        return str(err.value)

    assert problem("variants: []\n") == f"{path}: no variants"
    assert "unknown keys ['window']" in problem("window: 1h\nvariants: []\n")
    assert "variant 1: 'name' must be" in problem("variants:\n  - {rules: rules.yaml}\n")
    assert "variant 'a': 'rules' must be" in problem("variants:\n  - {name: a}\n")
    assert "variant 'a': unknown keys ['polcy']" in problem(
        "variants:\n  - {name: a, rules: rules.yaml, polcy: p.yaml}\n"
    )
    assert "variant 'a': " + str(tmp_path / "no.yaml") + ": cannot read the policy file" in problem(
        "variants:\n  - {name: a, rules: rules.yaml, policy: no.yaml}\n"
    )
    assert "got ['a'] twice" in problem(
        "variants:\n  - {name: a, rules: rules.yaml}\n  - {name: a, rules: rules.yaml}\n"
    )
    path.write_text("attribution_window: 2h\nvariants:\n  - {name: a, rules: rules.yaml}\n")
    loaded = load_backtest(path)
    assert loaded.attribution_window_ms == 2 * HOUR_MS
    assert loaded.variants[0].rule_ids() == ["browsing"]
    assert loaded.variants[0].policy.version == 0  # the default policy


def test_triggers_after_the_historys_last_event_are_censored_from_every_number():
    records = [
        record("a", "c1", "cart", "send", 100, experiment="x"),
        record("b", "c2", "views", "send", 250),  # its window closed after the history
        record("c", "c3", "views", "suppressed", 300, reason="cooldown"),
    ]
    summary = summarize(
        [("v", ["cart", "views"], records)],
        [],
        window_ms=10,
        history={"records": 3},
        horizon_ms=200,
    )
    (variant,) = summary["variants"]
    assert variant["candidates"] == 1 and variant["censored"] == 2
    assert variant["censored_by_rule"] == {"views": 2}
    assert variant["per_rule"]["views"]["candidates"] == 0
    assert variant["suppressed_by_reason"] == {}
    assert variant["messages_per_customer"]["customers"] == 1
    assert summary["bucket_starts_ms"] == [0]
    assert 'class="note censored" data-value="2"' in render_report(summary)

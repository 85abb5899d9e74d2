from __future__ import annotations

import pytest

from jobs import sql
from jobs.specs import KafkaSourceSpec
from jobs.triggers_job import add_job_arguments, job_from_args
from journey_triggers import cli
from journey_triggers.config import JobConfig
from journey_triggers.durations import format_duration_ms, parse_duration_ms
from journey_triggers.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("15m", 900_000), ("48h", 172_800_000), ("7d", 604_800_000)],
)
def test_durations_parse_strictly(text, ms):
    assert parse_duration_ms(text) == ms
    assert parse_duration_ms(format_duration_ms(ms)) == ms


@pytest.mark.parametrize("text", ["15", "15 min", "-5m", "m", "1.5h", ""])
def test_bad_durations_name_the_setting(text):
    with pytest.raises(ConfigError, match="--abandonment-window must be a duration"):
        parse_duration_ms(text, what="--abandonment-window")


def test_zero_duration_is_rejected_unless_allowed():
    with pytest.raises(ConfigError, match="greater than zero"):
        parse_duration_ms("0s", what="window")
    assert parse_duration_ms("0ms", allow_zero=True) == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"parallelism": 0}, "parallelism"),
        ({"abandonment_window_ms": 0}, "abandonment window"),
        ({"python_execution_mode": "fast"}, "python execution mode"),
        ({"unknown_event_types": "drop"}, "unknown event types must be one of"),
        ({"out_of_orderness_ms": -1}, "out-of-orderness"),
    ],
)
def test_invalid_config_is_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        JobConfig(**kwargs)


def test_sql_interval_literal_covers_days_and_millis():
    assert sql.interval(900_000) == "INTERVAL '0 00:15:00.000' DAY(2) TO SECOND(3)"
    assert sql.interval(3 * 86_400_000 + 1) == "INTERVAL '3 00:00:00.001' DAY(2) TO SECOND(3)"
    assert sql.interval(400 * 86_400_000).endswith("DAY(3) TO SECOND(3)")


def test_sql_string_literals_are_escaped():
    assert sql.quote("it's") == "'it''s'"


@pytest.mark.parametrize("command", ["demo", "broker", "generate", "run"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.build_parser().parse_args([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: journey-triggers" in capsys.readouterr().out


def _job_args(*argv):
    import argparse

    parser = argparse.ArgumentParser()
    add_job_arguments(parser)
    return parser.parse_args(argv)


def test_job_flags_build_kafka_source_with_properties():
    source, sink, config = job_from_args(
        _job_args(
            "--bootstrap-servers",
            "k:9092",
            "--bounded",
            "--start",
            "latest",
            "--kafka-property",
            "security.protocol=SASL_SSL",
            "--abandonment-window",
            "20m",
        )
    )
    assert isinstance(source, KafkaSourceSpec)
    assert source.bounded and source.start == "latest"
    assert source.properties == {"security.protocol": "SASL_SSL"}
    assert config.abandonment_window_ms == 20 * 60_000


def test_secret_placeholders_reach_every_kafka_table_with_the_providers_declared():
    from jobs import sql

    source, sink, config = job_from_args(
        _job_args(
            "--bootstrap-servers",
            "${env:KAFKA_BOOTSTRAP}",
            "--kafka-property",
            "sasl.jaas.config=${env:KAFKA_JAAS}",
            "--kafka-property",
            "ssl.truststore.password=${file:/etc/kafka/s.properties:truststore.password}",
        )
    )
    statements = [sql.source_ddl(source, config), *sql.sink_ddls(sink)]
    assert len(statements) >= 4  # the source, decisions, dead letters, late events
    for ddl in statements:
        # The effective properties: placeholders only, which the Kafka client resolves.
        assert "'properties.bootstrap.servers' = '${env:KAFKA_BOOTSTRAP}'" in ddl
        assert "'properties.sasl.jaas.config' = '${env:KAFKA_JAAS}'" in ddl
        assert "'properties.config.providers' = 'env,file'" in ddl
        assert (
            "'properties.config.providers.env.class' = "
            "'org.apache.flink.kafka.shaded.org.apache.kafka.common.config.provider."
            "EnvVarConfigProvider'" in ddl
        )
        assert "FileConfigProvider" in ddl


def test_exactly_once_sinks_keep_transactions_within_a_default_brokers_limit():
    """Flink's sink asks for one-hour transactions; a broker as installed allows 15 minutes."""
    from jobs import sql

    _, sink, _ = job_from_args(_job_args("--bootstrap-servers", "k:9092"))
    ddls = sql.sink_ddls(sink)
    assert ddls and all("'properties.transaction.timeout.ms' = '900000'" in d for d in ddls)
    _, sink, _ = job_from_args(
        _job_args(
            "--bootstrap-servers", "k:9092", "--kafka-property", "transaction.timeout.ms=3600000"
        )
    )
    ddls = sql.sink_ddls(sink)
    assert all("'properties.transaction.timeout.ms' = '3600000'" in d for d in ddls)
    assert not any("'900000'" in d for d in ddls)


def test_the_delivery_flag_chooses_transactions_or_none():
    from jobs import sql

    _, sink, _ = job_from_args(_job_args("--bootstrap-servers", "k:9092"))
    ddls = sql.sink_ddls(sink)
    assert all("'sink.delivery-guarantee' = 'exactly-once'" in d for d in ddls)
    assert all("'sink.transactional-id-prefix'" in d for d in ddls)
    _, sink, _ = job_from_args(
        _job_args("--bootstrap-servers", "k:9092", "--delivery", "at-least-once")
    )
    ddls = sql.sink_ddls(sink)
    assert all("'sink.delivery-guarantee' = 'at-least-once'" in d for d in ddls)
    assert not any("transactional-id" in d for d in ddls)
    with pytest.raises(SystemExit):
        job_from_args(_job_args("--bootstrap-servers", "k:9092", "--delivery", "twice"))


def test_dedup_flags_set_the_horizon_and_the_duplicates_topic():
    from jobs import sql

    _, sink, config = job_from_args(_job_args("--bootstrap-servers", "k:9092"))
    assert config.dedup_horizon_ms == 24 * 3_600_000 and not config.write_duplicates
    assert not any("events.duplicates" in d for d in sql.sink_ddls(sink))
    _, sink, config = job_from_args(
        _job_args(
            "--bootstrap-servers", "k:9092", "--dedup-horizon", "0ms", "--write-duplicates",
            "--duplicates-topic", "copies",
        )
    )  # fmt: skip
    assert config.dedup_horizon_ms == 0 and config.write_duplicates
    assert any("'topic' = 'copies'" in d for d in sql.sink_ddls(sink, duplicates=True))
    with pytest.raises(ValueError, match="dedup horizon"):
        JobConfig(dedup_horizon_ms=-1)


def test_no_config_provider_is_declared_without_a_placeholder():
    from jobs.sql import with_config_providers

    assert with_config_providers({"security.protocol": "SSL"}, "k:9092") == {
        "security.protocol": "SSL"
    }
    assert with_config_providers({}, "${env:B}")["config.providers"] == "env"


def test_unknown_event_types_flag_takes_dead_letter_or_accept():
    *_, default = job_from_args(_job_args("--input-file", "x", "--output-dir", "y"))
    assert default.unknown_event_types == "dead-letter"
    *_, accepting = job_from_args(
        _job_args("--input-file", "x", "--output-dir", "y", "--unknown-event-types", "accept")
    )
    assert accepting.unknown_event_types == "accept"
    with pytest.raises(SystemExit):
        _job_args("--unknown-event-types", "ignore")


def test_job_needs_an_input():
    with pytest.raises(ConfigError, match="--bootstrap-servers"):
        job_from_args(_job_args())


def test_bad_flag_value_is_reported_not_raised(capsys):
    assert (
        cli.main(["run", "--input-file", "x", "--output-dir", "y", "--out-of-orderness", "10"]) == 2
    )
    assert "--out-of-orderness must be a duration" in capsys.readouterr().err


def test_kafka_property_needs_key_value():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        job_from_args(_job_args("--bootstrap-servers", "k:9092", "--kafka-property", "oops"))


def test_kafka_start_mode_is_checked():
    with pytest.raises(ConfigError, match="--start"):
        KafkaSourceSpec(bootstrap_servers="k:9092", start="yesterday")


SCORE_RULE = (
    "version: 1\nrules:\n  - id: hot\n    version: 1\n    description: likely buyer\n"
    "    trigger: {kind: event, on: {event: product_view}}\n"
    "    conditions: {score: {gte: 0.85}}\n"
    "    output: {action: offer, channels: [push]}\n"
)


def test_rules_flag_refuses_score_rules_without_a_model_naming_file_and_line(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(SCORE_RULE)
    with pytest.raises(ConfigError) as info:
        job_from_args(_job_args("--input-file", "x", "--output-dir", "y", "--rules", str(rules)))
    assert (
        f"{rules}:3: rule 'hot': it has a score condition: run the job with a model (--model)"
        in str(info.value)
    )


def test_rules_are_checked_against_the_ir_at_start(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(SCORE_RULE)
    files = ("--input-file", "x", "--output-dir", "y")
    with pytest.raises(ConfigError) as info:
        job_from_args(_job_args(*files, "--rules", str(rules)))
    assert (
        f"{rules}:3: rule 'hot': it has a score condition: run the job with a model (--model)"
        in str(info.value)
    )
    with pytest.raises(SystemExit):  # one engine: the SQL compiler's flag is gone
        job_from_args(_job_args(*files, "--engine", "sql"))


def test_model_flag_refuses_a_missing_model_at_start(tmp_path):
    from udfs.model import ModelError

    missing = tmp_path / "nope.model"
    with pytest.raises(ModelError, match=f"{missing}: cannot read the model file"):
        job_from_args(_job_args("--input-file", "x", "--output-dir", "y", "--model", str(missing)))


def test_state_ttl_and_identity_window_reach_the_config():
    _, _, config = job_from_args(
        _job_args(
            "--input-file",
            "x",
            "--output-dir",
            "y",
            "--state-ttl",
            "30d",
            "--identity-window",
            "20m",
            "--profile-snapshots",
        )
    )
    assert config.state_ttl_ms == 30 * 86_400_000
    assert config.identity_window_ms == 20 * 60_000
    assert config.profile_snapshots


def test_rules_flag_loads_every_enabled_rule_of_the_standard_pack():
    from pathlib import Path

    pack = Path(__file__).resolve().parents[2] / "rules" / "standard.yaml"
    _, _, config = job_from_args(
        _job_args("--input-file", "x", "--output-dir", "y", "--rules", str(pack))
    )
    ids = [r.id for r in config.active_rules()]
    assert len(ids) == 18
    assert {"evening_mobile_browse", "near_store_premium"} <= set(ids)


def test_rules_flag_loads_compilable_rules(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\nrules:\n  - id: logins\n    version: 3\n    description: every login\n"
        "    trigger: {kind: event, on: {event: login}}\n"
        "    output: {action: welcome, channels: [email]}\n"
    )
    _, _, config = job_from_args(
        _job_args("--input-file", "x", "--output-dir", "y", "--rules", str(rules))
    )
    assert [(r.id, r.version) for r in config.active_rules()] == [("logins", 3)]


def test_without_rules_the_builtin_cart_rule_runs_with_the_window_flag():
    _, _, config = job_from_args(
        _job_args("--input-file", "x", "--output-dir", "y", "--abandonment-window", "20m")
    )
    [rule] = config.active_rules()
    assert rule.id == "cart_abandonment" and rule.trigger.kind == "absence"
    assert rule.trigger.within == "20m"


def test_explain_names_unknown_rules_and_invalid_files(capsys, tmp_path):
    from pathlib import Path

    pack = str(Path(__file__).resolve().parents[2] / "rules")
    assert cli.main(["explain", "nope", "--rules", pack]) == 2
    assert "no rule 'nope' in" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("version: 1\nrules:\n  - id: a\n    version: 1\n")
    assert cli.main(["explain", "a", "--rules", str(tmp_path)]) == 2
    assert "bad.yaml:3" in capsys.readouterr().err


def test_a_file_catalog_is_for_bounded_runs_only(tmp_path):
    catalog = tmp_path / "catalog.jsonl"
    catalog.write_text('{"product_id": "p1", "price": 1}\n')
    live = ("--bootstrap-servers", "k:9092", "--catalog-file", str(catalog))
    with pytest.raises(ConfigError, match="load-catalog"):
        job_from_args(_job_args(*live))
    _, _, config = job_from_args(_job_args(*live, "--bounded"))
    assert config.catalog is not None
    _, _, config = job_from_args(
        _job_args("--input-file", "e", "--output-dir", "o", "--catalog-file", str(catalog))
    )
    assert config.catalog is not None


def test_a_policy_file_is_loaded_and_a_bad_one_named(tmp_path):
    good = tmp_path / "policy.yaml"
    good.write_text("version: 4\ncaps:\n  - {max: 3, per: 24h}\n")
    files = ("--input-file", "e", "--output-dir", "o")
    _, _, config = job_from_args(_job_args(*files, "--policy", str(good)))
    assert config.policy is not None and config.policy.version == 4
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 4\ncaps:\n  - {max: 3, per: 24}\n")
    assert cli.main(["run", *files, "--policy", str(bad)]) == 2


@pytest.mark.parametrize(
    "command", ["run", "train", "generate", "explain", "demo", "replay", "backtest", "produce"]
)
def test_every_flag_of_a_command_is_in_the_readme(command):
    """The README is the manual: each flag a command takes has a row or a mention there."""
    import argparse
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    flags = {
        flag
        for action in commands.choices[command]._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    }
    assert flags
    assert sorted(f for f in flags if f"`{f}" not in readme) == []

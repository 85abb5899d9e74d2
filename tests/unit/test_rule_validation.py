"""`validate` rejects malformed rules with messages that name file:line and the rule."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from journey_triggers import cli
from journey_triggers.rules.loader import RuleFileError, load_rule_file, load_rules
from journey_triggers.rules.schema import rules_json_schema_text

ROOT = Path(__file__).resolve().parents[2]

ABSENCE_HEAD = (
    "      kind: absence\n      anchor: {event: add_to_cart}\n      absent: {event: purchase}\n"
)
GOOD_RULE = """\
  - id: cart_abandonment
    version: 1
    description: Added to cart, no purchase within 15 minutes.
    trigger:
      kind: absence
      anchor: {event: add_to_cart}
      absent: {event: purchase}
      within: 15m
    output:
      action: cart_reminder
      channels: [push, email]
"""


def write_rules(tmp_path: Path, body: str, name: str = "rules.yaml") -> Path:
    path = tmp_path / name
    path.write_text("version: 1\nrules:\n" + textwrap.dedent(body))
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(RuleFileError) as info:
        load_rule_file(path)
    return [str(p) for p in info.value.problems]


# Each case: a rule body (under "rules:"), and the one expected problem "line: rule: message".
MALFORMED = {
    "bare number duration": (
        GOOD_RULE.replace("within: 15m", "within: '15'"),
        "10: rule 'cart_abandonment': 'within' must be a duration like '500ms', '30s', '15m', "
        "'48h' or '7d', got '15'",
    ),
    "zero duration": (
        GOOD_RULE.replace("within: 15m", "within: 0m"),
        "10: rule 'cart_abandonment': 'within' must be greater than zero, got '0m'",
    ),
    "unknown event type": (
        GOOD_RULE.replace("{event: purchase}", "{event: purchse}"),
        "9: rule 'cart_abandonment': unknown event type 'purchse'",
    ),
    "unknown trigger kind": (
        GOOD_RULE.replace("kind: absence", "kind: teleport"),
        "6: rule 'cart_abandonment': 'trigger': Input tag 'teleport' found using 'kind'",
    ),
    "unknown key": (
        GOOD_RULE + "    colour: red\n",
        "14: rule 'cart_abandonment': unknown key 'colour'",
    ),
    "missing required field": (
        GOOD_RULE.replace("      within: 15m\n", ""),
        "6: rule 'cart_abandonment': 'within' is required",
    ),
    "bad rule id": (
        GOOD_RULE.replace("id: cart_abandonment", "id: Cart-Abandonment"),
        "3: rule 'Cart-Abandonment': rule id 'Cart-Abandonment' must start with a lower-case",
    ),
    "version below one": (
        GOOD_RULE.replace("version: 1", "version: 0"),
        "4: rule 'cart_abandonment': 'version': Input should be greater than or equal to 1",
    ),
    "unknown channel": (
        GOOD_RULE.replace("[push, email]", "[push, fax]"),
        "13: rule 'cart_abandonment': 'channels' item 2: Input should be 'push'",
    ),
    "repeated channel": (
        GOOD_RULE.replace("[push, email]", "[push, push]"),
        "13: rule 'cart_abandonment': channels must not repeat",
    ),
    "comparison with a string": (
        GOOD_RULE + "    conditions: {field: properties.cart_value, op: '>', value: '100'}\n",
        "14: rule 'cart_abandonment': operator '>' needs a number, got '100'",
    ),
    "contains with a number": (
        GOOD_RULE + "    conditions: {field: profile.cart_products, op: contains, value: 7}\n",
        "14: rule 'cart_abandonment': operator 'contains' needs a string, got 7",
    ),
    "in without a list": (
        GOOD_RULE + "    conditions: {field: country, op: in, value: DE}\n",
        "14: rule 'cart_abandonment': operator 'in' needs a non-empty list as value",
    ),
    "exists with a value": (
        GOOD_RULE + "    conditions: {field: country, op: exists, value: DE}\n",
        "14: rule 'cart_abandonment': operator 'exists' takes no value",
    ),
    "unknown operator": (
        GOOD_RULE + "    conditions: {field: country, op: '~=', value: DE}\n",
        "14: rule 'cart_abandonment': 'op': Input should be '='",
    ),
    "unknown field": (
        GOOD_RULE + "    conditions: {field: colour, op: '=', value: red}\n",
        "14: rule 'cart_abandonment': unknown field 'colour'",
    ),
    "bad regular expression": (
        GOOD_RULE + "    conditions: {field: properties.page, op: matches, value: '(unclosed'}\n",
        "14: rule 'cart_abandonment': 'matches' needs a valid regular expression",
    ),
    "condition without a known key": (
        GOOD_RULE + "    conditions:\n      all:\n        - {fieldx: device_type}\n",
        "16: rule 'cart_abandonment': 'all' item 1: a condition needs one of the keys: field,",
    ),
    "empty all": (
        GOOD_RULE + "    conditions: {all: []}\n",
        "14: rule 'cart_abandonment': 'all': List should have at least 1 item",
    ),
    "empty local time window": (
        GOOD_RULE + "    conditions: {local_time: {start: '18:00', end: '18:00'}}\n",
        "14: rule 'cart_abandonment': local_time window is empty: start equals end",
    ),
    "bad local time": (
        GOOD_RULE + "    conditions: {local_time: {start: '25:00', end: '21:00'}}\n",
        "14: rule 'cart_abandonment': 'start': String should match pattern",
    ),
    "since_last with both bounds": (
        GOOD_RULE
        + "    conditions: {since_last: {event: email_open, more_than: 1d, less_than: 2d}}\n",
        "14: rule 'cart_abandonment': since_last needs exactly one of 'more_than' and 'less_than'",
    ),
    "score out of range": (
        GOOD_RULE + "    conditions: {score: {gte: 1.5}}\n",
        "14: rule 'cart_abandonment': 'gte': Input should be less than or equal to 1",
    ),
    "sequence of one step": (
        GOOD_RULE.replace(
            ABSENCE_HEAD,
            "      kind: sequence\n      steps:\n        - on: {event: product_view}\n",
        ),
        "8: rule 'cart_abandonment': 'steps': List should have at least 2 items",
    ),
    "count threshold of zero": (
        GOOD_RULE.replace(
            ABSENCE_HEAD,
            "      kind: count\n      on: {event: product_view}\n      at_least: 0\n",
        ),
        "9: rule 'cart_abandonment': 'at_least': Input should be greater than or equal to 1",
    ),
    "payload from unknown field": (
        GOOD_RULE + "      payload: {sku: sku}\n",
        "14: rule 'cart_abandonment': payload field 'sku' copies unknown field 'sku'",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_rule_is_rejected_with_file_line_and_rule(tmp_path, case):
    body, expected = MALFORMED[case]
    path = write_rules(tmp_path, body)
    found = problems(path)
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}:{expected}"), found[0]


def test_every_problem_in_a_file_is_reported(tmp_path):
    body = GOOD_RULE.replace("within: 15m", "within: 15").replace("[push, email]", "[fax]")
    found = problems(write_rules(tmp_path, body))
    assert [f.split(":")[1] for f in found] == ["10", "13"]


def test_duplicate_rule_ids_across_files_name_both_places(tmp_path):
    first = write_rules(tmp_path, GOOD_RULE, "a.yaml")
    second = write_rules(tmp_path, GOOD_RULE, "b.yaml")
    with pytest.raises(RuleFileError) as info:
        load_rules([first, second])
    [problem] = info.value.problems
    assert str(problem) == (
        f"{second}:3: rule 'cart_abandonment': duplicate rule id, first defined at {first}:3"
    )


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nrules:\n  - id: x\n    version: [1\n")
    [problem] = problems(path)
    assert problem.startswith(f"{path}:") and "invalid YAML" in problem


def test_yaml_on_is_a_key_not_a_boolean(tmp_path):
    body = GOOD_RULE.replace(
        "      kind: absence\n      anchor: {event: add_to_cart}\n      absent: {event: purchase}\n"
        "      within: 15m\n",
        "      kind: event\n      on: {event: login}\n",
    )
    [loaded] = load_rule_file(write_rules(tmp_path, body))
    assert loaded.rule.trigger.kind == "event"


def test_standard_pack_is_valid_and_covers_every_trigger_kind():
    loaded = load_rules([ROOT / "rules"])
    assert len(loaded) >= 12
    kinds = {item.rule.trigger.kind for item in loaded}
    assert kinds == {"event", "absence", "inactivity", "count", "sequence", "recency", "trend"}


def test_committed_rules_schema_is_the_exported_one():
    committed = (ROOT / "schemas" / "rules.v1.json").read_text()
    assert committed == rules_json_schema_text(), (
        "run: python -m journey_triggers.rules.schema > schemas/rules.v1.json"
    )


def test_rules_schema_accepts_the_standard_pack_and_rejects_a_bad_kind():
    import yaml

    schema = json.loads((ROOT / "schemas" / "rules.v1.json").read_text())
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    pack = yaml.load((ROOT / "rules" / "standard.yaml").read_text(), Loader=yaml.BaseLoader)
    pack["version"] = 1
    # BaseLoader keeps every scalar a string; the schema is checked on its structure here.
    bad = {"version": 1, "rules": [{"id": "x", "trigger": {"kind": "teleport"}}]}
    assert not validator.is_valid(bad)


def test_validate_command_exit_codes(tmp_path, capsys):
    assert cli.main(["validate", str(ROOT / "rules")]) == 0
    assert "ok: " in capsys.readouterr().out
    bad = write_rules(tmp_path, GOOD_RULE.replace("within: 15m", "within: soon"))
    assert cli.main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:10: rule 'cart_abandonment': 'within' must be a duration" in err

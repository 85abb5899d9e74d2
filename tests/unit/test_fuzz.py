"""Fuzzing the validators: no input crashes them; every refusal is a clear, located error.

Random text, random JSON and event-shaped records with random values go through the event
parser (the reference the job's SQL ingest is held equal to); random rule files and policy
documents, both from scratch and by mutating the valid ones, go through their loaders.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_triggers import events as ev
from journey_triggers.events import Event, Rejection, parse_event
from journey_triggers.policy import PolicyError, parse_policy_text
from journey_triggers.rules.loader import RuleFileError, load_rule_file

ROOT = Path(__file__).resolve().parents[2]
REASONS = {value for name, value in vars(ev).items() if name.startswith("REJECT_")}
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    ["event_id", "event_type", "customer_id", "anonymous_id", "device_id", "session_id", "ts",
     "properties", "time_zone", "device_type", "country"]
)  # fmt: skip
event_types = st.sampled_from([*ev.EVENT_TYPES, "", "teleport"])


@st.composite
def event_like(draw: st.DrawFn) -> dict[str, Any]:
    """A record that is nearly an event: valid fields mixed with random ones."""
    record: dict[str, Any] = {
        "event_id": draw(st.text(max_size=6) | json_values),
        "event_type": draw(event_types | json_values),
        "ts": draw(
            st.integers(min_value=-5, max_value=10**16)
            | st.sampled_from(["2027-01-01T00:00:00Z", "2027-02-30T00:00:00Z", "1.5e12"])
            | json_values
        ),
    }
    record[draw(st.sampled_from(["customer_id", "anonymous_id", "device_id"]))] = draw(
        st.text(max_size=6) | json_values
    )
    properties = draw(st.dictionaries(st.sampled_from(["cart", "decision_id", "x"]), json_values))
    if draw(st.booleans()):
        record["properties"] = properties
    extra = draw(st.dictionaries(field_names, json_values, max_size=3))
    return {**record, **extra}


def check_parse(raw: str) -> None:
    result = parse_event(raw)
    if isinstance(result, Rejection):
        assert result.reason in REASONS
        assert result.raw == raw
    else:
        assert isinstance(result, Event)
        assert result.event_type in ev.EVENT_TYPES and result.customer_key
        assert ev.valid_cart(result.properties.get("cart"))


@FUZZ
@given(st.text())
def test_random_text_never_crashes_the_event_parser(raw):
    check_parse(raw)


@FUZZ
@given(st.binary())
def test_random_bytes_never_crash_the_event_parser(data):
    # The job reads raw Kafka bytes as UTF-8 text; undecodable bytes arrive replaced.
    check_parse(data.decode("utf-8", errors="replace"))


@FUZZ
@given(json_values)
def test_random_json_never_crashes_the_event_parser(value):
    check_parse(json.dumps(value))


@FUZZ
@given(event_like())
def test_event_shaped_records_with_random_values_never_crash_the_event_parser(record):
    check_parse(json.dumps(record))


def _load(text: str) -> None:
    """Load ``text`` as a rule file: either rules, or a RuleFileError naming the file."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            load_rule_file(path)
        except RuleFileError as err:
            assert err.problems
            for problem in err.problems:
                assert problem.path == str(path) and problem.message


@FUZZ
@given(st.text())
def test_random_text_never_crashes_the_rule_validator(text):
    _load(text)


STANDARD = yaml.safe_load((ROOT / "rules" / "standard.yaml").read_text())


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


STANDARD_PATHS = _paths(STANDARD)[1:]


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _replace(node[head], rest, value)
    return copy


def mutations(paths: list[tuple[Any, ...]]) -> st.SearchStrategy[list[tuple[Any, Any]]]:
    """One to three (path, random value) replacements in a document with these paths."""
    return st.lists(st.tuples(st.sampled_from(paths), json_values), min_size=1, max_size=3)


def _mutated(document: Any, replacements: list[tuple[Any, Any]]) -> Any:
    for path, value in replacements:
        try:
            document = _replace(document, path, value)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier replacement removed this path
    return document


# Each example validates the whole standard pack (about 0.12 s): 100 examples, not 300.
@settings(parent=FUZZ, max_examples=100)
@given(mutations(STANDARD_PATHS))
def test_mutated_rule_packs_never_crash_the_rule_validator(replacements):
    _load(yaml.safe_dump(_mutated(STANDARD, replacements), allow_unicode=True))


POLICY = yaml.safe_load((ROOT / "tests" / "integration" / "data" / "policy.yaml").read_text())
POLICY_PATHS = _paths(POLICY)[1:]


def _parse_policy(text: str) -> None:
    try:
        parse_policy_text(text, source="fuzz")
    except PolicyError as err:
        assert str(err).startswith("fuzz")


@FUZZ
@given(st.text() | json_values.map(json.dumps))
def test_random_policy_documents_never_crash_the_policy_validator(text):
    _parse_policy(text)


@FUZZ
@given(mutations(POLICY_PATHS))
def test_mutated_policies_never_crash_the_policy_validator(replacements):
    _parse_policy(json.dumps(_mutated(POLICY, replacements)))

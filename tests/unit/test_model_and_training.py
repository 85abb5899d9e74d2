"""Model files (content-hash versions, clear errors), features and training examples."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier

from journey_triggers import cli
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.training import examples
from udfs.features import FEATURE_NAMES, FEATURE_VERSION, feature_vector
from udfs.model import ModelError, dump_model, load_model_bytes, read_model

T0 = 1_800_000_000_000
HOUR = 3_600_000


def classifier(prior: float) -> DummyClassifier:
    model = DummyClassifier(strategy="prior")
    labels = np.array([1] * int(prior * 100) + [0] * (100 - int(prior * 100)))
    model.fit(np.zeros((100, len(FEATURE_NAMES))), labels)
    return model


def test_version_is_the_content_hash_and_a_new_model_gets_a_new_one(tmp_path):
    first = dump_model(classifier(0.3), {"note": "a"})
    second = dump_model(classifier(0.6), {"note": "b"})
    a, b = load_model_bytes(first), load_model_bytes(second)
    assert a.version == hashlib.sha256(first).hexdigest()[:12]
    assert a.version != b.version
    assert load_model_bytes(first).version == a.version
    assert a.predict(np.zeros((2, len(FEATURE_NAMES)))).tolist() == pytest.approx([0.3, 0.3])
    path = tmp_path / "m.model"
    path.write_bytes(second)
    content, model = read_model(path)
    assert content == second and model.version == b.version


def test_unusable_model_files_are_refused_with_the_reason_and_the_file(tmp_path):
    good = dump_model(classifier(0.3), {})
    header, _, payload = good.partition(b"\n")
    cases = {
        "truncated.model": (good[:-10], "corrupt or truncated"),
        "flipped.model": (good[:-1] + bytes([good[-1] ^ 1]), "corrupt or truncated"),
        "text.model": (b"hello\nworld", "not a journey-triggers model file"),
        "empty.model": (b"", "not a journey-triggers model file"),
    }
    other = json.loads(header)
    other["feature_version"] = "000000000000"
    cases["old.model"] = (
        json.dumps(other).encode() + b"\n" + payload,
        f"trained on features '000000000000', this version computes '{FEATURE_VERSION}'",
    )
    for name, (content, reason) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ModelError) as info:
            read_model(path)
        assert str(info.value).startswith(f"{path}: ") and reason in str(info.value), name
    with pytest.raises(ModelError, match="cannot read the model file"):
        read_model(tmp_path / "missing.model")


def test_feature_vector_of_a_profile():
    profile = {
        "first_seen_ms": T0 - 48 * HOUR,
        "events": 9,
        "sessions": 3,
        "devices": 2,
        "product_views": 5,
        "add_to_carts": 2,
        "orders": 1,
        "revenue": 80.5,
        "aov": 80.5,
        "last_purchase_ms": T0 - 24 * HOUR,
        "last_email_open_ms": None,
        "cart_value": 40.0,
        "cart_items": 1.0,
        "last_device_type": "mobile",
        "session_start_ms": T0 - 30 * 60_000,
        "session_events": 4,
        "session_add_to_carts": 1,
    }
    got = dict(zip(FEATURE_NAMES, feature_vector(profile, "add_to_cart", T0), strict=True))
    assert got["hours_since_first_seen"] == 48.0
    assert got["hours_since_last_purchase"] == 24.0
    assert got["hours_since_last_email_open"] == -1.0
    assert got["last_device_mobile"] == 1.0
    assert got["anchor_add_to_cart"] == 1.0 and got["anchor_product_view"] == 0.0
    assert (got["events"], got["revenue"], got["cart_items"]) == (9.0, 80.5, 1.0)
    assert (got["minutes_in_session"], got["session_events"]) == (30.0, 4.0)
    no_session = {**profile, "session_start_ms": None, "session_events": None}
    got = dict(zip(FEATURE_NAMES, feature_vector(no_session, "page_view", T0), strict=True))
    assert (got["minutes_in_session"], got["session_events"]) == (-1.0, 0.0)


def ev(event_id: str, event_type: str, hours: float, customer: str) -> Event:
    record = {"event_id": event_id, "event_type": event_type, "customer_id": customer}
    parsed = parse_event(json.dumps({**record, "ts": T0 + int(hours * HOUR)}))
    assert isinstance(parsed, Event)
    return parsed


def test_examples_label_a_purchase_within_the_horizon_after_the_moment():
    events = [
        ev("a1", "product_view", 0, "a"),
        ev("a2", "purchase", 24, "a"),  # exactly at the horizon: counts
        ev("b1", "product_view", 0, "b"),
        ev("b2", "purchase", 24.001, "b"),  # just after: does not
        ev("c1", "add_to_cart", 1, "c"),
        ev("c2", "purchase", 1, "c"),  # the same millisecond is not "after"
        ev("late", "product_view", 30, "d"),  # within the horizon of the end: no label yet
        ev("end", "page_view", 48, "e"),
    ]
    data = examples(events, 24 * HOUR)
    labels = dict(zip(data.event_ids, data.labels.tolist(), strict=True))
    assert labels == {"a1": 1, "b1": 0, "c1": 0}
    assert data.features.shape == (3, len(FEATURE_NAMES))


def test_train_command_writes_a_loadable_model_and_reports_holdout_auc(tmp_path, capsys):
    history = tmp_path / "history.jsonl"
    config = GeneratorConfig(customers=400, seed=4, horizon_ms=6 * 86_400_000, invalid_share=0.01)
    history.write_text("".join(line + "\n" for _, line in generate(config)))
    output = tmp_path / "models" / "p.model"
    code = cli.main(["train", "--input-file", str(history), "--output", str(output)])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    _, model = read_model(output)
    assert summary["model_version"] == model.version
    assert summary["rejected"] > 0 and summary["rejected_reasons"]
    assert 0.5 < summary["roc_auc_holdout"] <= 1.0
    assert model.header["trained"]["metrics"]["roc_auc_holdout"] == summary["roc_auc_holdout"]


def test_train_command_names_an_unreadable_history(tmp_path, capsys):
    missing = tmp_path / "nope.jsonl"
    code = cli.main(["train", "--input-file", str(missing), "--output", str(tmp_path / "m")])
    assert code == 2
    assert f"{missing}: cannot read the history" in capsys.readouterr().err

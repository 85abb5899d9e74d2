"""Propensity scoring in the Flink job: offline/online feature parity, scores and versions.

A model is trained by the project (``journey_triggers.training``) on one generated history;
the job scores another with it, in the pandas UDF, at parallelism 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.specs import FileCatalogSpec
from journey_triggers.catalog import read_catalog
from journey_triggers.config import JobConfig
from journey_triggers.events import Event, parse_event
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.conditions import uses_score
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from journey_triggers.training import examples, fit, read_history
from tests.integration.conftest import assert_same_decisions, run_on_file
from udfs.features import FEATURE_NAMES
from udfs.model import dump_model, load_model_bytes

pytestmark = pytest.mark.integration

RULES = tuple(
    item.rule for item in load_rules([Path(__file__).parent / "data" / "scoring_rules.yaml"])
)
HORIZON_MS = 86_400_000


def lines(seed: int, customers: int) -> list[str]:
    config = GeneratorConfig(
        customers=customers, seed=seed, disorder_ms=15_000, horizon_ms=5 * 86_400_000
    )
    return [line for _, line in generate(config)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    history = read_history(((0, line) for line in lines(seed=101, customers=1500)), 10_000)
    trained = fit(examples(history.events, HORIZON_MS))
    path: Path = tmp_path_factory.mktemp("model") / "propensity.model"
    path.write_bytes(dump_model(trained.classifier, {"metrics": trained.metrics}))
    return path


def test_scored_decisions_equal_reference_and_online_features_equal_offline(tmp_path, model_file):
    model = load_model_bytes(model_file.read_bytes())
    traffic = lines(seed=202, customers=300)
    valid = [e for line in traffic if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    catalog_file = tmp_path / "catalog.jsonl"
    catalog_file.write_text(
        "".join(
            json.dumps({"product_id": f"p{i:04d}", "category": "c", "price": float(i)}) + "\n"
            for i in range(0, 60, 2)
        )
    )
    catalog, _ = read_catalog(catalog_file.read_text().splitlines())
    expected = [d.to_record() for d in evaluate_rules(RULES, on_time, model=model, catalog=catalog)]
    assert {d["product"]["in_catalog"] for d in expected if d["product"]} == {True, False}
    by_rule = {r.id: [d for d in expected if d["rule_id"] == r.id] for r in RULES}
    assert all(len(found) >= 10 for found in by_rule.values()), {
        k: len(v) for k, v in by_rule.items()
    }
    # The score conditions decide: some abandoned carts are below 0.4 and do not fire.
    scores = [d["score"] for d in expected]
    assert min(scores) < 0.3 < 0.4 < max(scores)

    config = JobConfig(
        parallelism=2,
        out_of_orderness_ms=10_000,
        rules=RULES,
        model_path=str(model_file),
        catalog=FileCatalogSpec(str(catalog_file)),
    )
    out = run_on_file(traffic, tmp_path, config)
    assert_same_decisions(out["decisions"], expected)
    assert {d["model_version"] for d in out["decisions"]} == {model.version}
    assert all(0.0 <= d["score"] <= 1.0 for d in out["decisions"])

    # Offline (training) and online (the job's UDF on the profile kept in Flink state):
    # the same features for the same moments.
    offline = examples(on_time, HORIZON_MS)
    online = {
        d["explanation"]["anchor_event_id"]: d["features"]
        for d in out["decisions"]
        if d["rule_id"] == "every_moment"
    }
    compared = 0
    for event_id, row in zip(offline.event_ids, offline.features.tolist(), strict=True):
        if event_id in online:
            assert online[event_id] == dict(zip(FEATURE_NAMES, row, strict=True)), event_id
            compared += 1
    # Every training example is a moment the rule fired at: all of them are compared.
    assert compared == len(offline.event_ids) >= 3000, (compared, len(offline.event_ids))


@pytest.mark.parametrize("mode", ["process", "thread"])
def test_the_engine_scores_and_decides_score_conditions_as_the_reference(
    tmp_path, model_file, mode
):
    model = load_model_bytes(model_file.read_bytes())
    traffic = lines(seed=303, customers=200)
    valid = [e for line in traffic if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    expected = [d.to_record() for d in evaluate_rules(RULES, on_time, model=model)]
    gated = [r.id for r in RULES if uses_score(r.conditions)]
    assert gated, "the rules must have a score condition for this test to mean anything"
    ungated = [r.model_copy(update={"conditions": None}) for r in RULES]
    every = [d.to_record() for d in evaluate_rules(ungated, on_time, model=model)]
    dropped = {d["decision_id"] for d in every} - {d["decision_id"] for d in expected}
    # The score conditions decide: some candidates of the gated rules do not fire.
    assert dropped, "no candidate fell below a score condition"

    config = JobConfig(
        parallelism=2,
        out_of_orderness_ms=10_000,
        rules=RULES,
        model_path=str(model_file),
        python_execution_mode=mode,
    )
    out = run_on_file(traffic, tmp_path, config)
    assert_same_decisions(out["decisions"], expected)
    assert {d["model_version"] for d in out["decisions"]} == {model.version}


# Thread mode runs the row UDF inside the JVM; Flink runs pandas UDFs in a process anyway. The
# pandas UDF in process mode is the test above; the row UDF in process mode is a soak variant.
@pytest.mark.parametrize("mode", ["thread", pytest.param("process", marks=pytest.mark.soak)])
def test_the_row_udf_scores_exactly_as_the_reference(tmp_path, model_file, mode):
    model = load_model_bytes(model_file.read_bytes())
    traffic = lines(seed=303, customers=60)
    valid = [e for line in traffic if isinstance(e := parse_event(line), Event)]
    on_time = split_late(valid, 10_000).on_time
    expected = [d.to_record() for d in evaluate_rules(RULES, on_time, model=model)]
    assert len(expected) >= 100
    config = JobConfig(
        parallelism=2,
        out_of_orderness_ms=10_000,
        rules=RULES,
        model_path=str(model_file),
        scoring_udf="row",
        python_execution_mode=mode,
    )
    out = run_on_file(traffic, tmp_path, config, f"row-{mode}")
    assert_same_decisions(out["decisions"], expected)
    assert {d["model_version"] for d in out["decisions"]} == {model.version}

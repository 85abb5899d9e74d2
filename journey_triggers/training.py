"""Train the purchase-propensity model from historical events (``journey-triggers train``).

1. **History.** Raw records from a JSON-lines file or a Kafka topic. Each is validated like the
   job's ingest; rejected and late records are counted and left out, as the job leaves them out.
   Identities are stitched and profiles built by the reference semantics, which tests hold
   equal to the job's SQL.
2. **Examples.** One per on-time event except purchases, consent updates and erasure requests:
   the features of that moment (``udfs/features.py``, the function the job's UDF calls), and
   the label "the same customer purchased within the horizon after it" (strictly after, up to
   and including the horizon). Events closer than the horizon to the end of the history are
   left out: their label is not known yet.
3. **Holdout by time.** The latest ``holdout`` share of examples (by event time) is held out;
   the model is fitted on the earlier ones and scored on the held-out ones with ROC AUC, next
   to the AUC of a one-feature baseline (cart value) measured on the same split. The model
   that ships is the one that was measured.
4. **Artifact.** ``udfs/model.py`` writes one file versioned by its content hash.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from journey_triggers.errors import JourneyTriggersError
from journey_triggers.events import Event, parse_event
from journey_triggers.semantics.dedup import DEFAULT_DEDUP_HORIZON_MS
from journey_triggers.semantics.erasure import customer_of
from journey_triggers.semantics.evaluator import stitched_events
from journey_triggers.semantics.lateness import split_late
from journey_triggers.semantics.profile import with_profiles
from udfs.features import FEATURE_NAMES, feature_vector

NOT_EXAMPLES = frozenset({"purchase", "consent_update", "erasure_request"})


class TrainingError(JourneyTriggersError):
    """The history cannot train a model (too little of it, or only one outcome)."""


@dataclass(frozen=True)
class History:
    """On-time events of a history, with what was left out."""

    events: list[Event]
    rejected: int = 0
    late: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)


def read_history(
    records: Iterable[tuple[int, str]],
    out_of_orderness_ms: int,
    *,
    accept_unknown_types: bool = False,
) -> History:
    """Validate ``(source partition, raw record)`` pairs in arrival order; split off late ones.

    ``accept_unknown_types`` takes records of an unknown event type, as the job does with
    ``--unknown-event-types accept``.
    """
    valid: list[Event] = []
    reasons: dict[str, int] = defaultdict(int)
    for partition, raw in records:
        parsed = parse_event(
            raw, source_partition=partition, accept_unknown_types=accept_unknown_types
        )
        if isinstance(parsed, Event):
            valid.append(parsed)
        else:
            reasons[parsed.reason] += 1
    split = split_late(valid, out_of_orderness_ms)
    return History(
        events=split.on_time,
        rejected=sum(reasons.values()),
        late=len(split.late),
        rejected_reasons=dict(sorted(reasons.items())),
    )


@dataclass(frozen=True)
class Examples:
    """Training examples: one row of features per moment, its label, time and ids."""

    features: np.ndarray[Any, Any]
    labels: np.ndarray[Any, Any]
    ts_ms: np.ndarray[Any, Any]
    event_ids: list[str]
    customers: list[str]


def examples(
    events: Sequence[Event],
    horizon_ms: int,
    *,
    identity_window_ms: int = 0,
    dedup_horizon_ms: int = DEFAULT_DEDUP_HORIZON_MS,
) -> Examples:
    """Return the examples of on-time ``events`` (see the module docstring)."""
    profiled = with_profiles(stitched_events(events, identity_window_ms, dedup_horizon_ms))
    purchases: dict[str, list[int]] = defaultdict(list)
    for event in profiled:
        if event.event_type == "purchase":
            purchases[event.customer_key].append(event.ts_ms)
    for times in purchases.values():
        times.sort()
    end_ms = max((e.ts_ms for e in profiled), default=0)
    rows: list[list[float]] = []
    labels: list[int] = []
    times_ms: list[int] = []
    ids: list[str] = []
    customers: list[str] = []
    for event in profiled:
        if event.event_type in NOT_EXAMPLES or event.ts_ms > end_ms - horizon_ms:
            continue
        assert event.profile is not None
        bought = purchases.get(event.customer_key, [])
        after = bisect.bisect_right(bought, event.ts_ms)
        labels.append(int(after < len(bought) and bought[after] <= event.ts_ms + horizon_ms))
        rows.append(feature_vector(event.profile, event.event_type, event.ts_ms))
        times_ms.append(event.ts_ms)
        ids.append(event.event_id)
        customers.append(customer_of(event.customer_key))
    return Examples(
        features=np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES)),
        labels=np.array(labels, dtype=np.int64),
        ts_ms=np.array(times_ms, dtype=np.int64),
        event_ids=ids,
        customers=customers,
    )


@dataclass(frozen=True)
class TrainedModel:
    """A fitted classifier and what its training measured."""

    classifier: Any
    metrics: dict[str, Any]


def fit(data: Examples, *, holdout: float = 0.2, seed: int = 0) -> TrainedModel:
    """Fit a HistGradientBoostingClassifier on the earlier examples; measure it on the later."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    if not 0 < holdout < 1:
        msg = f"holdout must be between 0 and 1, got {holdout}"
        raise TrainingError(msg)
    count = len(data.labels)
    if count < 50:
        msg = f"only {count} examples: the history is too short for the horizon"
        raise TrainingError(msg)
    order = np.argsort(data.ts_ms, kind="stable")
    cut_ms = int(data.ts_ms[order[int(count * (1 - holdout))]])
    train = data.ts_ms < cut_ms
    test = ~train
    for name, mask in (("training", train), ("holdout", test)):
        classes = set(data.labels[mask].tolist())
        if classes != {0, 1}:
            msg = f"the {name} examples have only the outcome(s) {sorted(classes)}: need both"
            raise TrainingError(msg)
    classifier = HistGradientBoostingClassifier(
        max_iter=200, learning_rate=0.08, max_leaf_nodes=31, early_stopping=False, random_state=seed
    )
    classifier.fit(data.features[train], data.labels[train])
    scores = classifier.predict_proba(data.features[test])[:, 1]
    cart_value = data.features[test][:, FEATURE_NAMES.index("cart_value")]
    metrics = {
        "examples": count,
        "training_examples": int(train.sum()),
        "holdout_examples": int(test.sum()),
        "holdout_from_ms": cut_ms,
        "positive_rate_training": round(float(data.labels[train].mean()), 4),
        "positive_rate_holdout": round(float(data.labels[test].mean()), 4),
        "roc_auc_holdout": round(float(roc_auc_score(data.labels[test], scores)), 4),
        "roc_auc_holdout_cart_value_baseline": round(
            float(roc_auc_score(data.labels[test], cart_value)), 4
        ),
    }
    return TrainedModel(classifier=classifier, metrics=metrics)

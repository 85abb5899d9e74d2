"""The backtest's numbers: what each variant would have sent, to whom, and whether it paid off.

:func:`summarize` turns the decisions each variant wrote (``jobs/backtest_job.py`` runs them all
in one Flink job) and the history's purchases into the summary that ``backtest.json`` holds and
the HTML report (``journey_triggers.report``) draws. No Flink here.

Definitions (the README's Backtesting section says the same):

- The history ends at its last on-time event. A decision whose trigger time is after that
  (an absence whose window was still open: "no purchase within 3 days" of a view in the
  history's last hour) is **censored**: the history cannot tell whether it would have fired.
  It is left out of every number below and counted per rule under ``censored``.
- A **candidate** is one ``decision_id``. Quiet hours write a ``deferred`` record and later the
  outcome under the same id: the outcome counts, ``deferred`` only when nothing followed (the
  history ended first). A fallback is a candidate of its own (its own id).
- **Triggers over time**: candidates per rule per time bucket of their ``trigger_time_ms``
  (UTC hours for a history of up to 2 days, days up to 60 days, weeks beyond).
- **Suppression by reason**: candidates ``suppressed``, by ``reason``; ``holdout`` apart.
- **Messages per customer**: ``send`` records per customer, over the customers with at least one
  candidate (so ``0`` means triggered but never messaged).
- **Overlap**: customers with candidates of both rules; the diagonal is each rule's customers.
- **Conversion**: one unit per customer and experiment of the variant's policy. A unit is
  ``holdout`` when the experiment held the customer out, else ``treatment`` when it sent
  something of the experiment's rules. Its exposure is its first such decision's trigger time;
  it converted when the customer purchased in ``(exposure, exposure + window]``. Rates carry
  95 % Wilson intervals; the lift (treatment minus holdout) a 95 % Newcombe interval, and the
  relative lift a log-ratio interval. Without an experiment a variant has no holdout and no
  lift. On history in which nothing was sent, treatment and holdout were treated alike, so
  the lift is expected to be 0 and its interval to cover it: a calibration check. A replay of
  a period in which the live job ran its holdouts measures the real lift.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from journey_triggers.durations import format_duration_ms

SUMMARY_SCHEMA_VERSION = 1
Z_95 = 1.959963984540054
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MESSAGE_BUCKETS = 10
"""Messages per customer are counted 0, 1, ... 9 and ``10+``."""


@dataclass(frozen=True)
class Purchase:
    """A purchase in the history, by the customer the job resolved it to."""

    customer_id: str
    ts_ms: int
    value: float | None = None


def outcomes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one record per ``decision_id``: its outcome, or ``deferred`` if none followed."""
    final: dict[str, dict[str, Any]] = {}
    for record in records:
        seen = final.get(record["decision_id"])
        if seen is None or seen["status"] == "deferred":
            final[record["decision_id"]] = record
    return sorted(final.values(), key=lambda r: (r["trigger_time_ms"], r["decision_id"]))


def bucket_size_ms(first_ms: int, last_ms: int) -> int:
    """Return the time bucket for a history spanning ``[first_ms, last_ms]``."""
    span = last_ms - first_ms
    if span <= 2 * DAY_MS:
        return HOUR_MS
    if span <= 60 * DAY_MS:
        return DAY_MS
    return 7 * DAY_MS


def wilson(successes: int, trials: int) -> tuple[float, float]:
    """Return the 95 % Wilson score interval of a proportion (``(0, 1)`` without trials)."""
    if trials == 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1 + Z_95**2 / trials
    centre = (p + Z_95**2 / (2 * trials)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / trials + Z_95**2 / (4 * trials**2)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Return the 95 % Newcombe (hybrid score) interval of ``k1/n1 - k2/n2``."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1)
    l2, u2 = wilson(k2, n2)
    d = p1 - p2
    return (d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2))


def relative_interval(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float] | None:
    """Return the 95 % interval of ``(k1/n1) / (k2/n2) - 1`` (log ratio); None if a rate is 0."""
    if k1 == 0 or k2 == 0:
        return None
    ratio = (k1 / n1) / (k2 / n2)
    se = math.sqrt(1 / k1 - 1 / n1 + 1 / k2 - 1 / n2)
    return (ratio * math.exp(-Z_95 * se) - 1, ratio * math.exp(Z_95 * se) - 1)


def _rate(converted: int, units: int) -> dict[str, Any]:
    low, high = wilson(converted, units)
    return {
        "units": units,
        "converted": converted,
        "rate": converted / units if units else None,
        "ci95": [low, high],
    }


def conversion(
    records: list[dict[str, Any]], purchases: dict[str, list[int]], window_ms: int
) -> dict[str, Any]:
    """Return treatment and holdout conversion, and the lift, of one variant's outcomes."""
    exposures: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for record in records:
        experiment = record.get("experiment")
        if not experiment or record["status"] not in ("send", "holdout"):
            continue
        group = "holdout" if record["status"] == "holdout" else "treatment"
        unit = exposures[(record["customer_id"], experiment)]
        unit[group] = min(unit.get(group, record["trigger_time_ms"]), record["trigger_time_ms"])
    counts = {"treatment": [0, 0], "holdout": [0, 0]}
    for (customer, _), unit in exposures.items():
        group = "holdout" if "holdout" in unit else "treatment"
        exposed = unit[group]
        bought = any(exposed < ts <= exposed + window_ms for ts in purchases.get(customer, ()))
        counts[group][0] += 1
        counts[group][1] += int(bought)
    (n1, k1), (n2, k2) = counts["treatment"], counts["holdout"]
    result: dict[str, Any] = {"treatment": _rate(k1, n1), "holdout": _rate(k2, n2), "lift": None}
    if n1 and n2:
        low, high = newcombe(k1, n1, k2, n2)
        relative = relative_interval(k1, n1, k2, n2)
        result["lift"] = {
            "absolute": k1 / n1 - k2 / n2,
            "ci95": [low, high],
            "relative": (k1 / n1) / (k2 / n2) - 1 if k2 else None,
            "relative_ci95": list(relative) if relative else None,
        }
    elif not exposures:
        result["note"] = "no experiment decisions: the policy has no experiment with a holdout"
    else:
        result["note"] = "no holdout decisions: too few customers, or a holdout of 0 %"
    return result


def _messages(records: list[dict[str, Any]]) -> dict[str, Any]:
    sends: Counter[str] = Counter()
    customers = set()
    for record in records:
        customers.add(record["customer_id"])
        if record["status"] == "send":
            sends[record["customer_id"]] += 1
    per_customer = sorted(sends.get(c, 0) for c in customers)
    histogram = Counter(min(n, MESSAGE_BUCKETS) for n in per_customer)
    labels = [str(n) for n in range(MESSAGE_BUCKETS)] + [f"{MESSAGE_BUCKETS}+"]
    p95 = per_customer[max(0, math.ceil(0.95 * len(per_customer)) - 1)] if per_customer else 0
    return {
        "customers": len(customers),
        "messaged": sum(1 for n in per_customer if n),
        "histogram": {label: histogram.get(n, 0) for n, label in enumerate(labels)},
        "mean": sum(per_customer) / len(per_customer) if per_customer else 0.0,
        "p95": p95,
        "max": per_customer[-1] if per_customer else 0,
    }


def _overlap(records: list[dict[str, Any]], rules: list[str]) -> dict[str, Any]:
    customers: dict[str, set[str]] = {rule: set() for rule in rules}
    for record in records:
        customers.setdefault(record["rule_id"], set()).add(record["customer_id"])
    names = [rule for rule in rules if customers[rule]]
    return {
        "rules": names,
        "customers": [[len(customers[a] & customers[b]) for b in names] for a in names],
    }


def summarize_variant(
    name: str,
    records: list[dict[str, Any]],
    rules: list[str],
    purchases: dict[str, list[int]],
    *,
    window_ms: int,
    first_bucket_ms: int,
    bucket_ms: int,
    buckets: int,
    horizon_ms: int | None = None,
) -> dict[str, Any]:
    """Return one variant's part of the summary (see the module's definitions)."""
    final = outcomes(records)
    censored: Counter[str] = Counter()
    if horizon_ms is not None:
        censored.update(r["rule_id"] for r in final if r["trigger_time_ms"] > horizon_ms)
        final = [r for r in final if r["trigger_time_ms"] <= horizon_ms]
    per_rule: dict[str, Counter[str]] = {rule: Counter() for rule in rules}
    over_time: dict[str, list[int]] = {rule: [0] * buckets for rule in rules}
    reasons: Counter[str] = Counter()
    for record in final:
        rule = record["rule_id"]
        per_rule.setdefault(rule, Counter())["candidates"] += 1
        per_rule[rule][record["status"]] += 1
        slot = (record["trigger_time_ms"] - first_bucket_ms) // bucket_ms
        over_time.setdefault(rule, [0] * buckets)[slot] += 1
        if record["status"] == "suppressed":
            reasons[record.get("reason") or "unknown"] += 1
    statuses = Counter(record["status"] for record in final)
    return {
        "name": name,
        "records": len(records),
        "candidates": len(final),
        "censored": sum(censored.values()),
        "censored_by_rule": dict(sorted(censored.items())),
        "by_status": {s: statuses.get(s, 0) for s in ("send", "suppressed", "holdout", "deferred")},
        "per_rule": {
            rule: {
                key: counts.get(key, 0)
                for key in ("candidates", "send", "suppressed", "holdout", "deferred")
            }
            for rule, counts in per_rule.items()
        },
        "triggers_over_time": over_time,
        "suppressed_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "messages_per_customer": _messages(final),
        "overlap": _overlap(final, list(per_rule)),
        "conversion": conversion(final, purchases, window_ms),
    }


def summarize(
    variants: list[tuple[str, list[str], list[dict[str, Any]]]],
    purchases: list[Purchase],
    *,
    window_ms: int,
    history: dict[str, Any],
    horizon_ms: int | None = None,
) -> dict[str, Any]:
    """Return the backtest summary of ``(name, rule ids, records)`` per variant.

    ``history`` describes the input (its source, range, events, dead letters, late events),
    and goes into the summary as it is. ``horizon_ms`` is the history's last event time:
    later triggers are censored (``None``: none is).
    """
    times = [
        r["trigger_time_ms"]
        for _, _, records in variants
        for r in records
        if horizon_ms is None or r["trigger_time_ms"] <= horizon_ms
    ]
    first, last = (min(times), max(times)) if times else (0, 0)
    bucket_ms = bucket_size_ms(first, last)
    first_bucket = first - first % bucket_ms
    buckets = (last - first_bucket) // bucket_ms + 1
    by_customer: dict[str, list[int]] = defaultdict(list)
    for purchase in purchases:
        by_customer[purchase.customer_id].append(purchase.ts_ms)
    values = [p.value for p in purchases if p.value is not None]
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "history": {
            **history,
            "purchases": len(purchases),
            "purchase_value": round(sum(values), 2),
            "purchasing_customers": len(by_customer),
        },
        "horizon_ms": horizon_ms,
        "attribution_window_ms": window_ms,
        "attribution_window": format_duration_ms(window_ms),
        "bucket_ms": bucket_ms,
        "bucket_starts_ms": [first_bucket + i * bucket_ms for i in range(buckets)],
        "variants": [
            summarize_variant(
                name,
                records,
                rules,
                by_customer,
                window_ms=window_ms,
                first_bucket_ms=first_bucket,
                bucket_ms=bucket_ms,
                buckets=buckets,
                horizon_ms=horizon_ms,
            )
            for name, rules, records in variants
        ],
    }

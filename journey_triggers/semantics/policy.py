"""The decision policy engine: one customer's caps, cooldowns, consent and pending work.

The job runs it in a keyed Python function (``jobs/policy_stage.py``) and the reference
evaluator runs the same code on lists, so the two cannot drift apart.

Inputs are *entries*, each with an event time ``at``:

- ``candidate``: a detected trigger (the decision record from the rules) with its context:
  the anchor's time zone, device type and channel, and the rule's priority;
- ``consent``: a ``consent_update`` event's per-channel flags;
- ``erasure``: an ``erasure_request`` event;
- ``feedback``: a delivery-feedback event (``email_bounced``, ``push_failed``, ``sms_failed``);
- ``release``: a decision deferred by quiet hours, due at the end of them.

An entry is processed once event time has passed ``at + priority_window``, in the order
(``at``, kind, tie-breaker): erasures, then consent, feedback, releases and candidates at the
same millisecond; candidates by priority (highest first), rule id and decision id. Every
entry that can be known by then is known (the watermark guarantees it), so the decisions do
not depend on arrival order, parallelism or execution mode.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from journey_triggers.events import format_timestamp_ms, load_json
from journey_triggers.policy import FEEDBACK_CHANNEL, Experiment, Policy, PolicyBook, Variant

STATUS_SEND = "send"
STATUS_SUPPRESSED = "suppressed"
STATUS_HOLDOUT = "holdout"
STATUS_DEFERRED = "deferred"

REASON_RULE_DISABLED = "rule_disabled"
REASON_LOWER_PRIORITY = "lower_priority"
REASON_COOLDOWN = "cooldown"
REASON_NO_CONSENT = "no_consent"
REASON_NO_CHANNEL = "no_eligible_channel"
REASON_QUIET_HOURS = "quiet_hours"
REASON_FREQUENCY_CAP = "frequency_cap"
REASON_HOLDOUT = "holdout"
REASON_NO_FALLBACK = "no_fallback_channel"

_RANK = {"erasure": 0, "consent": 1, "feedback": 2, "release": 3, "candidate": 4}
_APP_DEVICES = ("mobile", "tablet")
_DAY_MS = 86_400_000


@lru_cache(maxsize=1024)
def _zone(name: str | None, default: str) -> ZoneInfo:
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


def local_time(time_ms: int, zone: ZoneInfo) -> datetime:
    """Return the wall-clock time at ``time_ms`` in ``zone``."""
    return datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(zone)


def assign(customer: str, experiment: Experiment) -> tuple[Variant, bool]:
    """Return the customer's arm of ``experiment`` and whether they are held out.

    SHA-256 of ``customer|experiment id``: its first 8 bytes place the customer in the
    holdout percentage, the next 8 pick the arm by weight. The same customer always gets the
    same arm, in every run, and arms of different experiments are independent.
    """
    digest = hashlib.sha256(f"{customer}|{experiment.id}".encode()).digest()
    held_out = int.from_bytes(digest[:8], "big") * 100 < experiment.holdout_pct * 2**64
    pick = int.from_bytes(digest[8:16], "big") % sum(v.weight for v in experiment.variants)
    for variant in experiment.variants:
        if pick < variant.weight:
            return variant, held_out
        pick -= variant.weight
    msg = "unreachable: the weights cover the pick"
    raise AssertionError(msg)  # pragma: no cover


def fallback_id(decision_id: str, channel: str) -> str:
    """Return the id of the fallback send of ``decision_id`` on ``channel``."""
    return hashlib.sha256(f"{decision_id}|fallback|{channel}".encode()).hexdigest()[:32]


def in_quiet_hours(policy: Policy, local: datetime) -> bool:
    """Return whether the local wall time falls in the policy's quiet hours."""
    start, end = policy.quiet_start_minute, policy.quiet_end_minute
    if start is None or end is None:
        return False
    minute = local.hour * 60 + local.minute
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def quiet_hours_end_ms(policy: Policy, time_ms: int, zone: ZoneInfo) -> int:
    """Return the first instant after ``time_ms`` at which the quiet hours end (local)."""
    assert policy.quiet_end_minute is not None
    end = time(policy.quiet_end_minute // 60, policy.quiet_end_minute % 60)
    day: date = local_time(time_ms, zone).date()
    for offset in range(3):
        wall = datetime.combine(day + timedelta(days=offset), end, tzinfo=zone)
        at = int(wall.timestamp() * 1000)
        if at > time_ms:
            return at
    msg = "unreachable: a quiet-hours end lies within two days"
    raise AssertionError(msg)  # pragma: no cover


def empty_state() -> dict[str, Any]:
    """Return the state of a customer the policy has not seen (or just erased)."""
    return {"queue": [], "sends": [], "cooldowns": {}, "consent": {}, "recent": [], "pending": {}}


def _sort_key(entry: dict[str, Any]) -> tuple[int, int, int, str, str]:
    if entry["kind"] == "candidate":
        record = entry["record"]
        return (
            entry["at"],
            _RANK["candidate"],
            -entry["context"]["priority"],
            record["rule_id"],
            record["decision_id"],
        )
    return (entry["at"], _RANK[entry["kind"]], 0, entry["id"], "")


class CustomerPolicy:
    """The policy state of one customer and the steps that change it.

    ``state`` is JSON-compatible (the job keeps it in one ValueState, so an erasure request
    clears it in one step and a checkpoint stores it as it is).
    """

    def __init__(self, customer: str, state: dict[str, Any] | None = None) -> None:
        self.customer = customer
        self.state = state if state is not None else empty_state()

    # -- inputs ----------------------------------------------------------------------------

    def add(self, entry: dict[str, Any], book: PolicyBook) -> int:
        """Queue ``entry``; return the event time at which it is due."""
        entry["due"] = entry["at"] + book.at(entry["at"]).priority_window_ms
        self.state["queue"].append(entry)
        return int(entry["due"])

    def advance(self, now: int, book: PolicyBook) -> tuple[list[dict[str, Any]], list[int]]:
        """Process every entry due at or before ``now``, in order.

        Return the output records (decisions and erasure confirmations) and the due times of
        entries queued meanwhile (releases of deferred decisions).
        """
        outputs: list[dict[str, Any]] = []
        new_dues: list[int] = []
        while True:
            queue = self.state["queue"]  # an erasure replaces the state: read it every time
            due = [e for e in queue if e["due"] <= now]
            if not due:
                return outputs, new_dues
            entry = min(due, key=_sort_key)
            queue.remove(entry)
            policy = book.at(entry["at"])
            kind = entry["kind"]
            if kind == "erasure":
                outputs.append(self._erase(entry))
            elif kind == "consent":
                self.state["consent"].update(entry["consent"])
            elif kind == "feedback":
                outputs.extend(self._feedback(entry, policy))
            elif kind == "release":
                outputs.append(self._release(entry, policy))
            else:
                outputs.extend(self._candidate(entry, policy, book, new_dues))

    def pending_dues(self) -> list[int]:
        """Return the due times of the queued entries (to re-register timers)."""
        return sorted({int(e["due"]) for e in self.state["queue"]})

    # -- the steps ---------------------------------------------------------------------------

    def _erase(self, entry: dict[str, Any]) -> dict[str, Any]:
        at = entry["at"]
        # Deferred decisions awaiting release, and candidates anchored before the erasure, are
        # built from erased data: they go with the rest.
        later = [
            e
            for e in self.state["queue"]
            if e["at"] > at
            and e["kind"] != "release"
            and not (e["kind"] == "candidate" and e["context"]["anchor_ms"] < at)
        ]
        forgotten = {
            "sends": len(self.state["sends"]),
            "cooldowns": len(self.state["cooldowns"]),
            "consent": len(self.state["consent"]),
            "pending_fallbacks": len(self.state["pending"]),
            "queued": len(self.state["queue"]) - len(later),
        }
        self.state = empty_state()
        self.state["queue"] = later
        # The one fact kept: when the customer's data was erased. A candidate anchored before
        # it that arrives later is discarded too.
        self.state["erased_at"] = at
        return {
            "type": "erasure",
            "customer_id": self.customer,
            "erasure_event_id": entry["id"],
            "erasure_time_ms": entry["at"],
            "erasure_time": format_timestamp_ms(entry["at"]),
            "forgotten": forgotten,
        }

    def _consented(self, channel: str, policy: Policy) -> bool:
        consent = self.state["consent"]
        return bool(consent[channel]) if channel in consent else policy.consent_default(channel)

    def _context_allows(self, channel: str, context: dict[str, Any], at: int, p: Policy) -> bool:
        """Push needs the customer active in the app on a phone or tablet (the anchor)."""
        if channel != "push":
            return True
        return (
            context.get("device_type") in _APP_DEVICES
            and context.get("channel") == "app"
            and at - int(context["anchor_ms"]) <= p.push_activity_ms
        )

    def _prune(self, now: int, policy: Policy) -> None:
        windows = [c.window_ms or 2 * _DAY_MS for c in policy.caps]
        keep = max(windows, default=0) + _DAY_MS
        self.state["sends"] = [s for s in self.state["sends"] if s[0] > now - keep]
        window = policy.priority_window_ms
        self.state["recent"] = [r for r in self.state["recent"] if r[0] >= now - window]
        self.state["pending"] = {
            k: v
            for k, v in self.state["pending"].items()
            if v["sent_ms"] >= now - policy.fallback_within_ms
        }
        cooldowns = [r.cooldown_ms for _, r in policy.rules if r.cooldown_ms]
        forever = any(r.correlate_on and not r.cooldown_ms for _, r in policy.rules)
        if not forever:
            longest = max(cooldowns, default=0)
            self.state["cooldowns"] = {
                k: t for k, t in self.state["cooldowns"].items() if t > now - longest
            }

    def _decided(
        self,
        record: dict[str, Any],
        policy: Policy,
        at: int,
        status: str,
        reason: str | None = None,
        detail: str | None = None,
    ) -> dict[str, Any]:
        out = dict(record)
        out.update(
            type="decision",
            status=status,
            reason=reason,
            reason_detail=detail,
            policy_version=policy.version,
            emit_time_ms=at,
            emit_time=format_timestamp_ms(at),
        )
        out.setdefault("channel", None)
        out.setdefault("fallback_chain", [])
        out.setdefault("deliver_at", None)
        out.setdefault("fallback_of", None)
        return out

    def _arm(self, record: dict[str, Any], policy: Policy) -> tuple[bool, bool] | None:
        """Fill in the experiment fields; return (applies, held out), None if not in one."""
        found = policy.experiment_of(record["rule_id"])
        record.setdefault("experiment", None)
        record.setdefault("variant", None)
        record.setdefault("content_key", None)
        if found is None:
            return None
        experiment, variant = found
        mine, held_out = assign(self.customer, experiment)
        record.update(experiment=experiment.id, variant=mine.name, content_key=mine.content_key)
        if mine.channels:
            record["channels"] = list(mine.channels)
        return mine.rule == variant.rule, held_out

    def _candidate(
        self, entry: dict[str, Any], policy: Policy, book: PolicyBook, new_dues: list[int]
    ) -> list[dict[str, Any]]:
        record = dict(entry["record"])
        context = entry["context"]
        at = int(entry["at"])
        if int(context["anchor_ms"]) < self.state.get("erased_at", -1):
            return []
        rule = record["rule_id"]
        rule_policy = policy.rule(rule)
        priority = rule_policy.priority if rule_policy.priority is not None else context["priority"]
        self._prune(at, policy)
        if not rule_policy.enabled:
            self._arm(record, policy)
            return [self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_RULE_DISABLED)]
        arm = self._arm(record, policy)
        if arm is not None and not arm[0]:
            return []  # the customer is in another arm of the experiment: not their trigger
        held_out = arm is not None and arm[1]

        window = policy.priority_window_ms
        competitors = [r for r in self.state["recent"] if r[2] != rule and abs(r[0] - at) <= window]
        for other in self.state["queue"]:
            if other["kind"] == "candidate" and other["at"] - at <= window:
                other_rule = other["record"]["rule_id"]
                other_policy = policy.rule(other_rule)
                if other_rule == rule or not other_policy.enabled:
                    continue
                other_arm = self._arm(dict(other["record"]), policy)
                if other_arm is not None and not other_arm[0]:
                    continue
                other_priority = (
                    other_policy.priority
                    if other_policy.priority is not None
                    else other["context"]["priority"]
                )
                competitors.append([other["at"], other_priority, other_rule])
        self.state["recent"].append([at, priority, rule])
        winners = sorted((c for c in competitors if c[1] > priority), key=lambda c: (-c[1], c[2]))
        if winners:
            winner = winners[0]
            detail = f"{winner[2]} (priority {winner[1]}) fired within the priority window"
            return [
                self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_LOWER_PRIORITY, detail)
            ]

        key = rule
        if rule_policy.correlate_on:
            value = (record.get("payload") or {}).get(rule_policy.correlate_on)
            key = f"{rule}|{value}"
        last = self.state["cooldowns"].get(key)
        if last is not None and (
            rule_policy.cooldown_ms is None or at - last < rule_policy.cooldown_ms
        ):
            if rule_policy.cooldown_ms is not None or rule_policy.correlate_on:
                detail = f"{key} was last acted on at {format_timestamp_ms(last)}"
                return [
                    self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_COOLDOWN, detail)
                ]
        chosen = self._channels(record, context, at, policy)
        if isinstance(chosen, str):
            return [self._decided(record, policy, at, STATUS_SUPPRESSED, chosen)]

        zone = _zone(context.get("time_zone"), policy.default_time_zone)
        if in_quiet_hours(policy, local_time(at, zone)):
            if rule_policy.quiet_hours == "suppress":
                return [self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_QUIET_HOURS)]
            release = quiet_hours_end_ms(policy, at, zone)
            self.state["cooldowns"][key] = at
            record["deliver_at"] = format_timestamp_ms(release)
            deferred = self._decided(record, policy, at, STATUS_DEFERRED, REASON_QUIET_HOURS)
            new_dues.append(
                self.add(
                    {
                        "kind": "release",
                        "at": release,
                        "id": record["decision_id"],
                        "record": record,
                        "context": context,
                        "held_out": held_out,
                        "cooldown_key": key,
                    },
                    book,
                )
            )
            return [deferred]
        return [self._deliver(record, chosen, at, policy, held_out, key, zone)]

    def _channels(
        self, record: dict[str, Any], context: dict[str, Any], at: int, policy: Policy
    ) -> list[str] | str:
        """Return the eligible channels in preference order, or the reason there are none."""
        consented = [c for c in record["channels"] if self._consented(c, policy)]
        if not consented:
            return REASON_NO_CONSENT
        eligible = [c for c in consented if self._context_allows(c, context, at, policy)]
        return eligible or REASON_NO_CHANNEL

    def _capped(self, channel: str | None, at: int, zone: ZoneInfo, policy: Policy) -> str | None:
        """Return the cap a send on ``channel`` at ``at`` would break (None: within caps)."""
        today = local_time(at, zone).date().isoformat()
        for cap in policy.caps:
            if cap.channel != channel:
                continue
            sends = [s for s in self.state["sends"] if channel is None or s[1] == channel]
            if cap.window_ms is None:
                count = sum(1 for s in sends if s[2] == today)
            else:
                count = sum(1 for s in sends if s[0] > at - cap.window_ms)
            if count >= cap.max:
                return cap.describe()
        return None

    def _deliver(
        self,
        record: dict[str, Any],
        eligible: list[str],
        at: int,
        policy: Policy,
        held_out: bool,
        key: str,
        zone: ZoneInfo,
    ) -> dict[str, Any]:
        broken = self._capped(None, at, zone, policy)
        if broken is not None:
            return self._decided(
                record, policy, at, STATUS_SUPPRESSED, REASON_FREQUENCY_CAP, broken
            )
        allowed = [c for c in eligible if self._capped(c, at, zone, policy) is None]
        if not allowed:
            detail = "; ".join(str(self._capped(c, at, zone, policy)) for c in eligible)
            return self._decided(
                record, policy, at, STATUS_SUPPRESSED, REASON_FREQUENCY_CAP, detail
            )
        record["channel"], record["fallback_chain"] = allowed[0], allowed[1:]
        self.state["cooldowns"][key] = at
        if held_out:
            return self._decided(record, policy, at, STATUS_HOLDOUT, REASON_HOLDOUT)
        day = local_time(at, zone).date().isoformat()
        self.state["sends"].append([at, allowed[0], day])
        if allowed[1:]:
            self.state["pending"][record["decision_id"]] = {
                "sent_ms": at,
                "channel": allowed[0],
                "record": record,
            }
        return self._decided(record, policy, at, STATUS_SEND)

    def _release(self, entry: dict[str, Any], policy: Policy) -> dict[str, Any]:
        record = dict(entry["record"])
        record["deliver_at"] = None
        at = int(entry["at"])
        self._prune(at, policy)
        if not policy.rule(record["rule_id"]).enabled:
            return self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_RULE_DISABLED)
        chosen = self._channels(record, entry["context"], at, policy)
        if isinstance(chosen, str):
            return self._decided(record, policy, at, STATUS_SUPPRESSED, chosen)
        zone = _zone(entry["context"].get("time_zone"), policy.default_time_zone)
        held_out, key = entry["held_out"], entry["cooldown_key"]
        return self._deliver(record, chosen, at, policy, held_out, key, zone)

    def _feedback(self, entry: dict[str, Any], policy: Policy) -> list[dict[str, Any]]:
        at = int(entry["at"])
        self._prune(at, policy)
        pending = self.state["pending"].get(entry["decision_id"])
        failed = FEEDBACK_CHANNEL[entry["event_type"]]
        if pending is None or pending["channel"] != failed:
            return []  # not a send this job made on that channel, or its window has passed
        original = pending["record"]
        chain = [
            c for c in original["fallback_chain"] if self._consented(c, policy) and c != failed
        ]
        record = dict(original)
        record.update(
            decision_id=fallback_id(original["decision_id"], chain[0] if chain else failed),
            fallback_of=original.get("fallback_of") or original["decision_id"],
            channel=chain[0] if chain else None,
            fallback_chain=chain[1:],
        )
        del self.state["pending"][entry["decision_id"]]
        detail = f"{entry['event_type']} ({entry['id']})"
        if not chain:
            return [
                self._decided(record, policy, at, STATUS_SUPPRESSED, REASON_NO_FALLBACK, detail)
            ]
        if chain[1:]:
            self.state["pending"][record["decision_id"]] = {
                "sent_ms": at,
                "channel": chain[0],
                "record": record,
            }
        return [self._decided(record, policy, at, STATUS_SEND, f"fallback:{failed}", detail)]


POLICY_EVENT_TYPES = ("consent_update", "erasure_request", *FEEDBACK_CHANNEL)
"""The event types the policy stage reads, besides the candidate triggers."""


def entry_of(kind: str, at_ms: int, body: str) -> dict[str, Any] | None:
    """Return the engine's entry for one policy input row (None: nothing for the policy).

    ``kind`` is ``candidate`` or the event type; ``body`` is the candidate's JSON or the
    event's record as received.
    """
    data = load_json(body)  # deep records pass the ingest: never a RecursionError here
    if kind == "candidate":
        return {
            "kind": "candidate",
            "at": at_ms,
            "record": data["record"],
            "context": data["context"],
        }
    properties = data.get("properties") if isinstance(data.get("properties"), dict) else {}
    entry: dict[str, Any] = {"at": at_ms, "id": data["event_id"]}
    if kind == "consent_update":
        consent = properties.get("consent")
        flags = consent if isinstance(consent, dict) else {}
        entry.update(
            kind="consent",
            consent={str(c): v for c, v in flags.items() if isinstance(v, bool)},
        )
    elif kind == "erasure_request":
        entry["kind"] = "erasure"
    else:
        decision = properties.get("decision_id")
        if not isinstance(decision, str):
            return None  # not reached: ingest dead-letters it (missing_decision_id)
        entry.update(kind="feedback", event_type=kind, decision_id=decision)
    return entry


def apply_policy(
    book: PolicyBook,
    entries: Iterable[tuple[str, dict[str, Any]]],
) -> list[dict[str, Any]]:
    """Return every output of the policy over ``(customer, entry)`` pairs (the reference)."""
    customers: dict[str, CustomerPolicy] = {}
    for customer, entry in entries:
        engine = customers.setdefault(customer, CustomerPolicy(customer))
        engine.add(dict(entry), book)
    outputs: list[dict[str, Any]] = []
    for engine in customers.values():
        records, _ = engine.advance(2**62, book)
        outputs.extend(records)
    return outputs

from typing import Any

import pytest

from journey_triggers.decisions import decision_id
from journey_triggers.rules.builtin import cart_abandonment
from journey_triggers.rules.model import Predicate, Rule
from journey_triggers.semantics.conditions import evaluate_predicate
from journey_triggers.semantics.evaluator import evaluate_rules
from journey_triggers.semantics.lateness import split_late
from tests.conftest import MINUTE, T0

CART = cart_abandonment()  # add_to_cart, no purchase within 15m, latest add only


def rule(trigger: dict[str, Any], **extra: Any) -> Rule:
    return Rule.model_validate(
        {
            "id": "r",
            "version": 2,
            "description": "test rule",
            "trigger": trigger,
            "output": {"action": "act", "channels": ["email"]},
            **extra,
        }
    )


def absence(**overrides: Any) -> Rule:
    trigger = {
        "kind": "absence",
        "anchor": {"event": "add_to_cart"},
        "absent": {"event": "purchase"},
        "within": "15m",
    }
    return rule({**trigger, **overrides})


def fired_anchor_ids(events, rules=(CART,)):
    return sorted(d.explanation["anchor_event_id"] for d in evaluate_rules(rules, events))


def test_abandonment_fires_when_no_purchase_within_window(make_event):
    add = make_event("add_to_cart", 0, product_id="p1", cart_value=42.5)
    [decision] = evaluate_rules([CART], [add])
    assert decision.trigger_time_ms == T0 + 15 * MINUTE
    assert decision.customer_id == "c1"
    assert decision.decision_id == decision_id("cart_abandonment", 1, "c1", add.event_id)
    assert decision.action == "cart_reminder"
    assert decision.channels == ["push", "email"]
    assert decision.payload == {"product_id": "p1", "cart_value": "42.5"}
    assert decision.explanation["summary"] == (
        f"add_to_cart {add.event_id} at 2026-01-01T00:00:00.000Z had no purchase within 15m"
    )


def test_purchase_exactly_at_deadline_counts_as_purchase(make_event):
    events = [make_event("add_to_cart", 0), make_event("purchase", 15)]
    assert fired_anchor_ids(events) == []


def test_purchase_one_millisecond_after_deadline_does_not_cancel(make_event):
    add = make_event("add_to_cart", 0)
    late_buy = make_event("purchase", 15 + 1 / MINUTE)
    assert fired_anchor_ids([add, late_buy]) == [add.event_id]


def test_purchase_in_same_millisecond_as_add_cancels(make_event):
    assert fired_anchor_ids([make_event("add_to_cart", 3), make_event("purchase", 3)]) == []


def test_purchase_before_the_add_does_not_cancel(make_event):
    buy = make_event("purchase", 0)
    add = make_event("add_to_cart", 1)
    assert fired_anchor_ids([buy, add]) == [add.event_id]


def test_two_carts_give_two_triggers(make_event):
    first = make_event("add_to_cart", 0)
    second = make_event("add_to_cart", 60)
    assert fired_anchor_ids([first, second]) == sorted([first.event_id, second.event_id])


def test_adds_within_window_give_one_trigger_timed_from_last_add(make_event):
    adds = [make_event("add_to_cart", m) for m in (0, 5, 12)]
    [decision] = evaluate_rules([CART], adds)
    assert decision.explanation["anchor_event_id"] == adds[-1].event_id
    assert decision.trigger_time_ms == T0 + 27 * MINUTE


def test_every_add_fires_when_latest_only_is_off(make_event):
    adds = [make_event("add_to_cart", m) for m in (0, 5)]
    assert fired_anchor_ids(adds, [absence(latest_only=False)]) == sorted(a.event_id for a in adds)


def test_same_timestamp_adds_are_tie_broken_by_event_id(make_event):
    a = make_event("add_to_cart", 0, event_id="a")
    b = make_event("add_to_cart", 0, event_id="b")
    assert fired_anchor_ids([b, a]) == ["b"]


def test_exact_duplicate_add_does_not_supersede_itself(make_event):
    a = make_event("add_to_cart", 0, event_id="a")
    duplicate = make_event("add_to_cart", 0, event_id="a")
    assert fired_anchor_ids([a, duplicate]) == ["a"]  # the copy is dropped (semantics.dedup)
    # Without deduplication, the rule itself lets neither copy supersede the other.
    decisions = evaluate_rules([CART], [a, duplicate], dedup_horizon_ms=0)
    assert sorted(d.explanation["anchor_event_id"] for d in decisions) == ["a", "a"]


def test_purchase_of_another_customer_does_not_cancel(make_event):
    add = make_event("add_to_cart", 0, customer="c1")
    assert fired_anchor_ids([add, make_event("purchase", 1, customer="c2")]) == [add.event_id]


def test_correlated_absence_needs_the_same_product(make_event):
    viewed_not_bought = absence(
        anchor={"event": "product_view"}, within="3d", correlate_on=["properties.product_id"]
    )
    view_a = make_event("product_view", 0, product_id="A")
    view_b = make_event("product_view", 1, product_id="B")
    buy_a = make_event("purchase", 60, product_id="A")
    no_product = make_event("product_view", 2)
    events = [view_a, view_b, buy_a, no_product]
    assert fired_anchor_ids(events, [viewed_not_bought]) == [view_b.event_id]


def test_latest_only_supersedes_within_the_same_correlation_only(make_event):
    form = absence(
        anchor={"event": "form_started"},
        absent={"event": "form_submitted"},
        within="10m",
        correlate_on=["properties.form_id"],
    )
    f1 = make_event("form_started", 0, form_id="newsletter")
    f2 = make_event("form_started", 2, form_id="contact")
    f1_again = make_event("form_started", 4, form_id="newsletter")
    submitted = make_event("form_submitted", 5, form_id="contact")
    assert fired_anchor_ids([f1, f2, f1_again, submitted], [form]) == [f1_again.event_id]


def test_anchor_and_absent_where_filters_apply(make_event):
    big_cart = absence(
        anchor={
            "event": "add_to_cart",
            "where": {"field": "properties.cart_value", "op": ">", "value": 100},
        },
        absent={
            "event": "purchase",
            "where": {"field": "properties.items", "op": ">=", "value": 1},
        },
    )
    small = make_event("add_to_cart", 0, cart_value=20)
    big = make_event("add_to_cart", 30, cart_value=200)
    empty_purchase = make_event("purchase", 31, items=0)
    assert fired_anchor_ids([small, big, empty_purchase], [big_cart]) == [big.event_id]


def test_rule_conditions_are_checked_on_the_anchor(make_event):
    mobile_only = absence()
    mobile_only = rule(
        mobile_only.trigger.model_dump(by_alias=True),
        conditions={"field": "properties.device", "op": "=", "value": "mobile"},
    )
    desktop = make_event("add_to_cart", 0, device="desktop")
    mobile = make_event("add_to_cart", 60, device="mobile")
    assert fired_anchor_ids([desktop, mobile], [mobile_only]) == [mobile.event_id]


def test_event_rule_fires_on_each_matching_event_at_its_time(make_event):
    high_value = rule(
        {
            "kind": "event",
            "on": {
                "event": "add_to_cart",
                "where": {"field": "properties.cart_value", "op": ">", "value": 100},
            },
        }
    )
    low = make_event("add_to_cart", 0, cart_value=50)
    high = make_event("add_to_cart", 1, cart_value=150)
    [decision] = evaluate_rules([high_value], [low, high])
    assert decision.explanation["anchor_event_id"] == high.event_id
    assert decision.trigger_time_ms == high.ts_ms
    assert decision.explanation["kind"] == "event"
    assert decision.rule_version == 2


def test_disabled_rules_do_not_fire(make_event):
    disabled = rule({"kind": "event", "on": {"event": "login"}}, enabled=False)
    assert evaluate_rules([disabled], [make_event("login", 0)]) == []


def test_out_of_order_events_within_bound_give_the_in_order_result(make_event):
    add = make_event("add_to_cart", 10)
    buy = make_event("purchase", 12)
    view = make_event("page_view", 13)
    arrival = [view, buy, add]  # the add arrives 3 minutes behind the view, bound is 5 minutes
    split = split_late(arrival, out_of_orderness_ms=5 * MINUTE)
    assert split.late == []
    assert fired_anchor_ids(split.on_time) == fired_anchor_ids([add, buy, view]) == []


def test_purchase_later_than_bound_is_late_and_does_not_cancel(make_event):
    add = make_event("add_to_cart", 0)
    clock = make_event("page_view", 20)
    late_buy = make_event("purchase", 5)  # 15 minutes behind the partition's maximum
    split = split_late([add, clock, late_buy], out_of_orderness_ms=5 * MINUTE)
    assert split.late == [late_buy]
    assert fired_anchor_ids(split.on_time) == [add.event_id]


def test_event_exactly_at_bound_is_on_time(make_event):
    clock = make_event("page_view", 10)
    edge = make_event("purchase", 5)
    split = split_late([clock, edge], out_of_orderness_ms=5 * MINUTE)
    assert split.late == []


def test_lateness_is_judged_per_source_partition(make_event):
    ahead = make_event("page_view", 60, partition=0)
    behind = make_event("add_to_cart", 0, partition=1)
    split = split_late([ahead, behind], out_of_orderness_ms=MINUTE)
    assert split.on_time == [ahead, behind]


def test_result_does_not_depend_on_arrival_order(make_event):
    events = [
        make_event("add_to_cart", 0),
        make_event("add_to_cart", 4),
        make_event("purchase", 30),
        make_event("add_to_cart", 31, customer="c2"),
        make_event("add_to_cart", 50),
    ]
    assert evaluate_rules([CART], events) == evaluate_rules([CART], list(reversed(events)))


def inactivity(**overrides: Any) -> Rule:
    return rule(
        {
            "kind": "inactivity",
            "gap": "30m",
            "delay": "2m",
            "while": {"event": "add_to_cart"},
            **overrides,
        }
    )


def test_session_exit_fires_gap_plus_delay_after_the_last_event_of_a_cart_session(make_event):
    view = make_event("page_view", 0)
    add = make_event("add_to_cart", 5)
    last = make_event("page_view", 20)
    [decision] = evaluate_rules([inactivity()], [view, add, last])
    assert decision.explanation["anchor_event_id"] == last.event_id
    assert decision.trigger_time_ms == T0 + (20 + 30 + 2) * MINUTE
    assert decision.explanation["summary"] == (
        f"no activity for 30m after page_view {last.event_id} at 2026-01-01T00:20:00.000Z; "
        "the session had add_to_cart"
    )


def test_events_exactly_gap_apart_stay_in_one_session(make_event):
    add = make_event("add_to_cart", 0)
    next_visit = make_event("page_view", 30)  # exactly the gap: same session
    assert fired_anchor_ids([add, next_visit], [inactivity()]) == [next_visit.event_id]


def test_a_gap_longer_than_gap_starts_a_new_session(make_event):
    add = make_event("add_to_cart", 0)
    later = make_event("page_view", 30 + 1 / MINUTE)  # one millisecond more: a new session
    assert fired_anchor_ids([add, later], [inactivity()]) == [add.event_id]


def test_sessions_without_the_while_event_do_not_fire(make_event):
    assert fired_anchor_ids([make_event("page_view", 0)], [inactivity()]) == []


def test_inactivity_without_while_fires_for_every_session(make_event):
    events = [make_event("page_view", 0), make_event("page_view", 90)]
    rule_any = rule({"kind": "inactivity", "gap": "30m"})
    assert len(evaluate_rules([rule_any], events)) == 2


def test_last_event_of_a_session_is_chosen_by_time_then_event_id(make_event):
    a = make_event("add_to_cart", 0, event_id="a")
    b = make_event("page_view", 0, event_id="b")
    assert fired_anchor_ids([b, a], [inactivity()]) == ["b"]


def count_rule(**overrides: Any) -> Rule:
    trigger = {"kind": "count", "on": {"event": "product_view"}, "at_least": 2, "within": "48h"}
    return rule({**trigger, **overrides})


def test_count_fires_when_the_window_count_reaches_the_threshold(make_event):
    first = make_event("product_view", 0, product_id="A")
    second = make_event("product_view", 60, product_id="A")
    third = make_event("product_view", 120, product_id="A")
    [decision] = evaluate_rules([count_rule()], [first, second, third])
    assert decision.explanation["anchor_event_id"] == second.event_id
    assert decision.trigger_time_ms == second.ts_ms
    assert decision.explanation["summary"] == (
        f"product_view {second.event_id} at 2026-01-01T01:00:00.000Z made 2 product_view "
        "within 48h (at least 2)"
    )


def test_count_window_includes_both_ends(make_event):
    first = make_event("product_view", 0)
    at_edge = make_event("product_view", 48 * 60)  # exactly 48h later: still in the window
    assert fired_anchor_ids([first, at_edge], [count_rule()]) == [at_edge.event_id]


def test_count_fires_again_only_after_falling_below(make_event):
    views = [make_event("product_view", m) for m in (0, 1, 2, 4000, 4001)]
    assert fired_anchor_ids(views, [count_rule()]) == sorted([views[1].event_id, views[4].event_id])


def test_count_groups_by_field_and_skips_events_without_it(make_event):
    per_product = count_rule(group_by=["properties.product_id"])
    events = [
        make_event("product_view", 0, product_id="A"),
        make_event("product_view", 1, product_id="B"),
        make_event("product_view", 2),
        make_event("product_view", 3, product_id="A"),
    ]
    assert fired_anchor_ids(events, [per_product]) == [events[3].event_id]


def test_peers_at_the_crossing_fire_once_anchored_at_the_greatest_event_id(make_event):
    a = make_event("product_view", 0, event_id="aa")
    b = make_event("product_view", 0, event_id="b")
    assert fired_anchor_ids([a, b], [count_rule()]) == ["b"]


def test_inactivity_last_event_is_by_event_id_not_its_length(make_event):
    longer = make_event("add_to_cart", 0, event_id="aa")
    shorter = make_event("page_view", 0, event_id="b")
    assert fired_anchor_ids([longer, shorter], [inactivity()]) == ["b"]


def sequence_rule(steps: list[dict[str, Any]], within: str = "1h", **extra: Any) -> Rule:
    return rule({"kind": "sequence", "steps": steps, "within": within, **extra})


def view(category: str) -> dict[str, Any]:
    return {
        "on": {
            "event": "product_view",
            "where": {"field": "properties.category", "op": "=", "value": category},
        }
    }


def test_sequence_fires_at_the_last_step_with_other_events_between(make_event):
    jackets = make_event("product_view", 0, category="jackets")
    noise = make_event("page_view", 5)
    shoes = make_event("product_view", 10, category="shoes")
    [decision] = evaluate_rules(
        [sequence_rule([view("jackets"), view("shoes")])], [jackets, noise, shoes]
    )
    assert decision.explanation["anchor_event_id"] == shoes.event_id
    assert decision.trigger_time_ms == shoes.ts_ms
    assert decision.explanation["summary"] == (
        f"product_view {shoes.event_id} at 2026-01-01T00:10:00.000Z completed 2 steps started by "
        f"product_view {jackets.event_id} at 2026-01-01T00:00:00.000Z within 1h"
    )


def test_sequence_window_is_strict(make_event):
    steps = [view("jackets"), view("shoes")]
    just_in = [
        make_event("product_view", 0, category="jackets"),
        make_event("product_view", 60 - 1 / MINUTE, category="shoes"),
    ]
    too_late = [
        make_event("product_view", 0, category="jackets", customer="c2"),
        make_event("product_view", 60, category="shoes", customer="c2"),
    ]
    assert fired_anchor_ids(just_in + too_late, [sequence_rule(steps)]) == [just_in[1].event_id]


def test_sequence_matches_do_not_overlap_and_the_earliest_start_wins(make_event):
    j1 = make_event("product_view", 0, category="jackets")
    j2 = make_event("product_view", 1, category="jackets")
    s1 = make_event("product_view", 2, category="shoes")
    s2 = make_event("product_view", 3, category="shoes")
    [decision] = evaluate_rules([sequence_rule([view("jackets"), view("shoes")])], [j1, j2, s1, s2])
    assert decision.explanation["summary"].endswith(
        f"started by product_view {j1.event_id} at 2026-01-01T00:00:00.000Z within 1h"
    )
    assert decision.explanation["anchor_event_id"] == s1.event_id


def test_sequence_step_at_least_and_min_gap(make_event):
    steps: list[dict[str, Any]] = [
        {"on": {"event": "form_submitted"}},
        {"on": {"event": "page_view"}, "at_least": 2, "min_gap": "10m"},
    ]
    form = make_event("form_submitted", 0)
    too_soon = make_event("page_view", 5)
    first = make_event("page_view", 20)
    second = make_event("page_view", 21)
    assert fired_anchor_ids([form, too_soon, first, second], [sequence_rule(steps)]) == [
        second.event_id
    ]


def test_sequence_same_fields_partition_the_steps(make_event):
    steps = [{"on": {"event": "product_view"}}, {"on": {"event": "add_to_cart"}}]
    same_product = sequence_rule(steps, same=["properties.product_id"])
    events = [
        make_event("product_view", 0, product_id="A"),
        make_event("add_to_cart", 1, product_id="B"),
        make_event("add_to_cart", 2, product_id="A"),
    ]
    assert fired_anchor_ids(events, [same_product]) == [events[2].event_id]


def recency_rule(**since_last: Any) -> Rule:
    return rule(
        {
            "kind": "recency",
            "on": {"event": "login"},
            "since_last": {"event": "purchase", **since_last},
        }
    )


def test_recency_more_than_fires_without_history_or_when_it_is_old(make_event):
    never = make_event("login", 0, customer="c0")
    bought = make_event("purchase", 0)
    soon = make_event("login", 60)
    later = make_event("login", 60 * 24 * 31)
    fired = fired_anchor_ids([never, bought, soon, later], [recency_rule(more_than="30d")])
    assert fired == sorted([never.event_id, later.event_id])


def test_recency_bound_is_strict_for_more_than_and_inclusive_for_less_than(make_event):
    bought = make_event("purchase", 0)
    exactly = make_event("login", 60 * 24 * 30)
    assert fired_anchor_ids([bought, exactly], [recency_rule(more_than="30d")]) == []
    assert fired_anchor_ids([bought, exactly], [recency_rule(less_than="30d")]) == [
        exactly.event_id
    ]


def test_recency_history_includes_events_in_the_same_millisecond(make_event):
    login = make_event("login", 5, event_id="a")
    purchase = make_event("purchase", 5, event_id="b")  # same ms, later id: still history
    assert fired_anchor_ids([login, purchase], [recency_rule(less_than="1m")]) == ["a"]


def test_recency_summary_names_the_last_history_event(make_event):
    [decision] = evaluate_rules([recency_rule(more_than="30d")], [make_event("login", 0)])
    assert decision.explanation["summary"].endswith(": last purchase none (more than 30d before)")


def trend_rule() -> Rule:
    return rule({"kind": "trend", "on": {"event": "purchase"}, "window": "30d", "min_recent": 2})


def test_trend_fires_when_the_recent_half_beats_the_half_before(make_event):
    day = 60 * 24
    old = make_event("purchase", 0)
    recent_1 = make_event("purchase", 20 * day)
    recent_2 = make_event("purchase", 25 * day)
    fired = evaluate_rules([trend_rule()], [old, recent_1, recent_2])
    assert [d.explanation["anchor_event_id"] for d in fired] == [recent_2.event_id]
    assert (
        fired[0]
        .explanation["summary"]
        .endswith(": 2 purchase in the last 15d vs 1 in the 15d before (at least 2)")
    )


def test_trend_fires_only_while_recent_exceeds_previous(make_event):
    day = 60 * 24
    events = [make_event("purchase", m * day) for m in (1, 2, 17, 18)]
    # day 2: 2 recent vs 0 before; day 17: {2, 17} vs {1}; day 18: {17, 18} vs {1, 2}, equal.
    assert fired_anchor_ids(events, [trend_rule()]) == [events[1].event_id, events[2].event_id]


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (["p1", "p2"], "p2", True),
        (["p1", "p2"], "p3", False),
        ([5, 2.5, True], "5", True),
        ([5, 2.5, True], "2.5", True),
        ([5, 2.5, True], "true", True),
        ([None, {"p1": 1}, ["p1"]], "p1", False),
        ("p1", "p1", False),
        (None, "p1", False),
    ],
)
def test_contains_reads_list_elements_as_text(value, text, expected):
    record = {"properties": {"v": value}}
    predicate = Predicate(field="properties.v", op="contains", value=text)
    assert evaluate_predicate(predicate, record) is expected

from journey_triggers.decisions import decision_id
from journey_triggers.semantics.abandonment import AbsenceRule, detect_absence
from journey_triggers.semantics.lateness import split_late
from tests.conftest import MINUTE, T0

RULE = AbsenceRule()  # add_to_cart, no purchase within 15m, latest add only


def fired_anchor_ids(events, rule=RULE):
    return sorted(d.explanation["anchor_event_id"] for d in detect_absence(events, rule))


def test_abandonment_fires_when_no_purchase_within_window(make_event):
    add = make_event("add_to_cart", 0, product_id="p1", cart_value=42.5)
    [decision] = detect_absence([add], RULE)
    assert decision.trigger_time_ms == T0 + 15 * MINUTE
    assert decision.customer_id == "c1"
    assert decision.decision_id == decision_id("cart_abandonment", 1, "c1", add.event_id)
    assert decision.explanation["product_id"] == "p1"
    assert decision.explanation["cart_value"] == 42.5
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
    [decision] = detect_absence(adds, RULE)
    assert decision.explanation["anchor_event_id"] == adds[-1].event_id
    assert decision.trigger_time_ms == T0 + 27 * MINUTE


def test_every_add_fires_when_latest_only_is_off(make_event):
    adds = [make_event("add_to_cart", m) for m in (0, 5)]
    rule = AbsenceRule(latest_only=False)
    assert fired_anchor_ids(adds, rule) == sorted(a.event_id for a in adds)


def test_same_timestamp_adds_are_tie_broken_by_event_id(make_event):
    a = make_event("add_to_cart", 0, event_id="a")
    b = make_event("add_to_cart", 0, event_id="b")
    assert fired_anchor_ids([b, a]) == ["b"]


def test_purchase_of_another_customer_does_not_cancel(make_event):
    add = make_event("add_to_cart", 0, customer="c1")
    assert fired_anchor_ids([add, make_event("purchase", 1, customer="c2")]) == [add.event_id]


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
    assert detect_absence(events, RULE) == detect_absence(list(reversed(events)), RULE)

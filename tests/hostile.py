"""Hostile records for the untrusted-input tests: what a broken or malicious producer sends.

Every generator is deterministic for its seed and yields one record per item as bytes with no
line break, so a list of them is also a file of lines. The shapes are the ones that break
parsers: nesting near and past 1,000 levels, huge strings, invalid UTF-8, duplicate keys,
numbers out of range (too many digits, exponents past 32 bits, NaN), control characters,
lone surrogates, truncation, random bytes, and valid records with any of that inside.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

JSON_DEPTH = 1_000  # Jackson's limit, events.MAX_JSON_DEPTH

_NUMBERS = [
    "1" * 1000,
    "1" * 1001,
    "-" + "9" * 1001,
    "1." + "0" * 999,
    "1." + "0" * 1000,
    "1e2147483647",
    "1e2147483648",
    "1.5e-2147483647",
    "1e400",
    "-0",
    "NaN",
    "Infinity",
    "-Infinity",
    "9223372036854775808",
    "-9223372036854775809",
    "0.0000000000000000000000001",
]


def _nested(rng: random.Random, depth: int) -> str:
    if rng.random() < 0.5:
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _odd_value(rng: random.Random, depth_used: int) -> bytes:
    """A JSON value (or something that looks like one) that parsers find hard."""
    kind = rng.randrange(9)
    if kind == 0:  # nesting around the limit, counting the levels already open
        return _nested(rng, JSON_DEPTH - depth_used + rng.randint(-2, 2)).encode()
    if kind == 1:  # a huge string
        return json.dumps("x" * rng.choice([1_000, 10_000, 50_000])).encode()
    if kind == 2:  # invalid UTF-8 inside a string
        bad = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80\x80"])
        return b'"before' + bad + b'after"'
    if kind == 3:
        return rng.choice(_NUMBERS).encode()
    if kind == 4:  # escapes: lone surrogates, NUL, control characters
        return rng.choice([b'"\\ud800"', b'"\\udc00\\ud800"', b'"\\u0000"', b'"tab\\there"'])
    if kind == 5:  # a raw control character inside a string is not JSON
        return b'"raw\x01control"'
    if kind == 6:
        return json.dumps({"k": 1, "nested": [1, {"x": None}]}).encode()
    if kind == 7:  # brackets and quotes inside strings do not nest
        return json.dumps("[[[{{{" * 300 + '"\\').encode()
    return json.dumps(rng.choice([None, True, 1.5, "é✓😀", [], {}])).encode()


def _valid_event(index: int, ts_ms: int) -> dict[str, object]:
    return {
        "event_id": f"h{index}",
        "event_type": "add_to_cart",
        "customer_id": f"hc{index}",
        "ts": ts_ms,
        "properties": {"product_id": f"p{index % 50}", "x": 0},
    }


def hostile_events(count: int, seed: int, base_ts_ms: int) -> list[bytes]:
    """Return ``count`` event records: about half valid (an ``add_to_cart`` of its own customer
    with something hostile in an unread property), the rest broken in every way above.

    Valid timestamps rise by a second per record, so none is late.
    """
    rng = random.Random(seed)
    records: list[bytes] = []
    for index in range(count):
        ts_ms = base_ts_ms + index * 1_000
        shape = rng.randrange(11) if index % 1_000 else 11  # one oversized in 1,000
        event = _valid_event(index, ts_ms)
        text = json.dumps(event).encode()
        if shape < 6:  # a valid event carrying a hostile value where nothing reads it
            records.append(text.replace(b'"x": 0', b'"x": ' + _odd_value(rng, 2)))
        elif shape == 6:  # a duplicate key: the last one counts
            first, last = rng.sample(["add_to_cart", "teleport", ""], 2)
            dup = f'"event_type": "{first}", "event_type": "{last}"'.encode()
            records.append(text.replace(b'"event_type": "add_to_cart"', dup))
        elif shape == 7:  # a hostile value in a field that is read
            field = rng.choice([b'"event_id": "h', b'"customer_id": "hc', b'"ts": '])
            head, _, tail = text.partition(field)
            rest = tail.split(b",", 1)[1]
            records.append(head + field.split(b":")[0] + b": " + _odd_value(rng, 1) + b"," + rest)
        elif shape == 8:  # truncated
            records.append(text[: rng.randrange(len(text))])
        elif shape == 9:  # random bytes, no line break
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
            records.append(raw.replace(b"\n", b" ").replace(b"\r", b" "))
        elif shape == 10:  # not an object
            records.append(_odd_value(rng, 0))
        else:  # oversized: just past the default limit of a million characters
            records.append(text.replace(b'"x": 0', b'"x": "' + b"y" * 1_000_000 + b'"'))
    return records


def hostile_catalog(count: int, seed: int) -> list[bytes]:
    """Return ``count`` catalog records, valid and hostile mixed (ids ``p0`` to ``p49``)."""
    rng = random.Random(seed)
    records: list[bytes] = []
    for index in range(count):
        entry = {
            "product_id": f"p{index % 50}",
            "category": "shoes",
            "price": 10.5,
            "updated_at": 1_700_000_000_000 + index,
        }
        text = json.dumps(entry).encode()
        field = rng.choice([b'"category": "shoes"', b'"price": 10.5', b'"product_id": "p'])
        shape = rng.randrange(6)
        if shape == 0:
            records.append(text)
        elif shape == 1:  # a hostile value in a read field
            key = field.split(b":")[0]
            head, _, tail = text.partition(field)
            rest = tail.split(b",", 1)[1] if b"," in tail else b"}"
            records.append(head + key + b": " + _odd_value(rng, 1) + b"," + rest)
        elif shape == 2:  # a hostile value in an unread field
            records.append(text[:-1] + b', "extra": ' + _odd_value(rng, 1) + b"}")
        elif shape == 3:
            records.append(text[: rng.randrange(len(text))])
        elif shape == 4:
            records.append(_odd_value(rng, 0))
        else:
            records.append(text.replace(b'"category"', b'"category": 7, "category"'))
    return records


def hostile_policies(count: int, seed: int, valid: Callable[[int], str]) -> list[bytes]:
    """Return ``count`` policy control messages: ``valid(i)`` documents, mutated or broken."""
    rng = random.Random(seed)
    records: list[bytes] = []
    for index in range(count):
        text = valid(index).encode()
        shape = rng.randrange(6)
        if shape == 0:
            records.append(text)
        elif shape == 1:
            records.append(text[: rng.randrange(len(text))])
        elif shape == 2:  # YAML and JSON nesting past any sane depth
            depth = rng.choice([500, 1_000, 5_000])
            records.append(rng.choice([b"[" * depth, b"{a: " * depth, b"- " * depth + b"x"]))
        elif shape == 3:
            records.append(text[:-1] + b', "caps": ' + _odd_value(rng, 1) + b"}")
        elif shape == 4:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            records.append(raw)
        else:  # YAML aliases: a billion-laughs document
            lol = b'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
            for level in range(1, 13):
                refs = ",".join([f"*{chr(96 + level)}"] * 9).encode()
                lol += chr(97 + level).encode() + b": &" + chr(97 + level).encode()
                lol += b" [" + refs + b"]\n"
            records.append(lol)
    return records


def rule_change(index: int) -> str:
    """Return a valid rules control message: puts, disables, enables and removes of a few ids."""
    rule_id = f"r{index % 7}"
    op = ("put", "disable", "enable", "remove")[index % 4]
    if op != "put":
        return json.dumps({"op": op, "rule_id": rule_id, "effective_from": 1_798_761_600_000})
    rule = {
        "id": rule_id,
        "version": index + 1,
        "description": f"every page view, version {index + 1}",
        "trigger": {"kind": "event", "on": {"event": "page_view"}},
        "output": {"action": f"a{index}", "channels": ["email"]},
    }
    return json.dumps({"op": "put", "effective_from": 1_798_761_600_000 + index, "rule": rule})

"""Seeded, deterministic generator of realistic customer journeys.

Each customer has one or two devices, a home country and time zone, and a few sessions over the
horizon. A session browses pages and products, may add to cart, may check out and buy (sometimes
only after the abandonment window), or may abandon. Mobile sessions stay anonymous
(``anonymous_id`` per device); a ``login`` links a device's anonymous id to the ``customer_id``,
and later events of that session carry both. Customers also open marketing emails, start and
submit forms, and watch videos. A few request erasure (``erasure_share``).

The same ``seed`` and parameters always give the same records, byte for byte. Arrival order is
event time plus a seeded jitter of at most ``disorder_ms``, so no record arrives more than
``disorder_ms`` behind one before it: with ``disorder_ms`` at or below the job's
out-of-orderness bound, nothing is late.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from journey_triggers.events import format_timestamp_ms

DEFAULT_START_MS = 1_798_761_600_000  # 2027-01-01T00:00:00Z

_ZONES = [
    ("US", "America/New_York", -300),
    ("US", "America/Los_Angeles", -480),
    ("GB", "Europe/London", 0),
    ("DE", "Europe/Berlin", 60),
    ("FR", "Europe/Paris", 60),
    ("IN", "Asia/Kolkata", 330),
    ("JP", "Asia/Tokyo", 540),
    ("BR", "America/Sao_Paulo", -180),
]
_CITIES = {  # a city centre per zone: customers live within about 15 km of it
    "America/New_York": (40.7128, -74.006),
    "America/Los_Angeles": (34.0522, -118.2437),
    "Europe/London": (51.5074, -0.1278),
    "Europe/Berlin": (52.52, 13.405),
    "Europe/Paris": (48.8566, 2.3522),
    "Asia/Kolkata": (22.5726, 88.3639),
    "Asia/Tokyo": (35.6762, 139.6503),
    "America/Sao_Paulo": (-23.5505, -46.6333),
}
_CATEGORIES = {
    "shoes": (40.0, 180.0),
    "jackets": (60.0, 320.0),
    "electronics": (20.0, 900.0),
    "books": (8.0, 45.0),
    "home": (15.0, 250.0),
}
_PAGES = [
    "/",
    "/sale",
    "/new",
    "/help/shipping",
    "/stores",
    "/blog/style-guide",
    "/pricing",
    "/compare",
    "/signup",
    "/services/audit",
    "/services/install",
    "/wishlist/add",
]
_FORMS = ["newsletter", "store-appointment", "contact", "whitepaper"]
_SERVICE_PAGES = ["/services/audit", "/services/install"]


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate."""

    customers: int = 200
    seed: int = 7
    start_ms: int = DEFAULT_START_MS
    horizon_ms: int = 2 * 86_400_000
    disorder_ms: int = 2_000
    iso_timestamp_share: float = 0.2
    """Share of records whose ``ts`` is ISO-8601 with the customer's offset, not epoch ms."""
    invalid_share: float = 0.0
    """Share of extra malformed records mixed in (to exercise the dead-letter path)."""
    erasure_share: float = 0.02
    """Share of sessions after which the customer requests erasure (from a privacy portal: the
    request carries the customer id only). Their devices are anonymous again until a login."""


@dataclass(frozen=True)
class Product:
    """A catalog item."""

    product_id: str
    category: str
    price: float


def catalog(seed: int, size: int = 60) -> list[Product]:
    """Return the generator's product catalog, fixed by ``seed``."""
    rng = random.Random(f"catalog-{seed}")
    products = []
    for index in range(size):
        category = rng.choice(sorted(_CATEGORIES))
        low, high = _CATEGORIES[category]
        products.append(Product(f"p{index:04d}", category, round(rng.uniform(low, high), 2)))
    return products


def catalog_lines(seed: int) -> list[str]:
    """Return the generator's catalog as product-catalog records (``journey_triggers.catalog``).

    The margin tier follows the price: below 50 low, below 150 medium, else high.
    """
    lines = []
    for product in catalog(seed):
        tier = "low" if product.price < 50 else "medium" if product.price < 150 else "high"
        record = {
            "product_id": product.product_id,
            "category": product.category,
            "price": product.price,
            "margin_tier": tier,
        }
        lines.append(json.dumps(record, sort_keys=True))
    return lines


def _snapshot(cart: list[Product]) -> list[dict[str, Any]]:
    """Return the cart as trackers report it after a cart event (``properties.cart``)."""
    return [{"product_id": p.product_id, "quantity": 1, "price": p.price} for p in cart]


def _iso(ts_ms: int, offset_minutes: int) -> str:
    zone = timedelta(minutes=offset_minutes)
    local = datetime.fromtimestamp(ts_ms / 1000, tz=UTC) + zone
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts_ms % 1000:03d}{sign}{hours:02d}:{minutes:02d}"
    )


class _Customer:
    def __init__(self, index: int, cfg: GeneratorConfig, rng: random.Random) -> None:
        self.customer_id = f"cust-{index:06d}"
        self.country, self.time_zone, self.offset = rng.choice(_ZONES)
        kinds = ["mobile", "desktop"] if rng.random() < 0.5 else [rng.choice(["mobile", "desktop"])]
        self.devices = [
            (f"dev-{index:06d}-{n}", kind, f"anon-{rng.getrandbits(48):012x}")
            for n, kind in enumerate(kinds)
        ]
        self.linked: set[str] = set()
        # Locations come from the customer's own generator, so they change no other draw.
        self.places = random.Random(f"home-{cfg.seed}-{index}")
        self.erasures = random.Random(f"erasure-{cfg.seed}-{index}")
        lat, lon = _CITIES[self.time_zone]
        self.home = (lat + self.places.uniform(-0.14, 0.14), lon + self.places.uniform(-0.2, 0.2))

    def position(self) -> dict[str, float]:
        """Return a position near home (the app reports one with mobile product views)."""
        lat, lon = self.home
        return {
            "lat": round(lat + self.places.uniform(-0.01, 0.01), 5),
            "lon": round(lon + self.places.uniform(-0.01, 0.01), 5),
        }


def _journey(
    cust: _Customer, cfg: GeneratorConfig, products: list[Product], rng: random.Random
) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    counter = 0

    def emit(
        event_type: str, ts_ms: int, device: tuple[str, str, str], session: str | None, **props: Any
    ) -> None:
        nonlocal counter
        counter += 1
        device_id, kind, anonymous_id = device
        record: dict[str, Any] = {
            "schema_version": 1,
            "event_id": f"{cust.customer_id}-{counter:05d}",
            "event_type": event_type,
            "anonymous_id": anonymous_id,
            "device_id": device_id,
            "session_id": session,
            "ts": _iso(ts_ms, cust.offset) if rng.random() < cfg.iso_timestamp_share else ts_ms,
            "device_type": kind,
            "channel": "app" if kind == "mobile" else "web",
            "country": cust.country,
            "time_zone": cust.time_zone,
            "properties": props,
        }
        if anonymous_id in cust.linked or event_type in ("email_open", "erasure_request"):
            record["customer_id"] = cust.customer_id
        if event_type == "erasure_request":
            for name in ("anonymous_id", "device_id", "session_id", "device_type", "channel"):
                record[name] = None
        if event_type == "email_open":
            record["channel"] = "email"
        events.append({k: v for k, v in record.items() if v is not None})

    starts = sorted(cfg.start_ms + rng.randrange(cfg.horizon_ms) for _ in range(rng.randint(1, 4)))
    for number, t in enumerate(starts):
        device = rng.choice(cust.devices)
        session = f"s-{cust.customer_id}-{number}"
        cart: list[Product] = []
        for page_number in range(rng.choice([1, 1, 2, 3])):
            t += rng.randint(5_000, 300_000) if page_number else 0
            emit(
                "page_view",
                t,
                device,
                session,
                page=rng.choice(_PAGES),
                dwell_ms=rng.randint(2_000, 180_000),
            )
        if rng.random() < 0.08:  # a walk down the sign-up funnel, with drop-off
            for step, page in enumerate(("/pricing", "/compare", "/signup")):
                if step and rng.random() < 0.4:
                    break
                t += rng.randint(10_000, 600_000)
                emit(
                    "page_view", t, device, session, page=page, dwell_ms=rng.randint(5_000, 120_000)
                )
        for _ in range(rng.randint(1, 6)):
            t += rng.randint(5_000, 120_000)
            product = rng.choice(products)
            emit(
                "product_view",
                t,
                device,
                session,
                product_id=product.product_id,
                category=product.category,
                price=product.price,
                dwell_ms=rng.randint(3_000, 150_000),
                **(cust.position() if device[1] == "mobile" else {}),
            )
            if rng.random() < 0.1:
                t += rng.randint(3_000, 60_000)
                emit(
                    "page_view",
                    t,
                    device,
                    session,
                    page="/wishlist/add",
                    product_id=product.product_id,
                )
            if rng.random() < 0.3:
                t += rng.randint(3_000, 60_000)
                cart.append(product)
                emit(
                    "add_to_cart",
                    t,
                    device,
                    session,
                    product_id=product.product_id,
                    category=product.category,
                    price=product.price,
                    cart_value=round(sum(p.price for p in cart), 2),
                    cart_items=len(cart),
                    cart=_snapshot(cart),
                )
                if rng.random() < 0.5:
                    t += rng.randint(3_000, 90_000)
                    emit(
                        "page_view",
                        t,
                        device,
                        session,
                        page="/cart",
                        dwell_ms=rng.randint(2_000, 60_000),
                    )
        if device[1] == "desktop" and (cart or rng.random() < 0.3) and device[2] not in cust.linked:
            t += rng.randint(5_000, 60_000)
            cust.linked.add(device[2])
            emit("login", t, device, session, method=rng.choice(["password", "sso"]))
        if rng.random() < 0.15:
            t += rng.randint(5_000, 60_000)
            form = rng.choice(_FORMS)
            emit("form_started", t, device, session, form_id=form)
            if rng.random() < 0.6:
                t += rng.randint(10_000, 900_000)
                emit("form_submitted", t, device, session, form_id=form)
                if form == "whitepaper":  # readers go on to the service pages, some more than once
                    for _ in range(rng.choice([0, 1, 2, 3])):
                        t += rng.randint(60_000, 86_400_000)
                        emit("page_view", t, device, session, page=rng.choice(_SERVICE_PAGES))
        if rng.random() < 0.1:
            t += rng.randint(5_000, 60_000)
            emit(
                "video_progress",
                t,
                device,
                session,
                video_id="v-lookbook",
                video_pct=rng.choice([25, 50, 80, 100]),
            )
        if cart:
            roll = rng.random()
            if roll < 0.45:  # buys within the window
                t += rng.randint(20_000, 600_000)
                emit(
                    "checkout_started",
                    t,
                    device,
                    session,
                    cart_value=round(sum(p.price for p in cart), 2),
                    cart=_snapshot(cart),
                )
                t += rng.randint(10_000, 240_000)
                emit(
                    "purchase",
                    t,
                    device,
                    session,
                    order_id=f"o-{session}",
                    cart_value=round(sum(p.price for p in cart), 2),
                    items=len(cart),
                )
            elif roll < 0.6:  # comes back and buys after the window
                t += rng.randint(1_200_000, 7_200_000)
                emit(
                    "purchase",
                    t,
                    device,
                    session + "-return",
                    order_id=f"o-{session}",
                    cart_value=round(sum(p.price for p in cart), 2),
                    items=len(cart),
                )
            elif roll < 0.7:
                t += rng.randint(5_000, 60_000)
                removed = cart.pop()
                emit(
                    "remove_from_cart",
                    t,
                    device,
                    session,
                    product_id=removed.product_id,
                    cart_value=round(sum(p.price for p in cart), 2),
                    cart_items=len(cart),
                    cart=_snapshot(cart),
                )
        if rng.random() < 0.05:  # a preference-centre visit: opts in or out per channel
            t += rng.randint(5_000, 60_000)
            channels = rng.sample(["email", "sms", "push"], rng.randint(1, 3))
            emit(
                "consent_update",
                t,
                device,
                session,
                consent={c: rng.random() < 0.6 for c in sorted(channels)},
            )
        if cust.erasures.random() < cfg.erasure_share:
            emit("erasure_request", t + cust.erasures.randint(60_000, 3_600_000), device, None)
            cust.linked.clear()
        if rng.random() < 0.4:
            emit(
                "email_open",
                cfg.start_ms + rng.randrange(cfg.horizon_ms),
                device,
                None,
                campaign_id=rng.choice(["weekly", "winback", "new-arrivals"]),
            )
    return events


_MALFORMED = [
    "this is not json",
    '{"event_id": "broken", "event_type": "page_view"',
    '{"event_type": "page_view", "customer_id": "x", "ts": 1}',
    '{"event_id": "u1", "event_type": "teleport", "customer_id": "x", "ts": 1}',
    '{"event_id": "u2", "event_type": "page_view", "ts": 1}',
    '{"event_id": "u3", "event_type": "page_view", "customer_id": "x", "ts": "yesterday"}',
    "[1, 2, 3]",
]


def generate(cfg: GeneratorConfig) -> Iterator[tuple[str | None, str]]:
    """Yield ``(kafka_key, json_line)`` in arrival order; the key is the record's device id."""
    products = catalog(cfg.seed)
    rng = random.Random(cfg.seed)
    records: list[tuple[float, int, str | None, str]] = []
    sequence = 0
    for index in range(cfg.customers):
        customer = _Customer(index, cfg, rng)
        for record in _journey(customer, cfg, products, rng):
            ts = record["ts"]
            ts_ms = ts if isinstance(ts, int) else _ms_of(record, customer)
            arrival = ts_ms + rng.random() * cfg.disorder_ms
            sequence += 1
            line = json.dumps(record, separators=(",", ":"), sort_keys=True)
            records.append((arrival, sequence, record.get("device_id"), line))
            if cfg.invalid_share and rng.random() < cfg.invalid_share:
                sequence += 1
                records.append((arrival, sequence, None, rng.choice(_MALFORMED)))
    records.sort()
    for _, _, key, line in records:
        yield key, line


def _ms_of(record: dict[str, Any], customer: _Customer) -> int:
    text = str(record["ts"])
    local = datetime.strptime(text[:23], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)
    return int((local - timedelta(minutes=customer.offset)).timestamp() * 1000)


def describe_time(ts_ms: int) -> str:
    """Return ``ts_ms`` as ISO-8601 UTC (for summaries)."""
    return format_timestamp_ms(ts_ms)

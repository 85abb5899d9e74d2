"""Context conditions in plain Python: local time of day, store distance and session dwell.

The JVM engine (``journeytriggers.engine.Cond``) makes the same computations, and tests hold
the two equal, bit for bit, at the bounds:

**Local time.** The event's instant in the customer's time zone: the event's ``time_zone``
field, an IANA name such as ``Europe/Berlin``. The zone rules are the JVM's tz database; this
module reads the same release from the pinned ``tzdata`` package (``tzdata.IANA_VERSION``), and
``test_time_zones_agree`` checks every zone over a grid of instants against the JVM. Names the
JVM and Python do not both know (``EST``, ``SystemV/...``, misspellings) are not a zone: the
condition is false, as it is for an event without a ``time_zone``. Local times are cut to the
minute; the window ``[start, end)`` includes its start and excludes its end, and wraps past
midnight when ``end < start``. ``days`` are local days of week of the event itself. Event times
from 2037-01-01T00:00Z on are outside the calendar both sides share, and the condition is false:
the JVM's time-zone tables end in 2037 and it extrapolates later years from the last rule, which
differs from the tz database for zones with irregular rules (Africa/Casablanca, Africa/Windhoek,
Asia/Hebron, ...), as ``test_time_zones_agree`` found.

**Store distance.** From the event's ``properties.lat`` / ``properties.lon`` (decimal degrees,
as JSON numbers or numeric strings) to each store, on the equirectangular projection centred
on the store: ``dx = (lon - lon0) * cos(lat0) * k``, ``dy = (lat - lat0) * k`` with
``k = pi * R / 180`` and R = 6371.0088 km (the mean Earth radius), longitude differences taken
the short way round the antimeridian. The condition holds when ``dx*dx + dy*dy <= max_km**2``
for some store. Everything that depends on the store is computed once, when the rule is
loaded; at run time only IEEE-754 subtraction, multiplication, addition and comparison remain,
which the JVM and Python compute identically, so an event exactly at the bound gets the same
answer on both. For stores at |lat| <= 70 the projected distance is within 0.1 % of the
great-circle distance up to 10 km, and within 0.5 % up to 50 km (measured: 0.08 % and 0.40 %,
``test_store_distance_close_to_haversine``), which is what "near a store" rules need.
Coordinates outside [-90, 90] and [-180, 180] have no distance. Each store adds a few
arithmetic operations per evaluated event: lists of a few hundred stores are fine.

**Session dwell.** A session is the customer's events with the same ``session_id``. The dwell
at an event is its time minus the session's first event time; ``session_dwell: {more_than: D}``
holds when that is strictly more than D. The session's first event is the earliest of the
session's on-time events, whatever their arrival order (the job waits for the watermark).
Events without a ``session_id`` have no dwell, and the condition is false.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

import tzdata  # type: ignore[import-untyped]

TZ_VERSION: str = tzdata.IANA_VERSION
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180.0
LOCAL_TIME_LIMIT_MS = 2_114_380_800_000
"""2037-01-01T00:00:00Z: local times are computed for earlier event times only."""
ZONE_NAME = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)+$|^UTC$")
_NOT_ZONES = ("SystemV/", "posix/", "right/")
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@cache
def zones() -> tuple[str, ...]:
    """Return the zone names local_time accepts: Area/Location names of the pinned database."""
    listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split()
    return tuple(sorted(z for z in listed if ZONE_NAME.match(z) and not z.startswith(_NOT_ZONES)))


@cache
def _zone_set() -> frozenset[str]:
    return frozenset(zones())


@cache
def zone(name: str) -> ZoneInfo:
    """Return a zone from the pinned tzdata package (never the system's database)."""
    path = resources.files("tzdata").joinpath("zoneinfo", *name.split("/"))
    with path.open("rb") as file:
        return ZoneInfo.from_file(io.BytesIO(file.read()), key=name)


def local_minute_and_day(ts_ms: int, zone_name: object) -> tuple[int, str] | None:
    """Return (minute of the local day, local day name) of ``ts_ms``, or None without a zone."""
    if not isinstance(zone_name, str) or zone_name not in _zone_set():
        return None
    if not 0 <= ts_ms < LOCAL_TIME_LIMIT_MS:
        return None
    local = datetime.fromtimestamp(ts_ms // 1000, tz=UTC).astimezone(zone(zone_name))
    return local.hour * 60 + local.minute, DAY_NAMES[local.weekday()]


def minute_of(hh_mm: str) -> int:
    """Return the minute of the day of an ``HH:MM`` text."""
    hours, minutes = hh_mm.split(":")
    return int(hours) * 60 + int(minutes)


def in_window(minute: int, start: int, end: int) -> bool:
    """Return whether ``minute`` is in ``[start, end)``, wrapping past midnight if end < start."""
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


@dataclass(frozen=True)
class Store:
    """A store with its precomputed projection factors."""

    store_id: str
    lat: float
    lon: float
    kx: float
    """Kilometres per degree of longitude at the store's latitude."""


def store(store_id: str, lat: float, lon: float) -> Store:
    """Return a store with its projection factor."""
    return Store(store_id, lat, lon, math.cos(math.radians(lat)) * KM_PER_DEGREE)


class StoreListError(ValueError):
    """A store list cannot be read; the message names file:line."""


def read_stores(path: Path) -> tuple[Store, ...]:
    """Read a store list (CSV with a header and the columns store_id, lat, lon)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        msg = f"store list {path}: cannot read: {err}"
        raise StoreListError(msg) from err
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["store_id", "lat", "lon"]:
        msg = f"{path}:1: a store list starts with the header store_id,lat,lon"
        raise StoreListError(msg)
    stores = []
    for number, row in enumerate(rows[1:], start=2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != 3:
            msg = f"{path}:{number}: expected 3 columns (store_id,lat,lon), got {len(row)}"
            raise StoreListError(msg)
        store_id, lat, lon = (cell.strip() for cell in row)
        latitude, longitude = _degrees(lat, 90.0), _degrees(lon, 180.0)
        if not store_id or latitude is None or longitude is None:
            msg = (
                f"{path}:{number}: expected a store id, a latitude in [-90, 90] and a "
                f"longitude in [-180, 180], got {','.join(row)!r}"
            )
            raise StoreListError(msg)
        stores.append(store(store_id, latitude, longitude))
    if not stores:
        msg = f"{path}: the store list has no stores"
        raise StoreListError(msg)
    return tuple(stores)


def _degrees(text: str, bound: float) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and -bound <= value <= bound else None


def longitude_difference(lon: float, lon0: float) -> float:
    """Return ``lon - lon0`` taken the short way round (the SQL computes the same steps)."""
    difference = lon - lon0
    if difference > 180.0:
        return difference - 360.0
    if difference < -180.0:
        return difference + 360.0
    return difference


def squared_km(lat: float, lon: float, place: Store) -> float:
    """Return the squared projected distance in km² (the SQL computes the same steps)."""
    dx = longitude_difference(lon, place.lon) * place.kx
    dy = (lat - place.lat) * KM_PER_DEGREE
    return dx * dx + dy * dy


def near_any(
    lat: float | None, lon: float | None, stores: tuple[Store, ...], max_km: float
) -> bool:
    """Return whether a position is at most ``max_km`` from one of ``stores``."""
    if lat is None or lon is None or not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return False
    bound = max_km * max_km
    return any(squared_km(lat, lon, place) <= bound for place in stores)

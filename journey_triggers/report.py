"""The backtest's HTML report: one self-contained file, charts as inline SVG.

No script, no stylesheet or font from elsewhere: the file opens offline, in a mail attachment
or a CI artifact, and prints. Every chart mark carries its number (``data-value``) beside its
geometry, and the numbers come straight from the summary (``journey_triggers.backtest``), so a
test can hold the drawing, the tables and ``backtest.json`` to each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

PALETTE = (
    "#4477aa",
    "#ee6677",
    "#228833",
    "#ccbb44",
    "#66ccee",
    "#aa3377",
    "#bbbbbb",
    "#332288",
    "#117733",
    "#882255",
)
_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
  max-width: 1100px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
h3 { margin: 1.4em 0 0.4em; font-size: 1.05em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; } thead th { border-bottom: 2px solid #999; }
tbody tr:nth-child(odd) { background: #f6f6f6; }
.meta { color: #555; } .note { color: #8a5a00; }
figure { margin: 0.5em 0 1.5em; } figcaption { color: #555; font-size: 0.9em; }
.legend span { display: inline-block; margin-right: 1em; }
.legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em;
  vertical-align: -0.1em; }
svg text { font-size: 11px; fill: #333; }
"""


def _n(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _signed(value: float) -> str:
    return f"{value:+.1%}"


def _time(ms: int, bucket_ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%m-%d %H:%M" if bucket_ms < 86_400_000 else "%Y-%m-%d")


def _color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _legend(names: list[str]) -> str:
    items = "".join(
        f'<span><i style="background:{_color(i)}"></i>{escape(name)}</span>'
        for i, name in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'


def _figure(chart: str, variant: str, caption: str, body: str) -> str:
    return (
        f'<figure class="chart" data-chart="{chart}" data-variant="{escape(variant)}">'
        f"{body}<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _stacked_bars(
    series: dict[str, list[int]], labels: list[str], *, width: int = 1000, height: int = 220
) -> str:
    """Stacked vertical bars: one bar per label, one segment per series (in legend order)."""
    left, bottom, top = 48, 40, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    count = len(labels)
    totals = [sum(values[i] for values in series.values()) for i in range(count)]
    peak = max(totals, default=0) or 1
    slot = plot_w / max(count, 1)
    bar = max(slot * 0.8, 1.0)
    marks = []
    for i in range(count):
        y: float = top + plot_h
        for s, (name, values) in enumerate(series.items()):
            value = values[i]
            h = value / peak * plot_h
            y -= h
            marks.append(
                f'<rect class="mark" data-series="{escape(name)}" data-label="{escape(labels[i])}" '
                f'data-value="{value}" x="{left + i * slot + (slot - bar) / 2:.2f}" y="{y:.2f}" '
                f'width="{bar:.2f}" height="{h:.2f}" fill="{_color(s)}">'
                f"<title>{escape(name)} {escape(labels[i])}: {value}</title></rect>"
            )
    step = max(1, count // 12)
    ticks = "".join(
        f'<text x="{left + i * slot + slot / 2:.1f}" y="{top + plot_h + 16}" '
        f'text-anchor="middle">{escape(labels[i])}</text>'
        for i in range(0, count, step)
    )
    axis = (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        'stroke="#999"/>'
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{peak}</text>'
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{axis}{"".join(marks)}{ticks}</svg>'
    )


def _bars(values: dict[str, float], *, horizontal: bool, width: int = 520, unit: str = "") -> str:
    """Single-series bars, one per label: horizontal (long labels) or vertical."""
    labels = list(values)
    peak = max(values.values(), default=0) or 1
    marks, texts = [], []
    if horizontal:
        row, left = 22, 170
        height = max(row * len(labels), row) + 10
        plot_w = width - left - 60
        for i, label in enumerate(labels):
            value = values[label]
            w = value / peak * plot_w
            y = 5.0 + i * row
            marks.append(
                f'<rect class="mark" data-label="{escape(label)}" data-value="{value}" '
                f'x="{left}" y="{y}" width="{w:.2f}" height="{row - 6}" fill="{_color(i)}">'
                f"<title>{escape(label)}: {value}</title></rect>"
            )
            texts.append(
                f'<text x="{left - 6}" y="{y + row / 2 + 1}" text-anchor="end">'
                f"{escape(label)}</text>"
                f'<text x="{left + w + 4:.2f}" y="{y + row / 2 + 1}">{_n(value)}{unit}</text>'
            )
    else:
        height, bottom, top, left = 200, 30, 14, 10
        plot_h = height - bottom - top
        slot = (width - 2 * left) / max(len(labels), 1)
        for i, label in enumerate(labels):
            value = values[label]
            h = value / peak * plot_h
            x = left + i * slot + slot * 0.1
            y = top + plot_h - h
            marks.append(
                f'<rect class="mark" data-label="{escape(label)}" data-value="{value}" '
                f'x="{x:.2f}" y="{y:.2f}" width="{slot * 0.8:.2f}" height="{h:.2f}" '
                f'fill="{_color(0)}"><title>{escape(label)}: {value}</title></rect>'
            )
            texts.append(
                f'<text x="{x + slot * 0.4:.2f}" y="{top + plot_h + 16}" text-anchor="middle">'
                f"{escape(label)}</text>"
                f'<text x="{x + slot * 0.4:.2f}" y="{y - 3:.2f}" text-anchor="middle">'
                f"{_n(value)}</text>"
            )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(marks)}{"".join(texts)}</svg>'
    )


def _heatmap(rules: list[str], matrix: list[list[int]]) -> str:
    """Draw the customers of both rules: one cell per pair, darker for more."""
    cell, left, top = 46, 170, 110
    size = len(rules)
    width, height = left + cell * size + 10, top + cell * size + 10
    peak = max((v for row in matrix for v in row), default=0) or 1
    parts = []
    for i, row in enumerate(matrix):
        parts.append(
            f'<text x="{left - 6}" y="{top + i * cell + cell / 2 + 4}" text-anchor="end">'
            f"{escape(rules[i])}</text>"
        )
        for j, value in enumerate(row):
            opacity = 0.08 + 0.92 * value / peak
            parts.append(
                f'<rect class="mark" data-row="{escape(rules[i])}" data-col="{escape(rules[j])}" '
                f'data-value="{value}" x="{left + j * cell}" y="{top + i * cell}" '
                f'width="{cell - 2}" height="{cell - 2}" fill="#4477aa" '
                f'fill-opacity="{opacity:.3f}"><title>{escape(rules[i])} and '
                f"{escape(rules[j])}: {value}</title></rect>"
                f'<text x="{left + j * cell + cell / 2 - 1}" y="{top + i * cell + cell / 2 + 4}" '
                f'text-anchor="middle">{value}</text>'
            )
    for j, rule in enumerate(rules):
        x = left + j * cell + cell / 2
        parts.append(
            f'<text transform="translate({x},{top - 6}) rotate(-45)">{escape(rule)}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def _conversion_chart(conversion: dict[str, Any]) -> str:
    """Conversion rate of treatment and holdout, with 95 % interval whiskers."""
    width, height, top, bottom, left = 360, 200, 14, 30, 40
    plot_h = height - top - bottom
    groups = [g for g in ("treatment", "holdout") if conversion[g]["units"]]
    peak = max([conversion[g]["ci95"][1] for g in groups] + [0.01])
    parts = []
    for i, group in enumerate(groups):
        rate = conversion[group]["rate"] or 0.0
        low, high = conversion[group]["ci95"]
        x = left + 30 + i * 140
        h = rate / peak * plot_h
        base = top + plot_h
        parts.append(
            f'<rect class="mark" data-label="{group}" data-value="{rate}" x="{x}" '
            f'y="{base - h:.2f}" width="80" height="{h:.2f}" fill="{_color(i)}">'
            f"<title>{group}: {_pct(rate)}</title></rect>"
            f'<line class="whisker" data-label="{group}" data-low="{low}" data-high="{high}" '
            f'x1="{x + 40}" x2="{x + 40}" y1="{base - low / peak * plot_h:.2f}" '
            f'y2="{base - high / peak * plot_h:.2f}" stroke="#222" stroke-width="1.5"/>'
            f'<text x="{x + 40}" y="{base + 16}" text-anchor="middle">{group}</text>'
            f'<text x="{x + 86}" y="{base - h - 3:.2f}">{_pct(rate)}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" '
        'stroke="#999"/>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg>'
    )


def _lift_text(conversion: dict[str, Any]) -> str:
    lift = conversion["lift"]
    if not lift:
        return f'<p class="note">No lift: {escape(conversion.get("note", ""))}.</p>'
    low, high = lift["ci95"]
    relative = ""
    if lift["relative"] is not None:
        relative = f"; relative {_signed(lift['relative'])}"
        if lift["relative_ci95"]:
            r_low, r_high = lift["relative_ci95"]
            relative += f" (95 % CI {_signed(r_low)} to {_signed(r_high)})"
    return (
        f'<p class="lift" data-absolute="{lift["absolute"]}" data-low="{low}" data-high="{high}">'
        f"Estimated lift: <b>{_signed(lift['absolute'])}</b> "
        f"(95 % CI {_signed(low)} to {_signed(high)}){relative}.</p>"
    )


def _conversion_table(conversion: dict[str, Any]) -> str:
    rows = []
    for group in ("treatment", "holdout"):
        part = conversion[group]
        low, high = part["ci95"]
        rows.append(
            f'<tr data-group="{group}"><td>{group}</td><td data-field="units">'
            f'{_n(part["units"])}</td><td data-field="converted">{_n(part["converted"])}</td>'
            f'<td data-field="rate">{_pct(part["rate"])}</td>'
            f"<td>{_pct(low)} to {_pct(high)}</td></tr>"
        )
    return (
        "<table><thead><tr><th>group</th><th>customers</th><th>converted</th><th>rate</th>"
        f"<th>95 % CI</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _headline(summary: dict[str, Any]) -> str:
    rows = []
    for v in summary["variants"]:
        lift = v["conversion"]["lift"]
        shown = "n/a" if not lift else _signed(lift["absolute"])
        status = v["by_status"]
        messages = v["messages_per_customer"]
        cells = [
            ("candidates", _n(v["candidates"])),
            ("send", _n(status["send"])),
            ("suppressed", _n(status["suppressed"])),
            ("holdout", _n(status["holdout"])),
            ("deferred", _n(status["deferred"])),
            ("messaged", _n(messages["messaged"])),
            ("mean", f"{messages['mean']:.2f}"),
            ("max", _n(messages["max"])),
            ("lift", shown),
        ]
        tds = "".join(f'<td data-field="{k}">{text}</td>' for k, text in cells)
        rows.append(
            f'<tr data-variant="{escape(v["name"])}"><td>{escape(v["name"])}</td>{tds}</tr>'
        )
    return (
        '<table id="headline"><thead><tr><th>variant</th><th>candidates</th><th>sent</th>'
        "<th>suppressed</th><th>holdout</th><th>deferred</th><th>customers messaged</th>"
        "<th>messages per customer (mean)</th><th>max</th><th>lift</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _variant_section(summary: dict[str, Any], v: dict[str, Any]) -> str:
    name = v["name"]
    bucket_ms = summary["bucket_ms"]
    labels = [_time(ms, bucket_ms) for ms in summary["bucket_starts_ms"]]
    series = v["triggers_over_time"]
    unit = "hour" if bucket_ms < 86_400_000 else ("day" if bucket_ms == 86_400_000 else "week")
    parts = [
        f'<section class="variant" id="variant-{escape(name)}" data-variant="{escape(name)}">',
        f"<h2>Variant {escape(name)}</h2>",
    ]
    if v.get("description"):
        parts.append(f"<p>{escape(v['description'])}</p>")
    files = ", ".join(escape(f) for f in v.get("rule_files", []))
    policy = escape(v.get("policy_file") or "the default policy (send every trigger)")
    parts.append(f'<p class="meta">Rules: {files}. Policy: {policy}.</p>')
    if v.get("censored"):
        rules = ", ".join(f"{escape(r)} {n:,}" for r, n in v["censored_by_rule"].items())
        parts.append(
            f'<p class="note censored" data-value="{v["censored"]}">{v["censored"]:,} '
            "candidates fall after the history's last event (a window still open at its end) "
            f"and are left out of every number here: {rules}.</p>"
        )
    parts.append("<h3>Triggers per rule over time</h3>" + _legend(list(series)))
    parts.append(
        _figure(
            "triggers-over-time",
            name,
            f"Candidates per rule per {unit} (UTC) of their trigger time.",
            _stacked_bars(series, labels),
        )
    )
    suppressed = dict(v["suppressed_by_reason"])
    if v["by_status"]["holdout"]:
        suppressed["holdout (experiment)"] = v["by_status"]["holdout"]
    parts.append("<h3>Suppression by reason</h3>")
    if suppressed:
        body = _bars(suppressed, horizontal=True)
    else:
        body = '<p class="note">Nothing suppressed or held out.</p>'
    parts.append(_figure("suppression", name, "Candidates not sent, by the policy's reason.", body))
    messages = v["messages_per_customer"]
    parts.append("<h3>Messages per customer</h3>")
    parts.append(
        _figure(
            "messages-per-customer",
            name,
            f"Customers with a candidate ({messages['customers']:,}) by messages sent to them; "
            f"mean {messages['mean']:.2f}, 95th percentile {messages['p95']}, "
            f"max {messages['max']}.",
            _bars(messages["histogram"], horizontal=False),
        )
    )
    overlap = v["overlap"]
    parts.append("<h3>Overlap between rules</h3>")
    if overlap["rules"]:
        body = _heatmap(overlap["rules"], overlap["customers"])
    else:
        body = '<p class="note">No candidates.</p>'
    parts.append(
        _figure(
            "overlap",
            name,
            "Customers with candidates of both rules (the diagonal: each rule's customers).",
            body,
        )
    )
    conversion = v["conversion"]
    window = escape(summary["attribution_window"])
    parts.append(f"<h3>Conversion within {window}: treatment vs holdout</h3>")
    parts.append(
        _figure(
            "conversion",
            name,
            f"Share of customers (per experiment) who purchased within {window} after their "
            "first decision of the experiment, with 95 % Wilson intervals.",
            _conversion_chart(conversion),
        )
    )
    parts.append(_conversion_table(conversion) + _lift_text(conversion))
    parts.append("</section>")
    return "".join(parts)


def render_report(summary: dict[str, Any]) -> str:
    """Return the report of a backtest summary as one HTML document."""
    history = summary["history"]
    where = escape(str(history.get("source", "")))
    span = ""
    if "from" in history:
        span = f", record times {escape(history['from'])} to {escape(history['to'])}"
    run = summary.get("run", {})
    events = ""
    if "events" in history:
        events = (
            f'<span data-field="events">{_n(history["events"])}</span> on-time events from '
            f"{escape(history.get('first_event', ''))} to {escape(history.get('last_event', ''))}, "
        )
    meta = (
        f'<p class="meta" id="history">History: {where}{span}: '
        f'<span data-field="records">{_n(history["records"])}</span> records, {events}'
        f'<span data-field="dead_letters">{_n(history.get("dead_letters", 0))}</span> '
        f'dead letters, <span data-field="late_events">{_n(history.get("late_events", 0))}'
        f'</span> late, <span data-field="purchases">{_n(history["purchases"])}</span> '
        f"purchases. Attribution window {escape(summary['attribution_window'])}. "
        f"One Flink run of {len(summary['variants'])} variants"
        + (f" in {run['flink_seconds']:.1f} s" if "flink_seconds" in run else "")
        + ".</p>"
    )
    note = (
        '<p class="note">On history in which nothing was sent, treatment and holdout were '
        "treated alike: the lift should be near 0 with an interval that covers it. A replay "
        "of a period in which the live job ran its holdouts measures the real lift.</p>"
    )
    sections = "".join(_variant_section(summary, v) for v in summary["variants"])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>journey-triggers backtest</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>journey-triggers backtest</h1>"
        f"{meta}<h2>Variants</h2>{_headline(summary)}{note}{sections}"
        "</body></html>\n"
    )

"""``journey-triggers backtest``: variants over one history in one Flink run, and the report.

Two variants (the policy test's rules with its policy, and with a looser policy: no caps,
half the customers held out) run over two days of a generated history in ONE job. The history
is on a topic (``journey-triggers produce``: record times are event times), and the backtest
reads the range ``--from``/``--to`` (ISO times) of it. Each variant's decisions must equal the
reference engine's over exactly the events of that range; the history must be scanned once;
and the HTML report, rendered by headless Chromium, must draw every chart with the numbers of
the JSON summary.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from journey_triggers import broker
from journey_triggers.events import Event, parse_event, parse_timestamp_ms
from journey_triggers.generator import GeneratorConfig, generate
from journey_triggers.policy import PolicyBook, load_policy
from journey_triggers.replay import iso
from journey_triggers.rules.loader import load_rules
from journey_triggers.semantics.evaluator import evaluate_rules, policy_entries
from journey_triggers.semantics.policy import apply_policy
from tests.integration.conftest import canonical_decisions, journey_triggers_cli, read_json_lines

pytestmark = pytest.mark.integration

DATA = Path(__file__).parent / "data"
RULES_FILE = DATA / "policy_rules.yaml"
DAY = 86_400_000
LOOSE_POLICY = """
version: 1
priority_window: 20m
consent_defaults: {push: true, email: true, sms: true}
experiments:
  - id: nudge_threshold
    holdout: 50
    variants:
      - {name: two_views, weight: 1, rule: viewed_twice}
      - {name: three_views, weight: 1, rule: viewed_thrice}
"""
CHROMIUM_FLAGS = (
    # As this machine's probe starts it: without the background-networking flags Chromium
    # keeps trying hosts the closed network refuses.
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
)
CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const out = {charts: [], headline: [], lifts: [], history: {}};
  for (const fig of document.querySelectorAll('figure.chart')) {
    const marks = [...fig.querySelectorAll('.mark')].map(m => {
      const box = m.getBoundingClientRect();
      return {series: m.dataset.series ?? null, label: m.dataset.label ?? null,
              row: m.dataset.row ?? null, col: m.dataset.col ?? null,
              value: Number(m.dataset.value), width: box.width, height: box.height};
    });
    const svg = fig.querySelector('svg');
    out.charts.push({chart: fig.dataset.chart, variant: fig.dataset.variant, marks,
                     drawn: svg ? svg.getBoundingClientRect().width : 0});
  }
  for (const tr of document.querySelectorAll('#headline tbody tr')) {
    const cells = {};
    for (const td of tr.querySelectorAll('td[data-field]'))
      cells[td.dataset.field] = td.textContent;
    out.headline.push({variant: tr.dataset.variant, cells});
  }
  for (const p of document.querySelectorAll('section.variant')) {
    const lift = p.querySelector('p.lift');
    out.lifts.push({variant: p.dataset.variant, text: lift ? lift.textContent : null,
                    absolute: lift ? Number(lift.dataset.absolute) : null});
  }
  for (const s of document.querySelectorAll('#history [data-field]'))
    out.history[s.dataset.field] = s.textContent;
  const pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def reference(lines: list[str], policy_file: Path) -> list[dict[str, Any]]:
    rules = tuple(item.rule for item in load_rules([RULES_FILE]))
    events = sorted(
        (e for text in lines if isinstance(e := parse_event(text), Event)), key=lambda e: e.ts_ms
    )
    book = PolicyBook((load_policy(policy_file),))
    outputs = apply_policy(book, policy_entries(rules, evaluate_rules(rules, events), events))
    return [d for d in outputs if d.get("type") == "decision"]


def render(report: Path, tmp_path: Path) -> dict[str, Any]:
    """Open the report in headless Chromium; return what its check script measured."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is needed: apt-get install chromium (.ci/run installs it)"
    page = tmp_path / "check.html"
    page.write_text(report.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    result = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    found = re.search(r'<pre id="check">(.*?)</pre>', result.stdout, re.S)
    assert found, f"Chromium did not render the page: {result.stderr[-2000:]}"
    measured: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return measured


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace("+", ""))


def test_variants_over_a_time_range_run_in_one_job_and_the_report_draws_the_summarys_numbers(
    local_broker, no_leftover_processes, tmp_path
):
    bootstrap = local_broker.bootstrap_servers
    history = tmp_path / "history.jsonl"
    config = GeneratorConfig(customers=160, seed=5, horizon_ms=4 * DAY)
    generated = [text for _, text in generate(config)]
    history.write_text("".join(line + "\n" for line in generated))
    broker.create_topics(bootstrap, {"bt.events": 2})
    produced = journey_triggers_cli(
        "produce", str(history), "--bootstrap-servers", bootstrap, "--topic", "bt.events"
    )
    assert produced.returncode == 0, produced.stderr[-2000:]
    start, end = config.start_ms + DAY, config.start_ms + 3 * DAY
    times = [parse_timestamp_ms(json.loads(t)["ts"]) for t in generated]  # all valid here
    lines = [t for t, at in zip(generated, times, strict=True) if at and start <= at < end]
    loose = tmp_path / "loose-policy.yaml"
    loose.write_text(LOOSE_POLICY)
    variants = tmp_path / "variants.yaml"
    variants.write_text(
        "attribution_window: 12h\n"
        "variants:\n"
        f"  - {{name: baseline, rules: [{RULES_FILE}], policy: {DATA / 'policy.yaml'}}}\n"
        f"  - {{name: loose, rules: {RULES_FILE}, policy: {loose.name},\n"
        "     description: no caps and a 50 % holdout}\n"
    )
    report = tmp_path / "out" / "report.html"
    result = journey_triggers_cli(
        "backtest",
        "--variants", str(variants),
        "--bootstrap-servers", bootstrap,
        "--topic", "bt.events",
        "--from", iso(start),
        "--to", iso(end),
        "--report", str(report),
        "--output-dir", str(tmp_path / "records"),
        "--parallelism", "2",
        "--checkpoint-interval", "1s",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(rf"backtest \[#+\] {len(lines):,} / {len(lines):,} events 100%", result.stderr)
    summary = json.loads(report.with_suffix(".json").read_text())
    assert [v["name"] for v in summary["variants"]] == ["baseline", "loose"]

    # One run, sharing the source: one scan of the history, as a plain run has, for every
    # variant (the dead letters and the valid events read one stream too).
    assert len(summary["run"]["source_scans"]) == 1, summary["run"]["source_scans"]

    # The history's end is its last event: later triggers (windows still open) are censored.
    events = [e for text in lines if isinstance(e := parse_event(text), Event)]
    horizon = max(e.ts_ms for e in events)
    assert summary["horizon_ms"] == horizon
    counted = summary["history"]
    assert counted["events"] + counted["late_events"] + counted["dead_letters"] == len(lines)

    # Each variant decided as the reference does with its policy.
    for variant, policy in zip(summary["variants"], (DATA / "policy.yaml", loose), strict=True):
        got = read_json_lines(tmp_path / "records" / "variants" / variant["name"] / "decisions")
        expected = reference(lines, policy)
        assert canonical_decisions(got) == canonical_decisions(expected), variant["name"]
        assert variant["records"] == len(expected)
        ids: dict[str, set[str]] = defaultdict(set)
        late: dict[str, set[str]] = defaultdict(set)
        for d in expected:
            (ids if d["trigger_time_ms"] <= horizon else late)[d["rule_id"]].add(d["decision_id"])
        assert {r: c["candidates"] for r, c in variant["per_rule"].items() if c["candidates"]} == {
            r: len(s) for r, s in ids.items()
        }
        assert variant["censored_by_rule"] == {r: len(s) for r, s in sorted(late.items())}
    baseline, looser = summary["variants"]
    assert baseline["suppressed_by_reason"].get("frequency_cap", 0) > 0
    assert "frequency_cap" not in looser["suppressed_by_reason"]
    assert looser["by_status"]["holdout"] > baseline["by_status"]["holdout"] > 0
    for variant in summary["variants"]:
        conversion = variant["conversion"]
        assert conversion["treatment"]["units"] > 0 and conversion["holdout"]["units"] > 0
        low, high = conversion["lift"]["ci95"]
        assert low <= conversion["lift"]["absolute"] <= high
    purchases = sum(1 for text in lines if '"event_type":"purchase"' in text)
    assert summary["history"]["purchases"] == purchases > 0

    # The report: self-contained, and drawn by a browser with the summary's numbers.
    text = report.read_text()
    assert "<script" not in text and "<link" not in text
    assert set(re.findall(r"https?://[^\"' ]+", text)) == {"http://www.w3.org/2000/svg"}
    measured = render(report, tmp_path)
    charts = {(c["chart"], c["variant"]): c for c in measured["charts"]}
    for variant in summary["variants"]:
        name = variant["name"]
        for chart in ("triggers-over-time", "suppression", "messages-per-customer", "overlap",
                      "conversion"):  # fmt: skip
            assert charts[(chart, name)]["drawn"] > 0, (chart, name)
        over_time = charts[("triggers-over-time", name)]["marks"]
        drawn: dict[str, list[float]] = defaultdict(list)
        for mark in over_time:
            drawn[mark["series"]].append(mark["value"])
        assert drawn == {r: [float(n) for n in s] for r, s in variant["triggers_over_time"].items()}
        assert_proportional(over_time, "height")
        suppression = {m["label"]: m["value"] for m in charts[("suppression", name)]["marks"]}
        reasons = dict(variant["suppressed_by_reason"])
        reasons["holdout (experiment)"] = variant["by_status"]["holdout"]
        assert suppression == reasons
        assert_proportional(charts[("suppression", name)]["marks"], "width")
        messages = charts[("messages-per-customer", name)]["marks"]
        assert {m["label"]: m["value"] for m in messages} == variant["messages_per_customer"][
            "histogram"
        ]
        assert_proportional(messages, "height")
        overlap = variant["overlap"]
        cells = {(m["row"], m["col"]): m["value"] for m in charts[("overlap", name)]["marks"]}
        assert cells == {
            (a, b): overlap["customers"][i][j]
            for i, a in enumerate(overlap["rules"])
            for j, b in enumerate(overlap["rules"])
        }
        rates = {m["label"]: m["value"] for m in charts[("conversion", name)]["marks"]}
        conversion = variant["conversion"]
        assert rates == {g: conversion[g]["rate"] for g in ("treatment", "holdout")}
        lift = next(item for item in measured["lifts"] if item["variant"] == name)
        assert lift["absolute"] == pytest.approx(conversion["lift"]["absolute"])
        assert f"{conversion['lift']['absolute']:+.1%}" in lift["text"]
        row = next(item["cells"] for item in measured["headline"] if item["variant"] == name)
        assert number(row["candidates"]) == variant["candidates"]
        for status in ("send", "suppressed", "holdout", "deferred"):
            assert number(row[status]) == variant["by_status"][status]
        assert number(row["messaged"]) == variant["messages_per_customer"]["messaged"]
        assert number(row["mean"]) == pytest.approx(
            variant["messages_per_customer"]["mean"], abs=0.005
        )
    assert number(measured["history"]["purchases"]) == summary["history"]["purchases"]
    assert number(measured["history"]["records"]) == len(lines)
    assert number(measured["history"]["events"]) == summary["history"]["events"]
    assert Counter(c["variant"] for c in measured["charts"]) == {"baseline": 5, "loose": 5}


def assert_proportional(marks: list[dict[str, Any]], side: str) -> None:
    """Every drawn mark's ``side`` is its value times one scale (to a pixel), none for 0.

    The scale is fitted over all marks: a small mark's own ratio is off by the layout's
    rounding (Chromium lays out in 1/64 px).
    """
    drawn = [m for m in marks if m["value"] > 0]
    assert drawn, "nothing drawn"
    scale = sum(m[side] for m in drawn) / sum(m["value"] for m in drawn)
    assert scale > 0
    for mark in marks:
        assert mark[side] == pytest.approx(mark["value"] * scale, abs=1.0), mark

from __future__ import annotations

from pathlib import Path

from journey_triggers import cli

ROOT = Path(__file__).resolve().parents[2]

RULES = """\
version: 1
rules:
  - id: logins
    version: 1
    description: every login
    trigger: {kind: event, on: {event: login}}
    output: {action: welcome, channels: [email]}
"""


def write(tmp_path: Path, cases: str) -> Path:
    (tmp_path / "rules.yaml").write_text(RULES)
    fixture = tmp_path / "logins.test.yaml"
    fixture.write_text("rules: rules.yaml\ncases:\n" + cases)
    return fixture


def test_standard_pack_fixtures_pass(capsys):
    assert cli.main(["test-rules", str(ROOT / "rules" / "tests")]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("passed, 0 failed")


def test_failing_case_names_file_line_and_the_difference(tmp_path, capsys):
    fixture = write(
        tmp_path,
        "  - name: a login fires\n"
        "    events:\n"
        "      - {event_id: l1, event_type: login, customer_id: c1, ts: 1000}\n"
        "    expect:\n"
        "      - {rule: logins, anchor: l2, at: 1000}\n",
    )
    assert cli.main(["test-rules", str(fixture)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL {fixture}:3: a login fires" in out
    assert "missing:    logins anchored at l2 at 1970-01-01T00:00:01.000Z" in out
    assert "unexpected: logins anchored at l1 at 1970-01-01T00:00:01.000Z" in out
    assert "0 passed, 1 failed" in out


def test_invalid_fixture_event_is_reported_with_its_line(tmp_path, capsys):
    fixture = write(
        tmp_path,
        "  - name: broken event\n"
        "    events:\n"
        "      - {event_id: l1, event_type: teleport, customer_id: c1, ts: 1000}\n"
        "    expect: []\n",
    )
    assert cli.main(["test-rules", str(fixture)]) == 1
    assert "error: line 5: event 1 is invalid: unknown_event_type" in capsys.readouterr().out


def test_unknown_rule_in_a_case_is_an_error(tmp_path, capsys):
    fixture = write(
        tmp_path, "  - name: wrong rule\n    rules: [nope]\n    events: []\n    expect: []\n"
    )
    assert cli.main(["test-rules", str(fixture)]) == 1
    assert "unknown rule(s) ['nope']" in capsys.readouterr().out


def test_no_fixture_files_is_an_error(tmp_path, capsys):
    assert cli.main(["test-rules", str(tmp_path)]) == 2
    assert "no *.test.yaml fixture files" in capsys.readouterr().err

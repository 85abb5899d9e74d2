"""Export the rule language's JSON Schema (``schemas/rules.v1.json``)."""

from __future__ import annotations

import json
from typing import Any

from journey_triggers.rules.model import RuleFile

SCHEMA_ID = "https://journey-triggers.dev/schemas/rules.v1.json"


def rules_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a rule file."""
    schema = RuleFile.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "journey-triggers rule file, version 1",
        **schema,
    }


def rules_json_schema_text() -> str:
    """Return the schema as the committed file holds it."""
    return json.dumps(rules_json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    print(rules_json_schema_text(), end="")

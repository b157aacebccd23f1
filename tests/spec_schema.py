"""Validates JSON against the official ADT 2023-10-31 spec (Swagger 2.0 definitions)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator

SPEC_DIR = Path(__file__).resolve().parent / "spec"
SPEC_FILE = SPEC_DIR / "digitaltwins-2023-10-31.json"


@lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    return json.loads(SPEC_FILE.read_text(encoding="utf-8"))


def validator(definition: str) -> Draft4Validator:
    schema = {"$ref": f"#/definitions/{definition}", "definitions": spec()["definitions"]}
    return Draft4Validator(schema)


def assert_valid(definition: str, instance: Any) -> None:
    errors = sorted(validator(definition).iter_errors(instance), key=str)
    assert not errors, f"{definition} does not match the spec: {[e.message for e in errors]}"


def documented_statuses(path: str, method: str) -> set[str]:
    return set(spec()["paths"][path][method]["responses"])

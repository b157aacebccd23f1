"""Validates real responses of the functions against docs/openapi.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


@lru_cache(maxsize=1)
def openapi() -> dict[str, Any]:
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, name = node["$ref"].split("/")[-2:]
        node = openapi()["components"][section][name]
    return node


def assert_matches_openapi(path: str, method: str, response: Any) -> None:
    """``response`` is an azure.functions.HttpResponse returned by a function."""
    operation = openapi()["paths"][path][method]
    status = str(response.status_code)
    documented = operation["responses"].get(status) or operation["responses"].get(f"{status[0]}XX")
    assert documented is not None, f"{method.upper()} {path} answered {status}, which the OpenAPI document omits"
    documented = _resolve(documented)
    for header in documented.get("headers", {}):
        assert header in response.headers, f"{status} lacks the documented header {header}"
    media = documented.get("content", {}).get("application/json")
    if media is not None:
        assert response.headers.get("Content-Type", "").startswith("application/json")
        schema = {**media["schema"], "components": openapi()["components"]}
        errors = sorted(OAS30Validator(schema).iter_errors(json.loads(response.get_body())), key=str)
        assert not errors, [e.message for e in errors]

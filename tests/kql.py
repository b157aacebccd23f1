"""KQL checked with Microsoft's Kusto language service (npm @kusto/language-service-next,
driven by devtools/kql_check.js) against the Application Insights tables and columns the
app's queries use, declared once here."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from devtools.azurite import REPO_ROOT
from tests.bicep import load

# The Application Insights schema (the classic tables a query on the component reads).
_COMMON = [
    ("timestamp", "datetime"),
    ("itemType", "string"),
    ("customDimensions", "dynamic"),
    ("operation_Id", "string"),
    ("operation_Name", "string"),
    ("operation_ParentId", "string"),
    ("cloud_RoleName", "string"),
    ("cloud_RoleInstance", "string"),
]
APPLICATION_INSIGHTS = {
    "traces": [*_COMMON, ("message", "string"), ("severityLevel", "int")],
    "requests": [
        *_COMMON,
        ("id", "string"),
        ("name", "string"),
        ("url", "string"),
        ("success", "bool"),
        ("resultCode", "string"),
        ("duration", "real"),
    ],
    "dependencies": [
        *_COMMON,
        ("id", "string"),
        ("name", "string"),
        ("target", "string"),
        ("type", "string"),
        ("data", "string"),
        ("success", "bool"),
        ("resultCode", "string"),
        ("duration", "real"),
    ],
    "exceptions": [*_COMMON, ("type", "string"), ("outerMessage", "string"), ("problemId", "string")],
}
CHECKER = REPO_ROOT / "devtools" / "kql_check.js"


def kql_errors(queries: list[str]) -> list[list[str]]:
    """The language service's errors for each query (an empty list: it is sound)."""
    node = shutil.which("node") or "node"
    answer = subprocess.run(
        [node, str(CHECKER)],
        input=json.dumps({"tables": APPLICATION_INSIGHTS, "queries": queries}),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=True,
    )
    return json.loads(answer.stdout)


def _bicep_string(raw: str, variables: dict[str, str]) -> str:
    """A single-quoted Bicep string's value: escapes undone, ${var} replaced."""
    value = raw.replace("\\'", "'")
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], value)


def alert_queries() -> dict[str, str]:
    """Each alert rule's query in infra/modules/alerts.bicep, by rule name, as deployed."""
    source = load("modules/alerts.bicep").source
    variables: dict[str, str] = {}
    for name, raw in re.findall(r"^var (\w+) = '((?:[^'\\]|\\.)*)'$", source, re.M):
        variables[name] = _bicep_string(raw, variables)
    queries = {}
    for block in re.findall(r"\{\s*name: '([\w-]+)'(.*?)\n  \}", source, re.S):
        name, body = block
        query = re.search(r"query: '((?:[^'\\]|\\.)*)'", body)
        if query:
            queries[name] = _bicep_string(query.group(1), variables)
    return queries


WORKBOOK = REPO_ROOT / "infra" / "workbook" / "workbook.json"


def workbook_queries() -> dict[str, str]:
    """Each query panel of the workbook, by name."""
    items = json.loads(WORKBOOK.read_text(encoding="utf-8"))["items"]
    return {item["name"]: item["content"]["query"] for item in items if item["type"] == 3}

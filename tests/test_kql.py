"""Every KQL query in infra/ is checked with Microsoft's Kusto language service against the
Application Insights schema, and reads the app's own field names (issue 30)."""

from __future__ import annotations

import json

from cancel_job.contract import (
    CALLER_ERROR_CODES,
    CALLER_FIELD,
    FUNCTION_NAMES,
    OUTCOME_FAILED,
    OUTCOME_FIELD,
    PACING_FALLBACK,
    PACING_FIELD,
)
from tests.kql import WORKBOOK, alert_queries, kql_errors, workbook_queries


def test_every_alert_query_is_sound_against_the_application_insights_schema() -> None:
    queries = alert_queries()
    assert set(queries) == {"failed-cancels", "caller-mistakes", "silent-failures", "pacing-fallback"}
    errors = dict(zip(queries, kql_errors(list(queries.values())), strict=True))
    assert errors == {name: [] for name in queries}


def test_the_checker_reports_an_unknown_column_and_a_syntax_error() -> None:
    unknown, syntax, sound = kql_errors(
        ["traces | where nosuchcolumn == 1", "traces | wher outcome", 'traces | where message has "x"']
    )
    assert any("nosuchcolumn" in e for e in unknown) and syntax and sound == []


def test_the_alerts_read_the_apps_field_names_and_codes() -> None:
    queries = alert_queries()
    failed = f'tostring(customDimensions["{OUTCOME_FIELD}"]) == "{OUTCOME_FAILED}"'
    assert failed in queries["failed-cancels"] and failed in queries["caller-mistakes"]
    listed = ", ".join(f'"{code}"' for code in CALLER_ERROR_CODES)
    assert f"errorCode !in ({listed})" in queries["failed-cancels"]  # the platform's and ADT's
    assert f"errorCode in ({listed})" in queries["caller-mistakes"]  # the callers' own
    assert f'tostring(customDimensions["{PACING_FIELD}"]) == "{PACING_FALLBACK}"' in queries["pacing-fallback"]
    functions = ", ".join(f'"{name}"' for name in FUNCTION_NAMES)
    assert f"operation_Name in ({functions})" in queries["silent-failures"]
    assert "join kind=leftanti" in queries["silent-failures"]  # failed and wrote no outcome at all


def test_the_functions_the_backstop_watches_are_the_apps() -> None:
    from cancel_job.contract import QUEUE_DEPTH_FUNCTION
    from tests.helpers import functions_by_name

    assert set(FUNCTION_NAMES) == set(functions_by_name()) - {QUEUE_DEPTH_FUNCTION}  # the timer has no outcome


def test_every_workbook_query_is_sound_and_the_panels_cover_what_operators_asked_for() -> None:
    queries = workbook_queries()
    errors = dict(zip(queries, kql_errors(list(queries.values())), strict=True))
    assert errors == {name: [] for name in queries}
    assert set(queries) >= {
        "outcomes",
        "failures-by-code",
        "failures-by-caller",
        "adt-calls",
        "deferrals",
        "time-to-final",
        "pacing",
        "queue-depths",
    }
    items = json.loads(WORKBOOK.read_text(encoding="utf-8"))["items"]
    metrics = {item["name"]: item["content"] for item in items if item["type"] == 10}
    assert metrics["queue-depth"]["resourceIds"] == ["__STORAGE_ACCOUNT_ID__"]
    assert metrics["executions"]["resourceIds"] == ["__FUNCTION_APP_ID__"]
    assert all(
        item["content"].get("timeContextFromParameter") == "TimeRange" for item in items if item["type"] in (3, 10)
    )
    assert f'customDimensions["{PACING_FIELD}"]) == "{PACING_FALLBACK}"' in queries["pacing"]
    assert f'customDimensions["{CALLER_FIELD}ObjectId"]' in queries["failures-by-caller"]


def test_the_workbook_is_deployed_shared_and_updated_in_place() -> None:
    from tests.bicep import load, path, text

    bicep = load("modules/workbook.bicep")
    [(_, workbook)] = bicep.resources("Microsoft.Insights/workbooks@")
    assert text(path(workbook, "kind")) == "shared"
    assert text(path(workbook, "name")).startswith("guid(resourceGroup().id")  # deterministic
    assert text(path(workbook, "properties", "sourceId")) == "applicationInsightsId"
    assert "loadTextContent('../workbook/workbook.json')" in bicep.source
    for placeholder in ("__APPLICATION_INSIGHTS_ID__", "__STORAGE_ACCOUNT_ID__", "__FUNCTION_APP_ID__"):
        assert placeholder in bicep.source and placeholder in WORKBOOK.read_text(encoding="utf-8")
    main = load("main.bicep").source
    assert "module workbook 'modules/workbook.bicep'" in main and "output WORKBOOK_ID" in main

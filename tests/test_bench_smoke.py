"""The benchmark's moving parts work (no timings are asserted: figures live in docs/)."""

from __future__ import annotations

import os

import pytest

from devtools import bench_clients as clients
from devtools import bench_queues as queues
from devtools import bench_report as report
from devtools.azurite import REPO_ROOT
from devtools.emulator_process import EmulatorProcess
from devtools.fleet_drain import FleetDrain


@pytest.fixture(scope="module")
def emulator_process():
    with EmulatorProcess() as emulator:
        yield emulator


def test_every_variant_cancels_against_the_emulator_process(emulator_process, monkeypatch) -> None:
    for key, value in {**emulator_process.environment, **clients.OVERHEAD_SETTINGS}.items():
        monkeypatch.setenv(key, value)
    from azure.identity import ManagedIdentityCredential

    from cancel_job.runtime import reset_service

    reset_service()
    token = ManagedIdentityCredential().get_token(clients.SCOPE).token
    variants = {
        "bare": clients.bare_client(emulator_process, token),
        "function (HTTP)": clients.function_http(),
        "function (queue)": clients.function_queue(),
        "SDK": clients.sdk_client(emulator_process),
        "naive": clients.naive_client(emulator_process),
    }
    comparison = clients.Comparison(list(variants)).run(emulator_process, variants, blocks=2, size=3)
    assert all(len(rates) == 2 and all(r > 0 for r in rates) for rates in comparison.rates.values())
    stats = emulator_process.control("stats")
    assert stats["cancelsApplied"] == 30
    reset_service()


def test_the_ceiling_and_import_report_run(emulator_process, monkeypatch) -> None:
    from azure.identity import ManagedIdentityCredential

    for key, value in emulator_process.environment.items():
        monkeypatch.setenv(key, value)
    token = ManagedIdentityCredential().get_token(clients.SCOPE).token
    assert clients.emulator_ceiling(emulator_process, token, per_process=5, processes=2) > 0
    imports = dict(clients.import_times({**os.environ, "PYTHONPATH": str(REPO_ROOT)}))
    assert imports["function_app"] > 0 and "azure.functions" in imports


def test_each_goal_is_reported_met_or_missed() -> None:
    rows = [
        report.Row("a", "1.0", ">= 1", True),
        report.Row("b", "0.5", ">= 1", False),
        report.Row("c", "x", "-", None),
    ]
    assert "| a | 1.0 | >= 1 | met |" in report.table(rows) and "| b | 0.5 | >= 1 | **missed** |" in report.table(rows)
    assert report.verdict(rows) == "Goals met in this run: 1 of 2. Missed: b."
    assert report.verdict(rows[:1]) == "Goals met in this run: 1 of 1."


@pytest.mark.azurite
def test_the_throttled_drains_print_nothing_but_the_benchmarks_own_output(azurite_session, caplog) -> None:
    """make bench keeps its output to its progress and its table: a request the spacing-off
    comparison gets throttled on is deferred (INFO), not logged as a retrying WARNING."""
    import logging

    from cancel_job.runtime import reset_service

    saved = dict(os.environ)
    caplog.set_level(logging.INFO)
    try:
        drain = queues.throttled_drain(azurite_session.connection_string, 0.0, messages=8, rate=10.0, max_seconds=60)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reset_service()
    assert drain.calls >= 8 and drain.throttled > 0  # the comparison did meet ADT's throttling
    loud = [r.getMessage()[:120] for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == []


def _drain(**figures: float) -> FleetDrain:
    base = {
        "scope": "shared",
        "processes": 8,
        "messages": 1000,
        "rate": 10.0,
        "seconds": 130.0,
        "calls": 1000,
        "throttled": 0,
        "results": 1000,
        "failures": 0,
        "throttling_failures": 0,
        "poison": 0,
        "deliveries": 1400,
        "store_transactions": 6000,
        "store_outages": 0,
        "peak_rss_mb": 70.0,
    }
    return FleetDrain(**{**base, **figures})  # type: ignore[arg-type]


def test_the_backlog_row_judges_the_even_drain_and_only_reports_the_skewed_one() -> None:
    rows = queues.backlog_rows(_drain(), _drain(seconds=300.0, throttled=400, calls=1400))
    judged = [row for row in rows if row.met is not None]
    assert [row.met for row in judged] == [True, True, True, True]  # 1.3x, 0%, 1.4, 6.0
    assert all(row.goal == "-" for row in rows if "(beside)" in row.name)
    assert any(row.figure == "3.00 (300.0 s)" for row in rows if "(beside)" in row.name)


def test_a_backlog_that_lost_a_request_meets_no_goal_and_one_that_ended_twice_is_counted() -> None:
    lost = queues.backlog_rows(_drain(results=999), None)
    assert [row.met for row in lost if row.met is not None] == [False] * 4
    twice = queues.backlog_rows(_drain(results=1003, calls=1003), None)
    assert [row.figure for row in twice if "ended twice" in row.name] == ["3"]
    assert "libfaketime" in twice[-1].figure

"""The benchmark's moving parts work (no timings are asserted: figures live in docs/)."""

from __future__ import annotations

import os

import pytest

from devtools import bench_clients as clients
from devtools import bench_queues as queues
from devtools import bench_report as report
from devtools.azurite import REPO_ROOT
from devtools.emulator_process import EmulatorProcess


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

"""A small fault-injection soak in CI; `make soak` runs N = 1,000."""

import pytest

from devtools.adt_emulator import AdtEmulator
from devtools.azurite import Azurite
from devtools.soak import SOAK_RATE, SOAK_SETTINGS, SoakReport, run_fleet_soak, run_soak

pytestmark = [pytest.mark.azurite, pytest.mark.soak]


def test_every_message_is_accounted_for_exactly_once(app_env, emulator, azurite, monkeypatch) -> None:
    for key, value in SOAK_SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)  # as deployed: shared pace, deferrals
    from cancel_job.runtime import reset_service

    reset_service()
    report = run_soak(emulator, azurite, messages=60, seed=11, chaos_rate=0.35, max_seconds=240)
    print(report.table())
    assert report.sent == 60
    assert report.faults_injected > 0
    assert report.throttle_rate == SOAK_RATE > 0  # the instance throttled as ADT does, all along
    assert report.lost == []
    assert report.unmatched == []
    assert report.cancelled_without_result == []
    assert report.poison_the_function_saw == []
    assert report.results + report.failures + report.poison == report.sent
    assert report.poison == 0  # messageEncoding none: the function sees and records every message
    assert set(report.producers) == {"plain", "text-base64", "binary-base64"}


def balanced(report: SoakReport) -> None:
    print(report.table())
    assert report.lost == [] and report.unmatched == []
    assert report.cancelled_without_result == [] and report.poison == 0
    assert report.ok


def test_a_fleet_that_gets_killed_loses_nothing(app_env, emulator: AdtEmulator, azurite: Azurite, monkeypatch) -> None:
    for key, value in {**SOAK_SETTINGS, "STORAGE_CONNECTION": azurite.connection_string}.items():
        monkeypatch.setenv(key, value)
    report = run_fleet_soak(
        emulator, azurite, messages=60, seed=5, chaos_rate=0.3, processes=3, kill=True, max_seconds=240
    )
    balanced(report)
    assert report.kills > 0


def test_a_storage_outage_in_the_middle_loses_nothing(app_env, emulator: AdtEmulator, monkeypatch) -> None:
    with Azurite(persistent=True) as azurite:
        for key, value in {**SOAK_SETTINGS, "STORAGE_CONNECTION": azurite.connection_string}.items():
            monkeypatch.setenv(key, value)
        report = run_fleet_soak(
            emulator,
            azurite,
            messages=100,
            seed=5,
            chaos_rate=0.3,
            processes=3,
            outage_seconds=3,
            outage_after=4,
            max_seconds=240,
        )
    balanced(report)
    assert report.outage_seconds >= 3

"""A small fault-injection soak in CI; `make soak` runs N = 1,000."""

import io
import re

import pytest

from devtools.adt_emulator import AdtEmulator
from devtools.azurite import Azurite
from devtools.progress import Progress
from devtools.soak import SOAK_RATE, SOAK_SETTINGS, SOAK_STEPS, SoakReport, run_fleet_soak, run_soak

pytestmark = [pytest.mark.azurite, pytest.mark.soak]


def test_every_message_is_accounted_for_exactly_once(app_env, emulator, azurite, monkeypatch) -> None:
    for key, value in SOAK_SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STORAGE_CONNECTION", azurite.connection_string)  # as deployed: shared pace, deferrals
    from cancel_job.runtime import reset_service

    reset_service()
    shown = io.StringIO()  # no terminal: one line per step
    progress = Progress("soak", SOAK_STEPS, stream=shown)
    report = run_soak(emulator, azurite, messages=60, seed=11, chaos_rate=0.35, max_seconds=240, progress=progress)
    print(report.table())
    lines = shown.getvalue().splitlines()
    assert lines[:3] == [
        "soak [1/3] sending 60 messages from 3 kinds of producer...",
        "soak [2/3] draining with 4 pumps, ADT faults on 35% of calls...",
        "soak [3/3] accounting for every message...",
    ]
    assert re.fullmatch(r"soak: 3 of 3 steps in \d+ s", lines[3]) and len(lines) == 4
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
    shown = io.StringIO()
    report = run_fleet_soak(
        emulator,
        azurite,
        messages=60,
        seed=5,
        chaos_rate=0.3,
        processes=3,
        kill=True,
        max_seconds=240,
        progress=Progress("soak-kill", SOAK_STEPS, stream=shown),
    )
    balanced(report)
    assert report.kills > 0
    assert shown.getvalue().splitlines()[1] == "soak-kill [2/3] draining with 3 processes, one killed every 2-5 s..."


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

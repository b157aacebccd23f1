"""The trust rules with real processes: pump processes of the app share Azurite (queues and
the pacing record) and one emulator process, and a bad record or a day-long Retry-After
no longer stalls them (issue 29; on main before it, 0 of 12 cancels got a result)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from cancel_job.contract import PACING_CONTAINER
from cancel_job.endpoints import parse_endpoint
from cancel_job.pacing import record_name
from devtools.azurite import Azurite
from devtools.emulator_process import EmulatorProcess
from devtools.fleet_drain import FAKETIME_LIBRARY, FleetDrain, fleet_drain, skewed_clock

pytestmark = pytest.mark.azurite

TEN_YEARS = 10 * 365 * 24 * 3600.0


def _plant_far_future_record(azurite: Azurite):
    """Every moment the pacing record holds, ten years ahead (a clock gone wrong, a hand edit)."""

    def plant(emulator: EmulatorProcess) -> None:
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.blob import ContainerClient

        container = ContainerClient.from_connection_string(azurite.connection_string, PACING_CONTAINER)
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        far = time.time() + TEN_YEARS
        name = record_name(parse_endpoint(emulator.endpoint))
        container.upload_blob(f"{name}.json", json.dumps({"nextTurn": far, "blockedUntil": far}), overwrite=True)

    return plant


def _one_day_long_retry_after(emulator: EmulatorProcess) -> None:
    fault = {"op": "cancel", "status": 429, "headers": {"Retry-After": "86400"}, "times": 1}
    emulator.control("faults", fault)


def _twelve_cancels_by_two_processes(azurite: Azurite, **options: Any) -> FleetDrain:
    return fleet_drain(azurite, "shared", processes=2, messages=12, rate=4.0, **options)


def test_a_record_ten_years_ahead_does_not_stall_the_fleet(azurite: Azurite) -> None:
    drain = _twelve_cancels_by_two_processes(azurite, max_seconds=150, prepare=_plant_far_future_record(azurite))
    assert (drain.results, drain.failures, drain.poison) == (12, 0, 0)
    assert drain.seconds < 150


def test_a_day_long_retry_after_closes_the_instance_only_for_the_cap(azurite: Azurite) -> None:
    # A 20 s cap instead of the default 60 s (tests/test_trust.py holds the default): the same
    # rule, in a third of the time.
    capped = {"ADT_RETRY_AFTER_MAX_SECONDS": "20"}
    drain = _twelve_cancels_by_two_processes(
        azurite, max_seconds=180, prepare=_one_day_long_retry_after, process_env=[capped, capped]
    )
    assert (drain.results, drain.failures, drain.poison) == (12, 0, 0)
    assert drain.throttled >= 1  # the day-long 429 was answered, and then honoured for the cap only
    assert 20 <= drain.seconds < 180  # held back for the cap, not the day


@pytest.mark.fleet
@pytest.mark.skipif(
    FAKETIME_LIBRARY is None, reason="needs libfaketime (apt-get install faketime; make test installs it as root)"
)
def test_processes_300_s_fast_and_slow_keep_the_fleets_pace(azurite: Azurite) -> None:
    """4 processes x the host's 6 invocations, one 300 s fast and one 300 s slow, drain 80
    cancels against an instance throttling at 4/s: the pace is the storage service's clock."""
    drain = fleet_drain(
        azurite,
        "shared",
        processes=4,
        messages=80,
        rate=4.0,
        max_seconds=240,
        process_env=[skewed_clock(300), skewed_clock(-300)],
    )
    assert (drain.results, drain.failures, drain.poison) == (80, 0, 0)
    assert drain.throttled_share <= 0.10, drain  # goal 2%
    assert drain.ratio <= 1.6, drain  # goal 1.2


@pytest.mark.fleet
def test_a_backlog_drains_in_order_each_request_coming_back_for_the_turn_it_holds(azurite: Azurite) -> None:
    """600 cancels queued at once, 8 processes x the host's 6 invocations, an instance
    throttling at 10/s, the request deadline scaled like the rate (2.5 s, as 25 s at 1/s).
    On main before the line rule: 7.2 deliveries per cancel here (15.7 in the issue's
    measurement), 13.4 store transactions per cancel, drain 2.6-3.1x the limit."""
    drain = fleet_drain(azurite, "shared", processes=8, messages=600, rate=10.0, deadline_seconds=2.5, max_seconds=420)
    assert (drain.failures, drain.poison) == (0, 0), drain
    # None lost. A copy whose send timed out may have been stored as well as redelivered
    # (docs/contracts.md lists the duplicate paths): a second result, never a second job.
    assert drain.messages <= drain.results <= drain.messages * 1.01, drain
    assert drain.throttled_share <= 0.05, drain
    assert drain.deliveries / drain.messages <= 3, drain  # goal 1.5; measured 2.2-2.4
    assert drain.transactions_per_cancel <= 8, drain  # measured 5.6-6.5
    # The bound is 1.4; on this 2-core machine, with Azurite, the emulator and the 8
    # processes sharing it, the drain measured 1.98-2.31 alone (docs/benchmarks.md says why).
    assert drain.ratio <= 3.0, drain

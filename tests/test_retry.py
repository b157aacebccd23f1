import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cancel_job.retry import RetryBudget, RetryPolicy, is_retryable_status, server_retry_after

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [200, 301, 400, 401, 403, 404, 409, 412, 501, 505])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 0 "}, 0.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "3", "retry-after-ms": "100"}, 3.0),
        ({"retry-after-ms": "100", "x-ms-retry-after-ms": "900"}, 0.1),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"retry-after-ms": "nan"}, None),
        ({"retry-after-ms": "-1"}, None),
        ({}, None),
    ],
)
def test_server_retry_after(headers: dict[str, str], expected: float | None) -> None:
    from requests.structures import CaseInsensitiveDict

    result = server_retry_after(CaseInsensitiveDict(headers), now=NOW)
    if expected is None:
        assert result is None
    else:
        assert result == pytest.approx(expected)


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(max_attempts=10, deadline_seconds=100, base_delay_seconds=0.5, max_delay_seconds=4)
    rng = random.Random(1)
    for retry in range(1, 10):
        ceiling = min(4, 0.5 * 2 ** (retry - 1))
        samples = [policy.backoff(retry, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # spread over the whole range, not fixed
        assert min(samples) < ceiling * 0.2


def test_budget_stops_at_max_attempts_and_at_the_deadline() -> None:
    now = [0.0]
    budget = RetryBudget(RetryPolicy(max_attempts=3, deadline_seconds=10), clock=lambda: now[0])
    assert budget.allows(1, 2.0)
    assert not budget.allows(3, 0.0)
    now[0] = 9.0
    assert budget.allows(1, 1.0)
    assert not budget.allows(1, 1.5)

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


# The rule at its edges, through the production defaults (docs/testing.md).
def test_a_retry_after_date_is_read_against_the_real_clock() -> None:
    """No injected clock: the production path reads datetime.now itself."""
    from requests.structures import CaseInsensitiveDict

    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    wait = server_retry_after(CaseInsensitiveDict({"Retry-After": later}))
    assert 110 <= wait <= 120  # whole seconds in the header; the test's own time elapses
    earlier = format_datetime(datetime.now(UTC) - timedelta(seconds=120), usegmt=True)
    assert server_retry_after(CaseInsensitiveDict({"Retry-After": earlier})) == 0.0


def test_a_retry_after_date_without_a_zone_is_utc() -> None:
    assert server_retry_after({"Retry-After": "Sun, 29 Nov 2026 12:00:30 -0000"}, now=NOW) == 30.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "0"}, 0.0),
        ({"x-ms-retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "soon", "x-ms-retry-after-ms": "750"}, 0.75),  # a bad one falls through
        ({"retry-after-ms": "-1", "x-ms-retry-after-ms": "750"}, 0.75),
        ({"retry-after-ms": "inf", "x-ms-retry-after-ms": "750"}, 0.75),
        ({"Retry-After": "soon", "retry-after-ms": "200"}, 0.2),  # so does a bad Retry-After
        ({"Retry-After": "", "x-ms-retry-after-ms": "5"}, 0.005),
    ],
)
def test_the_millisecond_headers(headers: dict[str, str], expected: float) -> None:
    assert server_retry_after(headers, now=NOW) == expected


def test_the_default_policy_backs_off_from_half_a_second_to_an_8_second_cap() -> None:
    policy = RetryPolicy(max_attempts=5, deadline_seconds=25)

    class Highest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    assert [policy.backoff(n, Highest()) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert policy.backoff(1, random.Random(3)) <= 0.5


def test_the_least_wait_without_retry_after_is_one_second_after_429_and_503_only() -> None:
    policy = RetryPolicy(max_attempts=5, deadline_seconds=25)

    class Lowest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return a

    rng = Lowest()
    assert policy.wait(1, rng, 429, None) == 1.0 and policy.wait(1, rng, 503, None) == 1.0
    assert policy.wait(1, rng, 500, None) == 0.0 and policy.wait(1, rng, None, None) == 0.0
    assert policy.wait(1, rng, 429, 0.0) == 0.0  # the server's word wins, even 0
    assert policy.wait(3, rng, 503, 12.5) == 12.5


def test_the_budget_allows_a_wait_that_ends_exactly_at_the_deadline() -> None:
    now = [100.0]  # a clock that does not start at 0, as monotonic clocks do not
    budget = RetryBudget(RetryPolicy(max_attempts=3, deadline_seconds=10), clock=lambda: now[0])
    assert budget.allows(2, 10.0) and not budget.allows(2, 10.001)
    now[0] = 104.0
    assert budget.elapsed() == 4.0 and budget.deadline == 110.0


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_come_back_in_30_seconds(status: int) -> None:
    from cancel_job.retry import AUTH_RETRY_AFTER_SECONDS, AUTH_STATUSES

    assert status in AUTH_STATUSES and AUTH_STATUSES == {401, 403} and AUTH_RETRY_AFTER_SECONDS == 30.0

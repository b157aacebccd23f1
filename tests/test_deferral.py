"""The deferral rule (cancel_job/deferral.py) and its two message fields."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from cancel_job.contract import ErrorCode
from cancel_job.deferral import Deferred, GiveUp, defer, is_throttled
from cancel_job.messages import CancelRequest, FollowUp, InvalidMessageError, parse_message
from cancel_job.outcomes import Failure, failure_record
from cancel_job.trace import resolve_trace

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
DAY = 24 * 3600.0
TRACE = resolve_trace("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=1")


def throttled(retry_after: float = 6.0, code: str = ErrorCode.TOO_MANY_REQUESTS.value) -> Failure:
    return Failure(
        code, "ADT throttled", job_id="job-1", adt_status=429, transient=True, retry_after=retry_after, trace=TRACE
    )


def test_what_counts_as_throttling() -> None:
    assert is_throttled(throttled())
    assert is_throttled(throttled(code="SomeAdtCode"))  # ADT's 429 with a code of its own
    assert is_throttled(Failure(ErrorCode.TOO_MANY_REQUESTS.value, "gate", transient=True))  # our gate
    assert not is_throttled(throttled()._replace(transient=False))
    assert not is_throttled(Failure(ErrorCode.UPSTREAM_UNAVAILABLE.value, "503", adt_status=503, transient=True))


def test_the_first_deferral_sets_the_count_and_the_deadline() -> None:
    step = defer(CancelRequest("job-1", instance="adt.example"), throttled(6.0), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred)
    body = json.loads(step.body)
    assert body == {
        "jobId": "job-1",
        "traceparent": TRACE.parent.header,
        "tracestate": "vendor=1",
        "instance": "adt.example",
        "deferrals": 1,
        "notAfter": "2026-12-08T12:00:00Z",
    }
    assert 7 <= step.delay_seconds <= 8  # 6 s and up to 1.5 s of jitter, rounded up
    again = parse_message(step.body)
    assert (again.deferrals, again.not_after) == (1, NOW + timedelta(days=1))


def test_later_deferrals_keep_the_deadline_and_count_on() -> None:
    request = CancelRequest("job-1", deferrals=4, not_after=NOW + timedelta(hours=3), wait_for_completion=True)
    step = defer(request, throttled(), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred)
    body = json.loads(step.body)
    assert (body["deferrals"], body["notAfter"], body["waitForCompletion"]) == (5, "2026-12-07T15:00:00Z", True)


def test_a_deferral_never_waits_past_the_deadline() -> None:
    request = CancelRequest("job-1", deferrals=2, not_after=NOW + timedelta(seconds=3))
    step = defer(request, throttled(60.0), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred) and step.delay_seconds == 3


def test_a_request_still_throttled_at_its_deadline_gives_up_with_its_count() -> None:
    request = CancelRequest("job-1", deferrals=7, not_after=NOW)
    step = defer(request, throttled(), DAY, NOW, random.Random(3))
    assert isinstance(step, GiveUp)
    assert (step.failure.code, step.failure.transient, step.deferrals) == ("TooManyRequests", False, 7)
    assert "7 deferrals" in step.failure.message
    record = failure_record(step.failure, request_text="{}", dequeue_count=1, entry="queue", deferrals=step.deferrals)
    assert (record["deferrals"], record["jobId"], record["error"]["code"]) == (7, "job-1", "TooManyRequests")


def test_a_follow_up_defers_until_its_own_deadline_and_never_ends_in_too_many_requests() -> None:
    follow = FollowUp(3, NOW + timedelta(seconds=40))
    step = defer(CancelRequest("job-1", follow_up=follow), throttled(90.0), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred) and step.delay_seconds == 40
    assert json.loads(step.body)["followUp"] == {"checks": 3, "deadline": "2026-12-07T12:00:40Z"}
    ended = defer(
        CancelRequest("job-1", follow_up=follow, deferrals=2, not_after=follow.deadline),
        throttled(),
        DAY,
        follow.deadline,
        random.Random(3),
    )
    assert isinstance(ended, GiveUp)
    assert ended.failure.code == ErrorCode.FOLLOW_THROUGH_EXPIRED


def test_the_copy_keeps_the_producers_own_fields_and_the_record_its_request_id() -> None:
    original = {"jobId": "job-1", "requestId": "order-7", "batch": {"n": 3}, "traceparent": "not one"}
    request = parse_message(json.dumps(original))
    step = defer(request, throttled(), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred)
    copy = json.loads(step.body)
    assert (copy["requestId"], copy["batch"], copy["deferrals"]) == ("order-7", {"n": 3}, 1)
    assert copy["traceparent"] == TRACE.parent.header  # the trace the first delivery resolved
    record = failure_record(
        throttled(), request_text=step.body, dequeue_count=1, entry="queue", request_id=request.request_id
    )
    assert record["requestId"] == "order-7"


def test_a_record_of_a_request_never_deferred_has_no_deferrals_field() -> None:
    assert "deferrals" not in failure_record(throttled(), request_text="x", dequeue_count=1, entry="queue")


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"deferrals": 1}, "go together"),
        ({"notAfter": "2026-12-08T12:00:00Z"}, "go together"),
        ({"deferrals": 0, "notAfter": "2026-12-08T12:00:00Z"}, "go together"),
        ({"deferrals": True, "notAfter": "2026-12-08T12:00:00Z"}, "go together"),
        ({"deferrals": "2", "notAfter": "2026-12-08T12:00:00Z"}, "go together"),
        ({"deferrals": 2, "notAfter": "tomorrow"}, "notAfter is not an RFC 3339 time"),
        ({"deferrals": 2, "notAfter": "2026-12-08T12:00:00"}, "notAfter needs a time zone"),
        ({"turn": "2026-12-08T12:00:00Z"}, "only on a deferred request"),
        ({"deferrals": 2, "notAfter": "2026-12-08T12:00:00Z", "turn": 1765000000}, "turn is an RFC 3339 time"),
        ({"deferrals": 2, "notAfter": "2026-12-08T12:00:00Z", "turn": "soon"}, "turn is not an RFC 3339 time"),
    ],
)
def test_bad_deferral_fields_are_invalid_messages_that_keep_the_job_id(fields: dict, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as caught:
        parse_message(json.dumps({"jobId": "job-1", **fields}))
    assert reason in str(caught.value)
    assert caught.value.job_id == "job-1"


def test_a_copy_holding_a_turn_comes_back_half_a_budget_before_it_without_jitter() -> None:
    turn = NOW.timestamp() + 40.25
    step = defer(CancelRequest("job-1"), throttled(40.25)._replace(turn=turn), DAY, NOW, HighestJitter(), 25.0)
    assert isinstance(step, Deferred) and step.delay_seconds == 28  # 40.25 - 12.5, to the nearest second
    body = json.loads(step.body)
    assert body["turn"] == "2026-12-07T12:00:40.250000Z"
    assert parse_message(step.body).turn == pytest.approx(turn)


def test_a_copy_whose_turn_is_within_half_a_budget_still_waits_a_second() -> None:
    step = defer(CancelRequest("job-1"), throttled(2.6)._replace(turn=1.0), DAY, NOW, HighestJitter(), 2.5)
    assert isinstance(step, Deferred) and step.delay_seconds == 1


def test_a_held_turn_is_carried_once_and_a_refusal_without_one_drops_it() -> None:
    held = parse_message(
        json.dumps(
            {"jobId": "job-1", "deferrals": 1, "notAfter": "2026-12-08T12:00:00Z", "turn": "2026-12-07T12:00:05Z"}
        )
    )
    step = defer(held, throttled(6.0), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred) and "turn" not in json.loads(step.body)


def test_every_earlier_form_still_parses_with_no_deferral() -> None:
    for body in ("job-1", '{"jobId": "job-1"}', "eyJqb2JJZCI6ICJqb2ItMSJ9"):
        request = parse_message(body)
        assert (request.job_id, request.deferrals, request.not_after) == ("job-1", 0, None)


# -- Edges pinned exactly (each found by make mutate) ---------------------------------------


class LowestJitter(random.Random):
    """No jitter at all: the wait as it is."""

    def uniform(self, a: float, b: float) -> float:
        return a


def test_a_second_left_is_still_a_deferral_of_one_second() -> None:
    request = CancelRequest("job-1", deferrals=1, not_after=NOW + timedelta(seconds=1))
    step = defer(request, throttled(0.0), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred) and step.delay_seconds == 1


def test_without_a_retry_after_the_wait_is_the_jitter_alone() -> None:
    step = defer(CancelRequest("job-1"), throttled(0.0)._replace(retry_after=None), DAY, NOW, random.Random(3))
    assert isinstance(step, Deferred) and step.delay_seconds == 1


def test_the_jitter_adds_nothing_at_its_lowest() -> None:
    step = defer(CancelRequest("job-1"), throttled(6.0), DAY, NOW, LowestJitter())
    assert isinstance(step, Deferred) and step.delay_seconds == 6


def test_a_deferral_is_never_longer_than_a_queue_message_can_hide() -> None:
    step = defer(CancelRequest("job-1"), throttled(30 * DAY), 60 * DAY, NOW, LowestJitter())
    assert isinstance(step, Deferred) and step.delay_seconds == 7 * 24 * 3600 - 60  # a minute inside 7 days


class HighestJitter(random.Random):
    """All the jitter there may be."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(
    ("wait", "delay"),
    [
        (6.0, 8),  # a quarter of the wait: 1.5 s, rounded up with it
        (2.0, 3),  # at least a second
        (0.4, 2),
    ],
)
def test_the_jitter_is_a_quarter_of_the_wait_and_at_least_a_second(wait: float, delay: int) -> None:
    step = defer(CancelRequest("job-1"), throttled(wait), DAY, NOW, HighestJitter())
    assert isinstance(step, Deferred) and step.delay_seconds == delay


def test_a_follow_up_still_throttled_at_its_deadline_expires_as_not_confirmed() -> None:
    follow = FollowUp(3, NOW)
    step = defer(
        CancelRequest("job-1", follow_up=follow, deferrals=4, not_after=NOW), throttled(), DAY, NOW, LowestJitter()
    )
    assert isinstance(step, GiveUp)
    failure = step.failure
    assert (failure.code, failure.transient) == (ErrorCode.FOLLOW_THROUGH_EXPIRED.value, False)
    assert failure.message == (
        "ADT throttled the follow-up checks until the follow-through deadline (4 deferrals); "
        "the cancel was accepted but not confirmed"
    )


def test_giving_up_on_adts_own_429_code_is_still_too_many_requests() -> None:
    request = CancelRequest("job-1", deferrals=2, not_after=NOW)
    step = defer(request, throttled(code="SomeAdtCode"), DAY, NOW, LowestJitter())
    assert isinstance(step, GiveUp)
    assert (step.failure.code, step.failure.transient) == (ErrorCode.TOO_MANY_REQUESTS.value, False)


def test_the_copy_names_the_validated_job_id_else_the_requested_one() -> None:
    request = CancelRequest("as-requested")
    step = defer(request, throttled(), DAY, NOW, LowestJitter())
    assert isinstance(step, Deferred) and json.loads(step.body)["jobId"] == "job-1"  # the failure's, validated
    step = defer(request, throttled()._replace(job_id=None), DAY, NOW, LowestJitter())
    assert isinstance(step, Deferred) and json.loads(step.body)["jobId"] == "as-requested"


def test_a_deferral_field_alone_is_refused_with_the_rule_in_words() -> None:
    with pytest.raises(InvalidMessageError) as refused:
        parse_message(json.dumps({"jobId": "job-1", "deferrals": 2}))
    assert str(refused.value) == "deferrals (a whole number from 1) and notAfter go together"

import json

import pytest

from cancel_job.contract import MAX_MESSAGE_BYTES
from cancel_job.messages import CancelRequest, InvalidMessageError, body_text, parse_message

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_json_object_with_all_fields() -> None:
    body = json.dumps({"jobId": "j1", "traceparent": TP, "tracestate": "a=1", "instance": "x.example", "extra": 1})
    assert parse_message(body.encode()) == CancelRequest("j1", "x.example", TP, "a=1")


@pytest.mark.parametrize("body", [b"importjob1", b"  importjob1\n", b"\timportjob1 \r\n"])
def test_bare_ids_are_trimmed(body: bytes) -> None:
    assert parse_message(body) == CancelRequest("importjob1")


def test_bare_body_that_is_not_an_id_is_still_a_bare_id() -> None:
    # The job-id rule, not the parser, refuses it (InvalidJobId rather than InvalidMessage).
    assert parse_message(b"[1, 2]").job_id == "[1, 2]"


def test_leading_whitespace_before_an_object_is_allowed() -> None:
    assert parse_message(b'\n  {"jobId": "j1"}').job_id == "j1"


def test_non_string_trace_fields_are_kept_for_the_trace_rule_to_drop() -> None:
    request = parse_message(b'{"jobId": "j1", "traceparent": 5, "tracestate": []}')
    assert request.job_id == "j1" and request.traceparent == 5


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"jobId": "j1"', "not valid JSON"),
        (b'{"job": "j1"}', "no jobId"),
        (b'{"jobId": null}', "no jobId"),
        (b'{"jobId": 5}', "jobId must be a string, not a number"),
        (b'{"jobId": ["j1"]}', "jobId must be a string, not an array"),
        (b'{"jobId": {"id": "j1"}}', "jobId must be a string, not an object"),
        (b'{"jobId": "j1", "instance": 3}', "instance must be a string"),
        (b"\xff\xfeimportjob1", "not valid UTF-8"),
        (b"x" * (MAX_MESSAGE_BYTES + 1), "at most"),
    ],
)
def test_unusable_messages(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessageError, match=reason):
        parse_message(body)


def test_deep_nesting_does_not_crash() -> None:
    depth = 20_000  # within 48 KiB, far past the recursion limit
    with pytest.raises(InvalidMessageError):
        parse_message(b'{"jobId": ' + b"[" * depth + b"]" * depth + b"}")


def test_body_text_replaces_undecodable_bytes() -> None:
    assert body_text(b"ab\xffcd") == "ab\ufffdcd"

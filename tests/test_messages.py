import base64
import json

import pytest

from cancel_job.contract import MAX_MESSAGE_BYTES
from cancel_job.messages import (
    CancelRequest,
    InvalidMessageError,
    body_text,
    parse_message,
    read_queue_json,
    strict_base64_text,
)

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_json_object_with_all_fields() -> None:
    body = json.dumps({"jobId": "j1", "traceparent": TP, "tracestate": "a=1", "instance": "x.example", "extra": 1})
    assert parse_message(body.encode()) == CancelRequest("j1", "x.example", TP, "a=1")


@pytest.mark.parametrize("body", [b"importjob1", b"  importjob1\n", b"\timportjob1 \r\n"])
def test_bare_ids_are_trimmed(body: bytes) -> None:
    assert parse_message(body) == CancelRequest("importjob1")


@pytest.mark.parametrize("body", [b"[1, 2]", b"a/b", b"..", b"bad id!", b"", b"   ", b"\"job1\"", b"x" * 129])
def test_text_that_is_neither_json_nor_an_id_is_an_invalid_message(body: bytes) -> None:
    with pytest.raises(InvalidMessageError, match="neither a JSON object nor a valid job id"):
        parse_message(body)


def _b64(text: str) -> bytes:
    return base64.b64encode(text.encode()).decode().encode()


@pytest.mark.parametrize(
    ("body", "job_id"),
    [
        (b'{"jobId": "j1"}', "j1"),  # 1. JSON
        (_b64('{"jobId": "j1"}'), "j1"),  # 2. base64 of JSON
        (_b64('  {"jobId": "j1"}\n'), "j1"),  # 2. with whitespace inside
        (b"job1", "job1"),  # 3. an id, though it is valid base64 (of bytes that are not UTF-8)
        (b"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"),  # 3. same
        (b"YWJj", "YWJj"),  # 3. the documented ambiguity: base64 of "abc", read as the id it is
        (_b64("importjob1"), "importjob1"),  # 4. base64 of an id (padding makes it no id)
        (b" " + _b64("importjob1") + b"\r\n", "importjob1"),  # surrounding whitespace ignored
    ],
)
def test_the_message_rule_in_order(body: bytes, job_id: str) -> None:
    assert parse_message(body).job_id == job_id


@pytest.mark.parametrize(
    "text",
    ["aW1wb3J0am9iMQ", "aW1wb3J0am9iMQ=", "aW1wb3J0am9iMQ===", "aW1wb3J0-am9iMQ==", "aW1w\nb3J0am9iMQ==",
     "aW1wb3J0am9iMQ==x"],
)
def test_only_strict_base64_is_decoded(text: str) -> None:
    assert strict_base64_text(text) is None
    assert strict_base64_text("aW1wb3J0am9iMQ==") == "importjob1"
    assert strict_base64_text("gA==") is None  # decodes, but not to UTF-8


def test_queue_records_are_read_plain_or_base64() -> None:
    record = {"jobId": "j1", "error": {"code": "X", "message": "m"}}
    assert read_queue_json(json.dumps(record)) == record
    assert read_queue_json(base64.b64encode(json.dumps(record).encode()).decode()) == record
    assert read_queue_json("not json at all") == "not json at all"


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

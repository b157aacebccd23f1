import base64
import json

import pytest

from cancel_job.contract import MAX_MESSAGE_BYTES
from cancel_job.messages import (
    CancelRequest,
    InvalidMessageError,
    body_bytes,
    body_text,
    parse_message,
    read_queue_json,
    strict_base64_text,
)

TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_json_object_with_all_fields() -> None:
    body = json.dumps({"jobId": "j1", "traceparent": TP, "tracestate": "a=1", "instance": "x.example", "extra": 1})
    assert parse_message(body.encode()) == CancelRequest("j1", "x.example", TP, "a=1", fields=json.loads(body))


def test_a_request_id_is_kept_and_a_bad_one_is_an_invalid_message() -> None:
    assert parse_message('{"jobId": "j1", "requestId": "order-7"}').request_id == "order-7"
    for bad in ("", "x" * 257, 7, ["a"]):
        with pytest.raises(InvalidMessageError, match="requestId must be a string of 1 to 256 characters") as caught:
            parse_message(json.dumps({"jobId": "j1", "requestId": bad}))
        assert caught.value.job_id == "j1"
    assert parse_message(json.dumps({"jobId": "j1", "requestId": "x" * 256})).request_id == "x" * 256


@pytest.mark.parametrize("body", [b"importjob1", b"  importjob1\n", b"\timportjob1 \r\n"])
def test_bare_ids_are_trimmed(body: bytes) -> None:
    assert parse_message(body) == CancelRequest("importjob1")


@pytest.mark.parametrize("body", [b"[1, 2]", b"a/b", b"..", b"bad id!", b"", b"   ", b'"job1"', b"x" * 129])
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
    [
        "aW1wb3J0am9iMQ",
        "aW1wb3J0am9iMQ=",
        "aW1wb3J0am9iMQ===",
        "aW1wb3J0-am9iMQ==",
        "aW1w\nb3J0am9iMQ==",
        "aW1wb3J0am9iMQ==x",
    ],
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


# Message errors, each with its exact reason; the jobId is kept when another field is bad
# (docs/testing.md).
DEADLINE = "2026-12-01T00:00:00Z"
FOLLOW_UP_REASON = "followUp must be an object with checks (a whole number from 1) and deadline"


@pytest.mark.parametrize(
    "follow_up",
    [
        5,
        "x",
        [],
        {"checks": True, "deadline": DEADLINE},
        {"checks": "3", "deadline": DEADLINE},
        {"checks": 1.5, "deadline": DEADLINE},
        {"checks": 0, "deadline": DEADLINE},
        {"checks": -1, "deadline": DEADLINE},
        {"checks": 1},
        {"checks": 1, "deadline": 5},
        {"deadline": DEADLINE},
    ],
)
def test_a_bad_follow_up_is_an_invalid_message_that_keeps_the_job_id(follow_up: object) -> None:
    body = json.dumps({"jobId": "job-7", "followUp": follow_up}).encode()
    with pytest.raises(InvalidMessageError) as info:
        parse_message(body)
    assert str(info.value) == FOLLOW_UP_REASON and info.value.job_id == "job-7"


@pytest.mark.parametrize(
    ("deadline", "reason"),
    [
        ("tomorrow", "followUp.deadline is not an RFC 3339 time"),
        ("2026-12-01T00:00:00", "followUp.deadline needs a time zone"),
    ],
)
def test_a_bad_follow_up_deadline_says_why(deadline: str, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        parse_message(json.dumps({"jobId": "job-7", "followUp": {"checks": 1, "deadline": deadline}}))
    assert str(info.value) == reason and info.value.job_id == "job-7"


def test_a_good_follow_up_from_1() -> None:
    request = parse_message(json.dumps({"jobId": "j", "followUp": {"checks": 1, "deadline": DEADLINE}}))
    assert request.follow_up.checks == 1 and request.follow_up.to_json() == {"checks": 1, "deadline": DEADLINE}
    later = {"checks": 40, "deadline": "2026-12-01T01:00:00+01:00"}
    offset = parse_message(json.dumps({"jobId": "j", "followUp": later}))
    assert (
        offset.follow_up.deadline
        == parse_message(json.dumps({"jobId": "j", "followUp": {"checks": 1, "deadline": DEADLINE}})).follow_up.deadline
    )


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"jobId": "job-7", "instance": 3}, "instance must be a string, not a number"),
        ({"jobId": "job-7", "instance": ["a"]}, "instance must be a string, not an array"),
        ({"jobId": "job-7", "waitForCompletion": "true"}, "waitForCompletion must be true or false, not str"),
        ({"jobId": "job-7", "waitForCompletion": 1}, "waitForCompletion must be true or false, not a number"),
        (
            {"jobId": "job-7", "waitForCompletion": None, "instance": {"a": 1}},
            "instance must be a string, not an object",
        ),
    ],
)
def test_another_bad_field_keeps_the_job_id(document: dict, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        parse_message(json.dumps(document).encode())
    assert str(info.value) == reason and info.value.job_id == "job-7"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"job": "j1"}', "message has no jobId"),
        (b'{"jobId": true}', "jobId must be a string, not a boolean"),
        (b'{"jobId": 1.5}', "jobId must be a string, not a number"),
        (b"{not json", "message is not valid JSON: JSONDecodeError"),
        (b"[1]", "message is neither a JSON object nor a valid job id, as plain text or as base64"),
        (b"\xff", "message is not valid UTF-8"),
    ],
)
def test_each_unusable_message_says_exactly_why_and_has_no_job_id(body: bytes, reason: str) -> None:
    with pytest.raises(InvalidMessageError) as info:
        parse_message(body)
    assert str(info.value) == reason and info.value.job_id is None


def test_the_message_limit_is_48_kib() -> None:
    limit = 48 * 1024
    padded = json.dumps({"jobId": "j1", "pad": ""}).encode()
    body = padded[:-2] + b"x" * (limit - len(padded)) + b'"}'
    assert len(body) == limit and parse_message(body).job_id == "j1"
    with pytest.raises(InvalidMessageError) as info:
        parse_message(body + b" ")
    assert str(info.value) == f"message is {limit + 1} bytes; at most {limit} are accepted"


@pytest.mark.parametrize(("body", "job_id"), [("importjob1", "importjob1"), (' {"jobId": "j"} ', "j")])
def test_bodies_given_as_str(body: str, job_id: str) -> None:
    assert parse_message(body).job_id == job_id


def test_a_body_given_as_none_is_an_empty_message() -> None:
    with pytest.raises(InvalidMessageError) as info:
        parse_message(None)
    assert str(info.value) == "message is neither a JSON object nor a valid job id, as plain text or as base64"
    assert body_text(None) == "" and body_bytes(None) == b"" and body_bytes("é") == "é".encode()


def test_a_str_body_with_a_lone_surrogate_is_kept_for_the_record() -> None:
    assert body_bytes("a\ud800") == b"a\xed\xa0\x80"
    with pytest.raises(InvalidMessageError, match="not valid UTF-8"):
        parse_message("a\ud800")


@pytest.mark.parametrize("text", ["YWJj=", "YWJj==", "YQ==YQ==", "YWJ=j"])
def test_base64_that_only_a_lenient_decoder_reads_is_not_decoded(text: str) -> None:
    """b64decode(validate=True) reads "YWJj=" as "abc"; the strict rule does not."""
    assert strict_base64_text(text) is None
    with pytest.raises(InvalidMessageError) as info:
        parse_message(text.encode())
    assert str(info.value) == "message is neither a JSON object nor a valid job id, as plain text or as base64"


def test_base64_of_text_that_is_no_job_id_is_an_invalid_message() -> None:
    assert strict_base64_text("YSAgYg==") == "a  b"
    with pytest.raises(InvalidMessageError) as info:
        parse_message(b"YSAgYg==")
    assert str(info.value) == "message is neither a JSON object nor a valid job id, as plain text or as base64"


def test_a_follow_up_deadline_may_use_lower_case_t_and_z() -> None:
    lower = parse_message(json.dumps({"jobId": "j", "followUp": {"checks": 2, "deadline": "2026-12-01t00:00:00z"}}))
    assert lower.follow_up.deadline.isoformat() == "2026-12-01T00:00:00+00:00"


UPPER, LOWER, DIGITS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz", "0123456789"
# Characters whose UTF-8 ends a text in every way: ASCII, and two- and three-byte sequences.
CANDIDATES = [chr(c) for c in (*range(0x21, 0x7F), *range(0xA0, 0x800, 17), *range(0x800, 0xD800, 997))]


def _text_whose_base64_has(char_class: str, group: str) -> str:
    """A text whose base64 holds a character of ``char_class`` in ``group``: a whole quad,
    the two characters before "==", or the three before "="."""
    import itertools

    tail = {"quad": 0, "==": 1, "=": 2}[group]
    for chars in itertools.product(CANDIDATES, repeat=2):
        raw = "".join(chars).encode()
        if len(raw) % 3 != tail:
            continue
        encoded = base64.b64encode(raw).decode()
        part = {"quad": encoded[-4:], "==": encoded[-4:-2], "=": encoded[-4:-1]}[group]
        if any(c in char_class for c in part):
            return "".join(chars)
    raise AssertionError(f"no text found for {char_class} in {group}")


# Valid UTF-8 cannot put a digit, "+" or "/" before "==", nor "+" or "/" before "=": the
# last byte is ASCII or a continuation byte. Those members of the pattern are unreachable
# (docs/testing.md lists the mutants that drop them as equivalent).
@pytest.mark.parametrize(
    ("char_class", "group"),
    [
        (UPPER, "quad"),
        (LOWER, "quad"),
        (DIGITS, "quad"),
        ("+", "quad"),
        ("/", "quad"),
        (UPPER, "=="),
        (LOWER, "=="),
        (UPPER, "="),
        (LOWER, "="),
        (DIGITS, "="),
    ],
)
def test_strict_base64_reads_every_reachable_character_in_every_position(char_class: str, group: str) -> None:
    text = _text_whose_base64_has(char_class, group)
    assert strict_base64_text(base64.b64encode(text.encode()).decode()) == text


@pytest.mark.parametrize(("char_class", "group"), [(DIGITS, "=="), ("+", "=="), ("/", "=="), ("+", "="), ("/", "=")])
def test_some_characters_never_end_the_base64_of_utf8(char_class: str, group: str) -> None:
    with pytest.raises(AssertionError, match="no text found"):
        _text_whose_base64_has(char_class, group)


@pytest.mark.parametrize(("encoded", "text"), [("YQ==", "a"), ("YWI=", "ab"), ("YWJj", "abc"), ("YWJjZA==", "abcd")])
def test_strict_base64_with_each_padding(encoded: str, text: str) -> None:
    assert strict_base64_text(encoded) == text


def _base64_of_a_json_object(text: str) -> bool:
    decoded = strict_base64_text(text)
    try:
        return decoded is not None and isinstance(json.loads(decoded), dict)
    except ValueError:
        return False


@pytest.mark.parametrize("job_id", ["ez00", "eyAg", "e0Ab", "ewAA", "e3xy", "eyJhb2Jj"])
def test_ids_that_are_base64_of_text_starting_with_a_brace_are_read_as_ids(job_id: str) -> None:
    assert strict_base64_text(job_id).startswith("{")  # the trap: base64 of "{" and more
    assert parse_message(job_id).job_id == job_id


def test_every_valid_id_is_read_as_itself_but_for_the_documented_ambiguity() -> None:
    """A search: every id of 4 and 8 characters from an alphabet rich in the risky first
    characters (e, then w-z or a digit), plus random ids of every length."""
    import itertools
    import random

    from cancel_job.job_id import is_valid_job_id

    rng = random.Random(22)
    alphabet = "eyzwx0189AbIjJ-._~"
    candidates = ["".join(p) for p in itertools.product("e", "wxyz0189", alphabet, alphabet)]
    candidates += ["e" + rng.choice("wxyz0123456789") + "".join(rng.choices(alphabet, k=6)) for _ in range(5000)]
    candidates += [
        "".join(
            rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~", k=rng.randrange(1, 129))
        )
        for _ in range(5000)
    ]
    misread = [
        text
        for text in candidates
        if is_valid_job_id(text) and not _base64_of_a_json_object(text) and _read_as(text) != text
    ]
    assert misread == []
    assert _read_as("eyJhIjoxMjN9") is None  # the documented ambiguity: base64 of {"a":123}, read as that JSON


def _read_as(text: str) -> str | None:
    try:
        job_id = parse_message(text).job_id
    except InvalidMessageError:
        return None
    return job_id if isinstance(job_id, str) else None


def test_base64_of_broken_json_says_what_is_wrong_with_the_json() -> None:
    broken = base64.b64encode(b'{"jobId": "job-1"').decode()  # padded: no job id as it stands
    with pytest.raises(InvalidMessageError) as refused:
        parse_message(broken)
    assert str(refused.value) == "message is not valid JSON: JSONDecodeError"


def test_a_request_id_of_one_character_is_kept() -> None:
    assert parse_message(json.dumps({"jobId": "job-1", "requestId": "r"})).request_id == "r"

"""The trace rule, including cases from the w3c/trace-context test suite."""

import re

import pytest

from cancel_job.trace import (
    MAX_TRACESTATE_LENGTH,
    parse_traceparent,
    parse_tracestate,
    resolve_trace,
)

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_valid_version_00_is_parsed() -> None:
    parent = parse_traceparent(VALID)
    assert parent is not None
    assert (parent.trace_id, parent.parent_id, parent.flags) == (TRACE_ID, SPAN_ID, "01")
    assert parent.header == VALID


def test_surrounding_spaces_and_tabs_are_allowed() -> None:
    assert parse_traceparent(f" \t{VALID}\t ").header == VALID


@pytest.mark.parametrize(
    "value",
    [
        VALID.upper(),
        f"00-{TRACE_ID.upper()}-{SPAN_ID}-01",
        f"00-{'0' * 32}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",
        f"00-{TRACE_ID}-{SPAN_ID}-01\n",
        f"00-{TRACE_ID}-{SPAN_ID}-0",
        f"00-{TRACE_ID[:-1]}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}01",
        f"00_{TRACE_ID}_{SPAN_ID}_01",
        f"0-{TRACE_ID}-{SPAN_ID}-01",
        f"00-{TRACE_ID}-{SPAN_ID}-0g",
        f"00-{TRACE_ID}\x00-{SPAN_ID}-01",
        f"cc-{TRACE_ID}-{SPAN_ID}-01x",  # a future version: char 55 must be '-' or the end
        f"cc-{TRACE_ID}-{SPAN_ID}-01-\x01",
        "",
        None,
        42,
    ],
)
def test_invalid_traceparents_are_rejected(value: object) -> None:
    assert parse_traceparent(value) is None


@pytest.mark.parametrize("value", [f"cc-{TRACE_ID}-{SPAN_ID}-01", f"cc-{TRACE_ID}-{SPAN_ID}-01-what-the-future-holds"])
def test_future_versions_are_reemitted_as_version_00(value: str) -> None:
    assert parse_traceparent(value).header == VALID


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("foo=1,bar=2", "foo=1,bar=2"),
        (" foo=1 , \tbar=2\t", "foo=1,bar=2"),
        ("foo=1,,bar=2", "foo=1,bar=2"),
        ("1abc=x", "1abc=x"),  # Level 2 key grammar (OpenTelemetry's parser drops these)
        ("foo@=x", "foo@=x"),
        ("tenant@system=v", "tenant@system=v"),
        ("k=a value with spaces", "k=a value with spaces"),
        ("foo=bar \t", "foo=bar"),  # trailing OWS belongs to the list, not the value
    ],
)
def test_valid_tracestates_are_reserialised(value: str, expected: str) -> None:
    assert parse_tracestate(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "Foo=1",  # uppercase key
        "foo",  # no '='
        "foo=",  # empty value
        "foo=a,b",
        "foo=1,foo=2",  # duplicate keys
        "foo=a=b",
        "foo=\x01",
        ",".join(f"k{i}=v" for i in range(33)),  # more than 32 members
        "",
        None,
        7,
    ],
)
def test_invalid_tracestates_are_dropped_whole(value: object) -> None:
    assert parse_tracestate(value) is None


def test_long_tracestate_is_truncated_by_whole_members() -> None:
    members = [f"k{i:02d}={'v' * 40}" for i in range(30)]  # 30 * 44 chars
    result = parse_tracestate(",".join(members))
    assert result is not None and len(result) <= MAX_TRACESTATE_LENGTH
    assert all(member in members for member in result.split(","))
    assert result.split(",") == members[: len(result.split(","))]


def test_caller_context_keeps_trace_id_and_flags_with_a_new_span() -> None:
    trace = resolve_trace(f"00-{TRACE_ID}-{SPAN_ID}-00", "foo=1")
    headers = trace.outgoing_headers()
    assert trace.source == "caller"
    assert headers["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert headers["traceparent"].endswith("-00")
    assert headers["traceparent"].split("-")[2] != SPAN_ID
    assert headers["tracestate"] == "foo=1"


def test_invalid_caller_parent_drops_its_state_and_uses_the_invocation() -> None:
    invocation = f"00-{'1' * 32}-{'2' * 16}-01"
    trace = resolve_trace(VALID.upper(), "foo=1", invocation, "inv=1")
    assert trace.source == "invocation"
    assert trace.trace_id == "1" * 32
    assert trace.outgoing_headers()["tracestate"] == "inv=1"


def test_invalid_state_alone_is_dropped() -> None:
    trace = resolve_trace(VALID, "Not Valid")
    assert trace.source == "caller" and trace.trace_id == TRACE_ID
    assert "tracestate" not in trace.outgoing_headers()


def test_nothing_valid_starts_a_new_trace() -> None:
    trace = resolve_trace("garbage", "foo=1", "", None)
    assert trace.source == "new"
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", trace.outgoing_headers()["traceparent"])
    assert "tracestate" not in trace.outgoing_headers()


def test_each_call_gets_its_own_span_id() -> None:
    trace = resolve_trace(VALID, None)
    spans = {trace.outgoing_headers()["traceparent"].split("-")[2] for _ in range(20)}
    assert len(spans) == 20


# The limits at their boundaries, as literals (docs/testing.md).
def test_32_members_are_kept_and_33_drop_the_header() -> None:
    members = [f"k{i}=v" for i in range(32)]
    assert parse_tracestate(",".join(members)) == ",".join(members)
    assert parse_tracestate(",".join([*members, "k32=v"])) is None


def test_512_characters_are_kept_and_the_member_that_passes_them_is_dropped() -> None:
    first = "a=" + "v" * 254  # 256 characters
    second = "b=" + "v" * 253  # 255 characters: with the comma, exactly 512 in all
    assert len(f"{first},{second}") == 512
    assert parse_tracestate(f"{first},{second}") == f"{first},{second}"
    longer = "b=" + "v" * 254
    assert parse_tracestate(f"{first},{longer}") == first  # 513: the last member goes whole


def test_a_key_may_have_256_characters_and_a_value_256() -> None:
    key, value = "k" * 256, "v" * 256
    assert parse_tracestate(f"{key}=v") == f"{key}=v"
    assert parse_tracestate(f"k{key}=v") is None
    assert parse_tracestate(f"k={value}") == f"k={value}"
    assert parse_tracestate(f"k=v{value}") is None


@pytest.mark.parametrize("key", ["a", "0", "a_0", "a-b", "a*b", "a/b", "a@b", "z9"])
def test_every_character_a_level_2_key_allows(key: str) -> None:
    assert parse_tracestate(f"{key}=v") == f"{key}=v"


@pytest.mark.parametrize("key", ["_a", "-a", "*a", "@a", "a.b", "a b", "aé"])
def test_keys_outside_the_grammar(key: str) -> None:
    assert parse_tracestate(f"{key}=v") is None


@pytest.mark.parametrize("value", [" v", "v v", "!", "~", "+", "-", "<", ">", "a\x7e", "\x21\x2b\x2d\x3c\x3e\x7e"])
def test_every_value_range_is_allowed(value: str) -> None:
    assert parse_tracestate(f"k={value}") == f"k={value}"


@pytest.mark.parametrize("value", ["a,b", "a=b", "\x7f", "\x1f", "a\x00"])
def test_values_outside_the_grammar(value: str) -> None:
    assert parse_tracestate(f"k={value}") is None


def test_tracestate_whitespace_is_spaces_and_tabs_only() -> None:
    assert parse_tracestate(" \tk=v\t ") == "k=v"
    assert parse_tracestate("\nk=v") is None


@pytest.mark.parametrize("version", ["00", "cc"])
@pytest.mark.parametrize(
    ("trace_id", "span_id", "flags"),
    [
        (TRACE_ID[:-1], SPAN_ID, "01"),
        (TRACE_ID + "0", SPAN_ID, "01"),
        (TRACE_ID, SPAN_ID[:-1], "01"),
        (TRACE_ID, SPAN_ID + "0", "01"),
        (TRACE_ID, SPAN_ID, "1"),
        (TRACE_ID, SPAN_ID, "011"),
        (TRACE_ID, SPAN_ID, "01x"),
    ],
)
def test_traceparent_fields_have_exact_lengths(version: str, trace_id: str, span_id: str, flags: str) -> None:
    assert parse_traceparent(f"{version}-{trace_id}-{span_id}-{flags}") is None


@pytest.mark.parametrize("digit", "0123456789abcdef")
def test_every_hex_digit_in_every_field(digit: str) -> None:
    trace_id, span_id = digit + TRACE_ID[1:], digit + SPAN_ID[1:]
    header = f"00-{trace_id}-{span_id}-{digit}{digit}"
    assert parse_traceparent(header).header == header
    assert parse_traceparent(f"1{digit}-{trace_id}-{span_id}-{digit}{digit}").header == header


def test_traceparent_whitespace_is_spaces_and_tabs_only() -> None:
    assert parse_traceparent(f" \t{VALID}\t ").header == VALID
    assert parse_traceparent(f"\n{VALID}") is None


def test_future_versions_at_their_edges() -> None:
    assert parse_traceparent(f"c-{TRACE_ID}-{SPAN_ID}-01") is None
    assert parse_traceparent(f"cc-{TRACE_ID}-{SPAN_ID}-01-").header == VALID
    assert parse_traceparent(f"ff-{TRACE_ID}-{SPAN_ID}-01") is None


def test_all_zero_ids_exactly() -> None:
    assert parse_traceparent(f"00-{'0' * 32}-{SPAN_ID}-01") is None
    assert parse_traceparent(f"00-{TRACE_ID}-{'0' * 16}-01") is None
    assert parse_traceparent(f"00-{'0' * 31}1-{SPAN_ID}-01") is not None
    assert parse_traceparent(f"00-{TRACE_ID}-{'0' * 15}1-01") is not None

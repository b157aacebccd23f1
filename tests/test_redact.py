"""Redaction, pinned shape by shape: what each secret becomes, and what stays as it was.

Exact outputs, not "the secret is gone": a pattern that grew greedy (eating the text after
a secret) or lost its case-insensitivity must fail here (docs/testing.md)."""

from __future__ import annotations

import pytest

from cancel_job.contract import Setting
from cancel_job.redact import escape_untrusted, redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Bearer tokens: any case, any run of whitespace, up to a delimiter.
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("Authorization: Bearer\tabc.def", "Authorization: Bearer [redacted]"),
        ("bearer    tok123", "Bearer [redacted]"),
        ("BEARER tok;next", "Bearer [redacted];next"),
        ("Bearer tok and more", "Bearer [redacted] and more"),  # a token ends at whitespace ...
        ("Bearer tok'x", "Bearer [redacted]'x"),  # ... and at a quote or a list separator
        ("Bearer tok,x", "Bearer [redacted],x"),
        ('{"h": "Bearer tok", "n": 1}', '{"h": "Bearer [redacted]", "n": 1}'),
        # JWT-shaped strings, an empty signature included.
        ("token eyJhbGciOi.eyJzdWIi.c2ln rejected", "token [redacted-jwt] rejected"),
        ("token eyJhbGciOi.eyJzdWIi. rejected", "token [redacted-jwt] rejected"),
        ("eyJa_-9.eyJb_-9.s_-9", "[redacted-jwt]"),
        ("eyJAz.eyJBz.SIG_9-x rest", "[redacted-jwt] rest"),  # every character of the signature
        # Named secrets, as "name: value" and "name=value", any case of the name.
        ("X-Identity-Header: abc123", "X-Identity-Header: [redacted]"),
        ("x-identity-header=abc123", "x-identity-header=[redacted]"),
        ("x-functions-key: k1", "x-functions-key: [redacted]"),
        ("X-FUNCTIONS-KEY=k1&a=1", "X-FUNCTIONS-KEY=[redacted]&a=1"),
        ("access_token=abc&x=1", "access_token=[redacted]&x=1"),
        ('ACCESS_TOKEN: "abc"', 'ACCESS_TOKEN: "[redacted]"'),
        ("{'access_token': 'abc', 'b': 2}", "{'access_token': '[redacted]', 'b': 2}"),
        ("access_token = abc", "access_token = [redacted]"),
        ('{"access_token": "abc", "n": 1}', '{"access_token": "[redacted]", "n": 1}'),  # JSON
        ("x-functions-key: k1 rest", "x-functions-key: [redacted] rest"),
        ("access_token=abc,x", "access_token=[redacted],x"),
        ("access_token=abc;x", "access_token=[redacted];x"),
        # Function keys and SAS signatures in URLs.
        ("https://a/b?sig=xyz&se=1", "https://a/b?sig=[redacted]&se=1"),
        ("https://a/b?x=1&code=k%3D", "https://a/b?x=1&code=[redacted]"),
        ("https://a/b?CODE=abc def", "https://a/b?CODE=[redacted] def"),
        ("https://a/b?Sig=abc'", "https://a/b?Sig=[redacted]'"),
        ('href="https://a/b?code=abc"', 'href="https://a/b?code=[redacted]"'),
    ],
)
def test_each_secret_shape_is_replaced_and_nothing_else(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "error code: ImportJobNotFound",
        "a@code=b",  # not a query parameter
        "?decode=1&signature=2",  # names that merely contain code or sig
        "eyJonly.two",  # two parts are not a JWT
        "my access_tokens are fine",  # no value follows the name
        "access_token=&x=1",  # an empty value
        "https://a/b?code=&x=1",
        "the bearers list",  # "bearer" needs whitespace after it
        "eyJ.eyJb.sig",  # a JWT's parts are not empty
        "eyJa..sig",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert redact(text) == text


def test_bearer_needs_whitespace_then_a_token() -> None:
    assert redact("Bearer") == "Bearer"
    assert redact("Bearer ") == "Bearer "
    assert redact("xBearer tok") == "xBearer [redacted]"  # no word boundary: safer to over-redact


@pytest.mark.parametrize("length", [8, 9, 40])
def test_the_identity_header_value_is_redacted_from_the_minimum_length(monkeypatch, length: int) -> None:
    secret = "s" * (length - 1) + "!"
    monkeypatch.setenv(Setting.IDENTITY_HEADER.value, secret)
    assert redact(f"header {secret} rejected") == "header [redacted] rejected"


def test_a_shorter_identity_header_value_is_not_used_as_a_pattern(monkeypatch) -> None:
    """Seven characters could be ordinary text; replacing them everywhere would mangle logs."""
    monkeypatch.setenv(Setting.IDENTITY_HEADER.value, "abcdefg")
    assert redact("xabcdefgx") == "xabcdefgx"
    monkeypatch.delenv(Setting.IDENTITY_HEADER.value)
    assert redact("xabcdefgx") == "xabcdefgx"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('say "hi"', 'say \\"hi\\"'),
        ("a\r\nb\x1b\t", "a\\r\\nb\\x1b\\t"),
        ("zé", "z\\xe9"),
        (5, "5"),
        (None, "None"),
        (b"x", "b'x'"),
        (["a"], "['a']"),
    ],
)
def test_escape_untrusted(value: object, expected: str) -> None:
    assert escape_untrusted(value) == expected


def test_escape_untrusted_bounds_the_text_at_its_limit() -> None:
    assert escape_untrusted("x" * 200) == "x" * 200
    assert escape_untrusted("x" * 201) == "x" * 200 + "..."
    assert escape_untrusted("x" * 11, limit=10) == "x" * 10 + "..."
    assert escape_untrusted("x" * 10, limit=10) == "x" * 10

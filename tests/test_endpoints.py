import pytest

from cancel_job.endpoints import (
    Endpoint,
    EndpointAllowlist,
    EndpointError,
    InstanceNotAllowedError,
    parse_endpoint,
)

ADT = "https://myinstance.api.weu.digitaltwins.azure.net"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (ADT, Endpoint("https", "myinstance.api.weu.digitaltwins.azure.net", 443)),
        (ADT + "/", Endpoint("https", "myinstance.api.weu.digitaltwins.azure.net", 443)),
        ("HTTPS://MyInstance.API.weu.DigitalTwins.Azure.NET", parse_endpoint(ADT)),
        ("https://x.example:8443", Endpoint("https", "x.example", 8443)),
        ("http://127.0.0.1:8710", Endpoint("http", "127.0.0.1", 8710)),
        ("http://127.5.6.7:1", Endpoint("http", "127.5.6.7", 1)),
        ("http://localhost:8710", Endpoint("http", "localhost", 8710)),
        ("http://[::1]:8710", Endpoint("http", "::1", 8710)),
    ],
)
def test_valid_endpoints(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "http://myinstance.api.weu.digitaltwins.azure.net",  # plain http off loopback
        "http://10.0.0.1:80",
        "http://127.0.0.1.nip.io",
        "ftp://x.example",
        "myinstance.api.weu.digitaltwins.azure.net",
        "https://user:pw@x.example",
        "https://x.example@evil.example",
        "https://x.example/path",
        "https://x.example/?a=1",
        "https://x.example#frag",
        "https://x.example:0",
        "https://x.example:99999",
        "https://x.example:port",
        " https://x.example",
        "https://x.example ",
        "https://x.exa mple",
        "https://x.example\\@evil.example",
        "https://bad_host.example",
        "https://127.1",
        "https://",
        "",
        None,
    ],
)
def test_invalid_endpoints(text: object) -> None:
    with pytest.raises(EndpointError):
        parse_endpoint(text)


ALLOW = EndpointAllowlist(
    parse_endpoint(ADT),
    (parse_endpoint("https://second.api.eus.digitaltwins.azure.net"), parse_endpoint("http://127.0.0.1:8710")),
)


@pytest.mark.parametrize(
    ("instance", "expected"),
    [
        (None, ADT),
        ("myinstance.api.weu.digitaltwins.azure.net", ADT),
        ("MYINSTANCE.api.weu.digitaltwins.azure.net", ADT),
        (ADT, ADT),
        (ADT + ":443", ADT),
        ("second.api.eus.digitaltwins.azure.net", "https://second.api.eus.digitaltwins.azure.net"),
        ("http://127.0.0.1:8710", "http://127.0.0.1:8710"),
        ("127.0.0.1", "http://127.0.0.1:8710"),
    ],
)
def test_allowlisted_instances_resolve_to_the_configured_entry(instance: str | None, expected: str) -> None:
    assert ALLOW.resolve(instance).base_url == expected


@pytest.mark.parametrize(
    "instance",
    [
        "evil.example",
        "https://evil.example",
        ADT + ":8443",  # another port
        "http://myinstance.api.weu.digitaltwins.azure.net",  # http off loopback
        ADT + "/jobs",
        ADT + "?x=1",
        "https://u@myinstance.api.weu.digitaltwins.azure.net",
        " " + ADT,
        ADT + " ",
        "myinstance.api.weu.digitaltwins.azure.net:443",
        "myinstance.api.weu.digitaltwins.azure.net.evil.example",
        "http://127.0.0.1:9999",
        "",
        "\x00",
    ],
)
def test_other_instances_are_refused(instance: str) -> None:
    with pytest.raises(InstanceNotAllowedError):
        ALLOW.resolve(instance)


# Strictness at the edges, each with the exact reason (docs/testing.md).
LABEL_63 = "a" * 63
HOST_253 = f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 61}"


def test_a_label_may_have_63_characters_and_a_host_253() -> None:
    assert len(HOST_253) == 253
    assert parse_endpoint(f"https://{LABEL_63}.example").host == f"{LABEL_63}.example"
    assert parse_endpoint(f"https://{HOST_253}").host == HOST_253
    assert parse_endpoint("https://a.b").host == "a.b"  # one-character labels
    assert parse_endpoint("https://ab.c9").host == "ab.c9"  # two: no middle characters
    assert parse_endpoint("https://a-1.b-c9").host == "a-1.b-c9"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (f"https://{LABEL_63}a.example", "host is not a valid DNS name or IP address"),  # a 64-character label
        (f"https://{HOST_253}d", "host is not a valid DNS name or IP address"),  # 254 characters
        ("https://x.example.", "host is not a valid DNS name or IP address"),  # a trailing dot
        ("https://x-.example", "host is not a valid DNS name or IP address"),
        ("https://-x.example", "host is not a valid DNS name or IP address"),
        ("https://x..example", "host is not a valid DNS name or IP address"),
        ("https://1.2.3.999", "host looks like a malformed IP address"),
        ("https://x.ex\tample", "endpoint must be printable ASCII with no spaces"),  # urlsplit would strip it
        ("https://x.ex\nample", "endpoint must be printable ASCII with no spaces"),
        ("https://x.example\r", "endpoint must be printable ASCII with no spaces"),
        ("https://x.exampl\x7f", "endpoint must be printable ASCII with no spaces"),
        ("http://x.example", "plain http is allowed only for loopback hosts; use https://"),  # http, no port
        ("http://[::2]:1", "plain http is allowed only for loopback hosts; use https://"),
        ("http:", "endpoint has no host"),
        ("http://", "endpoint has no host"),
        ("https://:443", "endpoint has no host"),
        ("http:x.example", "endpoint must not contain a path"),
        ("https://x.example/a", "endpoint must not contain a path"),
        ("https://x.example?", "endpoint must not contain a query, a fragment or '\\'"),
        ("https://x.example#", "endpoint must not contain a query, a fragment or '\\'"),
        ("https://x.example\\", "endpoint must not contain a query, a fragment or '\\'"),
        ("https://[::1", "endpoint is not a valid URL"),
        ("https://x.example:0", "endpoint has an invalid port"),
        ("https://x.example:65536", "endpoint has an invalid port"),
        ("https://u@x.example", "endpoint must not contain user information"),
        ("wss://x.example", "endpoint must start with https://"),
        (5, "endpoint must be a non-empty string"),
        (b"https://x.example", "endpoint must be a non-empty string"),
        ("", "endpoint must be a non-empty string"),
    ],
)
def test_each_refusal_is_an_endpoint_error_with_its_reason(text: object, reason: str) -> None:
    with pytest.raises(EndpointError) as info:
        parse_endpoint(text)
    assert str(info.value) == reason


def test_default_ports_and_how_they_are_written() -> None:
    assert parse_endpoint("http://localhost") == Endpoint("http", "localhost", 80)
    assert parse_endpoint("https://x.example") == Endpoint("https", "x.example", 443)
    assert parse_endpoint("https://x.example:65535").port == 65535
    assert Endpoint("http", "localhost", 80).base_url == "http://localhost"
    assert Endpoint("http", "localhost", 443).base_url == "http://localhost:443"
    assert Endpoint("https", "x.example", 80).base_url == "https://x.example:80"
    assert Endpoint("https", "::1", 443).base_url == "https://[::1]"
    assert str(Endpoint("https", "::1", 8443)) == "https://[::1]:8443"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("::1", True),
        ("LOCALHOST", False),
        ("128.0.0.1", False),
        ("::2", False),
        ("localhost.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    from cancel_job.endpoints import is_loopback_host

    assert is_loopback_host(host) is loopback


def test_a_refused_instance_says_why() -> None:
    with pytest.raises(InstanceNotAllowedError) as info:
        ALLOW.resolve("evil.example")
    assert str(info.value) == (
        "instance is not allowed: it is neither ADT_ENDPOINT nor an entry of ADT_ALLOWED_ENDPOINTS"
    )
    with pytest.raises(InstanceNotAllowedError) as info:
        ALLOW.resolve("bad host")
    assert str(info.value) == "instance is not allowed: instance must be printable ASCII with no spaces"
    with pytest.raises(InstanceNotAllowedError) as info:
        ALLOW.resolve("http://evil.example")
    assert str(info.value) == "instance is not allowed: plain http is allowed only for loopback hosts; use https://"


def test_the_default_is_the_first_entry() -> None:
    assert ALLOW.entries[0] == ALLOW.default and len(ALLOW.entries) == 3
    assert EndpointAllowlist(parse_endpoint(ADT)).entries == (parse_endpoint(ADT),)

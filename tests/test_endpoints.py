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

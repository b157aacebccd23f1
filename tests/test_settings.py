import pytest

from cancel_job.contract import Setting
from cancel_job.settings import DEFAULT_DEADLINE_SECONDS, ConfigurationError, Settings

ADT = "https://myinstance.api.weu.digitaltwins.azure.net"


def test_minimal_settings_use_defaults() -> None:
    settings = Settings.from_env({"ADT_ENDPOINT": ADT})
    assert settings.allowlist.default.base_url == ADT
    assert settings.allowlist.others == ()
    assert settings.client_id is None
    assert settings.use_managed_identity is False
    assert settings.deadline_seconds == DEFAULT_DEADLINE_SECONDS


def test_managed_identity_needs_both_platform_settings() -> None:
    env = {"ADT_ENDPOINT": ADT, "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token"}
    assert Settings.from_env(env).use_managed_identity is False
    assert Settings.from_env({**env, "IDENTITY_HEADER": "h"}).use_managed_identity is True


def test_allowlist_entries_are_parsed() -> None:
    settings = Settings.from_env(
        {"ADT_ENDPOINT": ADT, "ADT_ALLOWED_ENDPOINTS": "https://a.example, https://b.example:8443"}
    )
    assert [e.base_url for e in settings.allowlist.others] == ["https://a.example", "https://b.example:8443"]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, "ADT_ENDPOINT is not set"),
        ({"ADT_ENDPOINT": "http://myinstance.example"}, "ADT_ENDPOINT is invalid: plain http"),
        ({"ADT_ENDPOINT": "https://x.example/path"}, "ADT_ENDPOINT is invalid"),
        ({"ADT_ENDPOINT": ADT, "ADT_ALLOWED_ENDPOINTS": "evil"}, "ADT_ALLOWED_ENDPOINTS is invalid"),
        ({"ADT_ENDPOINT": ADT, "ADT_ALLOWED_ENDPOINTS": "http://10.1.1.1"}, "ADT_ALLOWED_ENDPOINTS is invalid"),
        ({"ADT_ENDPOINT": ADT, "CANCEL_DEADLINE_SECONDS": "soon"}, "CANCEL_DEADLINE_SECONDS must be a number"),
        ({"ADT_ENDPOINT": ADT, "CANCEL_DEADLINE_SECONDS": "-1"}, "CANCEL_DEADLINE_SECONDS must be greater"),
        ({"ADT_ENDPOINT": ADT, "CANCEL_DEADLINE_SECONDS": "nan"}, "CANCEL_DEADLINE_SECONDS must be greater"),
        ({"ADT_ENDPOINT": ADT, "CANCEL_MAX_ATTEMPTS": "2.5"}, "CANCEL_MAX_ATTEMPTS must be a whole number"),
        ({"ADT_ENDPOINT": ADT, "ADT_JOBS_REQUESTS_PER_SECOND": "-1"}, "REQUESTS_PER_SECOND must be 0 or more"),
        ({"ADT_ENDPOINT": ADT, "ADT_JOBS_REQUESTS_PER_SECOND": "fast"}, "REQUESTS_PER_SECOND must be a number"),
    ],
)
def test_bad_settings_are_clear_configuration_errors(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigurationError, match=names):
        Settings.from_env(env)


def test_setting_names_are_the_contracts() -> None:
    assert {s.value for s in Setting} >= {
        "ADT_ENDPOINT",
        "AZURE_CLIENT_ID",
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "ADT_ALLOWED_ENDPOINTS",
    }


def test_pacing_defaults_to_adts_documented_limit_and_zero_turns_spacing_off() -> None:
    from cancel_job import assumptions

    def rate(value: str | None) -> float:
        env = {"ADT_ENDPOINT": ADT} if value is None else {"ADT_ENDPOINT": ADT, "ADT_JOBS_REQUESTS_PER_SECOND": value}
        return Settings.from_env(env).jobs_requests_per_second

    assert rate(None) == assumptions.JOBS_REQUESTS_PER_SECOND == 1
    assert (rate("0"), rate("2.5")) == (0, 2.5)


def test_a_bad_value_is_never_echoed() -> None:
    with pytest.raises(ConfigurationError) as info:
        Settings.from_env({"ADT_ENDPOINT": ADT, "FOLLOW_THROUGH_DEFAULT": "hunter2"})
    assert "FOLLOW_THROUGH_DEFAULT" in str(info.value) and "hunter2" not in str(info.value)

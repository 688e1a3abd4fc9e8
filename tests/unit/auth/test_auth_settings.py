"""The sign-in settings: single sign-on's trust in a provider's addresses, the per-client
limit and the trusted proxies, with their defaults and one-line errors."""

from __future__ import annotations

import ipaddress

import pytest

from services.settings import Settings, SettingsError


def test_the_defaults_trust_no_provider_and_no_proxy() -> None:
    settings = Settings.from_env({})
    assert settings.oidc_trust_email is False
    assert settings.trusted_proxies == ""
    assert settings.trusted_proxy_networks == ()
    # One address cannot lock an account within one window.
    assert settings.signin_client_max_failures < settings.signin_max_failures
    assert settings.signin_client_window_seconds == 300


def test_trusted_proxies_are_addresses_or_networks_separated_by_commas() -> None:
    settings = Settings.from_env({"OPSDASH_TRUSTED_PROXIES": " 10.0.0.5, 10.1.0.0/16,,::1 ",
                                  "OPSDASH_OIDC_TRUST_EMAIL": "true"})
    assert settings.trusted_proxy_networks == (
        ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("::1/128"))
    assert settings.oidc_trust_email is True


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OPSDASH_TRUSTED_PROXIES", "10.0.0.5, proxy.local",
         "OPSDASH_TRUSTED_PROXIES='10.0.0.5, proxy.local' holds 'proxy.local', which is not an "
         "IP address or network"),
        ("OPSDASH_OIDC_TRUST_EMAIL", "maybe", "OPSDASH_OIDC_TRUST_EMAIL='maybe' is not a valid"),
        ("OPSDASH_SIGNIN_CLIENT_MAX_FAILURES", "0",
         "OPSDASH_SIGNIN_CLIENT_MAX_FAILURES=0 must be at least 1"),
        ("OPSDASH_SIGNIN_CLIENT_WINDOW_SECONDS", "0",
         "OPSDASH_SIGNIN_CLIENT_WINDOW_SECONDS=0 must be at least 1"),
    ],
)
def test_a_bad_value_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(message)

"""The connection settings: checked before any request, wired to the client as given."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from services.prometheus.connection import parse_basic_auth, parse_headers, source_from_settings
from services.settings import Settings, SettingsError
from tests.unit.prometheus.fake_prometheus import Behaviour, Server, vector


def test_settings_wire_headers_and_basic_auth_to_the_server(server: Server) -> None:
    url, b = server
    b.body = vector()
    settings = Settings(prometheus_url=url, prometheus_timeout=1.0,
                       prometheus_headers="X-Scope-OrgID=tenant1; X-Other = v=1 ;",
                       prometheus_basic_auth="ops:pa:ss")
    source_from_settings(settings).instant("up")
    sent = b.headers[0]
    assert (sent["x-scope-orgid"], sent["x-other"]) == ("tenant1", "v=1")
    assert sent["authorization"] == "Basic " + base64.b64encode(b"ops:pa:ss").decode()


def test_connection_settings_come_from_the_environment() -> None:
    s = Settings.from_env({
        "OPSDASH_PROMETHEUS_BEARER_TOKEN": "secret-token",
        "OPSDASH_PROMETHEUS_HEADERS": "X-Scope-OrgID=t1",
        "OPSDASH_PROMETHEUS_CA_BUNDLE": "/etc/ssl/ca.pem",
    })
    assert s.prometheus_bearer_token == "secret-token"
    assert (s.prometheus_headers, s.prometheus_ca_bundle) == ("X-Scope-OrgID=t1", "/etc/ssl/ca.pem")
    assert "secret-token" not in repr(s)
    assert Settings().prometheus_bearer_token == Settings().prometheus_basic_auth == ""


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("prometheus_headers", "X-Scope-OrgID", "OPSDASH_PROMETHEUS_HEADERS: entry 1"),
        ("prometheus_headers", "Bad Name=x", "OPSDASH_PROMETHEUS_HEADERS: entry 1"),
        ("prometheus_basic_auth", "nocolon", "OPSDASH_PROMETHEUS_BASIC_AUTH must be user:password"),
        ("prometheus_ca_bundle", "/nonexistent/ca.pem", "OPSDASH_PROMETHEUS_CA_BUNDLE="),
    ],
)
def test_malformed_connection_settings_name_the_variable(
    field: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as caught:
        source_from_settings(Settings(**{field: value}))
    if field == "prometheus_basic_auth":
        assert value not in str(caught.value)


def test_two_authorizations_at_once_are_refused() -> None:
    settings = Settings(prometheus_bearer_token="t", prometheus_basic_auth="u:p")
    with pytest.raises(SettingsError, match="only one of"):
        source_from_settings(settings)


def test_header_and_auth_parsing() -> None:
    assert parse_headers("") == {}
    assert parse_headers("A=1;B=") == {"A": "1", "B": ""}
    assert parse_basic_auth("") is None
    assert parse_basic_auth("u:") == ("u", "")


def test_a_ca_bundle_from_settings_verifies_the_server(
    https_server: tuple[str, Path, type[Behaviour]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca, _ = https_server
    # An environment bundle must not override the configured one.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    settings = Settings(prometheus_url=url, prometheus_timeout=2.0,
                       prometheus_ca_bundle=str(ca))
    samples = source_from_settings(settings).instant("up")
    assert [s.labels for s in samples] == [{"tls": "yes"}]

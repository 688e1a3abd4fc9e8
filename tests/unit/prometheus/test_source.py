"""The Prometheus client fails once, quickly, with a message naming the URL.

A tiny HTTP server on loopback plays a misbehaving Prometheus; this is the boundary,
so it is the one place a fake server is right.
"""

from __future__ import annotations

import base64
import json
import math
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from services.prometheus.source import (
    MetricsSourceError,
    PrometheusSource,
    parse_basic_auth,
    parse_headers,
    source_from_settings,
)
from services.settings import Settings, SettingsError
from tests.http_stub import QuietHandler, serving


class _Behaviour:
    status = 200
    body = b""
    content_type = "application/json"
    hang = False
    requests = 0
    paths: list[str]
    params: list[dict[str, list[str]]]
    headers: list[dict[str, str]]


Server = tuple[str, type[_Behaviour]]


def _handler(behaviour: type[_Behaviour], release: threading.Event) -> type[QuietHandler]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            behaviour.requests += 1
            parts = urlsplit(self.path)
            behaviour.paths.append(parts.path)
            behaviour.params.append(parse_qs(parts.query))
            behaviour.headers.append({k.lower(): v for k, v in self.headers.items()})
            if behaviour.hang:
                release.wait(10)
                return
            self.answer(behaviour.status, behaviour.body, behaviour.content_type)

    return Handler


def _new_behaviour() -> type[_Behaviour]:
    return type("B", (_Behaviour,), {"paths": [], "params": [], "headers": []})


@pytest.fixture
def server() -> Iterator[Server]:
    behaviour = _new_behaviour()
    release = threading.Event()
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour, release))) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", behaviour
        release.set()


def _vector(*series: tuple[dict[str, str], str], warnings: list[str] | None = None) -> bytes:
    result = [{"metric": m, "value": [1700000000, v]} for m, v in series]
    body: dict[str, object] = {"status": "success",
                               "data": {"resultType": "vector", "result": result}}
    if warnings is not None:
        body["warnings"] = warnings
    return json.dumps(body).encode()


def _matrix(*series: tuple[dict[str, str], list[tuple[float, str]]],
            warnings: list[str] | None = None) -> bytes:
    result = [{"metric": m, "values": [[t, v] for t, v in points]} for m, points in series]
    body: dict[str, object] = {"status": "success",
                               "data": {"resultType": "matrix", "result": result}}
    if warnings is not None:
        body["warnings"] = warnings
    return json.dumps(body).encode()


START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- answers ---------------------------------------------------------------------------------


def test_samples_are_parsed(server: Server) -> None:
    url, b = server
    b.body = _vector(({"model": "churn"}, "2.5"), ({"model": "tickets"}, "0.5"))
    samples = PrometheusSource(url, timeout=2).instant("x")
    assert {s.labels["model"]: s.value for s in samples} == {"churn": 2.5, "tickets": 0.5}
    assert b.paths == ["/api/v1/query"]
    assert b.params[0]["query"] == ["x"]


def test_an_empty_result_is_no_samples_not_an_error(server: Server) -> None:
    url, b = server
    b.body = _vector()
    assert PrometheusSource(url, timeout=2).instant("x") == []


def test_warnings_come_back_with_the_data_not_as_an_error(server: Server) -> None:
    url, b = server
    b.body = _vector(({"version": "2"}, "1"), warnings=["partial response: store-1 down"])
    result = PrometheusSource(url, timeout=2).instant_result("x")
    assert [s.value for s in result.samples] == [1.0]
    assert result.warnings == ("partial response: store-1 down",)


def test_a_range_query_sends_start_end_step_and_parses_nan_and_inf(server: Server) -> None:
    url, b = server
    b.body = _matrix(
        ({"version": "1"}, [(1714564800, "0.25"), (1714564860, "NaN")]),
        ({"version": "2"}, [(1714564860, "+Inf")]),
        warnings=["result truncated"],
    )
    result = PrometheusSource(url, timeout=2).range(
        "q", start=START, end=START + timedelta(hours=1), step_s=60
    )
    assert b.paths == ["/api/v1/query_range"]
    assert {k: v[0] for k, v in b.params[0].items()} == {
        "query": "q", "start": "1714564800.000", "end": "1714568400.000", "step": "60"}
    first, second = result.series
    assert first.labels == {"version": "1"}
    assert first.times == (1714564800.0, 1714564860.0)
    assert first.values[0] == 0.25
    assert math.isnan(first.values[1])
    assert second.values == (math.inf,)
    assert result.warnings == ("result truncated",)


def test_a_range_query_never_asks_for_more_than_11000_points(server: Server) -> None:
    url, b = server
    b.body = _matrix()
    result = PrometheusSource(url, timeout=2).range(
        "q", start=START, end=START + timedelta(days=30), step_s=1
    )
    assert result.series == []
    step = float(b.params[0]["step"][0])
    assert (30 * 86400) // step + 1 <= 11_000


def test_each_query_is_one_request(server: Server) -> None:
    url, b = server
    b.body = _vector()
    source = PrometheusSource(url, timeout=2)
    source.instant("a")
    source.instant_result("b")
    b.body = _matrix()
    source.range("c", start=START, end=START + timedelta(minutes=5), step_s=15)
    assert source.request_count == b.requests == 3


# --- failures, one line each -------------------------------------------------------------------


def test_refused_connection_names_the_url() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(MetricsSourceError, match=f"Prometheus at {url} is unavailable: connection"
                       ) as caught:
        PrometheusSource(url, timeout=1).instant("up")
    assert caught.value.kind == "refused"
    assert caught.value.url == url


def test_a_hung_server_times_out_after_one_request(server: Server) -> None:
    url, b = server
    b.hang = True
    source = PrometheusSource(url, timeout=0.3)
    with pytest.raises(MetricsSourceError, match=r"no answer within 0\.3 s") as caught:
        source.instant("up")
    assert caught.value.kind == "timeout"
    assert b.requests == source.request_count == 1


def test_http_503_is_reported_without_retrying(server: Server) -> None:
    url, b = server
    b.status, b.body, b.content_type = 503, b"Service Unavailable", "text/plain"
    with pytest.raises(MetricsSourceError, match="HTTP 503") as caught:
        PrometheusSource(url, timeout=1).instant("up")
    assert caught.value.kind == "http"
    assert b.requests == 1


@pytest.mark.parametrize(("status", "error_type"), [(400, "bad_data"), (422, "execution")])
def test_a_rejected_query_carries_prometheus_own_error_text(
    server: Server, status: int, error_type: str
) -> None:
    url, b = server
    error = '1:14: parse error: unexpected "}" in label matching, expected string'
    b.status = status
    b.body = json.dumps({"status": "error", "errorType": error_type, "error": error}).encode()
    with pytest.raises(MetricsSourceError) as caught:
        PrometheusSource(url, timeout=1).instant("up{")
    assert caught.value.kind == "bad_query"
    assert str(caught.value) == f"Prometheus at {url} rejected the query: {error_type}: {error}"


def test_unauthorized_says_which_settings_to_check(server: Server) -> None:
    url, b = server
    b.status, b.body, b.content_type = 401, b"Unauthorized", "text/plain"
    with pytest.raises(MetricsSourceError, match=r"HTTP 401.*OPSDASH_PROMETHEUS_BEARER_TOKEN"):
        PrometheusSource(url, timeout=1).instant("up")


def test_an_html_proxy_page_is_not_mistaken_for_data(server: Server) -> None:
    url, b = server
    b.content_type, b.body = "text/html", b"<html><body>Sign in to the proxy</body></html>"
    with pytest.raises(MetricsSourceError, match="not Prometheus JSON but an HTML page") as caught:
        PrometheusSource(url, timeout=1).instant("up")
    assert caught.value.kind == "not_json"


@pytest.mark.parametrize(
    "body",
    [
        {"hello": "world"},
        [1, 2, 3],
        {"status": "success", "data": {"resultType": "vector", "result": [{"value": "x"}]}},
        {"status": "success", "data": {"resultType": "vector", "result": [{"metric": 5}]}},
    ],
)
def test_json_that_is_not_a_prometheus_answer_is_refused(server: Server, body: object) -> None:
    url, b = server
    b.body = json.dumps(body).encode()
    with pytest.raises(MetricsSourceError, match="not Prometheus JSON") as caught:
        PrometheusSource(url, timeout=1).instant("up")
    assert caught.value.kind == "not_json"
    assert "\n" not in str(caught.value)


def test_an_instant_query_for_a_range_vector_is_a_bad_query(server: Server) -> None:
    url, b = server
    b.body = _matrix(({"model": "churn"}, [(1, "1")]))
    with pytest.raises(MetricsSourceError, match="range vector") as caught:
        PrometheusSource(url, timeout=1).instant("up[5m]")
    assert caught.value.kind == "bad_query"


# --- connection options --------------------------------------------------------------------


def test_headers_and_a_bearer_token_reach_the_server(server: Server) -> None:
    url, b = server
    b.body = _vector()
    PrometheusSource(url, timeout=1, headers={"X-Scope-OrgID": "tenant1"},
                     bearer_token="t0ken").instant("up")
    assert b.headers[0]["x-scope-orgid"] == "tenant1"
    assert b.headers[0]["authorization"] == "Bearer t0ken"


def test_settings_wire_headers_and_basic_auth_to_the_server(server: Server) -> None:
    url, b = server
    b.body = _vector()
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


# --- TLS -------------------------------------------------------------------------------------


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) files."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opsdash test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    files = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return files


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path, type[_Behaviour]]]:
    ca, cert, key = _make_certificates(tmp_path)
    behaviour = _new_behaviour()
    behaviour.body = _vector(({"tls": "yes"}, "1"))
    release = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour, release))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    with serving(httpd):
        yield f"https://127.0.0.1:{httpd.server_address[1]}", ca, behaviour
        release.set()


def test_a_ca_bundle_from_settings_verifies_the_server(
    https_server: tuple[str, Path, type[_Behaviour]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, ca, _ = https_server
    # An environment bundle must not override the configured one.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/bundle.pem")
    settings = Settings(prometheus_url=url, prometheus_timeout=2.0, prometheus_ca_bundle=str(ca))
    samples = source_from_settings(settings).instant("up")
    assert [s.labels for s in samples] == [{"tls": "yes"}]


def test_without_the_ca_bundle_the_certificate_is_not_trusted(
    https_server: tuple[str, Path, type[_Behaviour]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, _ = https_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(MetricsSourceError, match=r"TLS failed.*OPSDASH_PROMETHEUS_CA_BUNDLE"
                       ) as caught:
        PrometheusSource(url, timeout=2).instant("up")
    assert caught.value.kind == "refused"
    assert "\n" not in str(caught.value)

"""The Prometheus client fails once, quickly, with a message naming the URL.

A tiny HTTP server on loopback plays a misbehaving Prometheus (``fake_prometheus``); this
is the boundary, so it is the one place a fake server is right.
"""

from __future__ import annotations

import json
import math
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.prometheus.source import MetricsSourceError, PrometheusSource
from tests.unit.prometheus.fake_prometheus import Behaviour, Server, matrix, vector

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# --- answers ---------------------------------------------------------------------------------


def test_samples_are_parsed(server: Server) -> None:
    url, b = server
    b.body = vector(({"model": "churn"}, "2.5"), ({"model": "tickets"}, "0.5"))
    samples = PrometheusSource(url, timeout=2).instant("x")
    assert {s.labels["model"]: s.value for s in samples} == {"churn": 2.5, "tickets": 0.5}
    assert b.paths == ["/api/v1/query"]
    assert b.params[0]["query"] == ["x"]


def test_an_empty_result_is_no_samples_not_an_error(server: Server) -> None:
    url, b = server
    b.body = vector()
    assert PrometheusSource(url, timeout=2).instant("x") == []


def test_warnings_come_back_with_the_data_not_as_an_error(server: Server) -> None:
    url, b = server
    b.body = vector(({"version": "2"}, "1"), warnings=["partial response: store-1 down"])
    result = PrometheusSource(url, timeout=2).instant_result("x")
    assert [s.value for s in result.samples] == [1.0]
    assert result.warnings == ("partial response: store-1 down",)


def test_a_range_query_sends_start_end_step_and_parses_nan_and_inf(server: Server) -> None:
    url, b = server
    b.body = matrix(
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
    b.body = matrix()
    result = PrometheusSource(url, timeout=2).range(
        "q", start=START, end=START + timedelta(days=30), step_s=1
    )
    assert result.series == []
    step = float(b.params[0]["step"][0])
    assert (30 * 86400) // step + 1 <= 11_000


def test_each_query_is_one_request(server: Server) -> None:
    url, b = server
    b.body = vector()
    source = PrometheusSource(url, timeout=2)
    source.instant("a")
    source.instant_result("b")
    b.body = matrix()
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
    b.body = matrix(({"model": "churn"}, [(1, "1")]))
    with pytest.raises(MetricsSourceError, match="range vector") as caught:
        PrometheusSource(url, timeout=1).instant("up[5m]")
    assert caught.value.kind == "bad_query"


# --- connection options ---------------------------------------------------------------------


def test_headers_and_a_bearer_token_reach_the_server(server: Server) -> None:
    url, b = server
    b.body = vector()
    PrometheusSource(url, timeout=1, headers={"X-Scope-OrgID": "tenant1"},
                     bearer_token="t0ken").instant("up")
    assert b.headers[0]["x-scope-orgid"] == "tenant1"
    assert b.headers[0]["authorization"] == "Bearer t0ken"


# --- TLS -------------------------------------------------------------------------------------


def test_without_the_ca_bundle_the_certificate_is_not_trusted(
    https_server: tuple[str, Path, type[Behaviour]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _, _ = https_server
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with pytest.raises(MetricsSourceError, match=r"TLS failed.*OPSDASH_PROMETHEUS_CA_BUNDLE"
                       ) as caught:
        PrometheusSource(url, timeout=2).instant("up")
    assert caught.value.kind == "refused"
    assert "\n" not in str(caught.value)

"""The Serving page under AppTest, against Prometheus stubs that misbehave in every way."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from services.access import Role
from tests.factories import make_model
from tests.http_stub import QuietHandler, serving


def _serving(at: AppTest, stub: ThreadingHTTPServer | None = None) -> AppTest:
    """Open the Serving page (the first run lands on the role's start page)."""
    if stub is not None:
        stub.seen.clear()  # type: ignore[attr-defined]  # the overview's own queries
    return at.switch_page("pages/serving.py").run()


class Stub(QuietHandler):
    """Answers every query with ``server.reply(query) -> (status, body, content type)``."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query).get("query", [""])[0]
        self.server.seen.append(query)  # type: ignore[attr-defined]
        status, body, kind = self.server.reply(query)  # type: ignore[attr-defined]
        self.answer(status, body, kind)


@pytest.fixture
def stub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    server.seen = []  # type: ignore[attr-defined]
    empty = {"status": "success", "data": {"resultType": "vector", "result": []}}
    server.reply = lambda q: (200, json.dumps(empty).encode(), "application/json")  # type: ignore[attr-defined]
    with serving(server) as running:
        yield running


def _matrix(label: str, values: dict[str, float], warnings: list[str] | None = None) -> bytes:
    now = time.time()
    result = [{"metric": {label: name}, "values": [[now - 60 * i, str(v)] for i in range(5)]}
              for name, v in values.items()]
    answer: dict[str, Any] = {"status": "success",
                              "data": {"resultType": "matrix", "result": result}}
    if warnings:
        answer["warnings"] = warnings
    return json.dumps(answer).encode()


def _charts(at: AppTest) -> list[dict[str, Any]]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


@pytest.fixture
def model(engine: Engine) -> Engine:
    make_model(engine, name="churn")
    return engine


def test_without_models_the_page_says_why_and_asks_prometheus_nothing(
    app: Callable[..., AppTest], engine: Engine, stub: ThreadingHTTPServer
) -> None:
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    assert "No models are registered yet" in at.info[0].value
    assert stub.seen == []  # type: ignore[attr-defined]


def test_the_charts_hold_the_series_prometheus_returned(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    def reply(query: str) -> tuple[int, bytes, str]:
        if "latency" in query:
            return 200, _matrix("version", {"1": 0.02}), "application/json"
        return 200, _matrix("version", {"1": 2.0}), "application/json"

    stub.reply = reply  # type: ignore[attr-defined]
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    assert not at.warning, [w.value for w in at.warning]
    figures = {f["layout"]["title"]["text"]: f for f in _charts(at)}
    rate = figures["Request rate by version (churn)"]
    (line,) = rate["data"]
    assert line["name"] == "v1"
    assert line["y"] == [2.0] * 5
    assert rate["layout"]["yaxis"]["title"]["text"] == "req/s"
    assert rate["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    p95 = figures["Latency p95 by version (churn)"]
    assert p95["data"][0]["y"] == [pytest.approx(20.0)] * 5  # seconds shown as ms
    # One request a panel (the spool's are apart); every panel's query selects the model.
    panels = [q for q in stub.seen if "spool" not in q]  # type: ignore[attr-defined]
    assert len(panels) == 9
    assert all('model="churn"' in q for q in panels[:7])
    slo = {m.label: m.value for m in at.metric}
    assert slo["p95 latency now · target 250 ms"] == "20.0 ms"


def test_warnings_are_shown_and_the_data_still_drawn(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    stub.reply = lambda q: (  # type: ignore[attr-defined]
        200, _matrix("version", {"1": 1.0}, ["query hit the series limit"]), "application/json")
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    assert any("may be partial: query hit the series limit" in w.value for w in at.warning)
    assert _charts(at)


def test_a_bad_query_shows_prometheus_own_error_and_the_other_panels_still_draw(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    def reply(query: str) -> tuple[int, bytes, str]:
        if "process_cpu" in query:
            error = {"status": "error", "errorType": "bad_data",
                     "error": "parse error: unexpected character"}
            return 400, json.dumps(error).encode(), "application/json"
        return 200, _matrix("version", {"1": 1.0}), "application/json"

    stub.reply = reply  # type: ignore[attr-defined]
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    assert any("unexpected character" in c.value for c in at.caption)
    assert len(_charts(at)) == 8


@pytest.mark.parametrize(("status", "body", "kind", "says"), [
    (503, b"Service Unavailable", "text/plain", "503"),
    (200, b"<html><body>Sign in to the proxy</body></html>", "text/html", "not Prometheus"),
])
def test_an_unusable_answer_gives_one_message_and_no_charts(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer,
    status: int, body: bytes, kind: str, says: str,
) -> None:
    stub.reply = lambda q: (status, body, kind)  # type: ignore[attr-defined]
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    (warning,) = at.warning
    assert says in warning.value
    assert not _charts(at)
    assert len(stub.seen) == 1  # type: ignore[attr-defined]  # the others were not asked


def test_a_hung_prometheus_costs_one_timeout_and_the_page_renders_within_5_s(
    app: Callable[..., AppTest], model: Engine, hung_port: int
) -> None:
    # AppTest raises if the run passes its timeout: 5 s is the page's promise.
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{hung_port}", prometheus_timeout="2"))
    assert not at.exception
    assert "no answer within 2 s" in at.warning[0].value
    assert at.dataframe  # the store's deployments still show


def test_a_refused_connection_says_so(app: Callable[..., AppTest], model: Engine) -> None:
    at = _serving(app())
    assert not at.exception
    assert "connection refused" in at.warning[0].value


def test_an_analyst_sees_the_page_and_a_labeler_is_refused(
    app: Callable[..., AppTest], model: Engine
) -> None:
    assert not _serving(app(as_role=Role.ANALYST)).error
    refused = _serving(app(as_role=Role.LABELER))
    assert "does not include the serving page" in refused.error[0].value


def test_nan_points_are_gaps_not_zeros(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    def reply(query: str) -> tuple[int, bytes, str]:
        now = time.time()
        result = [{"metric": {"version": "1"},
                   "values": [[now - 120, "NaN"], [now - 60, "0.5"], [now, "NaN"]]}]
        answer = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return 200, json.dumps(answer).encode(), "application/json"

    stub.reply = reply  # type: ignore[attr-defined]
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    rate = next(f for f in _charts(at) if f["layout"]["title"]["text"].startswith("Request rate"))
    ys = rate["data"][0]["y"]
    assert ys[0] is None
    assert ys[2] is None
    assert not math.isnan(ys[1])


def _vector(label: str, values: dict[str, float]) -> bytes:
    now = time.time()
    result = [{"metric": {label: name} if name else {}, "value": [now, str(v)]}
              for name, v in values.items()]
    return json.dumps({"status": "success",
                       "data": {"resultType": "vector", "result": result}}).encode()


def test_the_spool_counters_are_shown_and_set_aside_rows_warned_of(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    def reply(query: str) -> tuple[int, bytes, str]:
        if "opsdash_prediction_spool_rows_total" in query:
            return 200, _vector("event", {"spooled": 1234.2, "replayed": 8, "rejected": 2}), \
                "application/json"
        if "opsdash_prediction_spool_bytes" in query:
            return 200, _vector("", {"": 3 * 1024 * 1024}), "application/json"
        return 200, _matrix("version", {"1": 1.0}), "application/json"

    stub.reply = reply  # type: ignore[attr-defined]
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spooled before answering"] == "1,234"
    assert metrics["Replayed at a start"] == "8"
    assert metrics["Set aside"] == "2"
    assert metrics["Waiting for the store now"] == "3.0 MiB"
    (warning,) = [w.value for w in at.warning]
    assert warning.startswith("2 predictions were set aside in this window")
    spool = [q for q in stub.seen if "spool" in q]  # type: ignore[attr-defined]
    assert len(spool) == 2
    assert all('job="opsdash-serving"' in q and " @ " in q for q in spool)


def test_a_service_without_spool_counters_shows_no_spool_figures(
    app: Callable[..., AppTest], model: Engine, stub: ThreadingHTTPServer
) -> None:
    stub.reply = lambda q: (  # type: ignore[attr-defined]
        (200, _vector("", {}), "application/json") if "spool" in q
        else (200, _matrix("version", {"1": 1.0}), "application/json"))
    at = _serving(app(prometheus_url=f"http://127.0.0.1:{stub.server_port}"), stub)
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert "Spooled before answering" not in labels
    assert any(label.startswith("p95 latency now") for label in labels)

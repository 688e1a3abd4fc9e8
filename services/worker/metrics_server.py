"""The worker's ``/metrics``: the last figures its task computed, in Prometheus' text format.

Bounded on purpose: loopback only, ``GET /metrics`` only (any other path is 404, any other
method 405), no request body read, a few seconds per connection, at most
:data:`services.alerts.figures.MAX_QUALITY_FIGURES` quality figures, and nothing computed while
answering: a scrape renders the :class:`services.alerts.figures.Figures` the worker task
published last (:class:`services.alerts.figures.FiguresTask`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.alerts.figures import Figures

__all__ = ["MetricsServer", "figures_registry", "start_metrics_server"]

logger = logging.getLogger(__name__)

_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_QUALITY_LABELS = ["model", "version", "metric", "window"]


class _FiguresCollector(Collector):
    def __init__(self, figures: Callable[[], Figures]) -> None:
        self._figures = figures

    def collect(self) -> Iterator[GaugeMetricFamily]:
        found = self._figures()
        quality = GaugeMetricFamily(
            "opsdash_model_quality",
            "Model quality over a window of labelled predictions: the estimate and its "
            "interval bounds (version: a number, production or all).",
            labels=[*_QUALITY_LABELS, "bound"])
        labels = GaugeMetricFamily(
            "opsdash_model_quality_labels",
            "Labels behind each opsdash_model_quality figure (a class's support for recall).",
            labels=_QUALITY_LABELS)
        for q in found.quality:
            key = [q.model, q.version, q.metric, q.window]
            for bound, value in (("estimate", q.estimate), ("lower", q.lower),
                                 ("upper", q.upper)):
                quality.add_metric([*key, bound], value)
            labels.add_metric(key, q.labels)
        backlog = GaugeMetricFamily("opsdash_label_backlog",
                                    "Predictions awaiting a label.", labels=["model"])
        for model, waiting in found.label_backlog:
            backlog.add_metric([model], waiting)
        drift = GaugeMetricFamily(
            "opsdash_drift_share",
            "Share of features the Drift page finds drifted over the last window (local "
            "days) against the production version's training sample.",
            labels=["model", "window"])
        rows = GaugeMetricFamily("opsdash_drift_rows",
                                 "Predictions behind each opsdash_drift_share figure.",
                                 labels=["model", "window"])
        for d in found.drift_share:
            drift.add_metric([d.model, d.window], d.share)
            rows.add_metric([d.model, d.window], d.rows)
        firing = GaugeMetricFamily("opsdash_alert_firing",
                                   "1 while a stored alert rule fires, else 0.",
                                   labels=["rule", "severity"])
        for rule in found.firing:
            firing.add_metric([rule.rule, rule.severity], 1.0 if rule.firing else 0.0)
        yield from (quality, labels, backlog, drift, rows, firing)
        if found.computed_at is not None:
            yield GaugeMetricFamily(
                "opsdash_worker_figures_timestamp_seconds",
                "When the worker computed the figures served (Unix time).",
                value=found.computed_at.timestamp())


def figures_registry(figures: Callable[[], Figures]) -> CollectorRegistry:
    """A registry whose only collector serves ``figures()``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_FiguresCollector(figures))
    return registry


def _handler(registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 5  # seconds a connection may stay silent
        protocol_version = "HTTP/1.0"

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._plain(404, b"not found: only /metrics is served\n")
                return
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", _CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _refuse(self) -> None:
            self._plain(405, b"method not allowed: GET /metrics only\n", allow=True)

        def _plain(self, status: int, body: bytes, *, allow: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            if allow:
                self.send_header("Allow", "GET")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            logger.debug("metrics: " + format, *args)

    for method in ("POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"):
        setattr(Handler, f"do_{method}", Handler._refuse)
    return Handler


class MetricsServer:
    """A running ``/metrics`` server on a background thread; :meth:`close` stops it."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="metrics", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the kernel's pick for 0)."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(*, port: int, figures: Callable[[], Figures],
                         host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``figures()`` at ``http://host:port/metrics`` (``port`` 0: any free port).

    Raises:
        OSError: the port cannot be bound (taken, or not allowed).
    """
    server = ThreadingHTTPServer((host, port), _handler(figures_registry(figures)))
    server.daemon_threads = True
    return MetricsServer(server)

"""Reading metrics from a Prometheus-compatible server.

The dashboard talks to a :class:`MetricsSource`; :class:`PrometheusSource` is the real
one. Every request has an explicit timeout and is made once: no hidden retries, so a
down server costs one timeout, not three.

prometheus-api-client's ``custom_query`` keeps only ``data.result``: it drops the
``warnings`` Prometheus sends with partial data and the ``error`` text of a rejected
query. So the two query endpoints are called here directly, on the HTTP session the
client library is configured with (headers, authentication, certificate verification,
and an adapter that never retries).

What the queries answer is in :mod:`services.prometheus.results`; the client the settings
describe is built by :mod:`services.prometheus.connection`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, Protocol

import requests
import urllib3
from prometheus_api_client.prometheus_connect import PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.prometheus.promql import clamp_range
from services.prometheus.results import (
    InstantResult,
    InstantSeries,
    NotAnInstantResultError,
    RangeResult,
    instant_series,
    range_series,
)
from services.redact import redact_url, redact_urls

__all__ = [
    "ErrorKind",
    "MetricsSource",
    "MetricsSourceError",
    "PrometheusSource",
]

#: What went wrong: nothing listening (or TLS refused), no answer in time, an HTTP error
#: status, a query Prometheus rejected (400/422 with its error text), or an answer that
#: is not a Prometheus API answer (a proxy's sign-in page, say).
ErrorKind = Literal["refused", "timeout", "http", "bad_query", "not_json"]


class MetricsSourceError(RuntimeError):
    """The metrics server could not answer; ``str()`` is a one-line message for the user."""

    def __init__(self, message: str, *, url: str, kind: ErrorKind = "http") -> None:
        super().__init__(message)
        self.url = url
        self.kind: ErrorKind = kind


class MetricsSource(Protocol):
    """Anything that answers PromQL instant and range queries."""

    url: str

    def instant(self, query: str) -> list[InstantSeries]:
        """Evaluate ``query`` now."""
        ...

    def instant_result(self, query: str) -> InstantResult:
        """Evaluate ``query`` now, with Prometheus' warnings."""
        ...

    def range(self, query: str, *, start: datetime, end: datetime, step_s: float) -> RangeResult:
        """Evaluate ``query`` every ``step_s`` seconds from ``start`` to ``end``."""
        ...


class PrometheusSource:
    """A Prometheus-compatible server reached over HTTP.

    Args:
        url: base URL, e.g. ``http://prometheus:9090`` (a path prefix is kept).
        timeout: seconds before a request is abandoned (connect and read each).
        headers: extra HTTP headers, e.g. ``{"X-Scope-OrgID": "tenant1"}`` for Mimir.
        bearer_token: sent as ``Authorization: Bearer <token>``.
        basic_auth: ``(user, password)`` for HTTP basic authentication.
        ca_bundle: PEM file of the certificate authorities that sign the server's
            certificate; ``None`` means the system's trust store.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        #: The address as messages show it: user info (a credential) replaced by ``***``.
        self.url = redact_url(url.rstrip("/"))
        self._base = url.rstrip("/")
        self._timeout = timeout
        self._count_lock = threading.Lock()
        #: HTTP requests made so far (each query is exactly one).
        self.request_count = 0
        all_headers = dict(headers or {})
        if bearer_token:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        # total=False: no retry, and urllib3 raises the original error (a read timeout stays
        # a timeout). The client's default retries three times with back-off.
        session = requests.Session()
        for scheme in ("http://", "https://"):
            session.mount(scheme, HTTPAdapter(max_retries=Retry(total=False)))
        self._verify: str | bool = ca_bundle or True
        session.verify = self._verify
        self._session = session
        self._client = PrometheusConnect(
            url=self._base,
            headers=all_headers,
            retry=Retry(total=False),
            auth=basic_auth,  # type: ignore[arg-type]  # annotated tuple, None is its default
            session=session,
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, passed to requests
        )

    # -- queries ---------------------------------------------------------------------------

    def instant(self, query: str) -> list[InstantSeries]:
        """Evaluate ``query`` now; the series, without warnings.

        Raises:
            MetricsSourceError: see :meth:`instant_result`.
        """
        return self.instant_result(query).samples

    def instant_result(self, query: str) -> InstantResult:
        """Evaluate ``query`` now. An empty result is an empty list.

        Raises:
            MetricsSourceError: connection refused, timeout, HTTP error, a rejected query
                (its message carries Prometheus' own error text) or an answer that is not
                Prometheus JSON.
        """
        data, warnings = self._call("/api/v1/query", {"query": query})
        try:
            samples = instant_series(data)
        except NotAnInstantResultError as exc:
            raise MetricsSourceError(
                f"Prometheus at {self.url} answered, but {exc}", url=self.url, kind="bad_query"
            ) from None
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._not_prometheus("JSON but not a query result") from exc
        return InstantResult(samples=samples, warnings=warnings)

    def range(self, query: str, *, start: datetime, end: datetime, step_s: float) -> RangeResult:
        """Evaluate ``query`` every ``step_s`` seconds from ``start`` to ``end``.

        The step is raised (never lowered) to whole seconds and so that no series exceeds
        Prometheus' 11,000 points (:func:`services.prometheus.promql.clamp_range`).

        Raises:
            ValueError: naive datetimes, ``start >= end`` or a step that is not positive.
            MetricsSourceError: as for :meth:`instant_result`.
        """
        start, end, step = clamp_range(start, end, step_s)
        params = {
            "query": query,
            "start": f"{start.timestamp():.3f}",
            "end": f"{end.timestamp():.3f}",
            "step": f"{step:g}",
        }
        data, warnings = self._call("/api/v1/query_range", params)
        try:
            series = range_series(data)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise self._not_prometheus("JSON but not a range query result") from exc
        return RangeResult(series=series, warnings=warnings)

    # -- HTTP ------------------------------------------------------------------------------

    def _call(self, path: str, params: Mapping[str, str]) -> tuple[Any, tuple[str, ...]]:
        """One GET to ``path``; ``(data, warnings)`` of a successful answer."""
        with self._count_lock:
            self.request_count += 1
        try:
            response = self._session.get(
                f"{self._base}{path}",
                params=dict(params),
                headers=self._client.headers,
                auth=self._client.auth,
                # Passed on every request: a session's ``verify`` loses against the
                # REQUESTS_CA_BUNDLE environment variable, an explicit argument does not.
                verify=self._verify,
                timeout=self._timeout,
            )
        except requests.exceptions.SSLError as exc:
            raise self._error(
                "TLS failed (is the certificate trusted? see OPSDASH_PROMETHEUS_CA_BUNDLE): "
                + _short(_first_line(exc)),
                kind="refused",
            ) from exc
        except urllib3.exceptions.NewConnectionError as exc:
            # Without retries urllib3 raises its own errors unwrapped; this one subclasses
            # ConnectTimeoutError, so it is caught before the timeouts.
            raise self._error("connection refused or host unreachable", kind="refused") from exc
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise self._error(f"no answer within {self._timeout:g} s", kind="timeout") from exc
        except (requests.exceptions.ConnectionError, urllib3.exceptions.HTTPError) as exc:
            raise self._error("connection refused or host unreachable", kind="refused") from exc
        except requests.exceptions.RequestException as exc:
            raise self._error(_short(_first_line(exc)), kind="refused") from exc
        return self._answer(response)

    def _answer(self, response: requests.Response) -> tuple[Any, tuple[str, ...]]:
        try:
            body = response.json()
        except (json.JSONDecodeError, requests.exceptions.JSONDecodeError, ValueError):
            body = None
        envelope = body if isinstance(body, dict) else None
        error_text = _error_text(envelope)
        status = response.status_code
        if status >= 400 or (envelope is not None and envelope.get("status") == "error"):
            if error_text and status in (400, 422):
                raise MetricsSourceError(
                    f"Prometheus at {self.url} rejected the query: {error_text}",
                    url=self.url,
                    kind="bad_query",
                )
            reason = f"it answered HTTP {status} {response.reason or ''}".rstrip()
            if status in (401, 403):
                reason += (" (check OPSDASH_PROMETHEUS_BEARER_TOKEN, _BASIC_AUTH "
                           "or _HEADERS)")
            if error_text:
                reason += f": {error_text}"
            raise self._error(reason, kind="http")
        if envelope is None:
            kind_of_page = response.headers.get("Content-Type", "").split(";")[0].strip()
            what = "an HTML page" if "html" in kind_of_page else (kind_of_page or "no JSON")
            raise self._not_prometheus(f"{what} (a proxy or sign-in page?)")
        if envelope.get("status") != "success" or not isinstance(envelope.get("data"), dict):
            raise self._not_prometheus("JSON but not a Prometheus API answer")
        raw_warnings = envelope.get("warnings") or []
        warnings = tuple(str(w) for w in raw_warnings) if isinstance(raw_warnings, list) else ()
        return envelope["data"], warnings

    def _error(self, reason: str, *, kind: ErrorKind) -> MetricsSourceError:
        # A library's error text may repeat the address it was given.
        message = redact_urls(f"Prometheus at {self.url} is unavailable: {reason}")
        return MetricsSourceError(message, url=self.url, kind=kind)

    def _not_prometheus(self, what: str) -> MetricsSourceError:
        return self._error(f"its answer was not Prometheus JSON but {what}", kind="not_json")


def _error_text(envelope: Mapping[str, Any] | None) -> str:
    if envelope is None or not envelope.get("error"):
        return ""
    error = _first_line(envelope["error"])
    kind = envelope.get("errorType")
    return _short(f"{kind}: {error}" if kind else error)


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else ""


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

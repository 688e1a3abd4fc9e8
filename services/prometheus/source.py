"""Reading metrics from a Prometheus-compatible server.

The dashboard talks to a :class:`MetricsSource`; :class:`PrometheusSource` is the real
one. Every request has an explicit timeout and is made once: no hidden retries, so a
down server costs one timeout, not three.

prometheus-api-client's ``custom_query`` keeps only ``data.result``: it drops the
``warnings`` Prometheus sends with partial data and the ``error`` text of a rejected
query. So the two query endpoints are called here directly, on the HTTP session the
client library is configured with (headers, authentication, certificate verification,
and an adapter that never retries).
"""

from __future__ import annotations

import json
import math
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import requests
import urllib3
from prometheus_api_client.prometheus_connect import PrometheusConnect
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from services.prometheus.promql import clamp_range
from services.settings import Settings, SettingsError

__all__ = [
    "ErrorKind",
    "InstantResult",
    "MetricsSource",
    "MetricsSourceError",
    "PrometheusSource",
    "RangeResult",
    "RangeSeries",
    "Sample",
    "parse_basic_auth",
    "parse_headers",
    "source_from_settings",
]

#: What went wrong: nothing listening (or TLS refused), no answer in time, an HTTP error
#: status, a query Prometheus rejected (400/422 with its error text), or an answer that
#: is not a Prometheus API answer (a proxy's sign-in page, say).
ErrorKind = Literal["refused", "timeout", "http", "bad_query", "not_json"]


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and points.

    ``values`` holds ``float("nan")`` where Prometheus answered ``NaN`` (e.g. a quantile
    without observations) and ``±inf`` for ``±Inf``; a step without a sample is simply
    absent from ``times``.
    """

    labels: Mapping[str, str]
    times: tuple[float, ...]  # unix seconds
    values: tuple[float, ...]


@dataclass(frozen=True)
class InstantResult:
    """An instant query's series and the warnings Prometheus sent with them."""

    samples: list[Sample]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class RangeResult:
    """A range query's series and the warnings Prometheus sent with them."""

    series: list[RangeSeries]
    warnings: tuple[str, ...]


class MetricsSourceError(RuntimeError):
    """The metrics server could not answer; ``str()`` is a one-line message for the user."""

    def __init__(self, message: str, *, url: str, kind: ErrorKind = "http") -> None:
        super().__init__(message)
        self.url = url
        self.kind: ErrorKind = kind


class MetricsSource(Protocol):
    """Anything that answers PromQL instant and range queries."""

    url: str

    def instant(self, query: str) -> list[Sample]:
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
        self.url = url.rstrip("/")
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
            url=self.url,
            headers=all_headers,
            retry=Retry(total=False),
            auth=basic_auth,  # type: ignore[arg-type]  # annotated tuple, None is its default
            session=session,
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, passed to requests
        )

    # -- queries ---------------------------------------------------------------------------

    def instant(self, query: str) -> list[Sample]:
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
            samples = _instant_samples(data)
        except _NotAnInstantResultError as exc:
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
            if data["resultType"] != "matrix":
                raise ValueError(f"resultType {data['resultType']!r}")
            series = [_range_series(item) for item in data["result"]]
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
                f"{self.url}{path}",
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
        message = f"Prometheus at {self.url} is unavailable: {reason}"
        return MetricsSourceError(message, url=self.url, kind=kind)

    def _not_prometheus(self, what: str) -> MetricsSourceError:
        return self._error(f"its answer was not Prometheus JSON but {what}", kind="not_json")


class _NotAnInstantResultError(ValueError):
    """An instant query answered with a range vector or a string."""


def _instant_samples(data: Any) -> list[Sample]:
    kind = data["resultType"]
    result = data["result"]
    if kind == "vector":
        return [
            Sample(labels=_labels(item.get("metric", {})), value=_number(item["value"][1]))
            for item in result
        ]
    if kind == "scalar":
        return [Sample(labels={}, value=_number(result[1]))]
    if kind == "matrix":
        raise _NotAnInstantResultError(
            "the query returns a range vector (drop the [..] or use a range query)"
        )
    raise ValueError(f"resultType {kind!r}")


def _range_series(item: Any) -> RangeSeries:
    # Native-histogram points ("histograms") are not drawn; their series have no values.
    points = item.get("values", [])
    return RangeSeries(
        labels=_labels(item.get("metric", {})),
        times=tuple(float(p[0]) for p in points),
        values=tuple(_number(p[1]) for p in points),
    )


def _labels(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise TypeError("metric is not an object")
    return {str(k): str(v) for k, v in raw.items()}


def _number(raw: Any) -> float:
    # Prometheus sends sample values as strings: "1.5", "NaN", "+Inf", "-Inf".
    if not isinstance(raw, str | int | float):
        raise TypeError("sample value is not a number")
    value = float(raw)
    return math.nan if math.isnan(value) else value


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


# -- configuration ------------------------------------------------------------------------

#: Characters of an HTTP header name (RFC 9110 "token").
_HEADER_NAME = frozenset(string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~")


def parse_headers(text: str, *, variable: str = "OPSDASH_PROMETHEUS_HEADERS") -> dict[str, str]:
    """``Name=value;Other=value`` as a dict ('' gives none). Values may not contain ``;``.

    Raises:
        SettingsError: an entry without ``=``, a malformed name or a line break in a value
            (the message names the variable and the header, never the value).
    """
    headers: dict[str, str] = {}
    for number, entry in enumerate(text.split(";"), start=1):
        if not entry.strip():
            continue
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not name or not set(name) <= _HEADER_NAME:
            raise SettingsError(
                f"{variable}: entry {number} is not Name=value (e.g. X-Scope-OrgID=tenant1)"
            )
        if "\r" in value or "\n" in value:
            raise SettingsError(f"{variable}: the value of {name} holds a line break")
        headers[name] = value.strip()
    return headers


def parse_basic_auth(
    text: str, *, variable: str = "OPSDASH_PROMETHEUS_BASIC_AUTH"
) -> tuple[str, str] | None:
    """``user:password`` as a pair ('' gives ``None``); the password may contain ``:``.

    Raises:
        SettingsError: no ``:`` or an empty user name (the value is not repeated).
    """
    if not text:
        return None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise SettingsError(f"{variable} must be user:password")
    return user, password


def source_from_settings(settings: Settings) -> PrometheusSource:
    """The Prometheus client the settings describe (URL, timeout, headers, auth, CA bundle).

    Raises:
        SettingsError: malformed headers or basic auth, two ways of setting the
            ``Authorization`` header at once, or a CA bundle file that does not exist.
    """
    headers = parse_headers(settings.prometheus_headers)
    basic_auth = parse_basic_auth(settings.prometheus_basic_auth)
    authorization = [
        name
        for name, given in (
            ("OPSDASH_PROMETHEUS_BEARER_TOKEN", bool(settings.prometheus_bearer_token)),
            ("OPSDASH_PROMETHEUS_BASIC_AUTH", basic_auth is not None),
            (
                "an Authorization header in OPSDASH_PROMETHEUS_HEADERS",
                any(n.lower() == "authorization" for n in headers),
            ),
        )
        if given
    ]
    if len(authorization) > 1:
        raise SettingsError(f"set only one of {' and '.join(authorization)}")
    ca_bundle = settings.prometheus_ca_bundle or None
    if ca_bundle is not None and not Path(ca_bundle).is_file():
        raise SettingsError(f"OPSDASH_PROMETHEUS_CA_BUNDLE={ca_bundle!r} is not a file")
    return PrometheusSource(
        settings.prometheus_url,
        timeout=settings.prometheus_timeout,
        headers=headers,
        bearer_token=settings.prometheus_bearer_token or None,
        basic_auth=basic_auth,
        ca_bundle=ca_bundle,
    )

"""Reading metrics from a Prometheus-compatible server.

The dashboard talks to a :class:`MetricsSource`; :class:`PrometheusSource` is the real
one. Every request has an explicit timeout and is made once: no hidden retries, so a
down server costs one timeout, not three.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3
from prometheus_api_client.exceptions import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

__all__ = ["MetricsSource", "MetricsSourceError", "PrometheusSource", "Sample"]


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


class MetricsSourceError(RuntimeError):
    """The metrics server could not answer; ``str()`` is a message for the user."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class MetricsSource(Protocol):
    """Anything that answers PromQL instant queries."""

    url: str

    def instant(self, query: str) -> list[Sample]:
        """Evaluate ``query`` now."""
        ...


class PrometheusSource:
    """A Prometheus server reached over HTTP with prometheus-api-client."""

    def __init__(
        self, url: str, *, timeout: float, headers: Mapping[str, str] | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        # total=False: no retry, and urllib3 raises the original error (a read timeout stays
        # a timeout). The client's default retries three times with back-off.
        self._client = PrometheusConnect(
            url=self.url,
            headers=dict(headers or {}),
            retry=Retry(total=False),
            timeout=timeout,  # type: ignore[arg-type]  # annotated int, passed to requests
        )

    def instant(self, query: str) -> list[Sample]:
        """Evaluate ``query`` now.

        Raises:
            MetricsSourceError: connection refused, timeout, HTTP error or a non-JSON answer.
        """
        try:
            result: list[dict[str, Any]] = self._client.custom_query(query=query)
        except urllib3.exceptions.NewConnectionError as exc:
            # Without retries urllib3 raises its own errors unwrapped; this one subclasses
            # ConnectTimeoutError, so it is caught before the timeouts.
            raise self._error("connection refused or host unreachable") from exc
        except (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError) as exc:
            raise self._error(f"no answer within {self._timeout:g} s") from exc
        except (requests.exceptions.ConnectionError, urllib3.exceptions.HTTPError) as exc:
            raise self._error("connection refused or host unreachable") from exc
        except PrometheusApiClientException as exc:
            raise self._error(f"it answered with an error ({_short(str(exc))})") from exc
        except (json.JSONDecodeError, requests.exceptions.JSONDecodeError, KeyError) as exc:
            raise self._error("its answer was not Prometheus JSON (a proxy page?)") from exc
        except requests.exceptions.RequestException as exc:
            raise self._error(_short(str(exc))) from exc
        samples = []
        for series in result:
            labels = {str(k): str(v) for k, v in series.get("metric", {}).items()}
            samples.append(Sample(labels=labels, value=float(series["value"][1])))
        return samples

    def _error(self, reason: str) -> MetricsSourceError:
        message = f"Prometheus at {self.url} is unavailable: {reason}"
        return MetricsSourceError(message, url=self.url)


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

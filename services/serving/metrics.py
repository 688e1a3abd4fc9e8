"""Prometheus metrics of the inference service, in a registry of their own.

Each app gets its own :class:`~prometheus_client.CollectorRegistry` (not the process-wide
default), so several apps can live in one process, as they do in the tests.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from services.prometheus import metric_names

__all__ = ["ERROR_REASONS", "ServingMetrics"]

#: Values of the ``reason`` label of the error counter.
ERROR_REASONS = ("validation", "unknown_model", "unavailable", "model_error")


class ServingMetrics:
    """The metrics named in :mod:`services.prometheus.metric_names`, plus the ``process_*`` ones.

    Labels are plain strings: ``version`` is the version number (``""`` when unknown).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        # The GC collector is a module singleton; register that same object here as well.
        self.registry.register(GC_COLLECTOR)
        self._predictions = Counter(
            metric_names.PREDICTIONS_TOTAL,
            "Predictions served, by predicted class.",
            ["model", "version", "predicted_class"],
            registry=self.registry,
        )
        self._errors = Counter(
            metric_names.ERRORS_TOTAL,
            "Prediction requests that were not answered, by reason.",
            ["model", "version", "reason"],
            registry=self.registry,
        )
        self._latency = Histogram(
            metric_names.LATENCY_SECONDS,
            "Time to handle one answered /predict request (single or batch), in seconds.",
            ["model", "version"],
            buckets=metric_names.LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._score = Histogram(
            metric_names.SCORE,
            "Probability of the predicted (top) class, one observation per prediction.",
            ["model", "version"],
            buckets=metric_names.SCORE_BUCKETS,
            registry=self.registry,
        )
        self._spool = Counter(
            metric_names.SPOOL_ROWS_TOTAL,
            "Predictions through the spool, by event (spooled, replayed, rejected).",
            ["event"],
            registry=self.registry,
        )
        for event in ("spooled", "replayed", "rejected"):
            self._spool.labels(event)
        self._spool_bytes = Gauge(
            metric_names.SPOOL_BYTES,
            "Bytes of answered predictions the spool holds, not yet stored.",
            registry=self.registry,
        )
        self._info = Gauge(
            metric_names.MODEL_INFO,
            "1 for the model version currently loaded and served.",
            ["model", "version"],
            registry=self.registry,
        )

    def model_loaded(
        self, *, model: str, version: int, classes: Sequence[str], previous: int | None
    ) -> None:
        """Mark ``version`` as the served one and drop the previous version's info series.

        The per-class counters and the histograms are created at zero, so ``rate()`` and
        ``increase()`` see the first prediction of the new version.
        """
        if previous is not None and previous != version:
            self._remove_info(model=model, version=previous)
        label = str(version)
        self._info.labels(model, label).set(1)
        for cls in classes:
            self._predictions.labels(model, label, cls)
        self._latency.labels(model, label)
        self._score.labels(model, label)

    def model_unloaded(self, *, model: str, version: int) -> None:
        """Drop the info series of a version that is no longer served."""
        self._remove_info(model=model, version=version)

    def _remove_info(self, *, model: str, version: int) -> None:
        # Removing a series that was never created is not an error here.
        with contextlib.suppress(KeyError):
            self._info.remove(model, str(version))

    def predictions_served(
        self,
        *,
        model: str,
        version: int,
        predicted_classes: Sequence[str],
        top_scores: Sequence[float],
        latency_seconds: float,
    ) -> None:
        """Record one answered request: one latency, one count and score per prediction."""
        label = str(version)
        counts: dict[str, int] = {}
        for cls in predicted_classes:
            counts[cls] = counts.get(cls, 0) + 1
        for cls, count in counts.items():
            self._predictions.labels(model, label, cls).inc(count)
        score = self._score.labels(model, label)
        for value in top_scores:
            score.observe(value)
        self._latency.labels(model, label).observe(latency_seconds)

    def spool_event(self, event: str, rows: int) -> None:
        """Count rows spooled, replayed or rejected (see :mod:`services.serving.spool`)."""
        self._spool.labels(event).inc(rows)

    def spool_size(self, read: Callable[[], float]) -> None:
        """Report the spool's size as ``read()`` tells it at each scrape."""
        self._spool_bytes.set_function(read)

    def error(self, *, model: str, version: int | None, reason: str) -> None:
        """Count one request that was refused or failed."""
        self._errors.labels(model, "" if version is None else str(version), reason).inc()

    def exposition(self, *, accept: str = "") -> tuple[bytes, str]:
        """The registry in the format the ``Accept`` header asks for, and its content type."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

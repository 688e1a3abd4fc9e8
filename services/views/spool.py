"""What the inference service's prediction spool did in a window, as the Serving page shows it.

The spool (:mod:`services.serving.spool`) belongs to the process, not to a model: its
counters have no model or version label. Two instant queries, evaluated at the window's
end (PromQL's ``@`` modifier), so a chosen past day reads that day: rows spooled, replayed
at a start and set aside in the window (``increase`` over the window, which counts across
restarts), and the bytes held at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from services.prometheus.metric_names import SERVING_JOB, SPOOL_BYTES, SPOOL_ROWS_TOTAL
from services.prometheus.promql import escape_label_value
from services.prometheus.source import MetricsSource, MetricsSourceError

__all__ = ["EVENTS", "SpoolStatus", "spool_queries", "spool_status"]

#: The spool's events, as its counter labels them.
EVENTS = ("spooled", "replayed", "rejected")


@dataclass(frozen=True)
class SpoolStatus:
    """The spool's figures over a window.

    Attributes:
        rows: rows per event in the window (``spooled``, ``replayed``, ``rejected``);
            empty when the inference service exports no spool counters.
        held_bytes: bytes the spool held at the window's end (answered predictions not
            stored yet), ``None`` when not exported.
        unavailable: why Prometheus could not answer, else ``None``.
    """

    rows: dict[str, int]
    held_bytes: float | None
    unavailable: str | None = None

    @property
    def exported(self) -> bool:
        """Whether the inference service exports the spool's counters at all."""
        return bool(self.rows) or self.held_bytes is not None


def spool_queries(*, start: datetime, end: datetime, job: str = SERVING_JOB
                  ) -> tuple[str, str]:
    """The PromQL of the rows per event over ``[start, end]`` and of the bytes held at ``end``.

    Raises:
        ValueError: ``end`` is not after ``start``.
    """
    seconds = math.ceil((end - start).total_seconds())
    if seconds <= 0:
        raise ValueError("the window must end after it starts")
    at = f"@ {end.timestamp():.3f}"
    matcher = f'job="{escape_label_value(job)}"'
    rows = (f"sum by (event) (increase({SPOOL_ROWS_TOTAL}{{{matcher}}}[{seconds}s] {at}))")
    held = f"sum({SPOOL_BYTES}{{{matcher}}} {at})"
    return rows, held


def spool_status(*, source: MetricsSource, start: datetime, end: datetime,
                 job: str = SERVING_JOB) -> SpoolStatus:
    """The spool's rows per event in ``[start, end]`` and the bytes it held at ``end``.

    A Prometheus that cannot answer gives ``unavailable`` (its one-line message), never an
    exception.
    """
    rows_query, held_query = spool_queries(start=start, end=end, job=job)
    try:
        by_event = source.instant(rows_query)
        held = source.instant(held_query)
    except MetricsSourceError as exc:
        return SpoolStatus(rows={}, held_bytes=None, unavailable=str(exc))
    rows = dict.fromkeys(EVENTS, 0) if by_event else {}
    for series in by_event:
        event = series.labels.get("event", "")
        if event in rows and math.isfinite(series.value):
            # increase() extrapolates to the window's edges; rows are whole.
            rows[event] = round(series.value)
    held_bytes = held[0].value if held and math.isfinite(held[0].value) else None
    return SpoolStatus(rows=rows, held_bytes=held_bytes)

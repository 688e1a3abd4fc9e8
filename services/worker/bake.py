"""The bake watch's decision: does a freshly promoted version breach, and why.

Pure: figures in, a :class:`Decision` out. What reads the figures (Prometheus, the store)
and what acts on a breach is in :mod:`services.worker.bake_watch`.

A breach is one of:

- the new version's **error rate** (failed requests / all requests since the promotion)
  above the SLO beyond doubt: the whole 99.9 % Wilson interval of the rate above it (the
  watch looks every half minute at a growing count, so a looser interval would, sooner or
  later, roll back a version serving right at its SLO on noise: one or two invalid
  requests among the first few dozen are no breach of a 1 % SLO, a third of them failing
  is), once it answered at least :data:`MIN_REQUESTS` requests;
- its **p95 latency** since the promotion above the SLO, with the same traffic;
- its **accuracy** on the labelled predictions made since the promotion more than
  ``accuracy_drop`` below the old version's over the same length of time before the
  promotion, once both have ``min_labels`` labelled predictions.

Missing figures (Prometheus down, no traffic, too few labels) are never a breach: rolling
back on no data would undo good promotions whenever a scrape fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.quality.metrics import wilson_interval

__all__ = ["ERROR_RATE_CONFIDENCE", "MIN_REQUESTS", "AccuracyFigures", "BakeLimits",
           "Decision", "ServingFigures", "decide"]

#: Requests the new version must have answered before its error rate and latency count:
#: one failed request out of three says nothing about a service.
MIN_REQUESTS = 20
#: Confidence of the error rate's interval, whose lower bound must clear the SLO.
ERROR_RATE_CONFIDENCE = 0.999


@dataclass(frozen=True)
class BakeLimits:
    """What the new version must keep to during its bake (from the settings)."""

    latency_p95_s: float
    error_rate: float
    min_labels: int
    accuracy_drop: float


@dataclass(frozen=True)
class ServingFigures:
    """The new version's serving since the promotion (``None``: Prometheus had no answer).

    Attributes:
        requests: requests answered or failed since the promotion.
        errors: requests that failed.
        p95_latency_s: p95 latency of its answers (``None`` without traffic).
    """

    requests: float
    errors: float
    p95_latency_s: float | None

    @property
    def error_rate(self) -> float | None:
        """Failed requests as a share of all (``None`` without traffic)."""
        return self.errors / self.requests if self.requests > 0 else None


@dataclass(frozen=True)
class AccuracyFigures:
    """Labelled predictions and the correct ones: the new version's since the promotion,
    the old version's over the same length of time before it."""

    new_labelled: int
    new_correct: int
    old_labelled: int
    old_correct: int

    @property
    def new_accuracy(self) -> float | None:
        """Accuracy of the new version (``None`` without labels)."""
        return self.new_correct / self.new_labelled if self.new_labelled else None

    @property
    def old_accuracy(self) -> float | None:
        """Accuracy of the old version (``None`` without labels)."""
        return self.old_correct / self.old_labelled if self.old_labelled else None


@dataclass(frozen=True)
class Decision:
    """The verdict of one look.

    Attributes:
        breach: whether the new version must be rolled back.
        reason: one line for people: what breached with its numbers, or why all is well.
        trigger: the figures the verdict was made on (kept in the ledger on a rollback).
    """

    breach: bool
    reason: str
    trigger: dict[str, Any] = field(default_factory=dict)


def _serving_breaches(serving: ServingFigures, limits: BakeLimits) -> list[str]:
    if serving.requests < MIN_REQUESTS:
        return []
    found = []
    rate = serving.error_rate
    total = round(serving.requests)
    interval = wilson_interval(min(round(serving.errors), total), total,
                               confidence=ERROR_RATE_CONFIDENCE)
    if rate is not None and interval is not None and interval[0] > limits.error_rate:
        found.append(f"error rate {rate:.2%} (interval {interval[0]:.2%} to "
                     f"{interval[1]:.2%}) over the SLO {limits.error_rate:.2%} "
                     f"({serving.errors:.0f} of {serving.requests:.0f} requests)")
    p95 = serving.p95_latency_s
    if p95 is not None and p95 > limits.latency_p95_s:
        found.append(f"p95 latency {p95 * 1000:.0f} ms over the SLO "
                     f"{limits.latency_p95_s * 1000:.0f} ms")
    return found


def _accuracy_breach(accuracy: AccuracyFigures, limits: BakeLimits) -> str | None:
    if min(accuracy.new_labelled, accuracy.old_labelled) < limits.min_labels:
        return None
    new, old = accuracy.new_accuracy, accuracy.old_accuracy
    if new is None or old is None or new >= old - limits.accuracy_drop:
        return None
    return (f"accuracy {new:.1%} on {accuracy.new_labelled} labels, more than "
            f"{limits.accuracy_drop:.1%} below the old version's {old:.1%} "
            f"on {accuracy.old_labelled}")


def _trigger(serving: ServingFigures | None, accuracy: AccuracyFigures,
             limits: BakeLimits) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "slo_error_rate": limits.error_rate,
        "slo_latency_p95_s": limits.latency_p95_s,
        "min_labels": limits.min_labels,
        "accuracy_drop": limits.accuracy_drop,
        "new_labelled": accuracy.new_labelled,
        "new_accuracy": accuracy.new_accuracy,
        "old_labelled": accuracy.old_labelled,
        "old_accuracy": accuracy.old_accuracy,
    }
    if serving is not None:
        figures |= {"requests": serving.requests, "errors": serving.errors,
                    "error_rate": serving.error_rate, "p95_latency_s": serving.p95_latency_s}
    return figures


def _all_well(serving: ServingFigures | None, accuracy: AccuracyFigures,
              limits: BakeLimits) -> str:
    if serving is None:
        parts = ["serving figures unavailable"]
    elif serving.requests < MIN_REQUESTS:
        count = f"{serving.requests:.0f}"
        parts = [f"{count} request{'' if count == '1' else 's'} so far, too few to judge serving"]
    else:
        parts = ["error rate and p95 latency within the SLO"]
    short = min(accuracy.new_labelled, accuracy.old_labelled)
    if short < limits.min_labels:
        parts.append(f"accuracy not judged yet ({accuracy.new_labelled} labels since the "
                     f"promotion, {accuracy.old_labelled} before; {limits.min_labels} needed)")
    else:
        parts.append("accuracy within the allowed drop")
    return "; ".join(parts)


def decide(
    *, serving: ServingFigures | None, accuracy: AccuracyFigures, limits: BakeLimits
) -> Decision:
    """Whether the new version breaches its bake, with the reason and the figures.

    Args:
        serving: the new version's serving since the promotion; ``None`` when Prometheus
            could not be read (never a breach).
        accuracy: labelled predictions of the new and the old version.
        limits: the SLO and the accuracy rule.
    """
    breaches = _serving_breaches(serving, limits) if serving is not None else []
    accuracy_breach = _accuracy_breach(accuracy, limits)
    if accuracy_breach is not None:
        breaches.append(accuracy_breach)
    trigger = _trigger(serving, accuracy, limits)
    if breaches:
        return Decision(breach=True, reason="; ".join(breaches), trigger=trigger)
    return Decision(breach=False, reason=_all_well(serving, accuracy, limits), trigger=trigger)

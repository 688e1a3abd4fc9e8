"""Evidence for a promotion: a candidate against production on the same labelled predictions.

Built on :func:`db.repositories.shadow.answer_counts` (what :mod:`services.quality.compare`
uses): only labelled predictions both versions answered (served or shadow-scored) count.
The difference of the primary metrics is paired (bootstrap over the shared rows' cells);
McNemar's test looks at the disagreements only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from services.prometheus.source import MetricsSource

__all__ = ["ClassRecall", "Estimate", "Evidence", "ServingRecord", "gather_evidence"]


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval (``None`` where the rows do not allow one)."""

    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class ClassRecall:
    """One class's recall under each version, on the shared rows."""

    label: str
    support: int
    baseline: float | None
    candidate: float | None


@dataclass(frozen=True)
class ServingRecord:
    """How a version served, from Prometheus (``None`` figures: no traffic in the window)."""

    window: str
    p95_latency_s: float | None
    error_rate: float | None
    #: Why the record is missing, e.g. Prometheus is down; ``None`` when it was read.
    unavailable: str | None = None


@dataclass(frozen=True)
class Evidence:
    """A candidate version against a baseline (production) on exactly the same rows.

    Attributes:
        model: the model's name.
        baseline: the version it would replace (production), or ``None`` when nothing
            serves production (then there is nothing to compare with).
        candidate: the version judged.
        shared: labelled predictions both versions answered.
        accuracy_baseline / accuracy_candidate: accuracy with its Wilson interval.
        macro_f1_baseline / macro_f1_candidate: macro F1 with its bootstrap interval.
        accuracy_difference / macro_f1_difference: candidate minus baseline, with the
            paired bootstrap interval.
        disagreements: shared rows the two answered differently.
        only_baseline_right / only_candidate_right: McNemar's discordant pairs.
        mcnemar_p: two-sided p-value of McNemar's exact test (``None`` without
            disagreements).
        per_class: recall of each class under both versions.
        serving: the candidate's serving record, if it ever served; else ``None``.
        computed_at: when the evidence was gathered (UTC).
        excluded_training_rows: labelled rows left out because the candidate was trained
            on them (0 until versions carry a training fingerprint).
    """

    model: str
    baseline: int | None
    candidate: int
    shared: int
    accuracy_baseline: Estimate
    accuracy_candidate: Estimate
    macro_f1_baseline: Estimate
    macro_f1_candidate: Estimate
    accuracy_difference: Estimate
    macro_f1_difference: Estimate
    disagreements: int
    only_baseline_right: int
    only_candidate_right: int
    mcnemar_p: float | None
    per_class: tuple[ClassRecall, ...]
    serving: ServingRecord | None
    computed_at: datetime
    excluded_training_rows: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot (kept in the ledger as the evidence at that moment)."""
        raise NotImplementedError

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """The evidence a :meth:`to_json` snapshot holds (for the ledger's display)."""
        raise NotImplementedError


def gather_evidence(
    *,
    engine: Engine,
    model: str,
    candidate: int,
    baseline: int | None = None,
    source: MetricsSource | None = None,
    bootstrap: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Evidence:
    """The evidence for promoting ``candidate`` of ``model`` over ``baseline``.

    Args:
        baseline: the version to compare with; ``None`` means the current production.
        source: Prometheus, for the candidate's serving record (``None``: not read).

    Raises:
        RegistryError: no such model or version.
    """
    raise NotImplementedError

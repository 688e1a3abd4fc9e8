"""Evidence for a promotion: a candidate against production on the same labelled predictions.

Built on :func:`db.repositories.shadow.answer_counts` (what :mod:`services.quality.compare`
uses): only labelled predictions both versions answered (served or shadow-scored) count.
The difference of the primary metrics is paired (bootstrap over the shared rows' cells);
McNemar's test looks at the disagreements only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from services.prometheus.source import MetricsSource

__all__ = [
    "SNAPSHOT_FORMAT",
    "ClassRecall",
    "Estimate",
    "Evidence",
    "ServingRecord",
    "gather_evidence",
]

#: Version of the :meth:`Evidence.to_json` layout, stored in the snapshot.
SNAPSHOT_FORMAT = 1


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
        excluded_training_rows: labelled rows both versions answered that are left out
            because the candidate was trained on them (a retrained candidate's
            ``version_training_rows``; 0 for a version trained elsewhere).
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
        """A JSON-ready snapshot (kept in the ledger as the evidence at that moment).

        Plain ints, floats (never NaN or infinite), strings, lists and ``None``; the time
        in ISO 8601 with its offset. :meth:`from_json` gives back an equal object.
        """
        data = {name: _to_plain(getattr(self, name)) for name in _FIELDS}
        data["format"] = SNAPSHOT_FORMAT
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evidence:
        """The evidence a :meth:`to_json` snapshot holds (for the ledger's display).

        Raises:
            ValueError: ``data`` is not such a snapshot (one line naming what is wrong).
        """
        try:
            if data.get("format") != SNAPSHOT_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
            values: dict[str, Any] = {name: data[name] for name in _PLAIN_FIELDS}
            values.update({name: Estimate(**data[name]) for name in _ESTIMATE_FIELDS})
            serving = data["serving"]
            return cls(
                **values,
                per_class=tuple(ClassRecall(**c) for c in data["per_class"]),
                serving=None if serving is None else ServingRecord(**serving),
                computed_at=datetime.fromisoformat(data["computed_at"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not an evidence snapshot: {exc}") from None


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

    With nothing in production (and no ``baseline`` given) there is nothing to compare
    with: the evidence has ``baseline=None``, ``shared=0`` and no figures, and the policy
    lets the first version pass. The serving record is read only if the candidate ever
    served (it made a logged prediction), over the 24 hours up to its newest one.

    Args:
        baseline: the version to compare with; ``None`` means the current production.
        source: Prometheus, for the candidate's serving record (``None``: not read).
        bootstrap: resamples of the F1 intervals and of the paired differences.
        seed: seed of the resampling: the same store gives the same intervals.
        confidence: level of every interval.

    Raises:
        RegistryError: no such model or version, or ``candidate`` is the baseline (it
            already serves production: there is nothing to compare it with).
    """
    from services.promotion.stats import mcnemar_exact

    found = _read(engine=engine, model=model, candidate=candidate, baseline=baseline)
    comparison = _compare(found, bootstrap=bootstrap, seed=seed, confidence=confidence)
    b = sum(n for label, x, y, n in found.cells if x == label != y)
    c = sum(n for label, x, y, n in found.cells if y == label != x)
    return Evidence(
        model=model, baseline=found.baseline, candidate=candidate,
        shared=sum(n for *_, n in found.cells), excluded_training_rows=found.excluded,
        **comparison,
        disagreements=sum(n for _, x, y, n in found.cells if x != y),
        only_baseline_right=b, only_candidate_right=c, mcnemar_p=mcnemar_exact(b, c),
        serving=_serving(source, model=model, version=candidate, last=found.last_served),
        computed_at=datetime.now(UTC),
    )


@dataclass(frozen=True)
class _Found:
    """What the store holds for one evidence: classes, baseline, cells, last served."""

    labels: tuple[str, ...]
    baseline: int | None
    cells: tuple[tuple[str, str, str, int], ...]
    last_served: datetime | None
    excluded: int = 0


def _read(*, engine: Engine, model: str, candidate: int, baseline: int | None) -> _Found:
    """One read: the model's classes, the baseline (production unless given), the cells
    ``(label, baseline's answer, candidate's answer, n)`` and when the candidate last
    served. The cells come from the query the Model quality comparison runs, without the
    predictions the candidate was trained on (counted apart)."""
    from db.repositories import registry, retrain_results, stats
    from db.repositories import shadow as store
    from db.session import session_scope

    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        cand_id = registry.version_row_id(session=session, model=found, version=candidate)
        if baseline is None:
            production = registry.production_version(session=session, model_id=found.id)
            baseline = None if production is None else production.version
        if baseline == candidate:
            raise registry.RegistryError(
                f"version {candidate} of {model!r} already serves production: "
                "there is nothing to compare it with")
        cells: list[tuple[str, str, str, int]] = []
        excluded = 0
        if baseline is not None:
            base_id = registry.version_row_id(session=session, model=found, version=baseline)
            cells = store.answer_counts(session=session, model_id=found.id, a_id=base_id,
                                        b_id=cand_id, since=None, until=None,
                                        exclude_trained_on=cand_id)
            if retrain_results.training_row_count(session=session, version_id=cand_id):
                every = store.answer_counts(session=session, model_id=found.id, a_id=base_id,
                                            b_id=cand_id, since=None, until=None)
                excluded = sum(n for *_, n in every) - sum(n for *_, n in cells)
        last = stats.last_served(session=session, version_id=cand_id)
        return _Found(labels=tuple(str(c) for c in found.class_labels), baseline=baseline,
                      cells=tuple(cells), last_served=last, excluded=excluded)


def _compare(found: _Found, *, bootstrap: int, seed: int, confidence: float
             ) -> dict[str, Any]:
    """Both versions' accuracy and macro F1, their paired differences and per-class
    recall, as :class:`Evidence` fields."""
    from services.promotion.stats import paired_difference
    from services.quality.metrics import QualityReport, matrix_from_counts, report_from_matrix

    labels = found.labels
    def report(pairs: list[tuple[str, str, int]]) -> QualityReport:
        return report_from_matrix(matrix_from_counts(pairs, labels), labels,
                                  confidence=confidence, bootstrap=bootstrap, seed=seed)

    base = report([(label, x, n) for label, x, _, n in found.cells])
    cand = report([(label, y, n) for label, _, y, n in found.cells])
    diff = paired_difference(found.cells, labels, bootstrap=bootstrap, seed=seed,
                             confidence=confidence)
    return {
        "accuracy_baseline": _estimate(base.accuracy, base.accuracy_interval),
        "accuracy_candidate": _estimate(cand.accuracy, cand.accuracy_interval),
        "macro_f1_baseline": _estimate(base.macro_f1, base.macro_f1_interval),
        "macro_f1_candidate": _estimate(cand.macro_f1, cand.macro_f1_interval),
        "accuracy_difference": Estimate(diff.accuracy, diff.accuracy_low, diff.accuracy_high),
        "macro_f1_difference": Estimate(diff.macro_f1, diff.macro_f1_low, diff.macro_f1_high),
        "per_class": tuple(
            ClassRecall(label=b.label, support=b.support,
                        baseline=b.recall if b.support else None,
                        candidate=c.recall if c.support else None)
            for b, c in zip(base.per_class, cand.per_class, strict=True)
        ),
    }


def _estimate(value: float | None, interval: tuple[float, float] | None) -> Estimate:
    low, high = (None, None) if interval is None else interval
    return Estimate(value=value, low=low, high=high)


def _serving(source: MetricsSource | None, *, model: str, version: int,
             last: datetime | None) -> ServingRecord | None:
    """The candidate's serving record: ``None`` without a source or if it never served."""
    if source is None or last is None:
        return None
    from services.promotion.serving_record import serving_record

    figures = serving_record(source=source, model=model, version=version, last_served=last)
    return ServingRecord(window=figures.window, p95_latency_s=figures.p95_latency_s,
                         error_rate=figures.error_rate, unavailable=figures.unavailable)


_ESTIMATE_FIELDS = ("accuracy_baseline", "accuracy_candidate", "macro_f1_baseline",
                    "macro_f1_candidate", "accuracy_difference", "macro_f1_difference")
_PLAIN_FIELDS = ("model", "baseline", "candidate", "shared", "disagreements",
                 "only_baseline_right", "only_candidate_right", "mcnemar_p",
                 "excluded_training_rows")
_FIELDS = tuple(f.name for f in fields(Evidence))


def _to_plain(value: Any) -> Any:
    """``value`` as JSON values: dataclasses as objects, tuples as lists, times as text."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, Estimate | ClassRecall | ServingRecord):
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value

"""Two versions of a model side by side, on exactly the labelled predictions both answered.

A version's answer for a prediction is the logged class when it made the prediction, else
its shadow answer (:mod:`services.registry.shadow`). Only labelled predictions with an answer from
both versions count, so the two reports rest on the same rows and differ only by the
models. The store groups ``(label, answer of a, answer of b)`` in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from services.quality.metrics import (
    QualityError,
    QualityReport,
    matrix_from_counts,
    report_from_matrix,
)

__all__ = ["VersionComparison", "compare_versions"]


@dataclass(frozen=True)
class VersionComparison:
    """Two versions' quality on the labelled predictions both answered.

    Attributes:
        model: the model's name.
        a: the first version number.
        b: the second version number.
        shared: labelled predictions both versions answered (each report's ``n_labelled``).
        disagreements: of those, how many the two answered differently.
        only_a_right: answered correctly by ``a`` and not by ``b``.
        only_b_right: answered correctly by ``b`` and not by ``a``.
        report_a: ``a``'s quality on the shared predictions.
        report_b: ``b``'s quality on the same predictions.
    """

    model: str
    a: int
    b: int
    shared: int
    disagreements: int
    only_a_right: int
    only_b_right: int
    report_a: QualityReport
    report_b: QualityReport


def compare_versions(
    *,
    engine: Engine,
    model: str,
    a: int,
    b: int,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> VersionComparison:
    """Quality of versions ``a`` and ``b`` of ``model`` on the labelled predictions both answered.

    Args:
        engine: the store.
        model: the model's name.
        a: a version number.
        b: another version number.
        since: only predictions made at or after this time.
        until: only predictions made before this time.
        confidence: level of the reports' intervals.
        bootstrap: resamples of the reports' F1 intervals.
        seed: seed of the resampling.

    Raises:
        RegistryError: no such model, or no such version of it.
        QualityError: ``a`` and ``b`` are the same version, or a label or answer lies
            outside the model's classes.
    """
    from db.repositories import registry
    from db.repositories import shadow as store
    from db.session import session_scope

    if a == b:
        raise QualityError(f"compare version {a} with another version, not with itself")
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        labels = [str(c) for c in found.class_labels]
        a_id = registry.version_row_id(session=session, model=found, version=a)
        b_id = registry.version_row_id(session=session, model=found, version=b)
        counts = store.answer_counts(session=session, model_id=found.id, a_id=a_id,
                                     b_id=b_id, since=since, until=until)
    shared = sum(n for *_, n in counts)

    def report(pairs: list[tuple[str, str, int]]) -> QualityReport:
        return report_from_matrix(matrix_from_counts(pairs, labels), labels,
                                  confidence=confidence, bootstrap=bootstrap, seed=seed)

    report_a = report([(label, x, n) for label, x, _, n in counts])
    report_b = report([(label, y, n) for label, _, y, n in counts])
    return VersionComparison(
        model=model, a=a, b=b, shared=shared,
        disagreements=sum(n for _, x, y, n in counts if x != y),
        only_a_right=sum(n for label, x, y, n in counts if x == label != y),
        only_b_right=sum(n for label, x, y, n in counts if y == label != x),
        report_a=report_a, report_b=report_b,
    )

"""The quality report of a model, from the labelled predictions in the store.

The store groups ``(label, predicted_class)`` pairs in SQL; the figures and their
intervals come from that matrix (:mod:`services.quality.metrics`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from db.repositories import quality as store
from db.repositories import registry
from db.session import session_scope
from services.quality.metrics import QualityReport, matrix_from_counts, report_from_matrix

__all__ = ["quality_report"]


def quality_report(
    *,
    engine: Engine,
    model: str,
    version: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    confidence: float = 0.95,
    bootstrap: int = 1000,
    seed: int = 0,
) -> QualityReport:
    """Quality of ``model`` (one version, or all) on predictions made in ``[since, until)``.

    The matrix spans the model's registered ``class_labels``; the counts are grouped in SQL.

    Raises:
        RegistryError: no such model, or no such version of it.
        QualityError: a label or prediction outside the model's classes.
    """
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        labels = list(found.class_labels)
        version_id = registry.version_row_id(session=session, model=found, version=version)
        counts = store.labelled_counts(session=session, model_id=found.id,
                                       version_id=version_id, since=since, until=until)
    return report_from_matrix(matrix_from_counts(counts, labels), labels,
                              confidence=confidence, bootstrap=bootstrap, seed=seed)

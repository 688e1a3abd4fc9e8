"""Models, versions and the production pointer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, overload

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.models import Model, ModelVersion, ProductionPointer, Promotion

__all__ = [
    "RegistryError",
    "add_version",
    "count_models",
    "create_model",
    "get_model",
    "last_promotion",
    "list_models",
    "model_exists",
    "newest_candidate",
    "production_version",
    "promotions_since",
    "set_production",
    "version_row_id",
    "version_row_ids",
]


class RegistryError(ValueError):
    """A registry operation names something that does not exist or is not allowed."""


def create_model(
    *,
    session: Session,
    name: str,
    task: str,
    class_labels: Sequence[str],
    feature_schema: Sequence[dict[str, Any]],
    description: str = "",
) -> Model:
    """Register a new model (no versions yet)."""
    model = Model(
        name=name,
        task=task,
        class_labels=list(class_labels),
        feature_schema=list(feature_schema),
        description=description,
    )
    session.add(model)
    session.flush()
    return model


def get_model(*, session: Session, name: str) -> Model:
    """The model called ``name``.

    Raises:
        RegistryError: no such model.
    """
    model = session.scalar(select(Model).where(Model.name == name))
    if model is None:
        raise RegistryError(f"no model named {name!r}")
    return model


def model_exists(*, session: Session, name: str) -> bool:
    """Whether a model called ``name`` is registered (exact match)."""
    return session.scalar(select(Model.id).where(Model.name == name)) is not None


def count_models(*, session: Session) -> int:
    """How many models are registered."""
    return int(session.scalar(select(func.count()).select_from(Model)) or 0)


@overload
def version_row_id(*, session: Session, model: Model, version: int) -> int: ...
@overload
def version_row_id(*, session: Session, model: Model, version: None) -> None: ...
@overload
def version_row_id(*, session: Session, model: Model, version: int | None) -> int | None: ...
def version_row_id(*, session: Session, model: Model, version: int | None) -> int | None:
    """The row id of version number ``version`` of ``model`` (``None`` stays ``None``:
    every version).

    Raises:
        RegistryError: the model has no such version.
    """
    if version is None:
        return None
    found = session.scalar(select(ModelVersion.id).where(
        ModelVersion.model_id == model.id, ModelVersion.version == version))
    if found is None:
        raise RegistryError(f"model {model.name!r} has no version {version}")
    return int(found)


def version_row_ids(*, session: Session) -> dict[int, dict[int, int]]:
    """The row id of every version: model id → version number → row id."""
    found: dict[int, dict[int, int]] = {}
    for model_id, number, row_id in session.execute(
            select(ModelVersion.model_id, ModelVersion.version, ModelVersion.id)):
        found.setdefault(model_id, {})[number] = row_id
    return found


def list_models(*, session: Session) -> list[Model]:
    """All models ordered by name."""
    return list(session.scalars(select(Model).order_by(Model.name)))


def add_version(
    *,
    session: Session,
    model_id: int,
    artifact_path: str,
    artifact_sha256: str,
    created_by: str,
    holdout_metrics: dict[str, Any] | None = None,
    reference_sample: list[dict[str, Any]] | None = None,
    train_window_start: datetime | None = None,
    train_window_end: datetime | None = None,
    notes: str = "",
    training_fingerprint: dict[str, Any] | None = None,
    job_id: int | None = None,
) -> ModelVersion:
    """Register the next version number of a model as a candidate (``job_id`` and
    ``training_fingerprint`` for one a retrain job trained)."""
    current = session.scalar(
        select(func.max(ModelVersion.version)).where(ModelVersion.model_id == model_id)
    )
    version = ModelVersion(
        model_id=model_id,
        version=(current or 0) + 1,
        status="candidate",
        artifact_path=artifact_path,
        artifact_sha256=artifact_sha256,
        holdout_metrics=holdout_metrics or {},
        reference_sample=reference_sample or [],
        train_window_start=train_window_start,
        train_window_end=train_window_end,
        created_by=created_by,
        notes=notes,
        training_fingerprint=training_fingerprint,
        job_id=job_id,
    )
    session.add(version)
    session.flush()
    return version


def production_version(*, session: Session, model_id: int) -> ModelVersion | None:
    """The version the production pointer names, if any."""
    return session.scalar(
        select(ModelVersion)
        .join(ProductionPointer, ProductionPointer.version_id == ModelVersion.id)
        .where(ProductionPointer.model_id == model_id)
    )


def newest_candidate(*, session: Session, model_id: int) -> ModelVersion | None:
    """The newest version with status ``candidate`` newer than production, if any."""
    production = production_version(session=session, model_id=model_id)
    found = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.model_id == model_id, ModelVersion.status == "candidate")
        .order_by(ModelVersion.version.desc())
        .limit(1)
    ).first()
    if found is None or (production is not None and found.version < production.version):
        return None
    return found


def set_production(
    *,
    session: Session,
    model_id: int,
    version_id: int,
    actor: str,
    reason: str = "",
    kind: str = "promote",
    at: datetime | None = None,
) -> Promotion:
    """Move the production pointer, archive the previous version and record the move.

    Runs inside the caller's transaction, so the pointer, the statuses and the history
    change together or not at all.

    Raises:
        RegistryError: the version does not belong to the model or has failed.
    """
    target = session.get(ModelVersion, version_id)
    if target is None or target.model_id != model_id:
        raise RegistryError(f"version id {version_id} is not a version of model id {model_id}")
    if target.status == "failed":
        raise RegistryError(f"version {target.version} failed and cannot serve production")
    when = at or utcnow()
    pointer = session.get(ProductionPointer, model_id)
    previous_id = pointer.version_id if pointer else None
    if previous_id == version_id:
        raise RegistryError(f"version {target.version} already serves production")
    if pointer is None:
        pointer = ProductionPointer(model_id=model_id, version_id=version_id)
        session.add(pointer)
    else:
        previous = session.get(ModelVersion, previous_id)
        if previous is not None:
            previous.status = "archived"
        pointer.version_id = version_id
    pointer.updated_at = when
    pointer.updated_by = actor
    target.status = "production"
    promotion = Promotion(
        model_id=model_id,
        from_version_id=previous_id,
        to_version_id=version_id,
        kind=kind,
        actor=actor,
        reason=reason,
        created_at=when,
    )
    session.add(promotion)
    session.flush()
    return promotion


def last_promotion(*, session: Session, model_id: int) -> Promotion | None:
    """The most recent promotion or rollback of a model."""
    return session.scalar(
        select(Promotion)
        .where(Promotion.model_id == model_id)
        .order_by(Promotion.created_at.desc(), Promotion.id.desc())
        .limit(1)
    )


def promotions_since(*, session: Session, model_id: int, since: datetime) -> list[Promotion]:
    """Promotions and rollbacks of a model at or after ``since``, oldest first."""
    return list(
        session.scalars(
            select(Promotion)
            .where(Promotion.model_id == model_id, Promotion.created_at >= since)
            .order_by(Promotion.created_at)
        )
    )

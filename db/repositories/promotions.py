"""The production ledger: moving the production pointer by compare-and-set, and reading the
moves back.

:func:`move_production` is the one way the pointer moves once the store is seeded. It runs in
the caller's transaction, so the pointer, both versions' statuses, the ledger row and the
caller's audit entry commit together; and it moves the pointer only if production is still
the version the caller expected (an ``UPDATE ... WHERE version_id = :expected`` that must
touch one row, or an ``INSERT`` of the first pointer that fails on the primary key when
someone else inserted first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exc, select, update
from sqlalchemy.orm import Session, aliased

from db.base import utcnow
from db.models import ModelVersion, ProductionPointer, Promotion
from db.repositories.registry import RegistryError

__all__ = [
    "LedgerRow",
    "PointerMoved",
    "Production",
    "current_production",
    "ledger_rows",
    "move_production",
    "row_at",
]


@dataclass(frozen=True)
class LedgerRow:
    """One move of the pointer with the numbers of the versions it moved from and to."""

    row: Promotion
    from_version: int | None
    to_version: int


@dataclass(frozen=True)
class Production:
    """What the production pointer says now: the version's row id and number, who moved
    it there and when (``None`` throughout: nothing serves production)."""

    version_id: int | None
    version: int | None
    updated_by: str | None
    updated_at: datetime | None


class PointerMoved(RegistryError):  # noqa: N818  (what happened, not a failure of ours)
    """Production is not the version the caller expected; ``now`` says what it is."""

    def __init__(self, message: str, now: Production) -> None:
        super().__init__(message)
        self.now = now


def current_production(*, session: Session, model_id: int) -> Production:
    """The production pointer of a model as committed (or as this transaction sees it)."""
    row = session.execute(
        select(ProductionPointer.version_id, ModelVersion.version,
               ProductionPointer.updated_by, ProductionPointer.updated_at)
        .join(ModelVersion, ModelVersion.id == ProductionPointer.version_id)
        .where(ProductionPointer.model_id == model_id)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        return Production(None, None, None, None)
    return Production(int(row[0]), int(row[1]), str(row[2]), row[3])


def _moved(session: Session, model_id: int, expected: int | None) -> PointerMoved:
    session.expire_all()  # what is committed now, not what this session loaded before
    now = current_production(session=session, model_id=model_id)
    wanted = "nothing" if expected is None else f"version id {expected}"
    return PointerMoved(f"production is no longer {wanted}", now)


def _claim_pointer(session: Session, *, model_id: int, version_id: int,
                   expected: int | None, actor: str, at: datetime | None) -> datetime:
    """Point production at ``version_id`` only if it still is ``expected``; returns the
    time of the move.

    The time is taken once the pointer's row is ours (PostgreSQL holds its lock until the
    commit; SQLite's write lock was taken at ``BEGIN IMMEDIATE``), so the next move's time
    is later than this one's and the ledger's time order is the order of the moves, even
    when a caller that read production long ago finds it back at the version it expected.

    Raises:
        PointerMoved: it is not (someone moved it, or inserted the first pointer, first).
    """
    if expected is None:
        if session.get(ProductionPointer, model_id) is not None:
            raise _moved(session, model_id, expected)
        when = at or utcnow()
        try:
            with session.begin_nested():  # a lost race must leave the transaction usable
                session.add(ProductionPointer(model_id=model_id, version_id=version_id,
                                              updated_at=when, updated_by=actor))
        except exc.IntegrityError:
            raise _moved(session, model_id, expected) from None
        return when
    moved = session.execute(
        update(ProductionPointer)
        .where(ProductionPointer.model_id == model_id,
               ProductionPointer.version_id == expected)
        .values(version_id=version_id, updated_by=actor)
        .execution_options(synchronize_session=False))
    if getattr(moved, "rowcount", 0) != 1:
        raise _moved(session, model_id, expected)
    when = at or utcnow()
    session.execute(update(ProductionPointer).where(ProductionPointer.model_id == model_id)
                    .values(updated_at=when).execution_options(synchronize_session=False))
    return when


def _target(session: Session, model_id: int, version_id: int) -> ModelVersion:
    target = session.get(ModelVersion, version_id)
    if target is None or target.model_id != model_id:
        raise RegistryError(f"version id {version_id} is not a version of model id {model_id}")
    if target.status == "failed":
        raise RegistryError(f"version {target.version} failed and cannot serve production")
    return target


# whole: one transaction's steps in their order, each one line
def move_production(
    *,
    session: Session,
    model_id: int,
    version_id: int,
    expected: int | None,
    actor: str,
    kind: str = "promote",
    reason: str = "",
    at: datetime | None = None,
    evidence: dict[str, Any] | None = None,
    verdict: str | None = None,
    trigger: dict[str, Any] | None = None,
) -> Promotion:
    """Make ``version_id`` serve production if production is still ``expected``.

    In the caller's transaction: the pointer moves (compare-and-set), the version it named
    is archived, the new one is marked production, and the ledger row is written.

    Args:
        expected: the row id of the version the caller saw in production (``None``: none).
        evidence / verdict / trigger: kept in the ledger row (see ``db.models.Promotion``).

    Raises:
        PointerMoved: production is not ``expected`` (nothing was changed).
        RegistryError: the version does not belong to the model, has failed, or is
            ``expected`` itself (it already serves).
    """
    target = _target(session, model_id, version_id)
    if expected == version_id:
        raise RegistryError(f"version {target.version} already serves production")
    when = _claim_pointer(session, model_id=model_id, version_id=version_id,
                          expected=expected, actor=actor, at=at)
    # Every other version still marked production (the one the pointer named) is archived.
    session.execute(
        update(ModelVersion)
        .where(ModelVersion.model_id == model_id, ModelVersion.status == "production",
               ModelVersion.id != version_id)
        .values(status="archived")
        .execution_options(synchronize_session=False))
    session.execute(
        update(ModelVersion).where(ModelVersion.id == version_id).values(status="production")
        .execution_options(synchronize_session=False))
    promotion = Promotion(model_id=model_id, from_version_id=expected, to_version_id=version_id,
                          kind=kind, actor=actor, reason=reason, created_at=when,
                          evidence=evidence, verdict=verdict, trigger=trigger)
    session.add(promotion)
    session.flush()
    session.expire(target)  # its status changed behind the ORM's back
    return promotion


def _numbered(model_id: int) -> Select[Promotion, int, int]:
    """The model's moves with the version numbers they moved from and to."""
    before, after = aliased(ModelVersion), aliased(ModelVersion)
    return (select(Promotion, before.version, after.version)
            .outerjoin(before, before.id == Promotion.from_version_id)
            .join(after, after.id == Promotion.to_version_id)
            .where(Promotion.model_id == model_id)
            .order_by(Promotion.created_at.desc(), Promotion.id.desc()))


def ledger_rows(*, session: Session, model_id: int) -> list[LedgerRow]:
    """Every move of a model's production pointer, newest first, with version numbers."""
    return [LedgerRow(found[0], found[1], found[2])
            for found in session.execute(_numbered(model_id))]


def row_at(*, session: Session, model_id: int, at: datetime) -> LedgerRow | None:
    """The newest move of a model's pointer at or before ``at`` (``None``: none yet)."""
    found = session.execute(
        _numbered(model_id).where(Promotion.created_at <= at).limit(1)).first()
    return None if found is None else LedgerRow(found[0], found[1], found[2])

"""The production ledger read back: every version of a model, every move of its production
pointer (with the evidence and verdict kept with it), and what served production at a time.

:mod:`services.promotion.actions` re-exports these names; the moves themselves are made there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

from db.models import ModelVersion
from db.repositories import promotions as ledger_repo
from db.repositories import registry
from db.session import session_scope
from services.promotion.evidence import Evidence
from services.promotion.policy import Check

__all__ = ["LedgerEntry", "VersionRow", "entry_of", "ledger", "production_at", "versions"]


@dataclass(frozen=True)
class VersionRow:
    """One version as the Models page and ``versions`` list it."""

    version: int
    status: str  # candidate, production, archived, failed
    created_by: str
    created_at: datetime
    artifact_sha256: str | None  # None: served elsewhere (no artifact)
    artifact_bytes: int | None
    train_window_start: datetime | None
    train_window_end: datetime | None
    holdout_metrics: dict[str, Any]
    notes: str


@dataclass(frozen=True)
class LedgerEntry:
    """One move of the production pointer."""

    id: int
    kind: Literal["promote", "rollback"]
    from_version: int | None
    to_version: int
    actor: str
    at: datetime
    reason: str
    #: The evidence and verdict as they were at that moment (``None`` for a rollback or a
    #: move recorded before evidence was kept).
    evidence: Evidence | None
    verdict: str | None  # pass, fail, insufficient
    #: Numbers that triggered an automatic rollback (the bake watch), else empty.
    trigger: dict[str, Any]
    #: The verdict's checks as they were at that moment (empty when not judged).
    checks: tuple[Check, ...] = ()


def _version_row(version: ModelVersion) -> VersionRow:
    path = Path(version.artifact_path) if version.artifact_path else None
    size = path.stat().st_size if path is not None and path.is_file() else None
    return VersionRow(
        version=version.version, status=version.status, created_by=version.created_by,
        created_at=version.created_at, artifact_sha256=version.artifact_sha256 or None,
        artifact_bytes=size, train_window_start=version.train_window_start,
        train_window_end=version.train_window_end,
        holdout_metrics=dict(version.holdout_metrics or {}), notes=version.notes)


def versions(*, engine: Engine, model: str) -> list[VersionRow]:
    """Every version of ``model``, newest first.

    Raises:
        RegistryError: no such model.
    """
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        return [_version_row(v) for v in sorted(found.versions, key=lambda v: -v.version)]


def entry_of(found: ledger_repo.LedgerRow) -> LedgerEntry:
    """The ledger entry of a row of ``promotions``."""
    row = found.row
    stored = row.evidence or {}
    snapshot = stored.get("evidence")
    checks = tuple(Check(name=str(c["name"]), passed=c["passed"], text=str(c["text"]))
                   for c in stored.get("checks", ()))
    return LedgerEntry(
        id=row.id, kind="rollback" if row.kind == "rollback" else "promote",
        from_version=found.from_version, to_version=found.to_version, actor=row.actor,
        at=row.created_at, reason=row.reason,
        evidence=Evidence.from_json(snapshot) if snapshot else None,
        verdict=row.verdict, trigger=dict(row.trigger or {}), checks=checks)


def ledger(*, engine: Engine, model: str) -> list[LedgerEntry]:
    """Every promotion and rollback of ``model``, newest first.

    Raises:
        RegistryError: no such model.
    """
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        return [entry_of(row) for row in ledger_repo.ledger_rows(session=session,
                                                               model_id=found.id)]


def production_at(*, engine: Engine, model: str, at: datetime) -> int | None:
    """The version that served production at ``at`` (``None``: nothing yet).

    Read from the ledger: the version the newest move at or before ``at`` moved to.

    Raises:
        RegistryError: no such model.
        ValueError: ``at`` has no time zone.
    """
    if at.tzinfo is None:
        raise ValueError("the time must have a time zone (UTC if in doubt)")
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        row = ledger_repo.row_at(session=session, model_id=found.id, at=at)
        return None if row is None else row.to_version

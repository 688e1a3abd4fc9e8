"""Promote and roll back: one transaction, compare-and-set, with the ledger and the audit entry.

Moving the production pointer, archiving the old version, the ledger row (``promotions``)
with its evidence snapshot and the audit entry commit together or not at all, and only if
production is still the version the caller looked at (``expected``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.models import ModelVersion
from db.repositories import promotions as ledger_repo
from db.repositories import registry
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.access import Action, Principal, require
from services.audit import record
from services.promotion.evidence import Evidence, gather_evidence
from services.promotion.ledger import (
    LedgerEntry,
    VersionRow,
    entry_of,
    ledger,
    production_at,
    versions,
)
from services.promotion.policy import Policy, Verdict, judge

__all__ = [
    "LedgerEntry",
    "ProductionChangedError",
    "PromotionBlockedError",
    "PromotionResult",
    "UnservableVersionError",
    "VersionRow",
    "ledger",
    "production_at",
    "promote",
    "rollback",
    "versions",
]


class ProductionChangedError(RuntimeError):
    """Production is no longer the version the caller looked at; says who changed it, when."""


class PromotionBlockedError(RuntimeError):
    """The policy did not pass and no reason was written; carries the verdict."""

    def __init__(self, message: str, verdict: Verdict) -> None:
        super().__init__(message)
        self.verdict = verdict


class UnservableVersionError(RegistryError):
    """The version has no artifact and would replace one our inference service serves; the
    caller must confirm (``confirm_unservable``)."""


@dataclass(frozen=True)
class PromotionResult:
    """What a promote or rollback did (or, with ``dry_run``, would do)."""

    model: str
    from_version: int | None
    to_version: int
    verdict: Verdict | None  # None for a rollback
    evidence: Evidence | None
    dry_run: bool
    entry: LedgerEntry | None  # None for a dry run


@dataclass(frozen=True)
class _Move:
    """A move checked against the store as the caller saw it, ready to be made."""

    model: str
    model_id: int
    kind: Literal["promote", "rollback"]
    from_version: int | None
    from_id: int | None
    to_version: int
    to_id: int
    #: The version replaced is one our inference service can load; the target is not.
    unservable: bool = False


def _changed(model: str, expected: int | None, now: ledger_repo.Production
             ) -> ProductionChangedError:
    was = "empty" if expected is None else f"v{expected}"
    if now.version is None:
        return ProductionChangedError(
            f"production of {model} is no longer {was}: nothing serves it now; look again")
    when = now.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC") if now.updated_at else "?"
    return ProductionChangedError(
        f"production of {model} is no longer {was}: {now.updated_by} made v{now.version} "
        f"production at {when}; look again")


def _has_artifact(session: Session, version_id: int | None) -> bool:
    found = session.get(ModelVersion, version_id) if version_id is not None else None
    return bool(found is not None and found.artifact_path)


def _plan(session: Session, *, model: str, version: int, expected: int | None,
          kind: Literal["promote", "rollback"]) -> _Move:
    """The move of ``model`` to ``version`` from ``expected``, checked as things stand.

    Raises:
        RegistryError: no such model or version, it failed, or it already serves.
        ProductionChangedError: production is not ``expected``.
    """
    found = registry.get_model(session=session, name=model)
    target_id = registry.version_row_id(session=session, model=found, version=version)
    now = ledger_repo.current_production(session=session, model_id=found.id)
    if now.version != expected:
        raise _changed(model, expected, now)
    target = session.get(ModelVersion, target_id)
    assert target is not None
    if target.status == "failed":
        raise RegistryError(f"{model} v{version} failed and cannot serve production")
    if version == expected:
        raise RegistryError(f"{model} v{version} already serves production")
    return _Move(model=model, model_id=found.id, kind=kind, from_version=expected,
                 from_id=now.version_id, to_version=version, to_id=target_id,
                 unservable=not target.artifact_path and _has_artifact(session, now.version_id))


def _snapshot(evidence: Evidence, verdict: Verdict) -> dict[str, Any]:
    return {"evidence": evidence.to_json(),
            "checks": [{"name": c.name, "passed": c.passed, "text": c.text}
                       for c in verdict.checks],
            "more_needed": verdict.more_needed, "how_to_get_more": verdict.how_to_get_more}


def _make(engine: Engine, actor: Principal, move: _Move, *, reason: str,
          evidence: dict[str, Any] | None = None, verdict: str | None = None,
          trigger: dict[str, Any] | None = None) -> LedgerEntry:
    """Make ``move`` in one transaction with its ledger row and audit entry.

    Raises:
        ProductionChangedError: production moved since ``move`` was planned.
    """
    with session_scope(engine, write=True) as session:
        try:
            row = ledger_repo.move_production(
                session=session, model_id=move.model_id, version_id=move.to_id,
                expected=move.from_id, actor=actor.username, kind=move.kind, reason=reason,
                evidence=evidence, verdict=verdict, trigger=trigger)
        except ledger_repo.PointerMoved as moved:
            raise _changed(move.model, move.from_version, moved.now) from None
        record(session=session, actor=actor.username, action=f"{move.kind}_version",
               object_type="model_version", object_id=f"{move.model}:v{move.to_version}",
               details={"from_version": move.from_version, "to_version": move.to_version,
                        "reason": reason, "verdict": verdict, "ledger_id": row.id,
                        "trigger": trigger or None},
               at=row.created_at)
        return entry_of(ledger_repo.LedgerRow(row, move.from_version, move.to_version))


def _check_evidence(evidence: Evidence, move: _Move) -> None:
    asked = (move.model, move.to_version, move.from_version)
    if (evidence.model, evidence.candidate, evidence.baseline) != asked:
        raise ValueError(
            f"the evidence compares {evidence.model} v{evidence.candidate} with "
            f"{_name(evidence.baseline)}, not v{move.to_version} with "
            f"{_name(move.from_version)}: gather it again")


def _name(version: int | None) -> str:
    return "nothing" if version is None else f"v{version}"


def promote(
    *,
    engine: Engine,
    actor: Principal,
    model: str,
    version: int,
    expected: int | None,
    policy: Policy,
    reason: str = "",
    evidence: Evidence | None = None,
    dry_run: bool = False,
    confirm_unservable: bool = False,
) -> PromotionResult:
    """Make ``version`` serve production if production is still ``expected``.

    The evidence is judged by :func:`services.promotion.policy.judge`; a verdict other than
    *pass* needs a reason, which the ledger keeps with the evidence and the verdict.

    Args:
        expected: the production version the caller looked at (``None``: none).
        evidence: gathered by the caller (the page shows it first); gathered here if
            ``None``. It must compare ``version`` with ``expected``.
        reason: required when the verdict is not a pass; kept in the ledger.
        dry_run: judge only; nothing is written.
        confirm_unservable: required to promote a version without an artifact over one our
            inference service serves.

    Raises:
        PermissionDenied: ``actor`` may not promote.
        PromotionBlockedError: the verdict is *fail* or *insufficient* and ``reason`` is
            empty.
        ProductionChangedError: production moved since the caller looked.
        UnservableVersionError: the version has no artifact, production has one, and
            ``confirm_unservable`` is not set.
        RegistryError: no such model or version, the version failed or already serves.
        ValueError: ``evidence`` compares other versions.
    """
    principal = require(actor, Action.PROMOTE)
    with session_scope(engine) as session:
        move = _plan(session, model=model, version=version, expected=expected, kind="promote")
    if move.unservable and not confirm_unservable:
        raise UnservableVersionError(
            f"{model} v{version} has no artifact (served elsewhere): our inference service "
            f"cannot load it, and it serves v{expected} now; confirm to promote it anyway")
    if evidence is None:
        evidence = gather_evidence(engine=engine, model=model, candidate=version,
                                   baseline=expected)
    _check_evidence(evidence, move)
    verdict = judge(evidence, policy)
    if verdict.outcome != "pass" and not reason.strip():
        raise PromotionBlockedError(
            f"promoting {model} v{version} is blocked: {verdict.summary}; write a reason to "
            "promote anyway", verdict)
    entry = None if dry_run else _make(
        engine, principal, move, reason=reason.strip(), evidence=_snapshot(evidence, verdict),
        verdict=verdict.outcome)
    return PromotionResult(model=model, from_version=expected, to_version=version,
                           verdict=verdict, evidence=evidence, dry_run=dry_run, entry=entry)


def _rollback_target(session: Session, *, model: str, current: int,
                     to: int | None) -> int:
    """``to`` if it served production before, else the version ``current`` replaced.

    Raises:
        RegistryError: there is no such earlier production version.
    """
    found = registry.get_model(session=session, name=model)
    rows = ledger_repo.ledger_rows(session=session, model_id=found.id)
    if to is None:
        into = next((r for r in rows if r.to_version == current), None)
        if into is None or into.from_version is None:
            raise RegistryError(
                f"{model} has no production version before v{current} to roll back to")
        return into.from_version
    if to != current and not any(to in (r.to_version, r.from_version) for r in rows):
        raise RegistryError(f"{model} v{to} never served production: promote it instead")
    return to


def rollback(
    *,
    engine: Engine,
    actor: Principal,
    model: str,
    reason: str,
    to: int | None = None,
    expected: int | None = None,
    trigger: dict[str, Any] | None = None,
) -> PromotionResult:
    """Return production to the previous production version (or ``to``), with a reason.

    No evidence gate. The previous version is the one production had before the latest
    move into the current one (from the ledger); ``to`` may name any version that served
    production before. ``expected`` as for :func:`promote` (``None``: whatever serves now).
    ``trigger`` holds the numbers behind an automatic rollback (the bake watch, as
    ``system``).

    Raises:
        PermissionDenied, ProductionChangedError, RegistryError; ValueError: empty reason.
    """
    principal = require(actor, Action.ROLLBACK)
    if not reason.strip():
        raise ValueError("a rollback needs a reason: say what went wrong")
    with session_scope(engine) as session:
        found = registry.get_model(session=session, name=model)
        current = ledger_repo.current_production(session=session, model_id=found.id).version
        if current is None:
            raise RegistryError(f"nothing serves production of {model}: nothing to roll back")
        if expected is not None and expected != current:
            raise _changed(model, expected, ledger_repo.current_production(
                session=session, model_id=found.id))
        target = _rollback_target(session, model=model, current=current, to=to)
        move = _plan(session, model=model, version=target, expected=current, kind="rollback")
    entry = _make(engine, principal, move, reason=reason.strip(), trigger=trigger)
    return PromotionResult(model=model, from_version=current, to_version=target, verdict=None,
                           evidence=None, dry_run=False, entry=entry)

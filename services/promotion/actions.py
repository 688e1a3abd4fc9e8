"""Promote and roll back: one transaction, compare-and-set, with the ledger and the audit entry.

Moving the production pointer, archiving the old version, the ledger row (``promotions``)
with its evidence snapshot and the audit entry commit together or not at all, and only if
production is still the version the caller looked at (``expected``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Engine

from services.access import Principal
from services.promotion.evidence import Evidence
from services.promotion.policy import Policy, Verdict

__all__ = [
    "LedgerEntry",
    "ProductionChangedError",
    "PromotionBlockedError",
    "PromotionResult",
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


def versions(*, engine: Engine, model: str) -> list[VersionRow]:
    """Every version of ``model``, newest first."""
    raise NotImplementedError


def ledger(*, engine: Engine, model: str) -> list[LedgerEntry]:
    """Every promotion and rollback of ``model``, newest first."""
    raise NotImplementedError


def production_at(*, engine: Engine, model: str, at: datetime) -> int | None:
    """The version that served production at ``at`` (``None``: nothing yet)."""
    raise NotImplementedError


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

    Args:
        expected: the production version the caller looked at (``None``: none).
        evidence: gathered by the caller (the page shows it first); gathered here if
            ``None``.
        reason: required when the verdict is not a pass; kept in the ledger.
        confirm_unservable: required to promote a version without an artifact over one our
            inference service serves.

    Raises:
        PermissionDenied: ``actor`` may not promote.
        PromotionBlockedError: the verdict is *fail* or *insufficient* and ``reason`` is
            empty.
        ProductionChangedError: production moved since the caller looked.
        RegistryError: no such model or version, or the version failed.
    """
    raise NotImplementedError


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

    No evidence gate. ``expected`` as for :func:`promote` (``None``: whatever serves now).
    ``trigger`` holds the numbers behind an automatic rollback (the bake watch, as
    ``system``).

    Raises:
        PermissionDenied, ProductionChangedError, RegistryError; ValueError: empty reason.
    """
    raise NotImplementedError

"""Which version was in production when: read from the promotion ledger once, asked per
moment, so a rule scoped to production judges, at every step of a replay as in the live
evaluation, the version that served then."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from db.repositories import promotions

__all__ = ["ProductionHistory", "production_history"]


@dataclass(frozen=True)
class ProductionHistory:
    """A model's production moves, oldest first: ``(when, from row id, to row id)``, and
    the pointer now (row id; ``None``: nothing in production)."""

    moves: tuple[tuple[datetime, int | None, int], ...]
    current: int | None
    #: Version row id → version number.
    numbers: dict[int, int]

    def version_at(self, at: datetime) -> int | None:
        """The version row in production at ``at``: the newest move at or before it;
        before the first move, the version it left (or, for a first deployment, the one
        it deployed: the history may hold that version's earlier predictions); without a
        ledger, the pointer now."""
        if not self.moves:
            return self.current
        found = None
        for when, _, to in self.moves:
            if when <= at:
                found = to
        if found is not None:
            return found
        _, before, first = self.moves[0]
        return before if before is not None else first

    def number_at(self, at: datetime) -> int | None:
        """The version number in production at ``at`` (see :meth:`version_at`)."""
        found = self.version_at(at)
        return None if found is None else self.numbers.get(found)


def production_history(*, session: Session, model_id: int) -> ProductionHistory:
    """The model's production history from the promotion ledger and the pointer."""
    ledger = promotions.ledger_rows(session=session, model_id=model_id)
    now = promotions.current_production(session=session, model_id=model_id)
    numbers: dict[int, int] = {}
    for r in ledger:
        numbers[r.row.to_version_id] = r.to_version
        if r.row.from_version_id is not None and r.from_version is not None:
            numbers[r.row.from_version_id] = r.from_version
    if now.version_id is not None and now.version is not None:
        numbers[now.version_id] = now.version
    moves = tuple(sorted(((r.row.created_at, r.row.from_version_id, r.row.to_version_id)
                          for r in ledger), key=lambda m: m[0]))
    return ProductionHistory(moves=moves, current=now.version_id, numbers=numbers)

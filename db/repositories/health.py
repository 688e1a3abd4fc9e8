"""Whether the store answers at all (the inference service's health check)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

__all__ = ["ping"]


def ping(*, session: Session) -> None:
    """Run the cheapest statement the store can answer.

    Raises:
        SQLAlchemyError: the store cannot be reached or does not answer.
    """
    session.execute(text("SELECT 1"))

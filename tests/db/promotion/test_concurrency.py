"""One promotion at a time: concurrent promotions and rollbacks on one model, on SQLite (a
file store, its real busy timeout) and on PostgreSQL, while a reader watches production.

A reader must never see zero or two production versions, or a pointer that names another
version than the one marked production; every successful call leaves exactly one ledger row
and one audit entry; every refused call is refused as "production changed" and leaves none.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, ModelVersion, ProductionPointer, Promotion
from db.session import session_scope
from services.access import Principal, Role
from services.promotion.actions import (
    ProductionChangedError,
    ledger,
    promote,
    rollback,
    versions,
)
from tests.db.promotion.test_actions import POLICY, evidence, seed

CALLS = 50
POLLS = 1000
OPERATORS = [Principal(username=f"operator-{n}", role=Role.OPERATOR) for n in range(CALLS)]


def production_now(engine: Engine) -> int | None:
    return next((r.version for r in versions(engine=engine, model="churn")
                 if r.status == "production"), None)


def counts(engine: Engine) -> tuple[int, int]:
    """Ledger rows and promote / rollback audit entries."""
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(Promotion)) or 0
        audits = session.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.action.in_(("promote_version", "rollback_version")))) or 0
    return rows, audits


def poll(engine: Engine, model_id: int) -> tuple[int, int | None, int | None]:
    """In one statement (one snapshot): how many versions are marked production, the
    version the pointer names, and one marked production."""
    marked = select(ModelVersion.version).where(ModelVersion.model_id == model_id,
                                                 ModelVersion.status == "production")
    statement = select(
        select(func.count()).select_from(marked.subquery()).scalar_subquery(),
        select(ModelVersion.version)
        .join(ProductionPointer, ProductionPointer.version_id == ModelVersion.id)
        .where(ProductionPointer.model_id == model_id).scalar_subquery(),
        marked.order_by(ModelVersion.version).limit(1).scalar_subquery())
    with engine.connect() as conn:
        count, pointer, first = conn.execute(statement).one()
    return int(count), pointer, first


def call(engine: Engine, n: int) -> Callable[[], Any]:
    """Call ``n``: read production just before, then promote (even ``n``) or roll back (odd
    ``n``) to another of the three versions, all of which served production before."""
    def run() -> Any:
        expected = production_now(engine)
        assert expected is not None
        target = expected % 3 + 1 if n % 4 < 2 else (expected + 1) % 3 + 1
        if n % 2 == 0:
            return promote(engine=engine, actor=OPERATORS[n], model="churn", version=target,
                           expected=expected, policy=POLICY,
                           evidence=evidence(candidate=target, baseline=expected))
        return rollback(engine=engine, actor=OPERATORS[n], model="churn", to=target,
                        expected=expected, reason=f"call {n}")
    return run


def run_together(engine: Engine, model_id: int) -> tuple[list[Any], list[BaseException],
                                                         list[tuple[int, Any, Any]]]:
    """Every call and the reader in its own thread, started at once."""
    start = threading.Barrier(CALLS + 1)
    done: list[Any] = []
    failed: list[BaseException] = []
    polls: list[tuple[int, Any, Any]] = []
    lock = threading.Lock()

    def worker(job: Callable[[], Any]) -> None:
        start.wait()
        try:
            result = job()
        except BaseException as exc:  # every failure is looked at below
            with lock:
                failed.append(exc)
        else:
            with lock:
                done.append(result)

    def reader() -> None:
        start.wait()
        polls.extend(poll(engine, model_id) for _ in range(POLLS))

    threads = [threading.Thread(target=worker, args=(call(engine, n),)) for n in range(CALLS)]
    threads.append(threading.Thread(target=reader))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return done, failed, polls


def test_concurrent_promotions_and_rollbacks_move_production_one_at_a_time(
        engine: Engine) -> None:
    model_id = seed(engine)
    for version, expected in ((2, 1), (3, 2)):  # every version has served production
        promote(engine=engine, actor=OPERATORS[0], model="churn", version=version,
                expected=expected, policy=POLICY,
                evidence=evidence(candidate=version, baseline=expected))
    rows_before, audits_before = counts(engine)

    done, failed, polls = run_together(engine, model_id)

    assert [repr(exc) for exc in failed if not isinstance(exc, ProductionChangedError)] == []
    assert len(done) + len(failed) == CALLS
    assert done, "at least the first call to commit succeeds"
    assert len(polls) == POLLS
    assert [p for p in polls if p[0] != 1 or p[1] != p[2]] == []
    rows, audits = counts(engine)
    assert rows - rows_before == audits - audits_before == len(done)
    # In time order each move starts where the one before ended, and the last is what
    # serves: the ledger answers what served when.
    entries = ledger(engine=engine, model="churn")[::-1]
    assert [e.from_version for e in entries[1:]] == [e.to_version for e in entries[:-1]]
    assert poll(engine, model_id) == (1, entries[-1].to_version, entries[-1].to_version)


@pytest.mark.parametrize("racers", [8])
def test_only_one_of_several_first_promotions_wins(engine: Engine, racers: int) -> None:
    """Nothing in production yet: racers insert the first pointer; one wins."""
    model_id = seed(engine, extra=racers - 1)
    with session_scope(engine, write=True) as session:  # v1 back out of production
        session.query(ProductionPointer).filter_by(model_id=model_id).delete()
        session.query(Promotion).filter_by(model_id=model_id).delete()
        session.query(ModelVersion).filter_by(model_id=model_id).update({"status": "candidate"})
    start = threading.Barrier(racers)
    outcomes: list[Any] = []

    def first(version: int) -> None:
        start.wait()
        try:
            outcomes.append(promote(
                engine=engine, actor=OPERATORS[version], model="churn", version=version,
                expected=None, policy=POLICY,
                evidence=evidence(candidate=version, baseline=None, shared=0)))
        except BaseException as exc:  # every failure is looked at below
            outcomes.append(exc)

    threads = [threading.Thread(target=first, args=(v,)) for v in range(1, racers + 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1
    assert all(isinstance(exc, ProductionChangedError) for exc in lost), lost
    assert all(f"operator-{won[0].to_version} made v{won[0].to_version}" in str(exc)
               for exc in lost)
    assert poll(engine, model_id) == (1, won[0].to_version, won[0].to_version)
    assert counts(engine) == (1, 1)

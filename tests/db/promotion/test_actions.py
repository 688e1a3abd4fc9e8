"""Promote and roll back on a real store: the pointer, the statuses, the ledger with its
evidence and the audit entry move together, only if production is still what the caller
saw; a verdict other than *pass* needs a reason; the ledger answers what served when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from db.models import AuditLog, ModelVersion, Promotion
from db.repositories import promotions as ledger_repo
from db.repositories import registry
from db.session import session_scope
from services.access import CLI, SYSTEM, PermissionDenied, Principal, Role
from services.promotion.actions import (
    ProductionChangedError,
    PromotionBlockedError,
    UnservableVersionError,
    ledger,
    production_at,
    promote,
    rollback,
    versions,
)
from services.promotion.evidence import ClassRecall, Estimate, Evidence
from services.promotion.policy import Policy
from tests.factories import make_model

OPERATOR = Principal(username="olga", role=Role.OPERATOR)
POLICY = Policy()  # at least 200 shared labelled predictions, margin 0.01
SEEDED = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def evidence(*, candidate: int = 2, baseline: int | None = 1, shared: int = 500,
             low: float = 0.02) -> Evidence:
    """Evidence for churn's ``candidate`` over ``baseline``: a pass with the defaults;
    ``shared`` below 200 is insufficient, ``low`` at or below -0.01 a fail."""
    return Evidence(
        model="churn", baseline=baseline, candidate=candidate, shared=shared,
        accuracy_baseline=Estimate(0.70, 0.66, 0.74),
        accuracy_candidate=Estimate(0.80, 0.76, 0.84),
        macro_f1_baseline=Estimate(0.65, 0.60, 0.70),
        macro_f1_candidate=Estimate(0.75, 0.70, 0.80),
        accuracy_difference=Estimate(0.10, low, 0.15),
        macro_f1_difference=Estimate(0.10, 0.03, 0.16),
        disagreements=80, only_baseline_right=20, only_candidate_right=60, mcnemar_p=1e-5,
        per_class=(ClassRecall("stays", 300, 0.85, 0.9), ClassRecall("churns", 200, 0.6, 0.8)),
        serving=None, computed_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
    )


def seed(engine: Engine, *, extra: int = 2, artifact: bool = True) -> int:
    """churn v1 in production since :data:`SEEDED` and ``extra`` candidates (v2, v3, ...);
    returns the model id."""
    model_id, _ = make_model(engine, at=SEEDED)
    with session_scope(engine, write=True) as session:
        for n in range(extra):
            registry.add_version(session=session, model_id=model_id,
                                 artifact_path=f"/nonexistent/churn-v{n + 2}.pkl" if artifact
                                 else "", artifact_sha256="1" * 64 if artifact else "",
                                 created_by="test")
    return model_id


def state(engine: Engine) -> tuple[dict[int, str], int, int]:
    """Each version's status, the ledger rows and the audit entries."""
    statuses = {v.version: v.status for v in versions(engine=engine, model="churn")}
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(Promotion)) or 0
        audits = session.scalar(select(func.count()).select_from(AuditLog)) or 0
    return statuses, rows, audits


def audit_entries(engine: Engine, action: str) -> list[AuditLog]:
    with session_scope(engine) as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.action == action)
                                    .order_by(AuditLog.id)))


def test_a_promotion_moves_production_and_keeps_the_evidence_it_was_judged_on(
        engine: Engine) -> None:
    seed(engine)
    shown = evidence()
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                     policy=POLICY, evidence=shown)
    assert (result.from_version, result.to_version, result.dry_run) == (1, 2, False)
    assert result.verdict is not None
    assert result.verdict.outcome == "pass"
    assert state(engine)[0] == {3: "candidate", 2: "production", 1: "archived"}
    entry = ledger(engine=engine, model="churn")[0]
    assert entry == result.entry
    assert (entry.kind, entry.from_version, entry.to_version, entry.actor) == (
        "promote", 1, 2, "olga")
    assert entry.evidence == shown
    assert entry.verdict == "pass"
    assert entry.checks == result.verdict.checks
    [audit] = audit_entries(engine, "promote_version")
    assert (audit.actor, audit.object_type, audit.object_id) == ("olga", "model_version",
                                                                "churn:v2")
    assert audit.details["ledger_id"] == entry.id
    assert (audit.details["from_version"], audit.details["to_version"]) == (1, 2)
    assert audit.ts == entry.at


def test_a_stale_view_of_production_is_refused_naming_who_moved_it_and_when(
        engine: Engine) -> None:
    seed(engine)
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence())
    moved_at = ledger(engine=engine, model="churn")[0].at
    before = state(engine)
    with pytest.raises(ProductionChangedError) as stale:
        promote(engine=engine, actor=CLI, model="churn", version=3, expected=1,
                policy=POLICY, evidence=evidence(candidate=3))
    message = str(stale.value)
    assert "no longer v1" in message
    assert "olga made v2 production" in message
    assert moved_at.strftime("%Y-%m-%d %H:%M:%S") in message
    assert "\n" not in message
    assert state(engine) == before
    with pytest.raises(ProductionChangedError, match="olga made v2"):
        rollback(engine=engine, actor=CLI, model="churn", reason="stale", expected=3)
    assert state(engine) == before


@pytest.mark.parametrize(("shared", "low", "outcome"), [(199, 0.02, "insufficient"),
                                                        (500, -0.01, "fail")])
def test_a_verdict_other_than_pass_blocks_a_promotion_without_a_reason(
        engine: Engine, shared: int, low: float, outcome: str) -> None:
    seed(engine)
    before = state(engine)
    with pytest.raises(PromotionBlockedError) as blocked:
        promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                policy=POLICY, reason="   ", evidence=evidence(shared=shared, low=low))
    assert blocked.value.verdict.outcome == outcome
    assert "blocked" in str(blocked.value)
    assert "reason" in str(blocked.value)
    assert state(engine) == before
    if outcome == "insufficient":
        assert blocked.value.verdict.more_needed == 1
        assert "shadow-score --model churn --version 2" in str(blocked.value)


def test_at_the_minimum_and_the_margin_a_promotion_passes(engine: Engine) -> None:
    seed(engine)
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                     policy=POLICY, evidence=evidence(shared=200, low=-0.0099))
    assert result.verdict is not None
    assert result.verdict.outcome == "pass"


def test_with_a_reason_a_failing_promotion_goes_ahead_and_the_ledger_keeps_why(
        engine: Engine) -> None:
    seed(engine)
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                     policy=POLICY, reason="  the old version leaks a feature  ",
                     evidence=evidence(low=-0.05))
    entry = ledger(engine=engine, model="churn")[0]
    assert entry == result.entry
    assert (entry.verdict, entry.reason) == ("fail", "the old version leaks a feature")
    assert [c.name for c in entry.checks if c.passed is False] == ["difference"]
    [audit] = audit_entries(engine, "promote_version")
    assert (audit.details["verdict"], audit.details["reason"]) == (
        "fail", "the old version leaks a feature")


def test_a_dry_run_judges_and_writes_nothing(engine: Engine) -> None:
    seed(engine)
    before = state(engine)
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                     policy=POLICY, evidence=evidence(), dry_run=True)
    assert (result.dry_run, result.entry) == (True, None)
    assert result.verdict is not None
    assert result.verdict.outcome == "pass"
    assert state(engine) == before
    with pytest.raises(PromotionBlockedError):
        promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                policy=POLICY, evidence=evidence(shared=10), dry_run=True)


def test_without_given_evidence_it_is_gathered_from_the_store(engine: Engine) -> None:
    seed(engine)
    with pytest.raises(PromotionBlockedError) as blocked:
        promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                policy=POLICY)
    assert blocked.value.verdict.outcome == "insufficient"
    assert blocked.value.verdict.more_needed == POLICY.min_shared  # nothing labelled yet
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                     policy=POLICY, reason="no labels yet; the bake watch guards it")
    assert result.entry is not None
    assert result.entry.evidence is not None
    assert (result.entry.evidence.shared, result.entry.evidence.baseline) == (0, 1)


def test_evidence_of_other_versions_is_refused(engine: Engine) -> None:
    seed(engine)
    with pytest.raises(ValueError, match="gather it again"):
        promote(engine=engine, actor=OPERATOR, model="churn", version=3, expected=1,
                policy=POLICY, evidence=evidence(candidate=2))


def test_failed_unknown_and_serving_versions_cannot_be_promoted(engine: Engine) -> None:
    model_id = seed(engine)
    with session_scope(engine, write=True) as session:
        session.execute(update(ModelVersion).where(ModelVersion.model_id == model_id,
                                                   ModelVersion.version == 3)
                        .values(status="failed"))
    cases = [(3, "failed"), (9, "no version 9"), (1, "already serves")]
    for version, problem in cases:
        with pytest.raises(registry.RegistryError, match=problem):
            promote(engine=engine, actor=OPERATOR, model="churn", version=version,
                    expected=1, policy=POLICY, evidence=evidence(candidate=version))


def test_a_version_served_elsewhere_replaces_ours_only_when_confirmed(engine: Engine) -> None:
    seed(engine, extra=1, artifact=False)
    before = state(engine)
    with pytest.raises(UnservableVersionError, match="cannot load it"):
        promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
                policy=POLICY, evidence=evidence())
    assert state(engine) == before
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence(), confirm_unservable=True)
    [row] = [r for r in versions(engine=engine, model="churn") if r.status == "production"]
    assert (row.version, row.artifact_sha256, row.artifact_bytes) == (2, None, None)


def test_the_first_production_version_needs_no_comparison(engine: Engine) -> None:
    make_model(engine, production=False)
    result = promote(engine=engine, actor=OPERATOR, model="churn", version=1, expected=None,
                     policy=POLICY, evidence=evidence(candidate=1, baseline=None, shared=0))
    assert result.verdict is not None
    assert result.verdict.outcome == "pass"
    assert result.entry is not None
    assert result.entry.from_version is None
    assert state(engine)[0] == {1: "production"}


def test_rollback_returns_to_the_version_before_the_current_one_or_any_earlier_one(
        engine: Engine) -> None:
    seed(engine)
    for version, expected in ((2, 1), (3, 2)):
        promote(engine=engine, actor=OPERATOR, model="churn", version=version,
                expected=expected, policy=POLICY,
                evidence=evidence(candidate=version, baseline=expected))
    back = rollback(engine=engine, actor=OPERATOR, model="churn", reason="p95 doubled")
    assert (back.from_version, back.to_version, back.verdict, back.evidence) == (3, 2, None,
                                                                               None)
    assert state(engine)[0] == {3: "archived", 2: "production", 1: "archived"}
    entry = ledger(engine=engine, model="churn")[0]
    assert (entry.kind, entry.from_version, entry.to_version, entry.reason, entry.evidence,
            entry.verdict) == ("rollback", 3, 2, "p95 doubled", None, None)
    further = rollback(engine=engine, actor=OPERATOR, model="churn", to=1, expected=2,
                       reason="back to the start")
    assert further.to_version == 1
    assert state(engine)[0] == {3: "archived", 2: "archived", 1: "production"}
    assert [a.object_id for a in audit_entries(engine, "rollback_version")] == [
        "churn:v2", "churn:v1"]


def test_an_automatic_rollback_keeps_the_numbers_that_triggered_it(engine: Engine) -> None:
    seed(engine)
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence())
    trigger = {"error_rate": 0.21, "slo_error_rate": 0.05}
    rollback(engine=engine, actor=SYSTEM, model="churn", reason="bake watch: error rate",
             expected=2, trigger=trigger)
    entry = ledger(engine=engine, model="churn")[0]
    assert (entry.actor, entry.trigger) == ("system", trigger)
    [audit] = audit_entries(engine, "rollback_version")
    assert (audit.actor, audit.details["trigger"]) == ("system", trigger)


def test_rollback_needs_a_reason_and_a_version_that_served_before(engine: Engine) -> None:
    seed(engine)
    before = state(engine)
    with pytest.raises(ValueError, match="needs a reason"):
        rollback(engine=engine, actor=OPERATOR, model="churn", reason=" ")
    with pytest.raises(registry.RegistryError, match="no production version before v1"):
        rollback(engine=engine, actor=OPERATOR, model="churn", reason="why not")
    with pytest.raises(registry.RegistryError, match="v3 never served production"):
        rollback(engine=engine, actor=OPERATOR, model="churn", reason="why not", to=3)
    assert state(engine) == before


def test_what_served_production_at_a_time_comes_from_the_ledger(engine: Engine) -> None:
    seed(engine)
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence())
    rollback(engine=engine, actor=OPERATOR, model="churn", reason="regret")
    back, forward, _ = ledger(engine=engine, model="churn")
    middle = forward.at + (back.at - forward.at) / 2

    def at(when: datetime) -> int | None:
        return production_at(engine=engine, model="churn", at=when)

    assert at(SEEDED - timedelta(seconds=1)) is None
    assert [at(SEEDED), at(forward.at - timedelta(microseconds=1))] == [1, 1]
    assert [at(forward.at), at(middle)] == [2, 2]
    assert [at(back.at), at(back.at + timedelta(days=400))] == [1, 1]
    with pytest.raises(ValueError, match="time zone"):
        at(datetime(2026, 11, 2))


@pytest.mark.parametrize("role", [Role.ANALYST, Role.LABELER])
def test_analysts_and_labelers_can_neither_promote_nor_roll_back(
        engine: Engine, role: Role) -> None:
    seed(engine)
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence())
    caller = Principal(username="someone", role=role)
    before = state(engine)
    with pytest.raises(PermissionDenied, match="may not promote"):
        promote(engine=engine, actor=caller, model="churn", version=3, expected=2,
                policy=POLICY, reason="crafted", evidence=evidence(candidate=3, baseline=2))
    with pytest.raises(PermissionDenied, match="may not rollback"):
        rollback(engine=engine, actor=caller, model="churn", reason="crafted")
    assert state(engine) == before


def test_a_move_recorded_without_evidence_reads_as_none(engine: Engine) -> None:
    seed(engine)
    promote(engine=engine, actor=OPERATOR, model="churn", version=2, expected=1,
            policy=POLICY, evidence=evidence())
    [seeded] = [e for e in ledger(engine=engine, model="churn") if e.from_version is None]
    assert (seeded.to_version, seeded.evidence, seeded.verdict, seeded.checks,
            seeded.trigger) == (1, None, None, (), {})


def test_the_store_moves_the_pointer_only_from_the_expected_version(engine: Engine) -> None:
    model_id = seed(engine)
    with session_scope(engine) as session:
        ids = {v.version: v.id for v in session.scalars(
            select(ModelVersion).where(ModelVersion.model_id == model_id))}
    before = state(engine)
    for expected in (ids[2], None):
        with pytest.raises(ledger_repo.PointerMoved) as moved, \
                session_scope(engine, write=True) as session:
            ledger_repo.move_production(session=session, model_id=model_id,
                                        version_id=ids[3], expected=expected, actor="ann")
        assert (moved.value.now.version, moved.value.now.updated_by) == (1, "test")
        assert moved.value.now.updated_at == SEEDED
    assert state(engine) == before


def test_versions_list_each_artifact_with_its_size_or_as_served_elsewhere(
        engine: Engine, tmp_path: Path) -> None:
    model_id = seed(engine, extra=0)
    artifact = tmp_path / "churn-v2.pkl"
    artifact.write_bytes(b"x" * 1234)
    window = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 31, tzinfo=UTC))
    with session_scope(engine, write=True) as session:
        registry.add_version(session=session, model_id=model_id, artifact_path=str(artifact),
                             artifact_sha256="2" * 64, created_by="olga",
                             holdout_metrics={"accuracy": 0.93}, train_window_start=window[0],
                             train_window_end=window[1], notes="retrained on October")
        registry.add_version(session=session, model_id=model_id, artifact_path="",
                             artifact_sha256="", created_by="cli")
    third, second, first = versions(engine=engine, model="churn")
    assert (third.version, third.status, third.artifact_sha256, third.artifact_bytes,
            third.created_by) == (3, "candidate", None, None, "cli")
    assert (second.artifact_sha256, second.artifact_bytes) == ("2" * 64, 1234)
    assert (second.train_window_start, second.train_window_end) == window
    assert (second.holdout_metrics, second.notes) == ({"accuracy": 0.93}, "retrained on October")
    assert (first.version, first.status, first.artifact_bytes) == (1, "production", None)

"""``versions``, ``promote`` and ``rollback`` from the command line, in-process on a real store:
the same verdict, checks and records as the page, exit status 3 when the policy blocks."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.shadow import insert_shadow
from db.session import session_scope
from devstack.processes import free_loopback_port
from services.promotion.actions import ledger, versions
from tests.cli_runner import RunCli
from tests.db.promotion.test_actions import seed, state


@pytest.fixture(autouse=True)
def _prometheus_is_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Prometheus answers: the serving record is unavailable, not judged."""
    monkeypatch.setenv("OPSDASH_PROMETHEUS_URL", f"http://127.0.0.1:{free_loopback_port()}")


def labelled_shared(engine: Engine, model_id: int, *, rows: int = 300) -> None:
    """``rows`` labelled predictions v1 served and v2 shadow-scored: v1 right on 60 %, v2 on
    90 % of them."""
    now = utcnow()
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="churn")
        v1, v2 = (registry.version_row_id(session=session, model=model, version=n)
                  for n in (1, 2))
    predictions, labels, shadows = [], [], []
    for n in range(rows):
        ts = now - timedelta(minutes=rows - n)
        label = "churns" if n % 2 else "stays"
        other = "stays" if label == "churns" else "churns"
        first, second = (label if n % 10 < 6 else other), (label if n % 10 < 9 else other)
        name = f"p{n}"
        predictions.append({"id": name, "model_id": model_id, "version_id": v1, "ts": ts,
                            "features": {}, "predicted_class": first,
                            "scores": {first: 0.7}, "top_score": 0.7, "latency_ms": 1.0})
        labels.append({"prediction_id": name, "label": label, "labeler": "ann",
                       "source": "ui", "created_at": ts + timedelta(seconds=5)})
        shadows.append({"prediction_id": name, "version_id": v2, "predicted_at": ts,
                        "predicted_class": second, "top_score": 0.9, "scores": {second: 0.9},
                        "scored_at": now})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=predictions)
        insert_feedback(session=session, rows=labels)
        insert_shadow(session=session, rows=shadows)


def test_a_blocked_promotion_exits_3_with_the_verdict_and_the_way_to_more_evidence(
        run_cli: RunCli, engine: Engine) -> None:
    seed(engine)
    before = state(engine)
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2")
    assert (status, err) == (3, "")
    assert "verdict: insufficient evidence" in out
    assert "not promoted" in out
    assert "--reason" in out
    assert "python -m services.cli shadow-score --model churn --version 2" in out
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2", "--json")
    assert (status, err) == (3, "")
    result = json.loads(out)
    assert (result["blocked"], result["verdict"]["outcome"]) == (True, "insufficient")
    assert result["verdict"]["more_needed"] == 200
    assert {c["name"] for c in result["verdict"]["checks"]} >= {"shared", "difference"}
    assert state(engine) == before


def test_a_promotion_with_a_reason_is_recorded_and_versions_answers_what_served_when(
        run_cli: RunCli, engine: Engine) -> None:
    seed(engine)
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2", "--json",
                               "--reason", "shadow traffic starts tomorrow")
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert (result["blocked"], result["from_version"], result["to_version"]) == (False, 1, 2)
    assert result["entry"]["reason"] == "shadow traffic starts tomorrow"
    assert result["entry"]["verdict"] == "insufficient"
    assert result["entry"]["actor"] == "cli"
    assert result["evidence"]["shared"] == 0
    promoted_at = ledger(engine=engine, model="churn")[0].at

    status, out, err = run_cli("versions", "--model", "churn", "--json")
    assert (status, err) == (0, "")
    listed = json.loads(out)
    assert listed["production_version"] == 2
    assert [(v["version"], v["status"]) for v in listed["versions"]] == [
        (3, "candidate"), (2, "production"), (1, "archived")]
    assert [(e["kind"], e["from_version"], e["to_version"]) for e in listed["ledger"]] == [
        ("promote", 1, 2), ("promote", None, 1)]
    assert listed["ledger"][0]["evidence"] == result["evidence"]
    assert listed["ledger"][1]["evidence"] is None

    before = (promoted_at - timedelta(seconds=1)).isoformat()
    status, out, _ = run_cli("versions", "--model", "churn", "--at", before)
    assert (status, out.strip()) == (0, f"churn at {before}: production v1")
    status, out, _ = run_cli("versions", "--model", "churn", "--at",
                             promoted_at.isoformat(), "--json")
    assert json.loads(out)["production_version"] == 2
    status, out, _ = run_cli("versions", "--model", "churn", "--at", "2020-01-01T00:00")
    assert out.strip() == "churn at 2020-01-01T00:00:00+00:00: production none"
    status, out, _ = run_cli("versions", "--model", "churn")
    assert "churn: production v2" in out
    assert "by cli [insufficient]: shadow traffic starts tomorrow" in out


def test_labelled_evidence_passes_and_a_dry_run_changes_nothing(
        run_cli: RunCli, engine: Engine) -> None:
    model_id = seed(engine)
    labelled_shared(engine, model_id)
    before = state(engine)
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2", "--dry-run",
                               "--json")
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert (result["dry_run"], result["blocked"], result["entry"]) == (True, False, None)
    assert result["verdict"]["outcome"] == "pass"
    assert result["evidence"]["shared"] == 300
    assert result["evidence"]["accuracy_difference"]["value"] == pytest.approx(0.3)
    assert state(engine) == before
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2")
    assert (status, err) == (0, "")
    assert "verdict: pass" in out
    assert "churn v2 serves production (was v1)" in out
    [entry, _] = ledger(engine=engine, model="churn")
    assert entry.evidence is not None
    assert (entry.verdict, entry.evidence.shared) == ("pass", 300)


def test_rollback_from_the_command_line(run_cli: RunCli, engine: Engine) -> None:
    seed(engine)
    run_cli("promote", "--model", "churn", "--version", "2", "--reason", "try it")
    before = state(engine)
    for args, problem in (
            (("--reason", "  "), "--reason is empty"),
            (("--reason", "no", "--to", "3"), "churn v3 never served production")):
        status, out, err = run_cli("rollback", "--model", "churn", *args)
        assert (status, out) == (2, "")
        assert problem in err
    assert state(engine) == before
    status, out, err = run_cli("rollback", "--model", "churn", "--reason", "p95 doubled",
                               "--json")
    assert (status, err) == (0, "")
    result = json.loads(out)
    assert (result["from_version"], result["to_version"]) == (2, 1)
    assert (result["entry"]["kind"], result["entry"]["reason"]) == ("rollback", "p95 doubled")
    status, out, _ = run_cli("rollback", "--model", "churn", "--reason", "and back")
    assert out.strip().startswith("churn rolled back from v1 to v2")


def test_a_version_served_elsewhere_needs_the_confirmation_flag(
        run_cli: RunCli, engine: Engine) -> None:
    seed(engine, extra=1, artifact=False)
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2", "--reason",
                               "their stack serves it")
    assert (status, out) == (2, "")
    assert "no artifact" in err
    assert "--confirm-unservable" in err
    status, out, err = run_cli("promote", "--model", "churn", "--version", "2", "--reason",
                               "their stack serves it", "--confirm-unservable")
    assert (status, err) == (0, "")
    assert [v.version for v in versions(engine=engine, model="churn")
            if v.status == "production"] == [2]


@pytest.mark.parametrize(("args", "problem"), [
    (("promote", "--model", "nope", "--version", "1"), "no model named 'nope'"),
    (("promote", "--model", "churn", "--version", "1"), "churn v1 already serves"),
    (("promote", "--model", "churn", "--version", "7"), "no version 7"),
    (("versions", "--model", "churn", "--at", "yesterday"), "not an ISO 8601 time"),
    (("rollback", "--model", "churn", "--reason", "x"), "no production version before v1"),
])
def test_bad_requests_exit_2_in_one_line(run_cli: RunCli, engine: Engine,
                                         args: tuple[str, ...], problem: str) -> None:
    seed(engine)
    status, out, err = run_cli(*args)
    assert (status, out) == (2, "")
    assert problem in err
    assert err.count("\n") == 1

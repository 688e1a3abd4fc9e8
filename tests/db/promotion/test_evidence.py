"""Evidence for a promotion and the policy's verdict on hand-built stores.

churn v1 serves production and made every prediction; candidate v2 answered some of them in
the shadow. Each test writes the cells ``(label, v1's answer, v2's answer, count)`` it needs.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from datetime import timedelta

import pytest
from sklearn.metrics import accuracy_score, f1_score
from sqlalchemy import Engine

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_feedback, insert_predictions
from db.repositories.registry import RegistryError
from db.repositories.shadow import insert_shadow
from db.session import session_scope
from services.prometheus.source import PrometheusSource
from services.promotion.evidence import Evidence, gather_evidence
from services.promotion.policy import Policy, judge
from services.promotion.stats import mcnemar_exact
from services.quality.compare import compare_versions
from tests.factories import log_predictions, make_model

NOW = utcnow()
LABELS = ("stays", "churns")
Cell = tuple[str, str, str | None, int]


def _churn(engine: Engine, *, production: bool = True) -> dict[int, int]:
    """churn v1 (production unless told) and candidate v2: version number -> row id."""
    model_id, v1 = make_model(engine, name="churn", production=production)
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x/v2",
                                  artifact_sha256="0" * 64, created_by="test").id
    return {0: model_id, 1: v1, 2: v2}


def _store(engine: Engine, ids: dict[int, int], cells: list[Cell],
           labelled: bool = True) -> None:
    """``count`` predictions made by v1 per cell, labelled, with v2's shadow answer
    (``None``: v2 did not answer)."""
    predictions, labels, shadows = [], [], []
    for label, v1, v2, count in cells:
        for i in range(count):
            pid, ts = uuid.uuid4().hex, NOW - timedelta(minutes=i + 1)
            predictions.append({
                "id": pid, "model_id": ids[0], "version_id": ids[1], "ts": ts,
                "features": {}, "predicted_class": v1, "scores": {v1: 0.7},
                "top_score": 0.7, "latency_ms": 1.0})
            if labelled:
                labels.append({"prediction_id": pid, "label": label, "labeler": "ann",
                               "source": "ui", "created_at": ts})
            if v2 is not None:
                shadows.append({
                    "prediction_id": pid, "version_id": ids[2], "predicted_at": ts,
                    "predicted_class": v2, "top_score": 0.9, "scores": {v2: 0.9},
                    "scored_at": NOW})
    with session_scope(engine, write=True) as session:
        insert_predictions(session=session, rows=predictions)
        insert_feedback(session=session, rows=labels)
        insert_shadow(session=session, rows=shadows)


# v2 better than v1: right on 24 rows where v1 is wrong, wrong on 4 where v1 is right.
BETTER: list[Cell] = [
    ("stays", "stays", "stays", 40), ("churns", "churns", "churns", 20),
    ("churns", "stays", "churns", 24), ("stays", "stays", "churns", 4),
    ("churns", "stays", "stays", 6), ("stays", "churns", "churns", 2),
]
# v2 worse: the mirror image.
WORSE: list[Cell] = [(label, v2, v1, n) for label, v1, v2, n in BETTER
                     if v2 is not None]


def _rows(cells: list[Cell]) -> tuple[list[str], list[str], list[str]]:
    truth, v1s, v2s = [], [], []
    for label, v1, v2, n in cells:
        if v2 is not None:
            truth += [label] * n
            v1s += [v1] * n
            v2s += [v2] * n
    return truth, v1s, v2s


def test_the_evidence_rests_on_exactly_the_shared_labelled_predictions(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, [*BETTER, ("stays", "stays", None, 7)])  # v2 never answered those
    _store(engine, ids, [("churns", "stays", "churns", 5)], labelled=False)
    found = gather_evidence(engine=engine, model="churn", candidate=2, bootstrap=500)
    truth, v1s, v2s = _rows(BETTER)
    assert (found.baseline, found.candidate, found.shared) == (1, 2, len(truth))
    assert found.accuracy_baseline.value == pytest.approx(accuracy_score(truth, v1s))
    assert found.accuracy_candidate.value == pytest.approx(accuracy_score(truth, v2s))
    f1 = [f1_score(truth, x, labels=list(LABELS), average="macro", zero_division=0)
          for x in (v1s, v2s)]
    assert found.macro_f1_baseline.value == pytest.approx(f1[0])
    assert found.macro_f1_difference.value == pytest.approx(f1[1] - f1[0])
    assert found.accuracy_difference.value == pytest.approx(
        accuracy_score(truth, v2s) - accuracy_score(truth, v1s))
    assert (found.disagreements, found.only_baseline_right, found.only_candidate_right) \
        == (28, 4, 24)
    assert found.mcnemar_p == mcnemar_exact(4, 24)
    assert found.excluded_training_rows == 0


def test_the_evidence_agrees_with_the_model_quality_comparison(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    found = gather_evidence(engine=engine, model="churn", candidate=2, bootstrap=300, seed=4)
    compared = compare_versions(engine=engine, model="churn", a=1, b=2, bootstrap=300, seed=4)
    assert found.shared == compared.shared
    assert found.accuracy_candidate.value == compared.report_b.accuracy
    assert (found.accuracy_candidate.low, found.accuracy_candidate.high) \
        == compared.report_b.accuracy_interval
    assert (found.macro_f1_baseline.low, found.macro_f1_baseline.high) \
        == compared.report_a.macro_f1_interval
    recalls = {c.label: (c.baseline, c.candidate, c.support) for c in found.per_class}
    for a, b in zip(compared.report_a.per_class, compared.report_b.per_class, strict=True):
        assert recalls[a.label] == (a.recall, b.recall, a.support)


def test_intervals_hold_their_points_and_the_seed_repeats_them(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    one = gather_evidence(engine=engine, model="churn", candidate=2, seed=9)
    again = gather_evidence(engine=engine, model="churn", candidate=2, seed=9)
    for estimate in (one.accuracy_difference, one.macro_f1_difference,
                     one.accuracy_candidate, one.macro_f1_baseline):
        assert estimate.low is not None
        assert estimate.value is not None
        assert estimate.high is not None
        assert estimate.low <= estimate.value <= estimate.high
    assert one.to_json() | {"computed_at": ""} == again.to_json() | {"computed_at": ""}


def test_a_better_candidate_passes_and_a_worse_one_fails_by_name(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    good = judge(gather_evidence(engine=engine, model="churn", candidate=2),
                 Policy(min_shared=50, margin=0.01))
    assert good.outcome == "pass"
    assert good.summary.startswith("pass: 96 shared labelled predictions (at least 50)")

    other = _churn_named(engine, "tickets")
    _store(engine, other, WORSE)
    bad = judge(gather_evidence(engine=engine, model="tickets", candidate=2),
                Policy(min_shared=50, margin=0.01))
    assert bad.outcome == "fail"
    assert [c.name for c in bad.checks if c.passed is False] == ["difference"]
    assert "accuracy difference v2 - v1 -20.83 points" in bad.summary


def _churn_named(engine: Engine, name: str) -> dict[int, int]:
    model_id, v1 = make_model(engine, name=name)
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x/v2",
                                  artifact_sha256="0" * 64, created_by="test").id
    return {0: model_id, 1: v1, 2: v2}


def test_too_few_shared_labels_is_insufficient_exactly_up_to_the_minimum(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    found = gather_evidence(engine=engine, model="churn", candidate=2)
    assert judge(found, Policy(min_shared=96)).outcome == "pass"
    short = judge(found, Policy(min_shared=97))
    assert short.outcome == "insufficient"
    assert short.more_needed == 1
    assert short.how_to_get_more == "python -m services.cli shadow-score --model churn --version 2"


def test_a_lower_bound_exactly_at_minus_the_margin_fails(engine: Engine) -> None:
    ids = _churn(engine)
    # Barely better: the interval of the difference reaches below zero.
    _store(engine, ids, [("stays", "stays", "stays", 60), ("churns", "stays", "churns", 9),
                         ("stays", "stays", "churns", 7)])
    found = gather_evidence(engine=engine, model="churn", candidate=2)
    low = found.accuracy_difference.low
    assert low is not None
    assert low < 0
    assert judge(found, Policy(min_shared=1, margin=-low)).outcome == "fail"
    just_above = math.nextafter(-low, math.inf)
    assert judge(found, Policy(min_shared=1, margin=just_above)).outcome == "pass"


def test_no_shared_label_is_insufficient(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, [("stays", "stays", None, 5)])
    found = gather_evidence(engine=engine, model="churn", candidate=2)
    assert found.shared == 0
    assert found.accuracy_difference.value is None
    assert found.mcnemar_p is None
    verdict = judge(found, Policy(min_shared=1))
    assert (verdict.outcome, verdict.more_needed) == ("insufficient", 1)


def test_with_nothing_in_production_the_first_version_passes(engine: Engine) -> None:
    _churn(engine, production=False)
    found = gather_evidence(engine=engine, model="churn", candidate=2)
    assert (found.baseline, found.shared) == (None, 0)
    assert judge(found, Policy()).outcome == "pass"


def test_an_explicit_baseline_replaces_production(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    # Judged the other way round: v1 as the candidate against v2.
    back = gather_evidence(engine=engine, model="churn", candidate=1, baseline=2)
    forth = gather_evidence(engine=engine, model="churn", candidate=2)
    assert back.baseline == 2
    assert back.accuracy_difference.value == pytest.approx(-(forth.accuracy_difference.value
                                                             or 0.0))
    assert (back.only_baseline_right, back.only_candidate_right) == (24, 4)


def test_unknown_names_and_the_production_version_itself_are_refused(engine: Engine) -> None:
    _churn(engine)
    with pytest.raises(RegistryError, match="no model named"):
        gather_evidence(engine=engine, model="nope", candidate=2)
    with pytest.raises(RegistryError, match="has no version 7"):
        gather_evidence(engine=engine, model="churn", candidate=7)
    with pytest.raises(RegistryError, match="already serves production"):
        gather_evidence(engine=engine, model="churn", candidate=1)


def test_the_serving_record_is_read_only_for_a_version_that_served(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    with socket.socket() as probe:  # a port nobody listens on: Prometheus is down
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = PrometheusSource(f"http://127.0.0.1:{port}", timeout=2)
    never = gather_evidence(engine=engine, model="churn", candidate=2, source=down)
    assert never.serving is None  # v2 never served: no record to read
    last = NOW - timedelta(hours=3)
    log_predictions(engine, model_id=ids[0], version_id=ids[2],
                    rows=[(last - timedelta(hours=1), "stays", None), (last, "stays", None)])
    served = gather_evidence(engine=engine, model="churn", candidate=2, source=down)
    assert served.serving is not None
    assert served.serving.unavailable is not None
    assert served.serving.unavailable.startswith("Prometheus could not answer")
    assert served.serving.window == f"24h up to {last.isoformat(timespec='seconds')}"
    assert judge(served, Policy(min_shared=1)).outcome == "pass"  # not blocked by a down server


def test_a_gathered_snapshot_round_trips_through_json(engine: Engine) -> None:
    ids = _churn(engine)
    _store(engine, ids, BETTER)
    found = gather_evidence(engine=engine, model="churn", candidate=2)
    text = json.dumps(found.to_json(), allow_nan=False)
    assert Evidence.from_json(json.loads(text)) == found

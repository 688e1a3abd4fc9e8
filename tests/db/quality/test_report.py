"""Quality counts grouped in SQL, and ``metrics`` on the command line, against scikit-learn."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sklearn import metrics
from sqlalchemy import Engine

from db.repositories import registry
from db.repositories.quality import labelled_counts
from db.session import session_scope
from services.quality.metrics import matrix_from_counts
from services.quality.report import quality_report
from tests.cli_runner import RunCli
from tests.factories import log_predictions, make_model

CLASSES = ("low", "mid", "high")
START = datetime(2024, 5, 1, tzinfo=UTC)
SINCE = START + timedelta(hours=10)
UNTIL = START + timedelta(hours=30)

Row = tuple[datetime, str, str | None]


def _rows(rng: random.Random, count: int) -> list[Row]:
    """Predictions spread over 40 hours; a third unlabelled, most labels right."""
    out: list[Row] = []
    for _ in range(count):
        ts = START + timedelta(minutes=rng.randrange(40 * 60))
        predicted = rng.choice(CLASSES)
        label = None if rng.random() < 0.3 else (
            predicted if rng.random() < 0.6 else rng.choice(CLASSES))
        out.append((ts, predicted, label))
    return out


@pytest.fixture
def store(engine: Engine) -> dict[int, list[Row]]:
    """Model ``triage`` with versions 1 and 2; returns each version's logged rows."""
    model_id, v1 = make_model(engine, name="triage", classes=CLASSES)
    with session_scope(engine, write=True) as session:
        v2 = registry.add_version(session=session, model_id=model_id, artifact_path="/x/v2.pkl",
                                  artifact_sha256="1" * 64, created_by="test").id
    rng = random.Random(11)
    rows = {1: _rows(rng, 150), 2: _rows(rng, 120)}
    log_predictions(engine, model_id=model_id, version_id=v1, rows=rows[1])
    log_predictions(engine, model_id=model_id, version_id=v2, rows=rows[2])
    # Another model's labels must never leak in.
    other_id, other_v = make_model(engine, name="other", classes=CLASSES)
    log_predictions(engine, model_id=other_id, version_id=other_v,
                    rows=[(SINCE, "low", "high")] * 5)
    return rows


def _pairs(rows: list[Row], since: datetime | None = None, until: datetime | None = None
           ) -> tuple[list[str], list[str]]:
    kept = [(label, pred) for ts, pred, label in rows if label is not None
            and (since is None or ts >= since) and (until is None or ts < until)]
    return [t for t, _ in kept], [p for _, p in kept]


def _expected(true: list[str], pred: list[str]) -> dict[str, object]:
    labels = list(CLASSES)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        true, pred, labels=labels, zero_division=0)
    return {
        "confusion_matrix": metrics.confusion_matrix(true, pred, labels=labels).tolist(),
        "accuracy": metrics.accuracy_score(true, pred),
        "precision": list(precision), "recall": list(recall), "f1": list(f1),
        "support": [int(s) for s in support],
        "macro_f1": metrics.f1_score(true, pred, labels=labels, average="macro",
                                     zero_division=0),
        "weighted_f1": metrics.f1_score(true, pred, labels=labels, average="weighted",
                                        zero_division=0),
        "n_labelled": len(true),
    }


def _assert_matches(data: dict[str, object], expected: dict[str, object]) -> None:
    per_class = data["per_class"]
    assert isinstance(per_class, dict)
    assert data["confusion_matrix"] == expected["confusion_matrix"]
    assert data["n_labelled"] == expected["n_labelled"]
    assert data["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-12)
    for key in ("precision", "recall", "f1"):
        assert [per_class[c][key] for c in CLASSES] == pytest.approx(expected[key], abs=1e-12)
    assert [per_class[c]["support"] for c in CLASSES] == expected["support"]
    assert data["macro_f1"] == pytest.approx(expected["macro_f1"], abs=1e-12)
    assert data["weighted_f1"] == pytest.approx(expected["weighted_f1"], abs=1e-12)


def test_sql_grouping_equals_scikit_learn_per_version_and_window(
    engine: Engine, store: dict[int, list[Row]]
) -> None:
    with session_scope(engine) as session:
        model = registry.get_model(session=session, name="triage")
        version_ids = {v.version: v.id for v in model.versions}
        cases = [
            (version_ids[1], SINCE, UNTIL, store[1]),
            (version_ids[2], None, None, store[2]),
            (None, SINCE, None, store[1] + store[2]),
            (None, None, UNTIL, store[1] + store[2]),
        ]
        for version_id, since, until, rows in cases:
            counts = labelled_counts(session=session, model_id=model.id, version_id=version_id,
                                     since=since, until=until)
            true, pred = _pairs(rows, since, until)
            assert sum(n for *_, n in counts) == len(true)
            matrix = matrix_from_counts(counts, CLASSES)
            assert matrix.tolist() == metrics.confusion_matrix(
                true, pred, labels=list(CLASSES)).tolist()


def test_quality_report_equals_scikit_learn(engine: Engine, store: dict[int, list[Row]]) -> None:
    report = quality_report(engine=engine, model="triage", version=1, since=SINCE, until=UNTIL)
    _assert_matches(report.to_json(), _expected(*_pairs(store[1], SINCE, UNTIL)))
    every = quality_report(engine=engine, model="triage", version=None, since=None, until=None)
    _assert_matches(every.to_json(), _expected(*_pairs(store[1] + store[2])))


def test_metrics_json_equals_scikit_learn(store: dict[int, list[Row]],
        run_cli: RunCli) -> None:
    status, out, err = run_cli("metrics", "--model", "triage", "--version", "2",
                               "--since", SINCE.isoformat(), "--until", UNTIL.isoformat(),
                               "--json")
    assert status == 0, err
    data = json.loads(out)
    _assert_matches(data, _expected(*_pairs(store[2], SINCE, UNTIL)))
    assert data["model"] == "triage"
    assert data["version"] == 2
    assert data["since"] == SINCE.isoformat()
    assert data["labels"] == list(CLASSES)
    assert data["macro_f1_interval"][0] <= data["macro_f1"] <= data["macro_f1_interval"][1]


def test_metrics_takes_times_without_offset_as_utc(store: dict[int, list[Row]],
        run_cli: RunCli) -> None:
    naive = SINCE.replace(tzinfo=None).isoformat()
    shifted = SINCE.astimezone().isoformat()  # the same instant in another notation
    results = []
    for since in (naive, shifted, SINCE.isoformat()):
        status, out, err = run_cli("metrics", "--model", "triage", "--since", since, "--json")
        assert status == 0, err
        results.append(json.loads(out))
    assert results[0] == results[1] == results[2]
    _assert_matches(results[0], _expected(*_pairs(store[1] + store[2], SINCE)))


def test_metrics_readable_table(store: dict[int, list[Row]],
        run_cli: RunCli) -> None:
    status, out, _ = run_cli("metrics", "--model", "triage", "--version", "1")
    assert status == 0
    assert out.startswith("triage v1: ")
    assert "confusion matrix (rows true, columns predicted):" in out
    for word in ("accuracy", "macro", "weighted", *CLASSES):
        assert word in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "error: no model named 'nope'"),
        (["--model", "triage", "--version", "9"], "error: model 'triage' has no version 9"),
        (["--model", "triage", "--since", "yesterday"],
         "error: --since 'yesterday' is not an ISO 8601 time, e.g. 2024-05-01T12:00"),
        (["--model", "triage", "--since", UNTIL.isoformat(), "--until", SINCE.isoformat()],
         "error: --since must be earlier than --until"),
    ],
)
def test_metrics_errors_are_one_line(store: dict[int, list[Row]], run_cli: RunCli,
                                     args: list[str], message: str) -> None:
    status, out, err = run_cli("metrics", *args, "--json")
    assert status == 2
    assert out == ""
    assert err.strip().splitlines() == [message]


def test_metrics_without_labels(store: dict[int, list[Row]],
        run_cli: RunCli) -> None:
    late = (START + timedelta(days=30)).isoformat()
    status, out, _ = run_cli("metrics", "--model", "triage", "--since", late, "--json")
    assert status == 0
    data = json.loads(out)
    assert data["n_labelled"] == 0
    assert data["accuracy"] is None
    assert data["macro_f1"] is None
    assert data["per_class"]["low"]["f1"] is None
    assert "NaN" not in out
    status, out, _ = run_cli("metrics", "--model", "triage", "--since", late)
    assert status == 0
    assert "no labelled predictions" in out

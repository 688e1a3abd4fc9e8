"""Logged predictions: the bulk inserts, their ground-truth labels' bulk path, and look-ups
of predictions by id."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import numpy as np
from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from db.bulk import executemany
from db.models import Feedback, Model, ModelVersion, Prediction

__all__ = [
    "PREDICTION_FACTS",
    "PredictionModel",
    "ServedPrediction",
    "insert_feedback",
    "insert_predictions",
    "prediction_facts",
    "prediction_models",
    "served_predictions",
    "stored_ids",
]

#: Columns of ``feedback`` copied from the labelled prediction, and where they come from.
PREDICTION_FACTS = {
    "model_id": Prediction.model_id,
    "version_id": Prediction.version_id,
    "predicted_class": Prediction.predicted_class,
    "predicted_at": Prediction.ts,
    "top_score": Prediction.top_score,
}
# Ids per IN (...) query: well below SQLite's bound-parameter limit.
_CHUNK = 500
_SQLITE_INSERT = ("INSERT INTO predictions (id, model_id, version_id, ts, features, "
                  "predicted_class, scores, top_score, latency_ms) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
#: Only a row whose id is stored already is skipped; other constraints still refuse.
_SKIP_EXISTING = " ON CONFLICT (id) DO NOTHING"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _json_encoder() -> Callable[[Any], str]:
    """``json.dumps`` with its default options, without its per-call set-up.

    ``json.dumps`` builds a new C encoder for every value, which costs more than encoding
    a row's small ``features`` or ``scores``; this builds the same encoder once (same text
    out, and the same errors for values JSON cannot hold). Python builds without the C
    accelerator get ``json.dumps`` itself.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has it
        return json.dumps
    defaults = json.JSONEncoder()
    # markers=None: no cycle check. A cycle cannot come from JSON input; given anyway, it
    # ends in RecursionError, which the caller treats like any other refused value.
    encode = make(None, defaults.default, json.encoder.encode_basestring_ascii, None,
                  defaults.key_separator, defaults.item_separator, False, False, True)
    join = "".join
    return lambda value: join(encode(value, 0))


_dumps = _json_encoder()


def _sqlite_times(values: Sequence[datetime]) -> list[str]:
    """Each aware ``value`` as SQLAlchemy's SQLite ``DATETIME`` text of its naive UTC time.

    What ``UTCDateTime`` stores (``YYYY-MM-DD HH:MM:SS.ffffff``): each time becomes
    microseconds since the epoch and numpy formats the whole batch, about a fifth of the
    time ``astimezone``, ``replace`` and ``isoformat`` took row by row.

    Raises:
        ValueError: a naive datetime.
        TypeError: something that is not a datetime.
    """
    try:
        micros = [(value - _EPOCH) // _MICROSECOND for value in values]
    except TypeError:
        if any(isinstance(v, datetime) and v.utcoffset() is None for v in values):
            raise ValueError(
                "naive datetime given to a UTC column; attach a time zone") from None
        raise
    text = np.datetime_as_string(np.array(micros, dtype=np.int64).view("datetime64[us]"),
                                 unit="us")
    return np.strings.replace(text, "T", " ").tolist()  # type: ignore[no-any-return]


def _insert_sqlite(connection: Connection, rows: Sequence[dict[str, Any]],
                   *, skip_existing: bool) -> None:
    """The rows bound as plain values (what ``UTCDateTime`` and ``JSON`` would store).

    SQLAlchemy's per-row type processing costs about four times SQLite's own insert;
    ordering the batch by id makes neighbouring inserts hit the same pages of the
    primary key index (ids are time-ordered, so mostly its last pages).
    """
    dumps = _dumps
    try:
        params = sorted(zip(
            [row["id"] for row in rows],
            [row["model_id"] for row in rows],
            [row["version_id"] for row in rows],
            _sqlite_times([row["ts"] for row in rows]),
            [dumps(row["features"]) for row in rows],
            [row["predicted_class"] for row in rows],
            [dumps(row["scores"]) for row in rows],
            [row["top_score"] for row in rows],
            [row["latency_ms"] for row in rows],
            strict=True,
        ))
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        # What SQLAlchemy raises when a type refuses a value: the rows are bad data.
        raise StatementError(f"a prediction row cannot be stored: {exc!r}", _SQLITE_INSERT,
                             None, exc) from exc
    sql = _SQLITE_INSERT + _SKIP_EXISTING if skip_existing else _SQLITE_INSERT
    connection.exec_driver_sql(sql, params)


def insert_predictions(*, session: Session, rows: Sequence[dict[str, Any]],
                       skip_existing: bool = False) -> int:
    """Insert prediction rows in one executemany; returns the number of rows given.

    With ``skip_existing``, a row whose id is stored already is skipped (``ON CONFLICT
    (id) DO NOTHING``), so rows replayed after a crash are stored once.

    Each row has every column of :class:`db.models.Prediction` (``ts`` timezone-aware).
    On SQLite the values are bound directly, ordered by id; elsewhere through a Core
    executemany (the ORM bulk path costs ~45 % more).

    Raises:
        StatementError: a row lacks a column or has a value its column refuses (a naive
            ``ts``, features that are not JSON), as SQLAlchemy's own type checks raise it.
    """
    if not rows:
        return 0
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        _insert_sqlite(connection, rows, skip_existing=skip_existing)
        return len(rows)
    statement = (
        postgresql.insert(Prediction).on_conflict_do_nothing(index_elements=["id"])
        if skip_existing else insert(Prediction)
    )
    try:
        connection.execute(statement, list(rows))
    except (TypeError, ValueError, RecursionError) as exc:
        # The JSON type's encoder raises these itself (features or scores that are not
        # JSON): bad data like any other value a column refuses, not a store failure.
        raise StatementError(f"a prediction row cannot be stored: {exc!r}", str(statement),
                             None, exc) from exc
    return len(rows)


def prediction_facts(*, session: Session, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The :data:`PREDICTION_FACTS` of each existing prediction in ``ids``."""
    found: dict[str, dict[str, Any]] = {}
    names = list(PREDICTION_FACTS)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = session.execute(
            select(Prediction.id, *PREDICTION_FACTS.values()).where(Prediction.id.in_(chunk))
        )
        for pid, *values in rows:
            found[pid] = dict(zip(names, values, strict=True))
    return found


def insert_feedback(*, session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert new ground-truth rows (``prediction_id, label, labeler, source, created_at``).

    The prediction's facts (model, version, predicted class, time, top score) are copied
    from ``predictions``. The unique constraint on ``prediction_id`` rejects a second label
    for a prediction; changing an existing label is the labeling service's job, not this
    bulk path.

    Raises:
        LookupError: a row names a prediction that does not exist (nothing inserted).
    """
    if not rows:
        return 0
    facts = prediction_facts(session=session, ids=[row["prediction_id"] for row in rows])
    missing = [row["prediction_id"] for row in rows if row["prediction_id"] not in facts]
    if missing:
        raise LookupError(f"no such prediction: {', '.join(map(repr, missing[:10]))}")
    prepared = [
        {**row, **facts[row["prediction_id"]],
         "updated_at": row.get("updated_at", row["created_at"]), "revision": 1}
        for row in rows
    ]
    # Each distinct time, labeler and source converted once (the batch shares most).
    executemany(session.connection(), insert(Feedback), prepared)
    return len(prepared)


@dataclass(frozen=True)
class PredictionModel:
    """The model a prediction belongs to: its name and its classes."""

    name: str
    classes: tuple[str, ...]


class ServedPrediction(NamedTuple):
    """What the serving metrics of one stored prediction are made of."""

    model: str
    version: int
    ts: datetime
    predicted_class: str
    top_score: float
    latency_ms: float


# Reads of many ids, a chunk at a time (one cached statement, the ids bound as a list).
_IDS: BindParameter[list[str]] = bindparam("b_ids", expanding=True)
_MODEL_OF = select(Prediction.id, Prediction.model_id).where(Prediction.id.in_(_IDS))


def stored_ids(*, session: Session, ids: Collection[str]) -> set[str]:
    """The ids of ``ids`` that name a stored prediction."""
    keys = list(ids)
    found: set[str] = set()
    for start in range(0, len(keys), _CHUNK):
        found.update(session.scalars(
            select(Prediction.id).where(Prediction.id.in_(keys[start:start + _CHUNK]))))
    return found


def prediction_models(*, session: Session, ids: Sequence[str]) -> dict[str, PredictionModel]:
    """The model of each existing prediction in ``ids`` (the same object for all the
    predictions of a model)."""
    connection = session.connection()
    model_of: dict[str, int] = {}
    for start in range(0, len(ids), _CHUNK):
        model_of.update(connection.execute(
            _MODEL_OF, {"b_ids": list(ids[start:start + _CHUNK])}).all())
    models = {
        model_id: PredictionModel(name=name, classes=tuple(labels))
        for model_id, name, labels in connection.execute(
            select(Model.id, Model.name, Model.class_labels)
            .where(Model.id.in_(set(model_of.values()))))
    }
    return {pid: models[model_id] for pid, model_id in model_of.items()}


def served_predictions(*, session: Session) -> list[ServedPrediction]:
    """Every stored prediction, only the columns the serving metrics need, ordered by
    model name, version and time."""
    query = (
        select(Model.name, ModelVersion.version, Prediction.ts, Prediction.predicted_class,
               Prediction.top_score, Prediction.latency_ms)
        .join(Model, Model.id == Prediction.model_id)
        .join(ModelVersion, ModelVersion.id == Prediction.version_id)
        .order_by(Model.name, ModelVersion.version, Prediction.ts)
    )
    # Core, not the ORM: the rows go straight to arrays, and there may be millions.
    return [ServedPrediction(*row) for row in session.connection().execute(query)]

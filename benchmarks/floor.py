"""The floor of a write rate, measured in the same run: raw ``sqlite3`` ``executemany``.

An absolute rate (rows/s) says as much about the machine as about the code. Each benchmark
that quotes a SQLite write rate also writes the same rows into the same schema (the same
tables and indexes, made by the same migrations, with the same pragmas as the store's
connections) with nothing but the standard library's ``sqlite3``: one ``executemany`` of
ready-made tuples per transaction, in transactions of the same size. The ratio of the two
rates (ours / raw) travels between machines where the rates do not: it is the share of
SQLite's own speed the application keeps after building, checking and converting its rows.

Only the ``BEGIN IMMEDIATE``, the ``executemany`` calls and the ``COMMIT`` are timed; the
tuples are built beforehand. A floor is "raw": no code of the project runs while it is
timed.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

__all__ = [
    "FEEDBACK_INSERT",
    "HISTORY_INSERT",
    "PRAGMAS",
    "PREDICTIONS_INSERT",
    "RawStore",
    "copy_store",
    "prediction_tuples",
    "ratio",
    "sqlite_time",
    "store_pragmas",
]

#: What saving a new label writes: its ``feedback`` row (the prediction's facts copied) and
#: its ``feedback_history`` row (the one audit entry of a whole save is left out).
FEEDBACK_INSERT = ("INSERT INTO feedback (prediction_id, model_id, version_id, "
                   "predicted_class, predicted_at, top_score, label, labeler, source, "
                   "created_at, updated_at, revision) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)")
HISTORY_INSERT = ("INSERT INTO feedback_history (prediction_id, old_label, new_label, "
                  "old_labeler, new_labeler, revision, source, resolution, changed_at) "
                  "VALUES (?, NULL, ?, NULL, ?, 1, ?, 'new', ?)")
_FACTS = "SELECT id, model_id, version_id, predicted_class, ts, top_score FROM predictions"

PREDICTIONS_INSERT = ("INSERT INTO predictions (id, model_id, version_id, ts, features, "
                      "predicted_class, scores, top_score, latency_ms) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")

#: The connection settings read from the store's own engine and set again on the raw one.
PRAGMAS = ("journal_mode", "synchronous", "foreign_keys", "wal_autocheckpoint",
           "busy_timeout")


def store_pragmas(engine: Engine) -> dict[str, Any]:
    """The :data:`PRAGMAS` of a connection of ``engine`` (a SQLite store), as it set them."""
    values: dict[str, Any] = {}
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for name in PRAGMAS:
            cursor.execute(f"PRAGMA {name}")
            (values[name],) = cursor.fetchone() or (None,)
        cursor.close()
    finally:
        raw.close()
    return values


def copy_store(engine: Engine, path: Path) -> None:
    """Copy the SQLite store of ``engine`` (schema, indexes and rows) to a new file ``path``,
    with SQLite's online backup (the write-ahead log's pages included)."""
    raw = engine.raw_connection()
    target = sqlite3.connect(path)
    try:
        raw.driver_connection.backup(target)  # type: ignore[union-attr]
    finally:
        target.close()
        raw.close()


def sqlite_time(value: datetime) -> str:
    """An aware time as the store keeps it: naive UTC text, ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")

_COUNTS = {table: f"SELECT count(*) FROM {table}"  # noqa: S608 - fixed names
           for table in ("predictions", "feedback", "feedback_history")}


def prediction_tuples(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as ``insert_predictions`` takes them, as the values it stores (JSON text, naive
    UTC time), in id order (the order the store writes a batch in)."""
    return sorted(
        (row["id"], row["model_id"], row["version_id"], sqlite_time(row["ts"]),
         json.dumps(row["features"]), row["predicted_class"], json.dumps(row["scores"]),
         row["top_score"], row["latency_ms"])
        for row in rows)


class RawStore:
    """A plain ``sqlite3`` connection to a copy of the store's schema, with its pragmas."""

    def __init__(self, path: Path, pragmas: dict[str, Any]) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        for name, value in pragmas.items():
            self.connection.execute(f"PRAGMA {name}={value}")
        self.rows = 0
        self.seconds = 0.0

    def write(self, statements: Iterable[tuple[str, Sequence[tuple[Any, ...]]]],
              rows: int) -> float:
        """One write transaction of ``executemany(sql, params)`` per statement; counts
        ``rows`` and returns the seconds it took."""
        connection = self.connection
        began = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            connection.executemany(sql, params)
        connection.execute("COMMIT")
        took = time.perf_counter() - began
        self.rows += rows
        self.seconds += took
        return took

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def facts(self) -> dict[str, tuple[Any, ...]]:
        """Each stored prediction's facts a label copies, by id (read once, untimed)."""
        return {pid: rest for pid, *rest in self.connection.execute(_FACTS)}

    def label_statements(self, facts: dict[str, tuple[Any, ...]],
                         labels: Sequence[tuple[str, str]], *, labeler: str,
                         source: str) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """The two ``executemany`` of saving ``labels`` (``(prediction_id, label)``) new."""
        now = sqlite_time(datetime.now(UTC))
        return [(FEEDBACK_INSERT, [(pid, *facts[pid], label, labeler, source, now, now)
                                   for pid, label in labels]),
                (HISTORY_INSERT, [(pid, label, labeler, source, now)
                                  for pid, label in labels])]

    def count(self, table: str) -> int:
        """Rows of ``table``: one of :data:`_COUNTS`."""
        return int(self.connection.execute(_COUNTS[table]).fetchone()[0])

    def close(self) -> None:
        self.connection.close()


def ratio(ours: float, raw: float) -> float:
    """``ours / raw`` rounded to three decimals (0 when the floor measured nothing)."""
    return round(ours / raw, 3) if raw else 0.0

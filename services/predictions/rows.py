"""Checks of imported prediction log rows against the registry (pure: no store access).

The rules are those of :mod:`services.predictions.importer` (see its notes). :func:`check_file`
reads a whole file and lists every problem; :func:`prediction_rows` reads it again and
yields the rows to store, in chunks, refusing any problem (the file changed meanwhile).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from services.predictions.files import (
    DEFAULT_LIMITS,
    FileLimits,
    RawRow,
    cell_blank,
    cell_number,
    cell_text,
    cell_version,
    open_rows,
)
from services.predictions.scores import SUM_TOLERANCE, score_columns, score_vector
from services.registry.features import FeatureError, check_category
from services.registry.log_columns import LATENCY_COLUMN, REQUIRED_COLUMNS, SCORE_PREFIX

__all__ = [
    "FUTURE_SLACK",
    "LATENCY_COLUMN",
    "MAX_PROBLEMS",
    "REQUIRED_COLUMNS",
    "SCORE_PREFIX",
    "SUM_TOLERANCE",
    "FileCheck",
    "ModelInfo",
    "Problem",
    "RowsChangedError",
    "Rules",
    "StoredIds",
    "check_file",
    "prediction_rows",
]

#: Problems kept for the report; further bad rows are only counted.
MAX_PROBLEMS = 1000
#: Timestamps later than now by more than this are refused (clock skew allowed).
FUTURE_SLACK = timedelta(minutes=5)
_ID_MAX = 36  # width of predictions.id

#: Which of the given prediction ids the store already holds.
StoredIds = Callable[[Collection[str]], Collection[str]]


class RowsChangedError(ValueError):
    """A row read for writing has a problem it did not have when the file was checked."""


@dataclass(frozen=True)
class ModelInfo:
    """What the checks need to know of a registered model.

    Attributes:
        id: the model's row id.
        name: its name.
        classes: its class labels, in probability-vector order.
        features: ``(name, "number" | "category")`` of its feature schema.
        versions: version number to version row id.
    """

    id: int
    name: str
    classes: tuple[str, ...]
    features: tuple[tuple[str, str], ...]
    versions: Mapping[int, int]


@dataclass(frozen=True)
class Rules:
    """What a file is checked against, and how it is read.

    Attributes:
        models: the registry, by model name.
        now: a timestamp later than this (beyond :data:`FUTURE_SLACK`) is refused.
        zone: time zone of timestamps without an offset (``None``: such times are errors).
        without_scores: accept rows without any score (``top_score`` 1.0).
        ignore_extra_columns: leave out columns that are no feature instead of refusing.
        max_rows: refuse files with more rows.
        chunk_rows: rows read at a time.
        limits: the file's bytes, columns, cells and lines, Parquet's decoded size.
    """

    models: Mapping[str, ModelInfo]
    now: datetime
    zone: tzinfo | None = None
    without_scores: bool = False
    ignore_extra_columns: bool = False
    max_rows: int = 1_000_000
    chunk_rows: int = 5000
    limits: FileLimits = DEFAULT_LIMITS


@dataclass(frozen=True)
class Problem:
    """Why a row (or the file) cannot be imported.

    Attributes:
        where: ``line N`` (CSV), ``row N`` (Parquet), or ``""`` for the file as a whole.
        message: every problem of that row, ``; ``-separated.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class FileCheck:
    """The outcome of checking a file.

    Attributes:
        format: ``csv`` or ``parquet``.
        columns: the file's columns.
        rows: rows read (good and bad).
        bad_rows: rows with problems.
        problems: file-wide problems first, then bad rows in file order (at most
            :data:`MAX_PROBLEMS` rows).
        versions: good rows per ``(model, version number)``.
        first_ts: earliest prediction time of the good rows.
        last_ts: latest one.
        without_scores: good rows without any score.
        ignored_columns: columns that will not be stored (``ignore_extra_columns``).
    """

    format: str
    columns: tuple[str, ...]
    problems: tuple[Problem, ...]
    rows: int = 0
    bad_rows: int = 0
    versions: Mapping[tuple[str, int], int] = field(default_factory=dict)
    first_ts: datetime | None = None
    last_ts: datetime | None = None
    without_scores: int = 0
    ignored_columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No problem at all, and at least one row."""
        return not self.problems and self.rows > 0


@dataclass
class _Rows:
    """Checks rows one by one and keeps the tallies of one pass over a file."""

    rules: Rules
    columns: tuple[str, ...]
    scores: dict[str, str] = field(init=False)  # class -> its score column
    used: dict[tuple[str, int], int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None
    unscored: int = 0
    missing_features: set[tuple[str, str]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.scores = score_columns(self.columns)

    def timestamp(self, value: Any, errors: list[str]) -> datetime | None:
        shown = value if isinstance(value, str) else str(value)
        if isinstance(value, datetime):
            stamp = value
        else:
            text = value.strip() if isinstance(value, str) else ""
            try:
                if len(text) <= 10:  # a date without a time of day
                    raise ValueError(text)
                stamp = datetime.fromisoformat(text)
            except ValueError:
                errors.append(f"timestamp {shown!r} is not an ISO 8601 date and time, e.g. "
                              "2024-05-01T12:00:00Z")
                return None
        if stamp.tzinfo is None:
            if self.rules.zone is None:
                errors.append(f"timestamp {shown!r} has no UTC offset: add one (Z, +02:00) "
                              "or give the file's time zone (--timezone)")
                return None
            stamp = stamp.replace(tzinfo=self.rules.zone)
        stamp = stamp.astimezone(UTC)
        if stamp > self.rules.now + FUTURE_SLACK:
            errors.append(f"timestamp {shown!r} is in the future")
            return None
        return stamp

    def features(self, model: ModelInfo, cells: Mapping[str, Any], errors: list[str]
                 ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, kind in model.features:
            if name not in cells:
                self.missing_features.add((model.name, name))
                continue
            value = cells[name]
            if cell_blank(value):
                errors.append(f"feature {name} is missing")
                continue
            clean = cell_number(value) if kind == "number" else (
                value if isinstance(value, str) else cell_text(value))
            if clean is None:
                errors.append(f"feature {name} {value!r} is not "
                              f"{'a finite number' if kind == 'number' else 'text'}")
            elif isinstance(clean, str):
                try:
                    clean = check_category(name, clean)
                except FeatureError as exc:
                    errors.append(f"feature {exc}")
            out[name] = clean
        return out

    def check(self, raw: RawRow) -> tuple[dict[str, Any] | None, str | None, list[str]]:
        """``(prediction row or None, prediction id or None, problems)`` of a record."""
        if raw.problem is not None:
            return None, None, [raw.problem]
        cells, errors = raw.cells, []
        pid = cell_text(cells.get("prediction_id"))
        if not pid:
            errors.append("prediction_id is missing")
            pid = None
        elif len(pid) > _ID_MAX:
            errors.append(f"prediction_id has {len(pid)} characters, more than {_ID_MAX}")
            pid = None
        stamp = self.timestamp(cells.get("timestamp"), errors)
        name = cell_text(cells.get("model"))
        model = self.rules.models.get(name) if name else None
        if model is None:
            known = ", ".join(sorted(self.rules.models)) or "none registered"
            errors.append(f"unknown model {cells.get('model')!r} (models: {known})")
            return None, pid, errors
        number = cell_version(cells.get("version"))
        version_id = model.versions.get(number) if number is not None else None
        if version_id is None:
            have = ", ".join(str(v) for v in sorted(model.versions)) or "none"
            errors.append(f"{model.name} has no version {cells.get('version')} (registered: "
                          f"{have}); the version must be registered before its predictions "
                          "are imported")
        predicted = cell_text(cells.get("predicted"))
        if predicted not in model.classes:
            errors.append(f"predicted {cells.get('predicted')!r} is not a class of "
                          f"{model.name} ({', '.join(model.classes)})")
            predicted = None
        scored = score_vector(model=model.name, classes=model.classes, columns=self.scores,
                              cells=cells, predicted=predicted,
                              without_scores=self.rules.without_scores, errors=errors)
        features = self.features(model, cells, errors)
        latency = (0.0 if cell_blank(cells.get(LATENCY_COLUMN))
                   else cell_number(cells[LATENCY_COLUMN]))
        if latency is None or latency < 0:
            errors.append(f"{LATENCY_COLUMN} {cells.get(LATENCY_COLUMN)!r} is not a "
                          "non-negative number")
        if errors or number is None or stamp is None or scored is None or latency is None:
            return None, pid, errors
        key = (model.name, number)
        self.used[key] = self.used.get(key, 0) + 1
        self.first = stamp if self.first is None or stamp < self.first else self.first
        self.last = stamp if self.last is None or stamp > self.last else self.last
        self.unscored += 0 if scored[0] else 1
        return {"id": pid, "model_id": model.id, "version_id": version_id, "ts": stamp,
                "features": features, "predicted_class": predicted, "scores": scored[0],
                "top_score": scored[1], "latency_ms": latency}, pid, errors

    def file_problems(self) -> tuple[list[str], tuple[str, ...]]:
        """Problems of the file as a whole once every row was seen, and columns ignored."""
        problems = [f"column {feature} (a feature of {model}) is missing"
                    for model, feature in sorted(self.missing_features)]
        used = [self.rules.models[name] for name in sorted({m for m, _ in self.used})]
        if not used:
            return problems, ()
        names = ", ".join(m.name for m in used)
        stray = [self.scores[c] for c in self.scores if not any(c in m.classes for m in used)]
        if stray:
            problems.append(f"score column(s) {', '.join(stray)} name no class of {names}")
        known = {*REQUIRED_COLUMNS, LATENCY_COLUMN, *self.scores.values(),
                 *(f for m in used for f, _ in m.features)}
        extra = tuple(c for c in self.columns if c not in known)
        if extra and not self.rules.ignore_extra_columns:
            problems.append(f"column(s) {', '.join(extra)} are not features of {names}; fix "
                            "their names, or import without them (--ignore-extra-columns)")
        return problems, extra if self.rules.ignore_extra_columns else ()


def _head_problems(columns: tuple[str, ...], without_scores: bool) -> list[str]:
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        return [f"the column(s) {', '.join(missing)} are missing (needed: "
                f"{', '.join(REQUIRED_COLUMNS)})"]
    if without_scores or any(c.startswith(SCORE_PREFIX) for c in columns):
        return []
    return [f"there is no {SCORE_PREFIX}<class> column: add the class probabilities, or "
            "import with --without-scores (stored with top_score 1.0: confidence unknown)"]


def check_file(path: Path, *, rules: Rules, stored: StoredIds) -> FileCheck:
    """Read a whole file and find every problem of every row and of the file.

    Args:
        path: the CSV or Parquet file.
        rules: the registry and the options.
        stored: answers which ids of a chunk the store already holds.

    Raises:
        PredictionFileError: the file cannot be read at all (see ``open_rows``).
    """
    problems: list[Problem] = []
    bad = total = 0
    seen: dict[str, int] = {}  # id -> the row number it first appeared on
    with open_rows(path, batch_rows=rules.chunk_rows, max_rows=rules.max_rows,
                   limits=rules.limits) as source:
        head = _head_problems(source.columns, rules.without_scores)
        if head:
            return FileCheck(format=source.format, columns=source.columns,
                             problems=tuple(Problem("", m) for m in head))
        rows = _Rows(rules=rules, columns=source.columns)
        for batch in source.batches:
            total += len(batch)
            for number, errors in _batch_errors(rows, batch, seen=seen, stored=stored,
                                                unit=source.unit):
                if errors:
                    bad += 1
                    if len(problems) < MAX_PROBLEMS:
                        problems.append(Problem(f"{source.unit} {number}", "; ".join(errors)))
        whole, ignored = rows.file_problems()
        if total == 0:
            whole.append(f"{path.name} has no rows")
        return FileCheck(
            format=source.format, columns=source.columns, rows=total, bad_rows=bad,
            problems=(*(Problem("", m) for m in whole), *problems),
            versions=dict(sorted(rows.used.items())), first_ts=rows.first, last_ts=rows.last,
            without_scores=rows.unscored, ignored_columns=ignored)


def _batch_errors(rows: _Rows, batch: Sequence[RawRow], *, seen: dict[str, int],
                  stored: StoredIds, unit: str) -> list[tuple[int, list[str]]]:
    """``(row number, problems)`` of each row of a batch, repeated and stored ids included.

    ``seen`` (id to the row it first appeared on) carries over from batch to batch; the
    store is asked once per batch.
    """
    checked: list[tuple[int, str | None, list[str]]] = []
    for raw in batch:
        _, pid, errors = rows.check(raw)
        if pid is not None:
            first = seen.setdefault(pid, raw.number)
            if first != raw.number:
                errors.append(f"prediction_id {pid!r} repeats {unit} {first}")
        checked.append((raw.number, pid, errors))
    in_store = set(stored([pid for _, pid, _ in checked if pid is not None]))
    for _, pid, errors in checked:
        if pid in in_store:
            errors.append(f"prediction_id {pid!r} is already in the store")
    return [(number, errors) for number, _, errors in checked]


def prediction_rows(path: Path, *, rules: Rules) -> Iterator[Sequence[dict[str, Any]]]:
    """The rows of a file that :func:`check_file` found clean, as prediction rows in chunks.

    Raises:
        RowsChangedError: a row has a problem now (the file changed since it was checked).
        PredictionFileError: the file cannot be read any more.
    """
    with open_rows(path, batch_rows=rules.chunk_rows, max_rows=rules.max_rows,
                   limits=rules.limits) as source:
        rows = _Rows(rules=rules, columns=source.columns)
        for batch in source.batches:
            out = []
            for raw in batch:
                row, _, errors = rows.check(raw)
                if row is None:
                    raise RowsChangedError(f"{source.unit} {raw.number}: {'; '.join(errors)}")
                out.append(row)
            yield out

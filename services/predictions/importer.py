"""Import prediction logs of another serving stack ("bring your own logs"), all or nothing.

A file (CSV or Parquet, see :mod:`services.predictions.files`) has one prediction a row:

* ``prediction_id`` (text, at most 36 characters, new to the store and once in the file),
  ``timestamp`` (ISO 8601 with an offset or ``Z``; a time without one needs ``timezone``;
  not in the future), ``model`` (a registered model's name), ``version`` (a registered
  version number of it, ``3`` or ``v3``), ``predicted`` (one of the model's classes);
* ``score_<class>`` columns: the probability of each class, in [0, 1]. A row giving every
  class must sum to 1 (within 0.01); a row giving all classes but one gets the missing one
  as the rest to 1 (so a binary model may log one probability); otherwise the row must give
  its predicted class's score. ``top_score`` is the predicted class's score, as for the
  predictions the inference service logs. Rows without any score (or files without score
  columns) are refused unless ``without_scores``: their scores are then stored empty and
  ``top_score`` as 1.0, meaning "confidence unknown" (they sort last in
  least-confident-first, and curves over the score cannot use them);
* ``latency_ms``, optional: serving latency (stored as 0 when absent or blank);
* every other column is a feature: the names of the model's ``feature_schema``, each
  present and valid on every row (numbers finite, categories text), as the inference
  service requires. A column that is no feature of any model in the file is refused (a
  misspelt feature would otherwise vanish) unless ``ignore_extra_columns``.

Every bad row is reported with its line (CSV: the header is line 1) or row (Parquet) number
and all its problems, and then nothing is written. A clean file is written in one write
transaction, in chunks, with one ``import_predictions`` audit entry. The file is read twice
and never held in memory (only its ids, to find repeats): once to check it, without the
write lock, and once inside the write transaction, after its SHA-256 is checked again.
The version must be registered beforehand: a version of a model served elsewhere has no
artifact here, so the import does not invent one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from db.base import utcnow
from db.repositories import registry
from db.repositories.predictions import insert_predictions, stored_ids
from db.session import session_scope
from services.access.principal import Principal, require
from services.access.roles import Action
from services.audit import record
from services.predictions.files import PredictionFileError, file_sha256
from services.predictions.limits import MAX_ROWS
from services.predictions.rows import (
    FileCheck,
    ModelInfo,
    Problem,
    RowsChangedError,
    Rules,
    StoredIds,
    check_file,
    prediction_rows,
)

__all__ = [
    "CHUNK_ROWS",
    "MAX_ROWS",
    "ImportResult",
    "PredictionImportError",
    "VersionCount",
    "import_predictions",
]

#: Rows read and inserted at a time.
CHUNK_ROWS = 5000


class PredictionImportError(ValueError):
    """Nothing was imported; ``str()`` is a summary line, then one problem a line.

    Attributes:
        problems: the problems found, file-wide ones first, then rows in file order.
        more: bad rows found beyond those listed.
    """

    def __init__(self, summary: str, problems: Sequence[Problem] = (), more: int = 0) -> None:
        self.problems = list(problems)
        self.more = more
        lines = [summary, *(f"  {p}" for p in self.problems)]
        if more:
            lines.append(f"  ... and {more:,} more bad rows")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class VersionCount:
    """How many rows of the file belong to one model version."""

    model: str
    version: int
    rows: int


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote (or, with ``dry_run``, would write).

    Attributes:
        file: the file's name (without its folder).
        format: ``csv`` or ``parquet``.
        sha256: hex SHA-256 of the file's bytes.
        rows: predictions imported.
        versions: rows per model version, by model then version.
        first_ts: the earliest prediction time.
        last_ts: the latest prediction time.
        without_scores: rows stored without scores (``top_score`` 1.0: unknown confidence).
        ignored_columns: columns left out because ``ignore_extra_columns`` was given.
        dry_run: checked only; nothing written.
    """

    file: str
    format: str
    sha256: str
    rows: int
    versions: tuple[VersionCount, ...]
    first_ts: datetime | None
    last_ts: datetime | None
    without_scores: int
    ignored_columns: tuple[str, ...]
    dry_run: bool

    def audit_details(self) -> dict[str, object]:
        """The facts kept in the ``import_predictions`` audit entry."""
        return {
            "rows": self.rows, "format": self.format, "sha256": self.sha256,
            "versions": {f"{c.model}:v{c.version}": c.rows for c in self.versions},
            "first_ts": self.first_ts.isoformat() if self.first_ts else None,
            "last_ts": self.last_ts.isoformat() if self.last_ts else None,
            "without_scores": self.without_scores,
            "ignored_columns": list(self.ignored_columns),
        }


def _registry(engine: Engine) -> dict[str, ModelInfo]:
    with session_scope(engine) as session:
        versions = registry.version_row_ids(session=session)
        return {
            m.name: ModelInfo(id=m.id, name=m.name, classes=tuple(m.class_labels),
                              features=tuple((str(f["name"]), str(f["type"]))
                                             for f in m.feature_schema),
                              versions=versions.get(m.id, {}))
            for m in registry.list_models(session=session)
        }


def _stored_ids(engine: Engine) -> StoredIds:
    def stored(ids: Collection[str]) -> set[str]:
        with session_scope(engine) as session:
            return stored_ids(session=session, ids=ids)

    return stored


def _zone(timezone: str | None) -> tzinfo | None:
    if timezone is None:
        return None
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PredictionImportError(f"unknown time zone {timezone!r} (an IANA name, e.g. "
                                    "Europe/Paris or UTC)") from None


def _refuse(path: Path, check: FileCheck) -> PredictionImportError:
    whole = sum(1 for p in check.problems if not p.where)
    listed = len(check.problems) - whole
    if check.bad_rows:
        summary = (f"nothing imported: {check.bad_rows:,} of {check.rows:,} rows of "
                   f"{path.name} have problems" + (", and so has the file" if whole else ""))
    else:
        summary = f"nothing imported: {path.name} cannot be imported"
    return PredictionImportError(summary, check.problems, more=check.bad_rows - listed)


def import_predictions(
    *,
    engine: Engine,
    actor: Principal | None,
    path: Path,
    timezone: str | None = None,
    without_scores: bool = False,
    ignore_extra_columns: bool = False,
    dry_run: bool = False,
    max_rows: int = MAX_ROWS,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Check a prediction log file and, if every row is good, store all its rows.

    Args:
        engine: the store.
        actor: who imports; needs ``import_predictions`` (operators and admins).
        path: the CSV or Parquet file (format by extension, else by content).
        timezone: IANA zone of timestamps written without an offset (default: such
            timestamps are errors).
        without_scores: accept rows without any score (stored with ``top_score`` 1.0).
        ignore_extra_columns: leave out columns that are no feature of the file's models
            instead of refusing the file.
        dry_run: check only; write nothing (no audit entry either).
        max_rows: refuse files with more rows.
        chunk_rows: rows read and inserted at a time.

    Raises:
        PermissionDenied: ``actor`` may not import predictions (checked first).
        PredictionImportError: the file or some of its rows are bad (every bad row listed,
            up to ``services.predictions.rows.MAX_PROBLEMS``), the time zone is unknown, the
            file changed or ids were stored by someone else while it was imported, or the
            database stayed busy; nothing was written.
    """
    importer = require(actor, Action.IMPORT_PREDICTIONS)
    rules = Rules(models=_registry(engine), now=utcnow(), zone=_zone(timezone),
                  without_scores=without_scores, ignore_extra_columns=ignore_extra_columns,
                  max_rows=max_rows, chunk_rows=chunk_rows)
    result = _checked(engine, path, rules, dry_run=dry_run)
    if not dry_run:
        _write(engine, path, rules, result, actor=importer)
    return result


def _checked(engine: Engine, path: Path, rules: Rules, *, dry_run: bool) -> ImportResult:
    """Check the whole file without the write lock: what it would import, or every problem.

    Raises:
        PredictionImportError: the file cannot be read, or some of its rows are bad.
    """
    try:
        digest = file_sha256(path)
        check = check_file(path, rules=rules, stored=_stored_ids(engine))
    except PredictionFileError as exc:
        raise PredictionImportError(f"nothing imported: {exc}") from None
    if not check.ok:
        raise _refuse(path, check)
    return ImportResult(
        file=path.name, format=check.format, sha256=digest, rows=check.rows,
        versions=tuple(VersionCount(m, v, n) for (m, v), n in check.versions.items()),
        first_ts=check.first_ts, last_ts=check.last_ts, without_scores=check.without_scores,
        ignored_columns=check.ignored_columns, dry_run=dry_run)


def _write(engine: Engine, path: Path, rules: Rules, result: ImportResult, *,
           actor: Principal) -> None:
    """Store the checked file's rows and the audit entry in one write transaction.

    Raises:
        PredictionImportError: the file changed since it was checked, its ids were stored
            by someone else meanwhile, or the database stayed busy; nothing was written.
    """
    changed = PredictionImportError(
        f"nothing imported: {path.name} changed while it was imported; run the import again")
    try:
        with session_scope(engine, write=True) as session:
            if file_sha256(path) != result.sha256:
                raise changed
            written = 0
            for rows in prediction_rows(path, rules=rules):
                written += insert_predictions(session=session, rows=rows)
            if written != result.rows:
                raise changed
            record(session=session, actor=actor.username, action="import_predictions",
                   object_type="prediction_file", object_id=result.file,
                   details=result.audit_details())
    except (PredictionFileError, RowsChangedError):
        raise changed from None
    except IntegrityError:
        raise PredictionImportError(
            f"nothing imported: some prediction ids of {path.name} were stored by someone else "
            "(or a version was removed) since the file was checked; run the import again to "
            "see which") from None
    except OperationalError as exc:
        message = str(exc.orig).lower()
        if "locked" in message or "busy" in message:
            raise PredictionImportError(
                "nothing imported: the database stayed busy; try again") from exc
        raise

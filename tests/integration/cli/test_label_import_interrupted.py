"""``import-labels`` of a large file as a real process, killed between (or during) its
transactions: what it stored is whole transactions, and the same command run again finishes
the import as if it had never stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from db.models import AuditLog, Feedback, FeedbackHistory
from db.schema import upgrade
from db.session import make_engine, session_scope
from services.settings import PROJECT_ROOT, Settings
from tests.factories import log_predictions, make_model

ROWS = 2_000
BATCH = 100  # 20 transactions, PAUSE_S apart: the test kills it once the first is stored
DEADLINE_S = 120


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[Engine, Path]]:
    """A migrated SQLite store in ``tmp_path/var`` with ``ROWS`` unlabelled predictions, and
    a label file for all of them."""
    var = tmp_path / "var"
    var.mkdir()
    engine = make_engine(Settings(var_dir=str(var), database_url="").resolved_database_url)
    upgrade(engine)
    model_id, version_id = make_model(engine)
    ids = log_predictions(engine, model_id=model_id, version_id=version_id,
                          rows=[(datetime(2026, 11, 1, tzinfo=UTC), "stays", None)] * ROWS)
    path = tmp_path / "vendor.csv"
    path.write_text("prediction_id,label\n" + "".join(
        f"{pid},{'churns' if i % 2 else 'stays'}\n" for i, pid in enumerate(ids)),
        encoding="utf-8")
    yield engine, path
    engine.dispose()


def _import(path: Path, var: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": "",
           "OPSDASH_LABEL_IMPORT_MAX_ROWS": str(BATCH)}
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "import-labels", str(path), "--batch-rows",
         str(BATCH), "--json"], cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)


def _count(engine: Engine, table: type, *where: object) -> int:
    with session_scope(engine) as session:
        return session.scalar(select(func.count()).select_from(table).where(*where)) or 0


def _batches(engine: Engine) -> int:
    return _count(engine, AuditLog, AuditLog.action == "import_labels_batch")


def test_a_killed_import_keeps_whole_transactions_and_a_second_run_finishes_it(
    store: tuple[Engine, Path]
) -> None:
    engine, path = store
    var = path.parent / "var"
    process = _import(path, var)
    deadline = time.monotonic() + DEADLINE_S
    while _batches(engine) == 0 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=DEADLINE_S)
    if _count(engine, AuditLog, AuditLog.action == "import_labels"):
        pytest.skip("the import finished before it could be killed (the machine ran it "
                    "faster than the test could look)")
    batches = _batches(engine)
    assert batches >= 1
    # A kill stores whole transactions: every label of a committed one, none of the next.
    assert _count(engine, Feedback) == batches * BATCH < ROWS

    second = _import(path, var)
    out, err = second.communicate(timeout=DEADLINE_S)
    assert second.returncode == 0, err
    assert f'"unchanged": {batches * BATCH}' in out
    assert f'"saved": {ROWS - batches * BATCH}' in out
    # As one uninterrupted import: every label once, one history row and one label audit
    # entry each, and one import_labels entry (of the run that finished).
    assert _count(engine, Feedback) == ROWS
    assert _count(engine, FeedbackHistory) == ROWS
    assert _count(engine, Feedback, Feedback.revision != 1) == 0
    assert _count(engine, AuditLog, AuditLog.action == "label") == ROWS
    assert _count(engine, AuditLog, AuditLog.action == "import_labels") == 1
    assert _batches(engine) == batches + ROWS // BATCH

"""The prediction log against a real store: rows land, a bad row cannot block the rest."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from db.models import Prediction
from db.session import session_scope
from services.serving.prediction_log import PredictionLog, database_sink
from services.serving.spool import REJECTED_FILE, Spool
from services.settings import Settings
from tests.serving_models import logged_row, register_model


def test_a_row_naming_a_missing_version_is_set_aside_and_the_batch_is_stored(
    engine: Engine, settings: Settings
) -> None:
    model_id, version_id = register_model(engine, folder=Path(settings.var_dir) / "artifacts")
    good = [logged_row(model_id, version_id) for _ in range(4)]
    orphan = logged_row(model_id, version_id + 99)  # violates the foreign key
    spill = Path(settings.var_dir) / "serving" / "spool"
    spool = Spool(spill, max_bytes=1_000_000)
    spool.open()
    log = PredictionLog(sink=database_sink(engine), batch_size=10, flush_seconds=60, spool=spool)

    log.submit([*good[:2], orphan, *good[2:]])
    assert log.flush()

    with session_scope(engine) as session:
        stored = set(session.scalars(select(Prediction.id)))
    assert stored == {row["id"] for row in good}
    assert log.rejected_rows == 1
    assert orphan["id"] in (spill / REJECTED_FILE).read_text()

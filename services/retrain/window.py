"""The training window offered for a model now: from the day its inputs began drifting
(the Drift page's "drifting since", computed with the page's settings), else the last 14
days. Shared by the Models page's dialog and the ``retrain`` command, so both offer the
same window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from services.drift.config import load_drift_config
from services.drift.episode import drifting_since
from services.retrain.data import Window, default_window
from services.settings import Settings

__all__ = ["suggested_window"]


def suggested_window(*, engine: Engine, settings: Settings, model: str,
                     now: datetime) -> Window:
    """The default window ``[start, now)`` of a retrain of ``model``.

    Raises:
        TrainingDataError: no such model.
        DriftConfigError: the drift configuration file (``OPSDASH_DRIFT_CONFIG_FILE``)
            cannot be read.
    """
    config = load_drift_config(settings.drift_config_file or None)
    since = drifting_since(engine=engine, model=model, now=now, tz=settings.timezone,
                           drift_share=config.share_for(model, settings.drift_share),
                           columns=config.columns_for(model))
    return default_window(engine, model, now, since)

"""The columns of a prediction log that are not features, so no feature may take their names.

A prediction log (``import-predictions``) has the columns :data:`REQUIRED_COLUMNS`,
``score_<class>`` columns (:data:`SCORE_PREFIX`) and optionally :data:`LATENCY_COLUMN`;
every other column is a feature. Registration refuses a feature schema using these names,
and :mod:`services.predictions.rows` reads the log by them.
"""

from __future__ import annotations

__all__ = ["LATENCY_COLUMN", "REQUIRED_COLUMNS", "SCORE_PREFIX"]

REQUIRED_COLUMNS = ("prediction_id", "timestamp", "model", "version", "predicted")
LATENCY_COLUMN = "latency_ms"
SCORE_PREFIX = "score_"

"""Names of the Prometheus metrics the inference service exports.

The exporter (``services.serving``), the demo backfill and the dashboard's PromQL all
read these constants, so a rename happens in one place.
"""

from __future__ import annotations

__all__ = [
    "ERRORS_TOTAL",
    "LATENCY_BUCKETS",
    "LATENCY_SECONDS",
    "MODEL_INFO",
    "PREDICTIONS_TOTAL",
    "SCORE",
    "SCORE_BUCKETS",
    "SCRAPE_INTERVAL_S",
    "SERVING_JOB",
    "SPOOL_BYTES",
    "SPOOL_ROWS_TOTAL",
    "WORKER_JOB",
]

#: Counter ``{model, version, predicted_class}``: predictions served.
PREDICTIONS_TOTAL = "opsdash_predictions_total"
#: Counter ``{model, version, reason}``: requests that failed (validation, model error, ...).
ERRORS_TOTAL = "opsdash_prediction_errors_total"
#: Histogram ``{model, version}``: time to answer one /predict request, in seconds.
LATENCY_SECONDS = "opsdash_prediction_latency_seconds"
#: Histogram ``{model, version}``: probability of the predicted (top) class.
SCORE = "opsdash_prediction_score"
#: Gauge ``{model, version}`` = 1 for the version currently loaded.
MODEL_INFO = "opsdash_model_info"

#: Counter ``{event}``: predictions through the spool: ``spooled`` (written before the
#: answer), ``replayed`` (left by a previous run, taken out at start), ``rejected`` (set
#: aside: the store refuses them for good, or the spool line cannot be read).
SPOOL_ROWS_TOTAL = "opsdash_prediction_spool_rows_total"
#: Gauge: bytes the spool holds (answered predictions not yet stored).
SPOOL_BYTES = "opsdash_prediction_spool_bytes"

#: Prometheus job name of the inference service in the generated scrape config.
SERVING_JOB = "opsdash-serving"
#: Prometheus job name of the worker's ``/metrics`` (model quality, drift share, label
#: backlog, alert states) in the generated scrape config.
WORKER_JOB = "opsdash-worker"
#: Seconds between scrapes of that job in the generated config; the dashboard's rate windows
#: span at least four of them so a rate always has points to work on.
SCRAPE_INTERVAL_S = 5

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SCORE_BUCKETS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)

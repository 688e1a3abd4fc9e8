"""One settings object, read from ``OPSDASH_*`` environment variables.

Every setting has a documented default here and in the README; nothing else in the
code base reads the environment for configuration.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

__all__ = ["PROJECT_ROOT", "Settings", "SettingsError", "get_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


def _default_var_dir() -> str:
    return str(PROJECT_ROOT / "var")


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Field ``x_y`` is read from ``OPSDASH_X_Y``."""

    #: Folder for all state of the local stack (database, artifacts, Prometheus data, logs).
    var_dir: str = field(default_factory=_default_var_dir)
    #: SQLAlchemy URL of the feedback store. Empty means ``sqlite:///<var_dir>/opsdash.db``.
    database_url: str = ""
    #: Base URL of the Prometheus-compatible server the dashboard queries.
    prometheus_url: str = "http://127.0.0.1:9090"
    #: Seconds before a Prometheus request is abandoned (no retries are made).
    prometheus_timeout: float = 3.0
    #: Sent as ``Authorization: Bearer <token>`` to Prometheus. No default (a secret).
    prometheus_bearer_token: str = field(default="", repr=False)
    #: ``user:password`` for HTTP basic authentication at Prometheus. No default (a secret).
    prometheus_basic_auth: str = field(default="", repr=False)
    #: Extra HTTP headers for Prometheus, ``Name=value;Other=value`` (Mimir and Cortex need
    #: ``X-Scope-OrgID=<tenant>``). Hidden from ``repr`` as a header may carry a credential.
    prometheus_headers: str = field(default="", repr=False)
    #: PEM file of the certificate authorities that sign Prometheus' TLS certificate. Empty
    #: means the system's trust store.
    prometheus_ca_bundle: str = ""
    #: Name of the query preset the Serving page uses (``opsdash``, ``bentoml``, ``kserve``
    #: or one defined in ``query_presets_file``).
    query_preset: str = "opsdash"
    #: Optional TOML file adding query presets or overriding panels of built-in ones.
    query_presets_file: str = ""
    #: Port of the local Prometheus started by ``make demo``.
    prometheus_port: int = 9090
    #: Host and port the inference service binds to.
    serving_host: str = "127.0.0.1"
    serving_port: int = 8000
    #: Port of the Streamlit dashboard.
    dashboard_port: int = 8501
    #: Folder holding model artifacts. Empty means ``<var_dir>/artifacts``.
    artifacts_dir: str = ""
    #: Seconds between the inference service's checks for a newly promoted version.
    model_reload_seconds: float = 5.0
    #: Seconds between flushes of the prediction log; also flushed every ``log_batch_size`` rows.
    log_flush_seconds: float = 1.0
    log_batch_size: int = 500
    #: Seed of the demo scenario: the same seed gives the same models and history.
    demo_seed: int = 42
    #: Days of demo history seeded before "now".
    demo_days: int = 14
    #: Requests per second the simulator sends to the inference service (per model).
    simulator_rps: float = 0.2
    #: IANA time zone used to display timestamps and bucket days in the dashboard.
    timezone: str = "UTC"
    #: Seconds that dashboard figures read from the store are cached.
    cache_ttl_seconds: int = 30
    #: Key that signs sign-in cookies: a long random value (at least 32 characters). No
    #: default on purpose; the demo launcher writes one to ``<var_dir>/cookie-secret``.
    cookie_secret: str = field(default="", repr=False)
    #: Quality trend: a bucket with fewer labels shows "not enough labels", not a point.
    quality_min_labels: int = 20
    #: Largest label CSV file accepted for import, in bytes.
    label_import_max_bytes: int = 10 * 1024 * 1024
    #: Most rows one label import may hold. An import is one write transaction (all or
    #: nothing): on SQLite 0.1 to 0.16 ms a row (``make bench-labels``), so at most about
    #: 2 s, well within the 5 s that other writers (the prediction log) wait for the lock.
    label_import_max_rows: int = 12_000
    #: Bearer token of the inference service's ``POST /feedback`` (at least 16 characters).
    #: No default on purpose: without it the endpoint answers 503.
    feedback_token: str = field(default="", repr=False)
    #: Serving page objective: p95 latency at or under this many seconds ...
    slo_latency_p95_seconds: float = 0.25
    #: ... and errors at or under this share of requests.
    slo_error_rate: float = 0.01
    #: Seconds between refreshes of the Serving page's live charts.
    serving_refresh_seconds: int = 15
    #: Hours a sign-in lasts before the user must sign in again.
    session_hours: float = 12.0
    #: Consecutive failed sign-ins after which an account is locked ...
    signin_max_failures: int = 5
    #: ... for this many seconds.
    signin_lockout_seconds: int = 300
    #: Drift: the dataset has drifted when at least this share of its features has.
    drift_share: float = 0.5
    #: Optional TOML file choosing a drift test or threshold per feature (see
    #: ``services/drift/config.py``).
    drift_config_file: str = ""
    #: Single sign-on: the ID-token claim that names the user's role (e.g. ``groups``).
    #: Empty means the role is the local user's with the verified e-mail address.
    oidc_role_claim: str = ""

    @property
    def resolved_database_url(self) -> str:
        """The database URL with the default SQLite file filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.var_dir) / 'opsdash.db'}"

    @property
    def resolved_artifacts_dir(self) -> Path:
        """Folder of model artifacts with the default filled in."""
        return Path(self.artifacts_dir) if self.artifacts_dir else Path(self.var_dir) / "artifacts"

    @property
    def serving_url(self) -> str:
        """Base URL of the local inference service."""
        return f"http://{self.serving_host}:{self.serving_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``OPSDASH_*`` variables, validating their types.

        Raises:
            SettingsError: a variable holds a value of the wrong type.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            key = f"OPSDASH_{f.name.upper()}"
            raw = env.get(key)
            if raw is None or raw == "":
                continue
            kind = type(getattr(_DEFAULTS, f.name))
            try:
                values[f.name] = kind(raw)
            except ValueError as exc:
                raise SettingsError(f"{key}={raw!r} is not a valid {kind.__name__}") from exc
        return cls(**values)  # type: ignore[arg-type]


_DEFAULTS = Settings()


def get_settings() -> Settings:
    """Settings from the current environment (cheap; call it where needed)."""
    return Settings.from_env()

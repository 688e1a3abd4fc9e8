"""One settings object, read from ``OPSDASH_*`` environment variables.

Every setting has a documented default (and range, where one applies) here and in the
README; nothing else in the code base reads the environment for configuration.

:class:`Settings` is a frozen pydantic-settings model. ``Settings.from_env()`` (what
:func:`get_settings` returns) reads the variables; ``Settings(**values)`` is the defaults
with ``values`` over them and never looks at the environment, so a test's settings cannot
pick up a developer's exported variables; ``settings.replace(**changes)`` derives a changed
copy. ``from_env`` and ``replace`` validate every value and raise :class:`SettingsError`
with one line naming each bad variable; a secret's value is never shown, not even there.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from services.redact import redact_url
from services.setting_source import Variables, describe_error
from services.setting_types import (
    Count,
    Port,
    Positive,
    ProxyList,
    PublicUrl,
    Secret,
    Share,
    TimeZone,
    WebhookUrl,
    WholeSeconds,
)

__all__ = ["MIN_WEBHOOK_SECRET", "PROJECT_ROOT", "Settings", "SettingsError", "get_settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Shortest ``OPSDASH_RETRAIN_WEBHOOK_SECRET`` accepted.
MIN_WEBHOOK_SECRET = 32
#: Settings holding a URL that may carry user info (a credential): repr() hides it.
_URL_FIELDS = frozenset({"database_url", "prometheus_url", "retrain_webhook_url"})


class SettingsError(ValueError):
    """An environment variable holds a value that cannot be used."""


class Settings(BaseSettings):
    """Runtime configuration. Field ``x_y`` is read from ``OPSDASH_X_Y``."""

    # The variables are read by our own source (_Variables, through from_env), which keeps
    # today's rules: exact names, and an empty variable meaning the default.
    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        allow_inf_nan=False,  # "inf" seconds or "nan" shares are typing mistakes, not values
        hide_input_in_errors=True,  # a pydantic error must not carry a secret either
    )

    # --- store and files ------------------------------------------------------------------
    #: Folder for all state of the local stack (database, artifacts, Prometheus data, logs).
    var_dir: str = str(PROJECT_ROOT / "var")
    #: SQLAlchemy URL of the feedback store. Empty means ``sqlite:///<var_dir>/opsdash.db``.
    database_url: str = ""
    #: Folder holding model artifacts. Empty means ``<var_dir>/artifacts``.
    artifacts_dir: str = ""

    # --- Prometheus -----------------------------------------------------------------------
    #: Base URL of the Prometheus-compatible server the dashboard queries.
    prometheus_url: str = "http://127.0.0.1:9090"
    #: Seconds before a Prometheus request is abandoned (no retries are made).
    prometheus_timeout: Positive = 3.0
    #: Sent as ``Authorization: Bearer <token>`` to Prometheus. No default (a secret).
    prometheus_bearer_token: Secret = ""
    #: ``user:password`` for HTTP basic authentication at Prometheus. No default (a secret).
    prometheus_basic_auth: Secret = ""
    #: Extra HTTP headers for Prometheus, ``Name=value;Other=value`` (Mimir and Cortex need
    #: ``X-Scope-OrgID=<tenant>``). Hidden like a secret as a header may carry a credential.
    prometheus_headers: Secret = ""
    #: PEM file of the certificate authorities that sign Prometheus' TLS certificate. Empty
    #: means the system's trust store.
    prometheus_ca_bundle: str = ""
    #: Name of the query preset the Serving page uses (``opsdash``, ``bentoml``, ``kserve``
    #: or one defined in ``query_presets_file``).
    query_preset: str = "opsdash"
    #: Optional TOML file adding query presets or overriding panels of built-in ones.
    query_presets_file: str = ""

    # --- inference service ----------------------------------------------------------------
    #: Host and port the inference service binds to.
    serving_host: str = "127.0.0.1"
    serving_port: Port = 8000
    #: Seconds between the inference service's checks for a newly promoted version.
    model_reload_seconds: Positive = 5.0
    #: Seconds between flushes of the prediction log; also flushed every ``log_batch_size`` rows.
    log_flush_seconds: Positive = 1.0
    log_batch_size: Count = 500
    #: Whether each append to the prediction spool is fsynced (survives a power loss, not
    #: only a crash of the process; costs a disk flush per request).
    log_fsync: bool = False
    #: Bytes the prediction spool may hold (predictions answered, not yet stored); when it
    #: is full, ``/predict`` answers 503.
    spool_max_bytes: Count = 256 * 1024 * 1024
    #: Milliseconds the inference service's writes wait for another SQLite writer's lock
    #: before failing (and being retried later); ignored for PostgreSQL.
    serving_busy_timeout_ms: Count = 5000
    #: Score concurrent ``/predict`` requests for one model version together (micro-batching).
    batch_scoring: bool = True
    #: Longest a request waits for others to join its batch, in milliseconds (0: no wait;
    #: requests arriving while a batch is scored still form the next one).
    batch_wait_ms: Annotated[float, Field(ge=0, le=1000)] = 2.0
    #: A batch is scored as soon as it holds this many rows.
    batch_max_rows: Annotated[int, Field(ge=1, le=1000)] = 64
    #: Bearer token of the inference service's ``POST /feedback`` (at least 16 characters).
    #: No default on purpose: without it the endpoint answers 503.
    feedback_token: Secret = ""

    # --- dashboard ------------------------------------------------------------------------
    #: Port of the Streamlit dashboard.
    dashboard_port: Port = 8501
    #: The dashboard's address as browsers open it, when a proxy stands in front (``https://
    #: dash.example.com``): the only origin whose pages and websockets the sign-in cookie
    #: works from. Empty means the scheme and ``Host`` each request came to.
    public_url: PublicUrl = ""
    #: IANA time zone used to display timestamps and bucket days in the dashboard.
    timezone: TimeZone = "UTC"
    #: Seconds that dashboard figures read from the store are cached.
    cache_ttl_seconds: WholeSeconds = 30
    #: Serving page objective: p95 latency at or under this many seconds ...
    slo_latency_p95_seconds: Positive = 0.25
    #: ... and errors at or under this share of requests.
    slo_error_rate: Share = 0.01
    #: Seconds between refreshes of the Serving page's live charts.
    serving_refresh_seconds: WholeSeconds = 15
    #: Quality trend: a bucket with fewer labels shows "not enough labels", not a point.
    quality_min_labels: Count = 20
    #: Drift: the dataset has drifted when at least this share of its features has (a share
    #: of 0 would call every dataset drifted, so it is excluded as on the command line).
    drift_share: Annotated[float, Field(gt=0, le=1)] = 0.5
    #: Optional TOML file choosing a drift test or threshold per feature (see
    #: ``services/drift/config.py``).
    drift_config_file: str = ""
    #: Optional TOML file of the promotion policy: a ``[default]`` table and one per model
    #: (``[models.churn]``); see ``services/promotion/policy.py``. Empty: built-in defaults.
    promotion_policy_file: str = ""
    #: Retraining: a window with fewer labelled rows of a class than this is refused.
    retrain_min_per_class: Count = 50
    #: Retraining: seconds a worker holds a job without a heartbeat (it beats every third of
    #: this); a job whose worker stopped answering this long is failed by the next worker.
    retrain_lease_seconds: Positive = 15.0
    #: Retraining: ``local`` (the worker trains) or ``webhook`` (the worker POSTs the job to
    #: ``retrain_webhook_url`` and an outside pipeline trains and reports back).
    retrain_backend: Literal["local", "webhook"] = "local"
    #: Retraining hand-off: the URL a job is POSTed to (Airflow's ``dagRuns``, Argo Events,
    #: Prefect, a CI pipeline). Required when ``retrain_backend`` is ``webhook``.
    retrain_webhook_url: WebhookUrl = ""
    #: Retraining hand-off: the inference service's address as the pipeline reaches it,
    #: for the callback URLs sent with a job. Empty means ``http://<serving host>:<port>``.
    retrain_callback_url: WebhookUrl = ""
    #: Retraining hand-off: the key of the body's HMAC-SHA256 signature
    #: (``X-Opsdash-Signature``), at least 32 characters. No default (a secret); required
    #: when ``retrain_backend`` is ``webhook``.
    retrain_webhook_secret: Secret = ""
    #: Retraining hand-off: ``plain`` (the job description is the body) or ``airflow`` (it
    #: is the ``conf`` of an Airflow ``dagRuns`` body, with ``dag_run_id`` ``opsdash-job-N``).
    retrain_webhook_format: Literal["plain", "airflow"] = "plain"
    #: Retraining hand-off: extra HTTP headers, ``Name=value;Other=value`` (e.g. the
    #: receiver's ``Authorization``). Hidden like a secret.
    retrain_webhook_headers: Secret = ""
    #: Retraining hand-off: seconds one delivery attempt may take.
    retrain_webhook_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    #: Retraining hand-off: attempts to deliver a job (connection errors and 5xx answers are
    #: retried after 1, 2, 4 ... s, at most 30 s); then the job fails with the last error.
    retrain_webhook_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    #: Retraining hand-off: a handed-off job whose pipeline has not reported for this many
    #: hours is failed (its token no longer works).
    retrain_webhook_deadline_hours: Positive = 24.0

    # --- sign-in --------------------------------------------------------------------------
    #: Key that signs sign-in cookies: a long random value (at least 32 characters). No
    #: default on purpose; the demo launcher writes one to ``<var_dir>/cookie-secret``.
    cookie_secret: Secret = ""
    #: Hours a sign-in lasts before the user must sign in again.
    session_hours: Positive = 12.0
    #: Consecutive failed sign-ins after which an account is locked ...
    signin_max_failures: Count = 5
    #: ... for this many seconds.
    signin_lockout_seconds: WholeSeconds = 300
    #: Single sign-on: the ID-token claim that names the user's role (e.g. ``groups``).
    #: Empty means the role is the local user's with the verified e-mail address.
    oidc_role_claim: str = ""
    #: Single sign-on: accept an ``email`` claim the provider sends without
    #: ``email_verified`` (Microsoft Entra ID sends none). Only for a provider whose addresses
    #: you trust; a claim that says anything but true still refuses.
    oidc_trust_email: bool = False
    #: Failed password sign-ins from one client address within
    #: ``signin_client_window_seconds`` after which that address is refused (HTTP 429) before
    #: its attempts reach any account. Below ``signin_max_failures`` by default, so one
    #: address cannot lock an account within a window.
    signin_client_max_failures: Count = 4
    #: ... counted over this many seconds (a sliding window).
    signin_client_window_seconds: WholeSeconds = 300
    #: Reverse proxies whose ``X-Forwarded-For`` names the client: addresses or networks,
    #: comma-separated (``10.0.0.5, 10.1.0.0/16``). Empty: the header is ignored and the
    #: client is the connection's peer.
    trusted_proxies: ProxyList = ""

    # --- label import ---------------------------------------------------------------------
    #: Largest label CSV file accepted for import, in bytes.
    label_import_max_bytes: Count = 10 * 1024 * 1024
    #: Most rows one label import may hold. An import is one write transaction (all or
    #: nothing): on SQLite 0.1 to 0.16 ms a row (``make bench-labels``), so at most about
    #: 2 s, well within the 5 s that other writers (the prediction log) wait for the lock.
    label_import_max_rows: Count = 12_000
    #: Largest label CSV file the command line's ``import-labels`` accepts, in bytes.
    label_import_cli_max_bytes: Count = 200 * 1024 * 1024
    #: Most rows the command line's ``import-labels`` accepts. A file of more rows than
    #: ``label_import_max_rows`` is checked whole, then written in transactions of at most
    #: that many rows (5,000 by default), so other writers wait for one transaction at a
    #: time; running the same import again finishes an interrupted one.
    label_import_cli_max_rows: Count = 2_000_000

    # --- demo -----------------------------------------------------------------------------
    #: Port of the local Prometheus started by ``make demo``.
    prometheus_port: Port = 9090
    #: Seed of the demo scenario: the same seed gives the same models and history (numpy
    #: seeds are not negative).
    demo_seed: Annotated[int, Field(ge=0)] = 42
    #: Days of demo history seeded before "now".
    demo_days: Count = 14
    #: Requests per second the simulator sends to the inference service (per model).
    simulator_rps: Positive = 0.2

    # --- worker: bake watch ---------------------------------------------------------------
    #: Minutes after a promotion during which the worker watches the new version.
    bake_minutes: Positive = 60.0
    #: Seconds between two looks of the bake watch.
    bake_check_seconds: Positive = 30.0
    #: Labelled predictions of the new version before its accuracy is judged.
    bake_min_labels: Count = 100
    #: Roll back when the new version's accuracy falls more than this below the old one's.
    bake_accuracy_drop: Share = 0.05

    # --- alerts ---------------------------------------------------------------------------
    #: Alerts: a webhook every rule notifies (an admin may give a rule its own). Its host
    #: must be in ``alert_webhook_hosts``.
    alert_webhook_url: WebhookUrl = ""
    #: Alerts: the global webhook's body, ``json`` or ``alertmanager`` (a list of alerts as
    #: Alertmanager's ``POST /api/v2/alerts`` takes it).
    alert_webhook_format: Literal["json", "alertmanager"] = "json"
    #: Alerts: key of every webhook body's HMAC-SHA256 signature (``X-Opsdash-Signature``),
    #: at least 32 characters. No default (a secret); without it no webhook is called.
    alert_webhook_secret: Secret = ""
    #: Alerts: the hosts a webhook may point at, comma-separated (``hooks.example.com``,
    #: ``127.0.0.1:9093``). Empty: none, so no rule can reach an address nobody allowed.
    alert_webhook_hosts: str = ""
    #: Alerts: seconds one delivery attempt may take (redirects are never followed).
    alert_webhook_timeout_seconds: Annotated[float, Field(gt=0, le=30)] = 5.0
    #: Alerts: attempts to deliver one notification (after 10 s, 20 s, 40 s ... at most
    #: 5 min); then it is given up and recorded as failed.
    alert_webhook_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    #: Worker: port of its Prometheus ``/metrics`` on 127.0.0.1 (model quality, drift
    #: share, label backlog, firing alerts); 0 serves none.
    worker_metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0

    # --- KPIs -----------------------------------------------------------------------------
    #: KPIs: TOML file of the money of each confusion-matrix cell, a currency and the price
    #: of a CPU-hour and of a label, per model (see ``services/kpis/value_config.py``).
    #: Empty: no values configured.
    value_file: str = ""

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        """The hand-off needs its URL and a long secret; said before anything runs."""
        if self.retrain_backend == "webhook":
            if not self.retrain_webhook_url:
                raise ValueError("OPSDASH_RETRAIN_BACKEND=webhook needs "
                                 "OPSDASH_RETRAIN_WEBHOOK_URL")
            if len(self.retrain_webhook_secret) < MIN_WEBHOOK_SECRET:
                raise ValueError("OPSDASH_RETRAIN_BACKEND=webhook needs "
                                 "OPSDASH_RETRAIN_WEBHOOK_SECRET of at least "
                                 f"{MIN_WEBHOOK_SECRET} characters")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """The fields ``repr()`` shows: secrets left out, URLs without their user info."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in _URL_FIELDS and isinstance(value, str) \
                else value

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
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` as networks (a single address is a network of one)."""
        return tuple(ipaddress.ip_network(item) for item in self.trusted_proxies.split(",")
                     if item)

    @property
    def serving_url(self) -> str:
        """Base URL of the local inference service."""
        return f"http://{self.serving_host}:{self.serving_port}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the given values: no ``.env`` file, no secrets folder, and the environment
        only through :meth:`from_env`."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``OPSDASH_*`` variables, validating their types and ranges.

        Args:
            environ: the variables; the process environment when omitted.

        Raises:
            SettingsError: a variable holds a value of the wrong type or out of its range.
        """
        source = Variables(cls, os.environ if environ is None else environ)
        return cls._validated(source())

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied, validated like values from the environment.

        Raises:
            SettingsError: a changed value has the wrong type or is out of its range, or
                names no setting.
        """
        values = {name: getattr(self, name) for name in type(self).model_fields}
        return self._validated({**values, **changes})

    @classmethod
    def _validated(cls, values: Mapping[str, object]) -> Settings:
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            # Not chained: one line is the whole story, and the details add nothing to it.
            raise SettingsError("; ".join(describe_error(error, cls.model_fields)
                                          for error in exc.errors())) from None


def get_settings() -> Settings:
    """Settings from the current environment (a millisecond or two; call it where needed).

    Raises:
        SettingsError: a variable holds a value of the wrong type or out of its range.
    """
    return Settings.from_env()

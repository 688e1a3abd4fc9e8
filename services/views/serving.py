"""Figures of the Serving page: live and historical serving metrics of one model.

The page asks for a model, versions and a time range; this module checks the versions
against the registry, renders each panel's query from the active query preset, asks
Prometheus once per panel (every query groups by version, so the number of requests does
not grow with the number of versions), and returns what each chart should draw or why it
is empty. Deployment markers (promotions and rollbacks) come from the store.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from db.models import Model
from db.repositories import registry
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.prometheus.metric_names import SCRAPE_INTERVAL_S
from services.prometheus.promql import clamp_range
from services.prometheus.results import RangeSeries
from services.prometheus.source import MetricsSource, MetricsSourceError

__all__ = [
    "PANELS",
    "Marker",
    "ModelChoice",
    "Panel",
    "PanelSpec",
    "ServingView",
    "SloStatus",
    "UnknownVersionError",
    "deployment_markers",
    "model_choices",
    "rate_window",
    "serving_view",
    "slo_status",
]


class UnknownVersionError(ValueError):
    """A version asked for is not in the registry; ``str()`` says which."""


class PanelQueries(Protocol):
    """What the page needs of a query preset (see ``services.prometheus.presets.Preset``)."""

    @property
    def name(self) -> str:
        """The preset's name."""
        ...

    def render(
        self, panel: str, *, model: str | None, versions: Sequence[str] | None, window: str
    ) -> str | None:
        """The panel's PromQL, or ``None`` when the preset has no query for it."""
        ...


@dataclass(frozen=True)
class PanelSpec:
    """A chart of the page: its preset panel name, title, unit and the label per series."""

    name: str
    title: str
    unit: str
    series_label: str
    #: Why a chart of this panel can be empty although Prometheus answered.
    empty_hint: str


#: The charts of the page, in order.
PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("request_rate", "Request rate by version", "requests/s", "version",
              "no samples yet: Prometheus needs two scrapes for a rate"),
    PanelSpec("error_rate", "Errors by reason", "errors/s", "reason",
              "no errors in this window"),
    PanelSpec("latency_p50", "Latency p50 by version", "s", "version",
              "no requests in this window: a quantile needs observations"),
    PanelSpec("latency_p95", "Latency p95 by version", "s", "version",
              "no requests in this window: a quantile needs observations"),
    PanelSpec("latency_p99", "Latency p99 by version", "s", "version",
              "no requests in this window: a quantile needs observations"),
    PanelSpec("class_mix", "Predicted-class mix", "share of predictions", "predicted_class",
              "no predictions in this window"),
    PanelSpec("top_score", "Top-class probability", "probability", "quantile",
              "no predictions in this window"),
    PanelSpec("cpu", "CPU of the inference service", "CPU cores", "instance",
              "no samples of the inference service's process metrics"),
    PanelSpec("memory", "Resident memory of the inference service", "bytes", "instance",
              "no samples of the inference service's process metrics"),
)


@dataclass(frozen=True)
class ModelChoice:
    """A model as the page's filters offer it."""

    name: str
    versions: tuple[str, ...]
    production: str | None
    #: The model's class labels, in its own order.
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Marker:
    """A promotion or rollback, drawn on every time chart."""

    at: datetime
    kind: str
    to_version: str
    from_version: str | None
    actor: str
    reason: str

    @property
    def text(self) -> str:
        """``v2 promoted`` / ``rolled back to v1``."""
        if self.kind == "rollback":
            return f"rolled back to v{self.to_version}"
        return f"v{self.to_version} promoted"


@dataclass(frozen=True)
class Panel:
    """What one chart draws, or why it draws nothing."""

    spec: PanelSpec
    series: list[RangeSeries] = field(default_factory=list)
    #: Set when the query failed; the chart shows this instead.
    error: str | None = None
    #: Prometheus answered but warned (the data may be partial).
    warnings: tuple[str, ...] = ()
    #: The query sent, or ``None`` when the preset has none for this panel.
    query: str | None = None

    @property
    def empty_reason(self) -> str | None:
        """Why there is nothing to draw (``None`` when there is)."""
        if self.error:
            return self.error
        if self.query is None:
            return "the active query preset has no query for this panel"
        if not any(_finite(s.values) for s in self.series):
            return self.spec.empty_hint
        return None


@dataclass(frozen=True)
class SloStatus:
    """One objective over the window: the latest value, the target, time out of target."""

    name: str
    unit: str
    target: float
    current: float | None
    #: Share of the window's evaluated points above target (``None``: no points).
    share_out: float | None

    @property
    def met(self) -> bool | None:
        """Whether the latest value is within target (``None``: no data)."""
        return None if self.current is None else self.current <= self.target


@dataclass(frozen=True)
class ServingView:
    """Everything the page draws for one model and window."""

    model: str
    versions: tuple[str, ...]
    start: datetime
    end: datetime
    step_s: float
    window: str
    panels: dict[str, Panel]
    markers: list[Marker]
    #: Set when Prometheus could not be reached at all (the other panels were not asked).
    unavailable: str | None
    requests: int


def _finite(values: Sequence[float]) -> bool:
    return any(math.isfinite(v) for v in values)


def _choice(session: Session, model: Model) -> ModelChoice:
    versions = sorted((v.version for v in model.versions), reverse=True)
    prod = registry.production_version(session=session, model_id=model.id)
    return ModelChoice(name=model.name, versions=tuple(str(v) for v in versions),
                       production=None if prod is None else str(prod.version),
                       classes=tuple(model.class_labels))


def _markers(session: Session, model: Model, start: datetime, end: datetime) -> list[Marker]:
    numbers = {v.id: str(v.version) for v in model.versions}
    return [
        Marker(at=p.created_at, kind=p.kind, to_version=numbers[p.to_version_id],
               from_version=numbers.get(p.from_version_id) if p.from_version_id else None,
               actor=p.actor, reason=p.reason)
        for p in registry.promotions_since(session=session, model_id=model.id, since=start)
        if p.created_at <= end
    ]


def model_choices(*, engine: Engine) -> list[ModelChoice]:
    """Every registered model with its versions (newest first) and production version."""
    with session_scope(engine) as session:
        return [_choice(session, model) for model in registry.list_models(session=session)]


def deployment_markers(
    *, engine: Engine, model: str, start: datetime, end: datetime
) -> list[Marker]:
    """Promotions and rollbacks of ``model`` within ``[start, end]``, oldest first."""
    with session_scope(engine) as session:
        return _markers(session, registry.get_model(session=session, name=model), start, end)


def rate_window(step_s: float, scrape_interval_s: float = SCRAPE_INTERVAL_S) -> str:
    """The ``[window]`` of rates: a step's worth, never under four scrapes, in seconds."""
    return f"{math.ceil(max(step_s, 4 * scrape_interval_s))}s"


def serving_view(
    *,
    source: MetricsSource,
    preset: PanelQueries,
    engine: Engine,
    model: str,
    versions: Sequence[str] | None,
    start: datetime,
    end: datetime,
    step_s: float | None = None,
) -> ServingView:
    """Ask Prometheus for every panel of ``model`` over ``[start, end]``.

    Args:
        source: the metrics server.
        preset: the active query preset.
        engine: the store (versions are checked against the registry; markers).
        model: a registered model's name.
        versions: versions to show (``None``: all).
        start: window start (timezone-aware).
        end: window end (timezone-aware).
        step_s: seconds between points (``None``: about 300 points; clamped so no series
            exceeds Prometheus's 11,000 points).

    Raises:
        UnknownVersionError: a version is not registered for ``model``.
        LookupError: the model is not registered.
    """
    start, end, step = clamp_range(start, end, step_s)
    choice, markers = _model_and_markers(engine, model, start, end)
    _check_versions(model, choice, versions)
    window = rate_window(step)
    panels, unavailable, asked = _ask_panels(
        source, preset, model=model, versions=versions, start=start, end=end, step=step,
        window=window)
    return ServingView(
        model=model,
        versions=tuple(versions) if versions is not None else choice.versions,
        start=start,
        end=end,
        step_s=step,
        window=window,
        panels=panels,
        markers=markers,
        unavailable=unavailable,
        requests=asked,
    )


def _model_and_markers(engine: Engine, model: str, start: datetime, end: datetime
                       ) -> tuple[ModelChoice, list[Marker]]:
    """One read of the store: the model, its versions and the markers of the window."""
    with session_scope(engine) as session:
        try:
            found = registry.get_model(session=session, name=model)
        except RegistryError:
            raise LookupError(f"no model named {model!r} is registered") from None
        return _choice(session, found), _markers(session, found, start, end)


def _check_versions(model: str, choice: ModelChoice, versions: Sequence[str] | None) -> None:
    """Refuse versions the registry does not know, naming them and the registered ones."""
    if versions is None:
        return
    unknown = sorted(set(versions) - set(choice.versions))
    if unknown:
        raise UnknownVersionError(
            f"{model} has no version {', '.join(unknown)}; registered: "
            f"{', '.join(choice.versions) or 'none'}")


def _ask_panels(
    source: MetricsSource,
    preset: PanelQueries,
    *,
    model: str,
    versions: Sequence[str] | None,
    start: datetime,
    end: datetime,
    step: float,
    window: str,
) -> tuple[dict[str, Panel], str | None, int]:
    """Every panel, asked in order: ``(panels, why Prometheus is unavailable, requests)``.

    Once Prometheus is found unavailable the later panels are not asked: one timeout,
    not one a panel.
    """
    panels: dict[str, Panel] = {}
    unavailable: str | None = None
    asked = 0
    for spec in PANELS:
        query = preset.render(spec.name, model=model, versions=_shown_versions(spec, versions),
                              window=window)
        if query is None:
            panels[spec.name] = Panel(spec=spec)
            continue
        if unavailable is not None:
            panels[spec.name] = Panel(spec=spec, error=unavailable, query=query)
            continue
        asked += 1
        try:
            result = source.range(query, start=start, end=end, step_s=step)
        except MetricsSourceError as exc:
            if exc.kind in ("refused", "timeout", "http", "not_json"):
                unavailable = str(exc)
            panels[spec.name] = Panel(spec=spec, error=str(exc), query=query)
            continue
        panels[spec.name] = Panel(spec=spec, series=result.series, warnings=result.warnings,
                                  query=query)
    return panels, unavailable, asked


def _shown_versions(spec: PanelSpec, versions: Sequence[str] | None) -> Sequence[str] | None:
    """The versions a panel's query selects."""
    if spec.name == "error_rate" and versions is not None:
        # Requests that failed before any version answered (no production version
        # loaded, ...) carry an empty version; they belong to every selection.
        return [*versions, ""]
    return versions


def _combined(series: Sequence[RangeSeries], how: str) -> dict[float, float]:
    """Per timestamp, the sum (``how="sum"``) or maximum of finite values across series."""
    out: dict[float, float] = {}
    for s in series:
        for t, v in zip(s.times, s.values, strict=True):
            if not math.isfinite(v):
                continue
            out[t] = out.get(t, 0.0) + v if how == "sum" else max(out.get(t, v), v)
    return out


def _slo(name: str, unit: str, target: float, points: Mapping[float, float]) -> SloStatus:
    if not points:
        return SloStatus(name=name, unit=unit, target=target, current=None, share_out=None)
    latest = points[max(points)]
    out = sum(1 for v in points.values() if v > target)
    return SloStatus(name=name, unit=unit, target=target, current=latest,
                     share_out=out / len(points))


def slo_status(
    view: ServingView, *, latency_p95_target_s: float, error_ratio_target: float
) -> list[SloStatus]:
    """p95 latency (worst version) and the error ratio against their targets.

    The error ratio at a point is errors / (errors + predictions) across versions; points
    without traffic are not evaluated.
    """
    p95 = view.panels.get("latency_p95")
    latency = _combined(p95.series if p95 and not p95.error else [], "max")
    requests = view.panels.get("request_rate")
    errors = view.panels.get("error_rate")
    ok = _combined(requests.series if requests and not requests.error else [], "sum")
    bad = _combined(errors.series if errors and not errors.error else [], "sum")
    ratio = {}
    for t in set(ok) | set(bad):
        total = ok.get(t, 0.0) + bad.get(t, 0.0)
        if total > 0:
            ratio[t] = bad.get(t, 0.0) / total
    return [
        _slo("p95 latency", "s", latency_p95_target_s, latency),
        _slo("error rate", "share of requests", error_ratio_target, ratio),
    ]

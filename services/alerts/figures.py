"""The figures the worker exports to Prometheus, computed by a worker task, not per scrape.

What a scrape of the worker's ``/metrics`` serves (:mod:`services.worker.metrics_server`)
is the last :class:`Figures` that :class:`FiguresTask` computed:

* model quality, per model, **window** and **version**, computed exactly as a quality
  rule computes it (:func:`services.quality.report.quality_report` and
  :func:`services.alerts.observe.metric_observation`, the same bootstrap for macro F1):
  the labelled predictions made in ``[now - window, now)``. ``version`` is
  ``production`` (the predictions of the version that is production now: a rule of scope
  ``production``), ``all`` (every version's: scope ``all``) or a version number (each
  version with labelled predictions in the window, for dashboards). The windows are 24 h
  plus the window of every enabled quality rule of the model, so every stored quality
  rule finds its own figures;
* the label backlog of each model (predictions awaiting a label, as the backlog rule
  counts them);
* the drift share of each model over the last day, and over the ``window_days`` of each
  enabled drift-share rule of the model (label ``window``: ``1d``, ``7d``), with the
  predictions it rests on, computed as a drift-share rule observes it
  (:func:`services.alerts.observe.observe`: the Drift page's analysis against the
  production version's training sample), on as few rows as a rule may ask for, so that
  an exported rule applies its own ``min_rows``;
* each enabled rule's state as the evaluator left it: 1 firing, 0 otherwise.

Quality is recomputed when labels of the model were set or changed since its last
computation, when the set of windows changed, or at least every
:data:`QUALITY_REFRESH_S` seconds (the windows slide); the drift share at most every
:data:`DRIFT_REFRESH_S` seconds (as drift rules are evaluated); the rest every run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from db.base import utcnow
from db.repositories import labeling, registry
from db.repositories.registry import RegistryError
from db.session import session_scope
from services.alerts.observe import F1_BOOTSTRAP, metric_observation, observe, production_version
from services.alerts.rules import DriftShareRule, QualityRule
from services.alerts.sources import Sources
from services.alerts.store import StoredRule, list_rules
from services.quality.metrics import QualityError, QualityReport
from services.quality.report import quality_report

__all__ = [
    "DEFAULT_WINDOW_S",
    "DRIFT_REFRESH_S",
    "MAX_QUALITY_FIGURES",
    "PROBE_MIN_ROWS",
    "QUALITY_REFRESH_S",
    "DriftFigure",
    "Figures",
    "FiguresTask",
    "QualityFigure",
    "RuleFiring",
    "drift_shares",
    "quality_figures",
    "scope_label",
    "window_label",
]

logger = logging.getLogger(__name__)

#: The window every model's quality is exported over, rules or not.
DEFAULT_WINDOW_S = 86_400
#: Quality figures older than this are recomputed even without new labels.
QUALITY_REFRESH_S = 900
#: Seconds between two computations of a model's drift share.
DRIFT_REFRESH_S = 900
#: The fewest predictions a drift-share rule may ask for (``min_rows``).
PROBE_MIN_ROWS = 30
#: Quality figures published at most (each is four series), so a scrape stays small.
MAX_QUALITY_FIGURES = 5_000
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def window_label(seconds: int) -> str:
    """A window as a Prometheus duration in its largest whole unit: ``86400`` → ``1d``,
    ``5400`` → ``90m``; the ``window`` label of the quality series and a rule's ``for``."""
    if seconds <= 0:
        return "0s"
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")


def scope_label(rule: QualityRule) -> str:
    """The ``version`` label of the series a quality rule judges: ``production`` or ``all``."""
    return "production" if rule.scope == "production" else "all"


@dataclass(frozen=True)
class QualityFigure:
    """One metric of one model over one window, for one version (or ``production`` / ``all``)."""

    model: str
    version: str
    metric: str
    window: str
    estimate: float
    lower: float
    upper: float
    labels: int


@dataclass(frozen=True)
class DriftFigure:
    """The drift share of one model over its last ``window`` (``1d``) and the predictions
    in that window."""

    model: str
    window: str
    share: float
    rows: int


@dataclass(frozen=True)
class RuleFiring:
    """An enabled rule and whether it fires now."""

    rule: str
    severity: str
    firing: bool


@dataclass(frozen=True)
class Figures:
    """Everything a scrape serves; ``computed_at`` None before the first computation."""

    computed_at: datetime | None = None
    quality: tuple[QualityFigure, ...] = ()
    label_backlog: tuple[tuple[str, int], ...] = ()
    drift_share: tuple[DriftFigure, ...] = ()
    firing: tuple[RuleFiring, ...] = ()


def _metrics(report: QualityReport) -> list[str]:
    return ["accuracy", "macro_f1", *(f"recall:{c.label}" for c in report.per_class)]


def _report_figures(report: QualityReport, *, model: str, version: str,
                    window: str) -> list[QualityFigure]:
    found = []
    for metric in _metrics(report):
        obs = metric_observation(report, metric)
        if obs.value is None or obs.interval is None or not obs.sample_size:
            continue
        if not all(math.isfinite(v) for v in (obs.value, *obs.interval)):
            continue
        found.append(QualityFigure(model, version, metric, window, obs.value,
                                   obs.interval[0], obs.interval[1], obs.sample_size))
    return found


def quality_figures(*, engine: Engine, model: str, windows: Iterable[int],
                    at: datetime) -> list[QualityFigure]:
    """Every quality figure of ``model`` at ``at``: per window, for the production
    version, all versions, and each version with labelled predictions in the window.

    Raises:
        RegistryError: no such model.
    """
    with session_scope(engine) as session:
        versions = [v.version for v in registry.get_model(session=session, name=model).versions]
    production = production_version(engine, model, at)
    found: list[QualityFigure] = []
    for seconds in sorted(set(windows)):
        window, since = window_label(seconds), at - timedelta(seconds=seconds)

        def report(version: int | None, since: datetime = since) -> QualityReport:
            return quality_report(engine=engine, model=model, version=version, since=since,
                                  until=at, bootstrap=F1_BOOTSTRAP)

        pooled = report(None)
        if not pooled.n_labelled:
            continue
        found += _report_figures(pooled, model=model, version="all", window=window)
        for number in versions:
            own = report(number)
            if own.n_labelled:
                found += _report_figures(own, model=model, version=str(number), window=window)
                if number == production:
                    found += _report_figures(own, model=model, version="production",
                                             window=window)
    return found


def drift_shares(*, engine: Engine, model: str, days: Iterable[int], at: datetime,
                 sources: Sources) -> list[DriftFigure]:
    """The drift share over the last ``d`` local days for each ``d`` of ``days``, as a
    drift-share rule with that window observes it on the fewest rows a rule may ask for
    (:data:`PROBE_MIN_ROWS`); a window the analysis cannot judge is left out."""
    found = []
    for d in sorted(set(days)):
        probe = DriftShareRule(name="exported drift share", model=model, level=1.0,
                               resolve_level=1.0, window_days=d, min_rows=PROBE_MIN_ROWS)
        obs = observe(engine=engine, rule=probe, at=at, sources=sources)
        if obs.unavailable is None and obs.value is not None and math.isfinite(obs.value):
            found.append(DriftFigure(model, f"{d}d", obs.value, obs.sample_size or 0))
    return found


def _windows(rules: Sequence[StoredRule], model: str) -> frozenset[int]:
    own = {s.rule.window_seconds for s in rules
           if s.enabled and isinstance(s.rule, QualityRule) and s.rule.model == model}
    return frozenset({DEFAULT_WINDOW_S, *own})


def _drift_days(rules: Sequence[StoredRule], model: str) -> frozenset[int]:
    own = {s.rule.window_days for s in rules
           if s.enabled and isinstance(s.rule, DriftShareRule) and s.rule.model == model}
    return frozenset({1, *own})


@dataclass
class _Computed:
    started: datetime
    windows: frozenset[int]
    figures: list[QualityFigure] = field(default_factory=list)


class FiguresTask:
    """The worker task that recomputes the exported figures; :meth:`latest` is what a
    scrape serves (an immutable :class:`Figures`, replaced whole at the end of each run,
    so a scrape never sees half of one).

    Keeps only a cache of figures in memory: a restarted worker computes them again on
    its first run. A model whose figures fail (it was deleted meanwhile, the store
    hiccups) keeps its previous ones, logged; the other models are not held up.
    ``sources`` (Prometheus, the drift configuration and cache) is needed for the drift
    share; without it none is exported.
    """

    def __init__(self, *, engine: Engine, sources: Sources | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._sources = sources
        self._clock = clock
        self._quality: dict[str, _Computed] = {}
        self._drift: dict[str, tuple[datetime, frozenset[int], list[DriftFigure]]] = {}
        self._latest = Figures()

    def latest(self) -> Figures:
        """The figures of the last run (empty before the first)."""
        return self._latest

    def step(self) -> None:
        """Recompute what is due and publish the result."""
        now = self._clock()
        rules = list_rules(engine=self._engine, now=now)
        with session_scope(self._engine) as session:
            models = [(m.name, m.id) for m in registry.list_models(session=session)]
            backlog = tuple(
                (name, labeling.count_awaiting(
                    session=session, scope=labeling.QueueScope(model_id=model_id, until=now)))
                for name, model_id in models)
        quality: list[QualityFigure] = []
        drift: list[DriftFigure] = []
        for name, model_id in models:
            try:
                quality += self._model_quality(name, model_id, _windows(rules, name), now)
                drift += self._model_drift(name, _drift_days(rules, name), now)
            except (RegistryError, QualityError, SQLAlchemyError) as exc:
                logger.warning("figures of model %r not updated: %s", name, exc)
                quality += self._quality[name].figures if name in self._quality else []
                drift += self._drift[name][2] if name in self._drift else []
        if len(quality) > MAX_QUALITY_FIGURES:
            logger.warning("%d quality figures; publishing the first %d (fewer rule windows "
                           "or versions keep the scrape small)", len(quality),
                           MAX_QUALITY_FIGURES)
            quality = quality[:MAX_QUALITY_FIGURES]
        names = {name for name, _ in models}
        self._quality = {k: v for k, v in self._quality.items() if k in names}
        self._drift = {k: v for k, v in self._drift.items() if k in names}
        firing = tuple(RuleFiring(s.rule.name, s.rule.severity, s.state.status == "firing")
                       for s in rules if s.enabled)
        self._latest = Figures(computed_at=now, quality=tuple(quality), label_backlog=backlog,
                               drift_share=tuple(drift), firing=firing)

    def _model_drift(self, model: str, days: frozenset[int], now: datetime
                     ) -> list[DriftFigure]:
        if self._sources is None:
            return []
        last = self._drift.get(model)
        if last is not None and last[1] == days and (
                now - last[0] < timedelta(seconds=DRIFT_REFRESH_S)):
            return last[2]
        found = drift_shares(engine=self._engine, model=model, days=days, at=now,
                             sources=self._sources)
        self._drift[model] = (now, days, found)
        return found

    def _model_quality(self, model: str, model_id: int, windows: frozenset[int],
                       now: datetime) -> list[QualityFigure]:
        last = self._quality.get(model)
        if last is not None and last.windows == windows and not self._stale(last, model_id, now):
            return last.figures
        computed = _Computed(started=now, windows=windows)
        computed.figures = quality_figures(engine=self._engine, model=model, windows=windows,
                                           at=now)
        self._quality[model] = computed
        return computed.figures

    def _stale(self, last: _Computed, model_id: int, now: datetime) -> bool:
        if now - last.started >= timedelta(seconds=QUALITY_REFRESH_S):
            return True
        with session_scope(self._engine) as session:
            changed, _ = labeling.labelled_since(session=session, model_id=model_id,
                                                 since=last.started)
        return changed > 0

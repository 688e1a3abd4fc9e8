"""The demo's default alert rules, and installing them once.

Each model gets a rule of every kind; the demo's churn and ticket-routing models get
figures tuned on the demo's history (seeded at three dates and times of day), replayed as
the live evaluation would have seen it, labels arriving late included (half of the demo's
labels arrive more than 27 hours after their prediction):

- churn drift share: the day so far against the production version's training sample, at
  the Drift page's drift share (0.5), on at least 200 predictions, resolved below 60 % of
  it. It fires on the episode's first whole day and never before the episode.
- churn accuracy: a floor of 0.78 over 24 hours (at least 500 labels, one hour pending)
  fires about 2.8 days into the episode, once enough of the drifted days' labels are in,
  and never before it; it resolves at 0.80, after v2 is promoted and a day of its answers
  is labelled (v2 is right about 81 % of the time in the drifted world, v1 about 65 %).
  No floor fires on the episode's first day: the labels of a day's predictions are not in
  yet (a floor of 0.84 fires a day earlier, but then v2 could never resolve it: the
  drifted world is harder for every model). The drift share rule is the first day's alert.

:func:`install_defaults` saves them through :func:`services.alerts.store.save_rule`
(audited as the given actor), skipping any rule whose name exists already, so it is safe
to run on every start.
"""

from __future__ import annotations

from sqlalchemy import Engine

from services.access.principal import Principal
from services.alerts import store
from services.alerts.rules import (
    BakeRollbackRule,
    DriftShareRule,
    LabelBacklogRule,
    PredictionDriftRule,
    QualityRule,
    RetrainFailedRule,
    Rule,
    ServingRule,
    TrafficStoppedRule,
)
from services.settings import Settings, get_settings

__all__ = ["default_rules", "install_defaults"]

_HOUR = 3600


def _quality(model: str) -> list[Rule]:
    """The quality rules: for churn, a floor tuned on the demo (see above)."""
    if model == "churn":
        return [
            QualityRule(name="churn accuracy", model=model, metric="accuracy", floor=0.78,
                        resolve_at=0.80, window_seconds=24 * _HOUR, min_labels=500,
                        for_seconds=_HOUR, severity="critical", action="retrain:same"),
        ]
    if model == "ticket-routing":
        return [QualityRule(name=f"{model} accuracy", model=model, metric="accuracy",
                            floor=0.70, resolve_at=0.72, window_seconds=24 * _HOUR,
                            min_labels=500, for_seconds=2 * _HOUR, severity="critical",
                            action="retrain:same")]
    return [QualityRule(name=f"{model} accuracy", model=model, metric="accuracy",
                        floor=0.75, resolve_at=0.80, window_seconds=24 * _HOUR,
                        min_labels=200, for_seconds=_HOUR, severity="critical",
                        action="retrain:same")]


def default_rules(*, model: str, settings: Settings) -> list[Rule]:
    """The default rules of ``model`` (serving thresholds from the SLO settings)."""
    backlog = 50_000 if model == "churn" else 40_000
    return [
        *_quality(model),
        DriftShareRule(name=f"{model} drift share", model=model,
                       level=settings.drift_share, resolve_level=0.6 * settings.drift_share,
                       window_days=1, severity="warning", action="/drift",
                       for_seconds=0 if model == "churn" else 6 * _HOUR),
        PredictionDriftRule(name=f"{model} prediction drift", model=model, level=2.0,
                            resolve_level=1.0, window_days=1, severity="info",
                            action="/drift"),
        ServingRule.from_slo(slo_latency_p95_seconds=settings.slo_latency_p95_seconds,
                             slo_error_rate=settings.slo_error_rate,
                             name=f"{model} p95 latency", model=model, metric="p95_latency",
                             window="5m", for_seconds=300, severity="warning",
                             action="/serving"),
        ServingRule.from_slo(slo_latency_p95_seconds=settings.slo_latency_p95_seconds,
                             slo_error_rate=settings.slo_error_rate,
                             name=f"{model} error rate", model=model, metric="error_rate",
                             window="1h", min_requests=300, for_seconds=600,
                             severity="critical",
                             action="/serving"),
        TrafficStoppedRule(name=f"{model} traffic stopped", model=model,
                           silence_seconds=1800, severity="critical", action="/serving"),
        LabelBacklogRule(name=f"{model} label backlog", model=model, size=backlog,
                         resolve_size=backlog * 4 // 5, severity="info",
                         action="/labeling"),
        RetrainFailedRule(name=f"{model} retrain failed", model=model, severity="warning",
                          action="/models"),
        BakeRollbackRule(name=f"{model} bake rollback", model=model, severity="warning",
                         action="/models"),
    ]


def install_defaults(*, engine: Engine, actor: Principal | None, models: list[str],
                     settings: Settings | None = None) -> list[str]:
    """Save the default rules of ``models`` whose names are free; the names saved.

    Raises:
        PermissionDenied: the actor may not edit rules.
        AlertStoreError: a model is not registered.
    """
    settings = settings or get_settings()
    taken = {stored.rule.name for stored in store.list_rules(engine=engine)}
    saved = []
    for model in models:
        for rule in default_rules(model=model, settings=settings):
            if rule.name in taken:
                continue
            store.save_rule(engine=engine, actor=actor, rule=rule)
            taken.add(rule.name)
            saved.append(rule.name)
    return saved

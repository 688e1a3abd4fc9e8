"""Roles and what each may do (actions that change state) or see (pages, read-only).

The matrix below is the single place that grants permissions; services check it through
:func:`services.access.principal.require`, and the dashboard uses :func:`allowed_views` only to
decide what to show.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Action", "Role", "View", "allowed_actions", "allowed_views", "can"]


class Role(StrEnum):
    """The role of a user; every user has exactly one."""

    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"
    LABELER = "labeler"


class Action(StrEnum):
    """Every state-changing action that exists or is planned."""

    MANAGE_USERS = "manage_users"
    CHANGE_SETTINGS = "change_settings"
    LABEL = "label"
    IMPORT_LABELS = "import_labels"
    IMPORT_PREDICTIONS = "import_predictions"
    REGISTER_MODELS = "register_models"
    RETRAIN = "retrain"
    PROMOTE = "promote"
    ROLLBACK = "rollback"
    EDIT_ALERT_RULES = "edit_alert_rules"
    #: Silence a rule or model, acknowledge a firing alert.
    HANDLE_ALERTS = "handle_alerts"
    #: Point a rule at a webhook (admins only: a target is a way out of the network).
    MANAGE_ALERT_WEBHOOKS = "manage_alert_webhooks"


class View(StrEnum):
    """Read permissions: one per page of the dashboard."""

    OVERVIEW = "overview"
    SERVING = "serving"
    QUALITY = "quality"
    DRIFT = "drift"
    LABELING = "labeling"
    LIFECYCLE = "lifecycle"
    AUDIT = "audit"
    USERS = "users"
    ALERTS = "alerts"


_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.OPERATOR: frozenset(
        {Action.IMPORT_PREDICTIONS, Action.REGISTER_MODELS, Action.RETRAIN, Action.PROMOTE,
         Action.ROLLBACK, Action.EDIT_ALERT_RULES, Action.HANDLE_ALERTS}
    ),
    Role.ANALYST: frozenset(),
    Role.LABELER: frozenset({Action.LABEL, Action.IMPORT_LABELS}),
}

_VIEWS: dict[Role, frozenset[View]] = {
    Role.ADMIN: frozenset(View),
    # Operators read the audit log (who promoted what) but do not manage users.
    Role.OPERATOR: frozenset(View) - {View.USERS},
    # Analysts read the Models and Alerts pages (versions, evidence, the ledger, rules and
    # events); they never act.
    Role.ANALYST: frozenset(
        {View.OVERVIEW, View.SERVING, View.QUALITY, View.DRIFT, View.LIFECYCLE, View.ALERTS}
    ),
    Role.LABELER: frozenset({View.LABELING, View.QUALITY}),
}


def allowed_actions(role: Role) -> frozenset[Action]:
    """The state-changing actions ``role`` may take."""
    return _ACTIONS[Role(role)]


def allowed_views(role: Role) -> frozenset[View]:
    """The pages ``role`` may open."""
    return _VIEWS[Role(role)]


def can(role: Role, action_or_view: Action | View) -> bool:
    """Whether ``role`` may take the action or open the page."""
    if isinstance(action_or_view, Action):
        return action_or_view in allowed_actions(role)
    if isinstance(action_or_view, View):
        return action_or_view in allowed_views(role)
    raise TypeError(f"expected an Action or a View, got {action_or_view!r}")

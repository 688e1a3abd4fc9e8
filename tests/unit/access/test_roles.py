"""The role matrix and the permission check, written out in full so a change is deliberate."""

from __future__ import annotations

import pytest

from services.access import (
    CLI,
    SYSTEM,
    Action,
    PermissionDenied,
    Principal,
    Role,
    View,
    allowed_actions,
    allowed_views,
    can,
    require,
)

EXPECTED_ACTIONS = {
    Role.ADMIN: set(Action),
    Role.OPERATOR: {Action.IMPORT_PREDICTIONS, Action.REGISTER_MODELS, Action.RETRAIN,
                    Action.PROMOTE, Action.ROLLBACK, Action.EDIT_ALERT_RULES,
                    Action.HANDLE_ALERTS},
    Role.ANALYST: set(),
    Role.LABELER: {Action.LABEL, Action.IMPORT_LABELS},
}
EXPECTED_VIEWS = {
    Role.ADMIN: set(View),
    Role.OPERATOR: set(View) - {View.USERS},
    Role.ANALYST: {View.OVERVIEW, View.SERVING, View.QUALITY, View.DRIFT, View.LIFECYCLE,
                   View.ALERTS},
    Role.LABELER: {View.LABELING, View.QUALITY},
}


def test_the_enums_hold_the_agreed_values() -> None:
    assert [r.value for r in Role] == ["admin", "operator", "analyst", "labeler"]
    assert {a.value for a in Action} == {
        "manage_users", "change_settings", "label", "import_labels", "import_predictions",
        "register_models", "retrain", "promote", "rollback", "edit_alert_rules",
        "handle_alerts", "manage_alert_webhooks",
    }
    assert {v.value for v in View} == {
        "overview", "serving", "quality", "drift", "labeling", "lifecycle", "audit", "users",
        "alerts",
    }


@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_actions_and_views(role: Role) -> None:
    assert allowed_actions(role) == EXPECTED_ACTIONS[role]
    assert allowed_views(role) == EXPECTED_VIEWS[role]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", [*Action, *View])
def test_can_agrees_with_the_matrix(role: Role, permission: Action | View) -> None:
    expected = permission in EXPECTED_ACTIONS[role] | EXPECTED_VIEWS[role]
    assert can(role, permission) is expected


def test_roles_read_from_the_store_as_strings_work_too() -> None:
    assert can("operator", Action.PROMOTE)  # type: ignore[arg-type]
    assert Principal(username="ann", role="labeler").role is Role.LABELER  # type: ignore[arg-type]


def test_a_principal_with_an_unknown_role_cannot_exist() -> None:
    with pytest.raises(ValueError, match="root"):
        Principal(username="ann", role="root")  # type: ignore[arg-type]


def test_require_returns_the_allowed_principal() -> None:
    ann = Principal(username="ann", role=Role.OPERATOR)
    assert require(ann, Action.PROMOTE) is ann
    assert require(ann, View.AUDIT) is ann


def test_require_names_user_role_and_action_when_refusing() -> None:
    bob = Principal(username="bob", role=Role.ANALYST)
    with pytest.raises(PermissionDenied, match=r"^bob \(analyst\) may not retrain$"):
        require(bob, Action.RETRAIN)
    with pytest.raises(PermissionDenied, match=r"^bob \(analyst\) may not edit alert rules$"):
        require(bob, Action.EDIT_ALERT_RULES)
    with pytest.raises(PermissionDenied, match=r"^bob \(analyst\) may not view the audit log$"):
        require(bob, View.AUDIT)


def test_require_asks_anonymous_callers_to_sign_in() -> None:
    with pytest.raises(PermissionDenied, match=r"^sign in first"):
        require(None, View.OVERVIEW)


def test_local_processes_act_as_admins_under_their_own_names() -> None:
    assert (SYSTEM.username, SYSTEM.role) == ("system", Role.ADMIN)
    assert (CLI.username, CLI.role) == ("cli", Role.ADMIN)

"""Single sign-on from ID-token claims, and the codes SignInError carries to the URL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from db.models import AuditLog
from db.session import session_scope
from services.access import SYSTEM, Principal, Role
from services.auth.signin import SignInError, authenticate, sign_in_with_claims
from services.auth.users import create_user, disable_user
from services.settings import Settings

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PASSWORD = "amber-kettle-41"


@pytest.fixture
def ann(engine: Engine) -> Principal:
    return create_user(engine=engine, actor=SYSTEM, username="ann", role=Role.LABELER,
                       password=PASSWORD, email="ann@example.org")


def _claims(email: object = "ann@example.org", **more: Any) -> dict[str, Any]:
    return {"sub": "idp-123", "email": email, "email_verified": True, **more}


def _audit(engine: Engine) -> list[tuple[str, str, dict[str, Any]]]:
    with session_scope(engine) as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action.like("sign_%"))
                               .order_by(AuditLog.id))
        return [(r.actor, r.action, dict(r.details)) for r in rows]


def _refused(engine: Engine, claims: dict[str, Any], role_claim: str = "") -> SignInError:
    with pytest.raises(SignInError) as refused:
        sign_in_with_claims(engine=engine, claims=claims, role_claim=role_claim, now=T0)
    return refused.value


@pytest.mark.parametrize("role_claim", ["", "groups"])
@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "idp-123"},
        {"sub": "idp-123", "email": ""},
        {"sub": "idp-123", "email": "   "},
        {"sub": "idp-123", "email": ["ann@example.org"]},
    ],
)
def test_no_email_address_is_refused_before_the_store_is_asked(
    engine: Engine, ann: Principal, claims: dict[str, Any], role_claim: str
) -> None:
    error = _refused(engine, {**claims, "email_verified": True, "groups": ["admin"]},
                     role_claim)
    assert error.code == "unknown_email"
    assert _audit(engine) == []


#: Every ``email_verified`` that is not a plain yes: only ``True`` and ``"true"`` verify.
UNVERIFIED = [False, "false", " False ", "0", "no", "unverified", "", 0, 1, "1", "yes",
              None, ["true"], {"value": True}]


@pytest.mark.parametrize("role_claim", ["", "groups"])
@pytest.mark.parametrize("verified", [*UNVERIFIED, "absent"])
def test_an_address_the_provider_has_not_verified_is_refused_and_audited(
    engine: Engine, ann: Principal, verified: object, role_claim: str
) -> None:
    # ann is a labeler; the claim says admin. Neither may sign in on an unverified address.
    claims: dict[str, Any] = {"sub": "idp-123", "email": "Ann@Example.org",
                              "groups": ["admin"]}
    if verified != "absent":
        claims["email_verified"] = verified
    error = _refused(engine, claims, role_claim)
    assert error.code == "unverified_email"
    assert "ann@example.org" in str(error)
    assert "not verified" in str(error)
    assert _audit(engine) == [("ann@example.org", "sign_in_failed",
                               {"method": "oidc", "email": "ann@example.org",
                                "reason": "unverified_email"})]


@pytest.mark.parametrize("verified", [True, "true", "TRUE", " True "])
def test_a_verified_address_signs_in(engine: Engine, ann: Principal, verified: object) -> None:
    claims = {"sub": "idp-123", "email": "ann@example.org", "email_verified": verified}
    assert sign_in_with_claims(engine=engine, claims=claims, now=T0).username == "ann"


@pytest.mark.parametrize("role_claim", ["", "groups"])
def test_a_trusted_provider_may_leave_the_claim_out_but_not_say_false(
    engine: Engine, ann: Principal, role_claim: str
) -> None:
    claims = {"sub": "idp-123", "email": "ann@example.org", "groups": "labeler"}
    principal = sign_in_with_claims(engine=engine, claims=claims, role_claim=role_claim,
                                    trust_email=True, now=T0)
    assert principal == Principal(username="ann", role=Role.LABELER)
    for verified in UNVERIFIED:
        if verified is None:
            continue  # a null claim is as good as none
        with pytest.raises(SignInError) as refused:
            sign_in_with_claims(engine=engine, claims={**claims, "email_verified": verified},
                                role_claim=role_claim, trust_email=True, now=T0)
        assert refused.value.code == "unverified_email"


def test_without_a_role_claim_the_local_users_role_applies(
    engine: Engine, ann: Principal
) -> None:
    principal = sign_in_with_claims(engine=engine, claims=_claims("  Ann@Example.ORG "), now=T0)
    assert principal == Principal(username="ann", role=Role.LABELER)
    assert _audit(engine) == [
        ("ann", "sign_in", {"method": "oidc", "email": "ann@example.org"})]


def test_without_a_role_claim_an_unknown_email_is_refused_and_audited(
    engine: Engine, ann: Principal
) -> None:
    error = _refused(engine, _claims("bob@example.org", groups=["admin"]))
    assert error.code == "unknown_email"
    assert "bob@example.org" in str(error)
    assert _audit(engine) == [("bob@example.org", "sign_in_failed",
                               {"method": "oidc", "email": "bob@example.org",
                                "reason": "unknown_user"})]


@pytest.mark.parametrize(
    ("value", "role"),
    [
        ("Operator", Role.OPERATOR),
        (" analyst ", Role.ANALYST),
        (["x", "analyst"], Role.ANALYST),
        (["staff", 7, None, "ADMIN", "labeler"], Role.ADMIN),
        (("labeler",), Role.LABELER),
    ],
)
def test_the_role_claim_names_the_role_even_over_the_local_one(
    engine: Engine, ann: Principal, value: object, role: Role
) -> None:
    principal = sign_in_with_claims(engine=engine, claims=_claims(groups=value),
                                    role_claim="groups", now=T0)
    assert principal == Principal(username="ann", role=role)
    assert _audit(engine) == [("ann", "sign_in", {
        "method": "oidc", "email": "ann@example.org", "role_claim": "groups",
        "role": role.value})]


def test_with_a_role_claim_an_unknown_email_signs_in_under_the_address(
    engine: Engine, ann: Principal
) -> None:
    principal = sign_in_with_claims(engine=engine, claims=_claims("Bob@Example.org",
                                    groups="operator"), role_claim="groups", now=T0)
    assert principal == Principal(username="bob@example.org", role=Role.OPERATOR)
    assert [(a, act) for a, act, _ in _audit(engine)] == [("bob@example.org", "sign_in")]


@pytest.mark.parametrize("value", [None, "", "superuser", ["x", "y"], [], 3, {"role": "admin"}])
def test_no_role_in_the_claim_is_refused_and_the_refusal_stays_in_the_audit_log(
    engine: Engine, ann: Principal, value: object
) -> None:
    claims = _claims() if value is None else _claims(groups=value)
    error = _refused(engine, claims, "groups")
    assert error.code == "no_role"
    # Read through a new session: the failure was committed before the exception.
    assert _audit(engine) == [("ann", "sign_in_failed", {
        "method": "oidc", "email": "ann@example.org", "role_claim": "groups",
        "reason": "no_role"})]


@pytest.mark.parametrize("role_claim", ["", "groups"])
def test_a_disabled_local_user_is_refused_with_or_without_a_role_claim(
    engine: Engine, ann: Principal, role_claim: str
) -> None:
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    error = _refused(engine, _claims(groups=["admin"]), role_claim)
    assert error.code == "disabled"
    rows = _audit(engine)
    assert [(a, act, d["reason"], d["method"]) for a, act, d in rows] == [
        ("ann", "sign_in_failed", "disabled", "oidc")]


def test_every_claims_sign_in_is_audited_as_oidc(engine: Engine, ann: Principal) -> None:
    sign_in_with_claims(engine=engine, claims=_claims(), now=T0)
    sign_in_with_claims(engine=engine, claims=_claims(groups="admin"), role_claim="groups",
                        now=T0)
    for claims in (_claims("zed@example.org"), _claims(groups="nope")):
        with pytest.raises(SignInError):
            sign_in_with_claims(engine=engine, claims=claims,
                                role_claim="groups" if "groups" in claims else "", now=T0)
    rows = _audit(engine)
    assert len(rows) == 4
    assert {d["method"] for _, _, d in rows} == {"oidc"}


# The password path: only the codes (messages and the audit trail are in test_auth_signin).


def _code(engine: Engine, settings: Settings, password: str, username: str = "ann") -> str:
    with pytest.raises(SignInError) as failed:
        authenticate(engine=engine, username=username, password=password, now=T0,
                     settings=settings)
    return failed.value.code


def test_password_sign_in_codes(engine: Engine, settings: Settings, ann: Principal) -> None:
    strict = settings.replace(signin_max_failures=2, signin_lockout_seconds=300)
    assert _code(engine, strict, "wrong-password") == "failed"
    assert _code(engine, strict, PASSWORD, username="nobody") == "failed"
    assert _code(engine, strict, "wrong-password") == "failed"  # this second failure locks
    assert _code(engine, strict, PASSWORD) == "locked"  # so even the right one is refused


def test_a_disabled_account_with_the_right_password_has_the_disabled_code(
    engine: Engine, settings: Settings, ann: Principal
) -> None:
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    assert _code(engine, settings, PASSWORD) == "disabled"
    assert _code(engine, settings, "wrong-password") == "failed"


def test_sign_in_error_defaults_to_failed() -> None:
    assert SignInError("x").code == "failed"
    assert str(SignInError("x", "locked")) == "x"

"""Signed sign-in tokens and the secret that signs them."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from services.auth.tokens import (
    MissingSecretError,
    cookie_secret,
    ensure_demo_secret,
    issue_session_token,
    issue_token,
    read_session_token,
    read_token,
)
from services.settings import Settings

SECRET = "s" * 40
OTHER = "o" * 40
T0 = 1_800_000_000.0


def _token(username: str = "ann", ttl: float = 3600.0) -> str:
    return issue_token(username=username, secret=SECRET, ttl_seconds=ttl, now=T0)


def test_a_token_names_its_user_until_it_expires() -> None:
    token = _token()
    assert read_token(token, secret=SECRET, now=T0) == "ann"
    assert read_token(token, secret=SECRET, now=T0 + 3599) == "ann"
    assert read_token(token, secret=SECRET, now=T0 + 3600) is None


def test_tokens_are_url_safe_and_unique() -> None:
    first, second = _token(), _token()
    assert first != second  # random nonce
    assert all(c.isalnum() or c in "-_." for c in first)
    assert first.startswith("v1.")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    assert read_token(_token(), secret=OTHER, now=T0) is None


def _payload(token: str) -> dict[str, object]:
    part = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _encode(claims: dict[str, object]) -> str:
    raw = json.dumps(claims).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_a_tampered_payload_is_refused() -> None:
    version, _, signature = _token().split(".")
    claims = {**_payload(_token()), "u": "admin"}
    assert read_token(f"{version}.{_encode(claims)}.{signature}", secret=SECRET, now=T0) is None


def test_an_extended_expiry_is_refused() -> None:
    token = _token(ttl=10)
    version, _, signature = token.split(".")
    claims = {**_payload(token), "exp": T0 + 10**9}
    forged = f"{version}.{_encode(claims)}.{signature}"
    assert read_token(forged, secret=SECRET, now=T0 + 100) is None


def test_a_token_from_the_future_is_refused() -> None:
    assert read_token(_token(), secret=SECRET, now=T0 - 3600) is None


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "v1.abc", "v2.abc.def", "v1..", "v1.!!!.???", "v1.abc.def.ghi",
     "v1.é.ü", "v1." + "a" * 5000 + ".b"],
)
def test_malformed_tokens_are_refused_without_error(token: str) -> None:
    assert read_token(token, secret=SECRET, now=T0) is None


def test_a_correctly_signed_token_with_bad_claims_is_refused() -> None:
    import hashlib
    import hmac

    for claims in ([1, 2], {"u": "", "iat": T0, "exp": T0 + 9}, {"u": "ann", "iat": "x",
                   "exp": T0 + 9}, {"u": "ann", "iat": True, "exp": T0 + 9}):
        signed = "v1." + _encode(claims)  # type: ignore[arg-type]
        mac = hmac.new(SECRET.encode(), b"opsdash-session\x00" + signed.encode(), hashlib.sha256)
        signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()
        assert read_token(f"{signed}.{signature}", secret=SECRET, now=T0) is None


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        issue_token(username="ann", secret="short", ttl_seconds=60)
    with pytest.raises(ValueError, match="at least 32 characters"):
        read_token(_token(), secret="short")


def test_the_configured_secret_wins(settings: Settings) -> None:
    ensure_demo_secret(settings)
    assert cookie_secret(settings.replace(cookie_secret=OTHER)) == OTHER


def test_without_a_secret_the_error_says_how_to_set_one(settings: Settings) -> None:
    with pytest.raises(MissingSecretError, match=r"^OPSDASH_COOKIE_SECRET is not set: .*token_"):
        cookie_secret(settings)


def test_a_short_configured_secret_is_refused(settings: Settings) -> None:
    with pytest.raises(MissingSecretError, match="shorter than 32"):
        cookie_secret(settings.replace(cookie_secret="too-short"))


def test_the_demo_secret_is_created_once_private(settings: Settings) -> None:
    first = ensure_demo_secret(settings)
    path = Path(settings.var_dir) / "cookie-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert ensure_demo_secret(settings) == first
    assert cookie_secret(settings) == first


def test_session_tokens_last_the_configured_hours(settings: Settings) -> None:
    configured = settings.replace(cookie_secret=SECRET, session_hours=2.0)
    token = issue_session_token(username="ann", settings=configured, now=T0)
    assert read_session_token(token, settings=configured, now=T0 + 7199) == "ann"
    assert read_session_token(token, settings=configured, now=T0 + 7200) is None


def test_the_secret_is_not_shown_in_the_settings_repr() -> None:
    assert SECRET not in repr(Settings(cookie_secret=SECRET))


def test_sign_in_settings_come_from_the_environment() -> None:
    s = Settings.from_env({"OPSDASH_COOKIE_SECRET": SECRET, "OPSDASH_SESSION_HOURS": "0.5",
                           "OPSDASH_SIGNIN_MAX_FAILURES": "3",
                           "OPSDASH_SIGNIN_LOCKOUT_SECONDS": "60"})
    assert (s.cookie_secret, s.session_hours) == (SECRET, 0.5)
    assert (s.signin_max_failures, s.signin_lockout_seconds) == (3, 60)
    defaults = Settings()
    assert defaults.cookie_secret == ""  # no usable default for a secret
    assert (defaults.session_hours, defaults.signin_max_failures) == (12.0, 5)
    assert defaults.signin_lockout_seconds == 300

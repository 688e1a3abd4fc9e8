"""The sign-in and sign-out routes beside the Streamlit app, through a real ASGI client."""

from __future__ import annotations

import os
from collections.abc import Iterator
from http.cookies import Morsel, SimpleCookie
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.testclient import TestClient

from dashboard import web_routes
from dashboard.web_routes import COOKIE_NAME, SIGNIN_PATH, SIGNOUT_PATH, routes
from services.access import SYSTEM, Role
from services.audit import query_audit
from services.auth.sessions import session_principal
from services.auth.tokens import issue_token, read_session, read_session_token
from services.auth.users import create_user, disable_user
from services.settings import Settings

BASE = "http://127.0.0.1:8501"
SECRET = "s" * 24 + "-test-secret-0123456789"
PASSWORD = "amber-kettle-41"
SESSION_HOURS = 2.5


@pytest.fixture
def env(settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The routes' settings, read from the environment as in production, on a fresh store."""
    for key in list(os.environ):
        if key.startswith("OPSDASH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
    monkeypatch.setenv("OPSDASH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPSDASH_COOKIE_SECRET", SECRET)
    monkeypatch.setenv("OPSDASH_SESSION_HOURS", str(SESSION_HOURS))
    monkeypatch.setenv("OPSDASH_SIGNIN_MAX_FAILURES", "3")
    web_routes._engine.cache_clear()
    web_routes.client_failures.clear()  # the per-client count lives as long as the process
    web_routes._UNLISTED_PROXIES_SEEN.clear()  # and so does the memory of logged peers
    yield Settings.from_env()
    if web_routes._engine.cache_info().currsize:
        web_routes._engine(settings.resolved_database_url).dispose()
    web_routes._engine.cache_clear()


@pytest.fixture
def ann(engine: Engine) -> None:
    create_user(engine=engine, actor=SYSTEM, username="ann", role=Role.OPERATOR,
                password=PASSWORD)


@pytest.fixture
def client(env: Settings) -> Iterator[TestClient]:
    with TestClient(Starlette(routes=routes()), base_url=BASE, follow_redirects=False) as c:
        yield c


def _post(client: TestClient, path: str, *, origin: str | None = BASE,
          headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    sent = {} if origin is None else {"origin": origin}
    sent.update(headers or {})
    return client.post(path, headers=sent, **kwargs)


def _sign_in(client: TestClient, username: str = "ann", password: str = PASSWORD,
             **kwargs: Any) -> httpx.Response:
    return _post(client, SIGNIN_PATH, data={"username": username, "password": password},
                 **kwargs)


def _cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        jar.load(header)
    return dict(jar)


def _audit(engine: Engine) -> list[tuple[str, str, str | None]]:
    """Sign-in audit entries, oldest first: (actor, action, reason)."""
    entries = query_audit(engine=engine, actor=SYSTEM)
    return [(e.actor, e.action, e.details.get("reason")) for e in reversed(entries)
            if e.action.startswith("sign_")]


# Signing in


def test_the_right_password_sets_a_strict_http_only_session_cookie(
    client: TestClient, env: Settings, engine: Engine, ann: None
) -> None:
    response = _sign_in(client, username="  ANN ")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookies = _cookies(response)
    assert list(cookies) == [COOKIE_NAME]
    cookie = cookies[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/"
    assert cookie["max-age"] == str(int(SESSION_HOURS * 3600))
    assert not cookie["secure"]  # plain http: a Secure cookie would never come back
    assert read_session_token(cookie.value, settings=env) == "ann"
    assert _audit(engine) == [("ann", "sign_in", None)]


def test_a_referer_of_this_site_is_enough_without_an_origin(
    client: TestClient, ann: None
) -> None:
    response = _sign_in(client, origin=None, headers={"referer": f"{BASE}/?page=overview"})
    assert response.headers["location"] == "/"
    assert COOKIE_NAME in _cookies(response)


def test_behind_a_tls_proxy_the_https_origin_passes_and_the_cookie_is_secure(
    client: TestClient, ann: None
) -> None:
    # The proxy talks http to us; the browser's page and Origin are https.
    https = BASE.replace("http:", "https:")
    response = _sign_in(client, origin=https, headers={"x-forwarded-proto": "https"})
    assert response.headers["location"] == "/"
    assert _cookies(response)[COOKIE_NAME]["secure"] is True
    refused = _sign_in(client, origin=https)  # no proxy header: a foreign scheme
    assert refused.status_code == 403


def test_with_a_public_url_only_its_origin_signs_in_and_the_cookie_is_secure(
    client: TestClient, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind a proxy that says nothing of the scheme, the operator names the address.
    monkeypatch.setenv("OPSDASH_PUBLIC_URL", "https://dash.example.com")
    response = _sign_in(client, origin="https://dash.example.com")
    assert response.headers["location"] == "/"
    assert _cookies(response)[COOKIE_NAME]["secure"] is True
    assert _sign_in(client, origin=BASE).status_code == 403  # the Host is no longer enough
    assert _post(client, SIGNOUT_PATH, origin=BASE).status_code == 403


def test_the_cookie_is_secure_over_https(env: Settings, ann: None) -> None:
    https = BASE.replace("http:", "https:")
    with TestClient(Starlette(routes=routes()), base_url=https, follow_redirects=False) as c:
        response = _sign_in(c, origin=https)
    assert response.headers["location"] == "/"
    assert _cookies(response)[COOKIE_NAME]["secure"] is True


def test_a_wrong_password_and_an_unknown_user_look_the_same(
    client: TestClient, engine: Engine, ann: None
) -> None:
    wrong = _sign_in(client, password="wrong-password")
    unknown = _sign_in(client, username="nobody")
    assert wrong.status_code == unknown.status_code == 303
    assert wrong.headers["location"] == unknown.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in wrong.headers
    assert "set-cookie" not in unknown.headers
    assert wrong.content == unknown.content
    assert _audit(engine) == [("ann", "sign_in_failed", "wrong_password"),
                              ("nobody", "sign_in_failed", "unknown_user")]


def test_repeated_failures_lock_the_account(
    client: TestClient, engine: Engine, ann: None
) -> None:
    for _ in range(3):  # OPSDASH_SIGNIN_MAX_FAILURES
        assert _sign_in(client, password="wrong-password").headers["location"] == (
            "/?signin=failed")
    locked = _sign_in(client)
    assert locked.headers["location"] == "/?signin=locked"
    assert "set-cookie" not in locked.headers
    assert _audit(engine)[-1] == ("ann", "sign_in_failed", "locked")


def test_a_disabled_account_is_told_so_only_with_the_right_password(
    client: TestClient, engine: Engine, ann: None
) -> None:
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    assert _sign_in(client, password="wrong-password").headers["location"] == (
        "/?signin=failed")
    response = _sign_in(client)
    assert response.headers["location"] == "/?signin=disabled"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "https://127.0.0.1:8501"},
        {"origin": "http://127.0.0.1:8502"},
        {"referer": "http://127.0.0.1:8501.evil.example/"},
        {"referer": "http://evil.example/?next=http://127.0.0.1:8501/"},
        {"origin": "http://evil.example", "referer": f"{BASE}/"},
    ],
)
def test_a_post_from_another_site_is_refused_before_anything_happens(
    client: TestClient, engine: Engine, ann: None, headers: dict[str, str]
) -> None:
    response = _sign_in(client, origin=None, headers=headers)
    assert response.status_code == 403
    assert "location" not in response.headers
    assert "set-cookie" not in response.headers
    assert _audit(engine) == []


@pytest.mark.parametrize(
    "body",
    [
        {"json": {"username": "ann", "password": PASSWORD}},
        {"files": {"username": (None, "ann"), "password": (None, PASSWORD)}},
        {"content": f"username=ann&password={PASSWORD}",
         "headers": {"content-type": "text/plain"}},
        {"content": b"username=ann&password=\xff\xfe",
         "headers": {"content-type": "application/x-www-form-urlencoded"}},
        {"data": {"username": "ann", "password": PASSWORD, "pad": "x" * 9000}},
        {"data": {"username": "ann", "password": PASSWORD, **{f"f{i}": "" for i in range(10)}}},
    ],
    ids=["json", "multipart", "text", "not-utf8", "oversized", "too-many-fields"],
)
def test_anything_but_a_small_form_fails_without_signing_in(
    client: TestClient, engine: Engine, ann: None, body: dict[str, Any]
) -> None:
    headers = {"origin": BASE, **body.pop("headers", {})}
    response = client.post(SIGNIN_PATH, headers=headers, **body)
    assert response.status_code == 303
    assert response.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in response.headers
    assert _audit(engine) == []


def test_the_same_small_form_with_a_charset_signs_in(client: TestClient, ann: None) -> None:
    response = client.post(
        SIGNIN_PATH, content=f"username=ann&password={PASSWORD}",
        headers={"origin": BASE,
                 "content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    assert response.headers["location"] == "/"


def test_missing_fields_fail_like_a_wrong_password(client: TestClient, ann: None) -> None:
    response = _post(client, SIGNIN_PATH, data={"username": "ann"})
    assert response.headers["location"] == "/?signin=failed"
    assert "set-cookie" not in response.headers


def test_without_a_cookie_secret_sign_in_is_unavailable_and_nobody_is_signed_in(
    client: TestClient, engine: Engine, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPSDASH_COOKIE_SECRET")
    for password in (PASSWORD, "wrong-password"):
        response = _sign_in(client, password=password)
        assert response.status_code == 303
        assert response.headers["location"] == "/?signin=unavailable"
        assert "set-cookie" not in response.headers
    assert _audit(engine) == []  # no "sign_in" for a sign-in that issued no cookie


def test_a_short_cookie_secret_makes_sign_in_unavailable(
    client: TestClient, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_COOKIE_SECRET", "too-short")
    assert _sign_in(client).headers["location"] == "/?signin=unavailable"


def test_the_demo_secret_file_serves_when_the_variable_is_unset(
    client: TestClient, env: Settings, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPSDASH_COOKIE_SECRET")
    (Path(env.var_dir) / "cookie-secret").write_text(SECRET + "\n", encoding="utf-8")
    response = _sign_in(client)
    assert response.headers["location"] == "/"
    token = _cookies(response)[COOKIE_NAME].value
    assert read_session_token(token, settings=Settings.from_env()) == "ann"


def test_a_store_without_the_schema_makes_sign_in_unavailable(
    client: TestClient, tmp_path: Path, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        response = _sign_in(client)
    finally:
        web_routes._engine.cache_clear()
    assert response.headers["location"] == "/?signin=unavailable"
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize("password", [PASSWORD, "wrong-password"])
def test_the_redirect_never_reflects_what_was_typed(
    client: TestClient, password: str
) -> None:
    typed = '<script>alert("ann")</script>'
    response = _sign_in(client, username=typed, password=password)
    assert response.headers["location"] == "/?signin=failed"
    assert "script" not in response.headers["location"]
    assert b"script" not in response.content


def test_get_is_not_allowed(client: TestClient) -> None:
    assert client.get(SIGNIN_PATH).status_code == 405
    assert client.get(SIGNOUT_PATH).status_code == 405


# The per-client limit


def _client_at(peer: str) -> TestClient:
    """A client whose connection comes from ``peer``."""
    return TestClient(Starlette(routes=routes()), base_url=BASE, follow_redirects=False,
                      client=(peer, 50000))


def _failed_sign_ins(engine: Engine) -> int:
    return sum(action == "sign_in_failed" for _, action, _ in _audit(engine))


def _throttled(response: httpx.Response) -> bool:
    if response.status_code != 429:
        return False
    assert int(response.headers["retry-after"]) >= 1
    assert "set-cookie" not in response.headers
    # A browser that posted the form lands on the sign-in page, which says what happened.
    assert 'http-equiv="refresh" content="0; url=/?signin=throttled"' in response.text
    return True


def test_a_client_spraying_passwords_is_refused_before_its_attempts_reach_an_account(
    env: Settings, engine: Engine, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_SIGNIN_CLIENT_MAX_FAILURES", "4")
    monkeypatch.setenv("OPSDASH_SIGNIN_MAX_FAILURES", "10")
    with _client_at("198.51.100.7") as spray:
        for name in ("ann", "bob", "carol", "ann"):
            assert _sign_in(spray, username=name, password="winter-2026!").headers[
                "location"] == "/?signin=failed"
        for name in ("ann", "admin", "dave"):
            assert _throttled(_sign_in(spray, username=name, password="winter-2026!"))
        assert _throttled(_sign_in(spray))  # the right password too: nothing is tried
    assert _failed_sign_ins(engine) == 4  # the refused attempts never reached the store
    with _client_at("198.51.100.8") as other:  # another address is not affected
        assert _sign_in(other).headers["location"] == "/"


def test_the_client_limit_keeps_one_address_from_locking_an_account(
    env: Settings, engine: Engine, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The defaults: a client may fail 4 times, an account locks after 5 failures.
    monkeypatch.delenv("OPSDASH_SIGNIN_MAX_FAILURES")
    with _client_at("198.51.100.7") as attacker:
        for _ in range(4):
            _sign_in(attacker, password="not-the-password")
        for _ in range(20):
            assert _throttled(_sign_in(attacker, password="not-the-password"))
    with _client_at("203.0.113.20") as owner:
        assert _sign_in(owner).headers["location"] == "/"


def test_a_forwarded_header_from_an_unlisted_peer_is_ignored(
    env: Settings, engine: Engine, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_SIGNIN_CLIENT_MAX_FAILURES", "3")
    with _client_at("198.51.100.7") as client:
        # A new X-Forwarded-For each time does not make a new client: the peer is counted.
        for i in range(3):
            _sign_in(client, password="not-the-password",
                     headers={"x-forwarded-for": f"203.0.113.{i}"})
        assert _throttled(_sign_in(client, headers={"x-forwarded-for": "203.0.113.99"}))


def test_a_forwarded_header_from_an_unlisted_peer_is_logged_once(
    env: Settings, ann: None, caplog: pytest.LogCaptureFixture
) -> None:
    with _client_at("198.51.100.44") as client:
        for i in range(3):
            _sign_in(client, headers={"x-forwarded-for": f"203.0.113.{i}"})
    warnings = [r.getMessage() for r in caplog.records if "X-Forwarded-For" in r.getMessage()]
    assert len(warnings) == 1
    assert "198.51.100.44" in warnings[0]
    assert "OPSDASH_TRUSTED_PROXIES" in warnings[0]


def test_a_listed_proxy_names_the_client_by_the_right_most_address_it_does_not_list(
    env: Settings, engine: Engine, ann: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPSDASH_SIGNIN_CLIENT_MAX_FAILURES", "3")
    monkeypatch.setenv("OPSDASH_TRUSTED_PROXIES", "10.0.0.0/8")
    with _client_at("10.0.0.2") as proxy:
        # What the client wrote (left) changes every time; what the proxies saw does not.
        for i in range(3):
            _sign_in(proxy, username="bob", password="not-the-password",
                     headers={"x-forwarded-for": f"6.6.6.{i}, 203.0.113.5, 10.1.2.3"})
        assert _throttled(_sign_in(
            proxy, headers={"x-forwarded-for": "6.6.6.99, 203.0.113.5, 10.1.2.3"}))
        # Another client behind the same proxy signs in.
        response = _sign_in(proxy, headers={"x-forwarded-for": "203.0.113.6, 10.1.2.3"})
        assert response.headers["location"] == "/"


# Signing out


def _signed_in_cookie(client: TestClient) -> str:
    return _cookies(_sign_in(client))[COOKIE_NAME].value


def test_signing_out_drops_the_cookie_and_is_audited(
    client: TestClient, engine: Engine, ann: None
) -> None:
    token = _signed_in_cookie(client)
    client.cookies.clear()
    response = _post(client, SIGNOUT_PATH, headers={"cookie": f"{COOKIE_NAME}={token}"})
    assert response.status_code == 303
    assert response.headers["location"] == "/?signin=signed_out"
    cookie = _cookies(response)[COOKIE_NAME]
    assert cookie.value == ""
    assert cookie["max-age"] == "0"
    assert cookie["path"] == "/"
    assert _audit(engine) == [("ann", "sign_in", None), ("ann", "sign_out", None)]


def test_a_copy_of_the_cookie_signs_nobody_in_once_signed_out(
    client: TestClient, engine: Engine, env: Settings, ann: None
) -> None:
    token = _signed_in_cookie(client)
    client.cookies.clear()
    session = read_session(token, settings=env)
    assert session is not None
    assert session_principal(engine=engine, token=session) is not None
    _post(client, SIGNOUT_PATH, headers={"cookie": f"{COOKIE_NAME}={token}"})
    assert session_principal(engine=engine, token=session) is None
    # Signing out again with the copy changes nothing and audits nothing more.
    _post(client, SIGNOUT_PATH, headers={"cookie": f"{COOKIE_NAME}={token}"})
    assert _audit(engine) == [("ann", "sign_in", None), ("ann", "sign_out", None)]
    again = read_session(_signed_in_cookie(client), settings=env)
    assert again is not None
    assert session_principal(engine=engine, token=again) is not None


@pytest.mark.parametrize("cookie", ["", "v1.forged.token", None])
def test_signing_out_without_a_valid_cookie_still_drops_it_but_audits_nothing(
    client: TestClient, engine: Engine, ann: None, cookie: str | None
) -> None:
    if cookie is None:  # a well-formed token signed with another secret
        cookie = issue_token(username="ann", secret="x" * 40, ttl_seconds=60)
    response = _post(client, SIGNOUT_PATH, headers={"cookie": f"{COOKIE_NAME}={cookie}"})
    assert response.headers["location"] == "/?signin=signed_out"
    assert _cookies(response)[COOKIE_NAME]["max-age"] == "0"
    assert _audit(engine) == []


def test_signing_out_a_disabled_user_audits_nothing(
    client: TestClient, engine: Engine, ann: None
) -> None:
    token = _signed_in_cookie(client)
    client.cookies.clear()
    disable_user(engine=engine, actor=SYSTEM, username="ann")
    response = _post(client, SIGNOUT_PATH, headers={"cookie": f"{COOKIE_NAME}={token}"})
    assert response.headers["location"] == "/?signin=signed_out"
    assert [action for _, action, _ in _audit(engine)] == ["sign_in"]


@pytest.mark.parametrize("headers", [{}, {"origin": "http://evil.example"}])
def test_another_site_cannot_sign_a_visitor_out(
    client: TestClient, engine: Engine, ann: None, headers: dict[str, str]
) -> None:
    token = _signed_in_cookie(client)
    client.cookies.clear()
    response = _post(client, SIGNOUT_PATH, origin=None,
                     headers={**headers, "cookie": f"{COOKIE_NAME}={token}"})
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    assert [action for _, action, _ in _audit(engine)] == ["sign_in"]

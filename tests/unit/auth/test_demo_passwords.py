"""The demo's random passwords always meet the password policy."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from services.auth import demo
from services.auth.passwords import check_password_policy


def test_a_draw_the_policy_refuses_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    # The random source is the boundary: it hands out a password holding the user name and
    # one that is a run before a good one.
    draws: Iterator[str] = iter(["x-admin-x-1234567", "abcdefghijklmnop", "Lz7_kQ2-pX9wR4tY"])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: next(draws))
    assert demo.random_password("admin") == "Lz7_kQ2-pX9wR4tY"


@pytest.mark.parametrize("username", ["admin", "operator", "analyst", "labeler"])
def test_real_draws_pass_the_policy(username: str) -> None:
    for _ in range(50):
        check_password_policy(demo.random_password(username), username=username)

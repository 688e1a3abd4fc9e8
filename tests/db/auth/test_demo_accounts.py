"""Demo accounts: one per role, random passwords kept in a private file, created once."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import Engine

from services.access import CLI, Role
from services.auth.demo import demo_accounts_path, ensure_demo_users
from services.auth.users import authenticate, create_user, list_users
from services.settings import Settings


def test_one_account_per_role_signs_in_with_the_reported_password(
    engine: Engine, settings: Settings
) -> None:
    accounts = ensure_demo_users(engine=engine, settings=settings)
    assert [(u, r) for u, r, _ in accounts] == [(r.value, r.value) for r in Role]
    for username, role, password in accounts:
        principal = authenticate(engine=engine, username=username, password=password,
                                 settings=settings)
        assert principal.role == role
    assert len({p for _, _, p in accounts}) == 4


def test_the_passwords_file_is_private_and_lists_every_account(
    engine: Engine, settings: Settings
) -> None:
    accounts = ensure_demo_users(engine=engine, settings=settings)
    path = demo_accounts_path(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert all(f"{u}\t{r}\t{p}" in text for u, r, p in accounts)


def test_a_second_call_changes_nothing_and_reports_the_same(
    engine: Engine, settings: Settings
) -> None:
    first = ensure_demo_users(engine=engine, settings=settings)
    before = list_users(engine=engine, actor=CLI)
    assert ensure_demo_users(engine=engine, settings=settings) == first
    assert list_users(engine=engine, actor=CLI) == before


def test_accounts_made_elsewhere_are_kept_with_an_unknown_password(
    engine: Engine, settings: Settings
) -> None:
    create_user(engine=engine, actor=CLI, username="admin", role="admin",
                password="chosen-by-a-human")
    accounts = {u: p for u, _, p in ensure_demo_users(engine=engine, settings=settings)}
    assert accounts["admin"] == ""
    assert all(accounts[name] for name in ("operator", "analyst", "labeler"))
    assert authenticate(engine=engine, username="admin", password="chosen-by-a-human",
                        settings=settings).username == "admin"
    assert Path(settings.var_dir, "demo-accounts.txt").exists()

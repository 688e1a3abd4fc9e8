"""Files under var/ are the owner's alone: the secret, logs, artifacts and the var tree."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from devstack.processes import ServiceSpec, Supervisor
from services.auth.tokens import DEMO_SECRET_FILE, cookie_secret, ensure_demo_secret
from services.files import PRIVATE_UMASK, secure_tree
from services.registry.artifacts import save_artifact
from services.settings import Settings
from tests.factories import file_mode


def test_an_existing_cookie_secret_readable_by_others_is_made_owner_only(
    tmp_path: Path, open_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(var_dir=str(tmp_path), cookie_secret="")
    secret = tmp_path / DEMO_SECRET_FILE
    secret.write_text("s" * 40 + "\n", encoding="utf-8")
    secret.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        assert cookie_secret(settings) == "s" * 40
    assert file_mode(secret) == 0o600
    assert "was readable or writable by others (0644); it is now 0600" in caplog.text


def test_a_new_cookie_secret_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    ensure_demo_secret(Settings(var_dir=str(tmp_path / "var"), cookie_secret=""))
    assert file_mode(tmp_path / "var" / DEMO_SECRET_FILE) == 0o600


def test_an_artifact_and_its_folder_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "artifacts" / "churn" / "v1.pkl"
    save_artifact({"model": 1}, path)
    assert file_mode(path) == 0o600
    assert file_mode(path.parent) == 0o700


def test_a_process_log_is_owner_only_even_when_it_was_not(
    tmp_path: Path, open_umask: None
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "old.log").write_text("from before\n", encoding="utf-8")
    (logs / "old.log").chmod(0o644)
    supervisor = Supervisor(log_dir=logs, cwd=tmp_path, env=dict(os.environ))
    for name in ("new", "old"):
        spec = ServiceSpec(name=name, argv=(sys.executable, "-c", "print('hello')"),
                           ready_url=None)
        supervisor.start(spec)
    supervisor.stop_all()
    assert file_mode(logs / "new.log") == 0o600
    assert file_mode(logs / "old.log") == 0o600
    assert file_mode(logs) == 0o700


def test_the_var_tree_is_made_owner_only(tmp_path: Path, open_umask: None) -> None:
    var = tmp_path / "var"
    (var / "prometheus" / "data").mkdir(parents=True)
    (var / "prometheus" / "prometheus.yml").write_text("x", encoding="utf-8")
    (var / "demo-accounts.txt").write_text("x", encoding="utf-8")
    (var / "private").mkdir(mode=0o700)
    (var / "run.sh").write_text("x", encoding="utf-8")
    (var / "run.sh").chmod(0o755)
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    (var / "link").symlink_to(outside)  # a link is not followed: what it names is not ours
    changed = secure_tree(var)
    assert sorted(p.relative_to(var).as_posix() for p in changed) == [
        ".", "demo-accounts.txt", "prometheus", "prometheus/data",
        "prometheus/prometheus.yml", "run.sh"]
    assert file_mode(var / "run.sh") == 0o700  # executable by its owner still
    assert file_mode(var / "prometheus" / "prometheus.yml") == 0o600
    assert file_mode(var / "prometheus" / "data") == 0o700
    assert file_mode(outside) == 0o755
    assert secure_tree(var) == []


def test_the_entry_points_umask_makes_new_files_owner_only(tmp_path: Path) -> None:
    old = os.umask(PRIVATE_UMASK)
    try:
        (tmp_path / "spool.jsonl").write_text("x", encoding="utf-8")
        (tmp_path / "folder").mkdir()
    finally:
        os.umask(old)
    assert file_mode(tmp_path / "spool.jsonl") == 0o600
    assert file_mode(tmp_path / "folder") == 0o700

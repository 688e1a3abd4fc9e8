"""``alerts export-rules`` as a real process on the seeded demo: its default rules become a
rules file and generated tests that promtool passes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from db.schema import upgrade
from db.session import make_engine
from devstack.demo.seed import seed_demo
from services.alerts.store import list_rules
from services.settings import PROJECT_ROOT, Settings

pytestmark = pytest.mark.integration

PROMTOOL = shutil.which("promtool")
APP_ONLY = {"prediction_drift_above", "retrain_failed", "bake_rollback"}


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus) is not installed")
def test_the_demo_rules_export_and_pass_promtool(tmp_path: Path) -> None:
    assert PROMTOOL is not None
    var = tmp_path / "var"
    var.mkdir()
    settings = Settings(var_dir=str(var), database_url="", demo_days=2)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine)
        seed_demo(engine=engine, settings=settings)
        stored = list_rules(engine=engine)
    finally:
        engine.dispose()
    env = {**os.environ, "OPSDASH_VAR_DIR": str(var), "OPSDASH_DATABASE_URL": ""}
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "services.cli", "alerts", "export-rules",
                           "--out", str(out), "--json"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    judged = {s.rule.name for s in stored if s.enabled and s.rule.kind not in APP_ONLY}
    assert {e["rule"] for e in result["exported"]} == judged
    assert all(e["tested"] for e in result["exported"])
    assert {s["rule"] for s in result["skipped"]} == {
        s.rule.name for s in stored if s.enabled and s.rule.kind in APP_ONLY}
    for command, name in (("check", "opsdash-alerts.rules.yml"),
                          ("test", "opsdash-alerts.test.yml")):
        checked = subprocess.run([PROMTOOL, command, "rules", name], cwd=out,
                                 capture_output=True, text=True, timeout=300, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr

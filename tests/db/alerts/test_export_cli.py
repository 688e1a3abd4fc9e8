"""``alerts export-rules`` on a store with rules: the two files, and promtool passes both."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from services.access import SYSTEM
from services.alerts.rules import (
    LabelBacklogRule,
    QualityRule,
    RetrainFailedRule,
    TrafficStoppedRule,
)
from services.alerts.store import save_rule, set_enabled
from tests.cli_runner import RunCli
from tests.factories import make_model

PROMTOOL = shutil.which("promtool")
MODEL = 'churn "eu"'


def _store_rules(engine: Engine) -> None:
    make_model(engine, name=MODEL)
    save_rule(engine=engine, actor=SYSTEM, rule=QualityRule(
        name="churn accuracy {{ low }}", model=MODEL, metric="accuracy", floor=0.75,
        resolve_at=0.8, window_seconds=86_400, min_labels=200, for_seconds=7200))
    save_rule(engine=engine, actor=SYSTEM, rule=LabelBacklogRule(
        name="churn backlog", model=MODEL, size=1000, resolve_size=800))
    save_rule(engine=engine, actor=SYSTEM, rule=TrafficStoppedRule(
        name="churn quiet", model=MODEL, silence_seconds=900))
    off = save_rule(engine=engine, actor=SYSTEM, rule=LabelBacklogRule(
        name="disabled backlog", model=MODEL, size=10, resolve_size=0))
    set_enabled(engine=engine, actor=SYSTEM, rule_id=off, enabled=False)


def test_export_writes_both_files_and_says_what_it_exported(
        engine: Engine, run_cli: RunCli, tmp_path: Path) -> None:
    _store_rules(engine)
    out = tmp_path / "made" / "here"
    status, stdout, _ = run_cli("alerts", "export-rules", "--out", str(out), "--json")
    assert status == 0
    result = json.loads(stdout)
    assert result["rules_file"] == str(out / "opsdash-alerts.rules.yml")
    assert result["tests_file"] == str(out / "opsdash-alerts.test.yml")
    assert {e["rule"]: e["tested"] for e in result["exported"]} == {
        "churn accuracy {{ low }}": True, "churn backlog": True, "churn quiet": True}
    assert result["skipped"] == []
    text = (out / "opsdash-alerts.rules.yml").read_text(encoding="utf-8")
    assert "disabled backlog" not in text
    assert 'opsdash_label_backlog{model="churn \\"eu\\""}' in text


def test_export_for_people_names_each_alert(engine: Engine, run_cli: RunCli,
                                            tmp_path: Path) -> None:
    _store_rules(engine)
    status, stdout, _ = run_cli("alerts", "export-rules", "--out", str(tmp_path))
    assert status == 0
    assert stdout.splitlines()[0] == (
        f"3 rule(s) exported to {tmp_path / 'opsdash-alerts.rules.yml'}, 3 with generated "
        f"tests in {tmp_path / 'opsdash-alerts.test.yml'}; 0 judged in the app only")
    assert "  OpsdashChurnAccuracyLow  (churn accuracy {{ low }})" in stdout


@pytest.mark.skipif(PROMTOOL is None, reason="promtool (Debian's prometheus) is not installed")
def test_the_exported_files_pass_promtool(engine: Engine, run_cli: RunCli,
                                          tmp_path: Path) -> None:
    assert PROMTOOL is not None
    _store_rules(engine)
    assert run_cli("alerts", "export-rules", "--out", str(tmp_path))[0] == 0
    for command, name in (("check", "opsdash-alerts.rules.yml"),
                          ("test", "opsdash-alerts.test.yml")):
        done = subprocess.run([PROMTOOL, command, "rules", name], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_an_unwritable_folder_is_one_line(engine: Engine, run_cli: RunCli,
                                          tmp_path: Path) -> None:
    _store_rules(engine)
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    status, _, stderr = run_cli("alerts", "export-rules", "--out", str(blocker / "sub"))
    assert status == 2
    assert stderr.startswith(f"error: --out {blocker / 'sub'}: cannot write there")
    assert len(stderr.splitlines()) == 1


def test_kinds_only_the_app_judges_are_named_on_stderr_and_in_the_file(
        engine: Engine, run_cli: RunCli, tmp_path: Path) -> None:
    _store_rules(engine)
    save_rule(engine=engine, actor=SYSTEM, rule=RetrainFailedRule(
        name="churn retrain failed", model=MODEL))
    status, stdout, stderr = run_cli("alerts", "export-rules", "--out", str(tmp_path),
                                     "--json")
    assert status == 0
    assert json.loads(stdout)["skipped"] == [
        {"rule": "churn retrain failed",
         "reason": "retrain jobs live in the store, not in Prometheus"}]
    assert stderr == ("not exported: 'churn retrain failed': retrain jobs live in the store, "
                      "not in Prometheus\n")
    text = (tmp_path / "opsdash-alerts.rules.yml").read_text(encoding="utf-8")
    assert ('#   "churn retrain failed": "retrain jobs live in the store, not in Prometheus"'
            in text)

"""The promotion policy: its file, and the verdict it gives on evidence built by hand."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.promotion.evidence import ClassRecall, Estimate, Evidence, ServingRecord
from services.promotion.policy import Policy, PolicyError, judge, load_policy
from services.settings import Settings

NONE = Estimate(None, None, None)


def evidence(*, shared: int = 500, low: float = 0.02, f1_low: float = 0.03,
             baseline: int | None = 1, recalls: tuple[float | None, float | None] = (0.9, 0.8),
             serving: ServingRecord | None = None) -> Evidence:
    """Candidate v2 of churn against v1, with the figures a test cares about."""
    return Evidence(
        model="churn", baseline=baseline, candidate=2, shared=shared,
        accuracy_baseline=Estimate(0.70, 0.66, 0.74),
        accuracy_candidate=Estimate(0.80, 0.76, 0.84),
        macro_f1_baseline=Estimate(0.65, 0.60, 0.70),
        macro_f1_candidate=Estimate(0.75, 0.70, 0.80),
        accuracy_difference=Estimate(0.10, low, 0.15),
        macro_f1_difference=Estimate(0.10, f1_low, 0.16),
        disagreements=80, only_baseline_right=20, only_candidate_right=60, mcnemar_p=1e-5,
        per_class=(ClassRecall("stays", 300, 0.85, recalls[0]),
                   ClassRecall("churns", 200, 0.6, recalls[1])),
        serving=serving, computed_at=datetime(2026, 12, 7, 12, 0, tzinfo=UTC),
    )


def write(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return Settings(promotion_policy_file=str(path))


# --- the file ------------------------------------------------------------------------------


def test_without_a_file_the_defaults_take_the_slo_from_the_settings() -> None:
    policy = load_policy(Settings(slo_latency_p95_seconds=0.4, slo_error_rate=0.02), "churn")
    assert policy == Policy(latency_p95_s=0.4, error_rate=0.02)
    assert (policy.min_shared, policy.primary_metric, policy.margin) == (200, "accuracy", 0.01)


def test_a_model_table_overrides_the_default_table_key_by_key(tmp_path: Path) -> None:
    settings = write(tmp_path, """
[default]
min_shared = 300
margin = 0.02
class_recall_floor = 0.5

[models.churn]
primary_metric = "macro_f1"
margin = 0
latency_p95_s = 0.5
""")
    churn = load_policy(settings, "churn")
    assert churn == Policy(min_shared=300, primary_metric="macro_f1", margin=0.0,
                           class_recall_floor=0.5, latency_p95_s=0.5,
                           error_rate=settings.slo_error_rate)
    tickets = load_policy(settings, "tickets")
    assert tickets == Policy(min_shared=300, margin=0.02, class_recall_floor=0.5,
                             latency_p95_s=settings.slo_latency_p95_seconds,
                             error_rate=settings.slo_error_rate)


@pytest.mark.parametrize(("text", "names"), [
    ("[default]\nmin_share = 3\n", ["[default]", "min_share", "allowed"]),
    ("[models.churn]\nspeed = 1\n", ["[models.churn]", "speed"]),
    ("[defaults]\nmargin = 0\n", ["[defaults]"]),
    ("default = 3\n", ["[default]", "table"]),
    ("[models]\nchurn = 1\n", ["[models.churn]", "table"]),
    ("[default]\nmin_shared = 0\n", ["[default]", "min_shared", "at least 1", "0"]),
    ("[default]\nmin_shared = 2.5\n", ["[default]", "min_shared", "whole number"]),
    ("[default]\nmin_shared = true\n", ["[default]", "min_shared"]),
    ("[default]\nprimary_metric = \"auc\"\n", ["[default]", "primary_metric", "'auc'"]),
    ("[default]\nmargin = \"a lot\"\n", ["[default]", "margin", "number"]),
    ("[default]\nmargin = 2\n", ["[default]", "margin", "between -1 and 1"]),
    ("[default]\nmargin = nan\n", ["[default]", "margin", "number"]),
    ("[models.churn]\nclass_recall_floor = 1.5\n",
     ["[models.churn]", "class_recall_floor", "between 0 and 1"]),
    ("[default]\nlatency_p95_s = 0\n", ["[default]", "latency_p95_s", "above 0"]),
    ("[default]\nerror_rate = -0.1\n", ["[default]", "error_rate", "between 0 and 1"]),
    ("[default]\nerror_rate = false\n", ["[default]", "error_rate", "number"]),
    ("[default\nmargin = 0\n", ["not valid TOML"]),
])
def test_a_bad_file_is_one_line_naming_file_table_and_key(
        tmp_path: Path, text: str, names: list[str]) -> None:
    settings = write(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(settings, "churn")
    message = str(caught.value)
    assert "\n" not in message
    assert settings.promotion_policy_file in message
    for name in names:
        assert name in message


def test_a_bad_table_of_another_model_is_refused_too(tmp_path: Path) -> None:
    settings = write(tmp_path, "[models.tickets]\nmargin = 5\n")
    with pytest.raises(PolicyError, match=r"\[models\.tickets\] margin"):
        load_policy(settings, "churn")


def test_a_missing_or_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = Settings(promotion_policy_file=str(tmp_path / "nowhere.toml"))
    with pytest.raises(PolicyError, match=r"nowhere\.toml: cannot be read"):
        load_policy(missing, "churn")
    binary = tmp_path / "policy.toml"
    binary.write_bytes(b"\xff\xfe margin")
    with pytest.raises(PolicyError, match="cannot be read"):
        load_policy(Settings(promotion_policy_file=str(binary)), "churn")


def test_the_setting_comes_from_its_environment_variable(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPSDASH_PROMOTION_POLICY_FILE", str(tmp_path / "p.toml"))
    assert Settings.from_env().promotion_policy_file == str(tmp_path / "p.toml")


# --- the verdict ---------------------------------------------------------------------------


def test_enough_rows_and_a_good_difference_pass() -> None:
    verdict = judge(evidence(), Policy())
    assert verdict.outcome == "pass"
    assert all(c.passed is not False for c in verdict.checks)
    assert verdict.summary.startswith("pass: 500 shared labelled predictions (at least 200)")
    assert "\n" not in verdict.summary


def test_too_few_shared_rows_is_insufficient_with_the_gap_and_the_command() -> None:
    verdict = judge(evidence(shared=150, low=-0.5), Policy(min_shared=200))
    assert verdict.outcome == "insufficient"
    assert verdict.more_needed == 50
    assert verdict.how_to_get_more == (
        "python -m services.cli shadow-score --model churn --version 2")
    assert "50 more needed" in verdict.summary
    assert verdict.how_to_get_more in verdict.summary


def test_exactly_the_minimum_is_enough() -> None:
    assert judge(evidence(shared=200), Policy(min_shared=200)).outcome == "pass"
    assert judge(evidence(shared=199), Policy(min_shared=200)).outcome == "insufficient"


def test_a_model_name_in_the_command_is_quoted_for_the_shell() -> None:
    odd = dataclasses.replace(evidence(shared=1), model="churn; rm -rf x")
    command = judge(odd, Policy()).how_to_get_more
    assert command == "python -m services.cli shadow-score --model 'churn; rm -rf x' --version 2"


def test_the_lower_bound_must_be_above_minus_the_margin() -> None:
    at_margin = judge(evidence(low=-0.01), Policy(margin=0.01))
    assert at_margin.outcome == "fail"
    assert "not above -1.00" in at_margin.summary
    assert judge(evidence(low=-0.0099), Policy(margin=0.01)).outcome == "pass"
    assert judge(evidence(low=0.0), Policy(margin=0.0)).outcome == "fail"


def test_a_negative_margin_demands_an_improvement() -> None:
    assert judge(evidence(low=0.02), Policy(margin=-0.03)).outcome == "fail"
    assert judge(evidence(low=0.04), Policy(margin=-0.03)).outcome == "pass"


def test_the_primary_metric_chooses_which_difference_is_judged() -> None:
    worse_f1 = evidence(low=0.05, f1_low=-0.2)
    assert judge(worse_f1, Policy(primary_metric="accuracy")).outcome == "pass"
    verdict = judge(worse_f1, Policy(primary_metric="macro_f1"))
    assert verdict.outcome == "fail"
    expected = "macro F1 difference v2 - v1 +10.00 points (interval -20.00 to +16.00)"
    assert expected in verdict.summary


def test_a_class_below_the_recall_floor_fails_by_name() -> None:
    verdict = judge(evidence(recalls=(0.9, 0.45)), Policy(class_recall_floor=0.5))
    assert verdict.outcome == "fail"
    assert "recall of 'churns' under v2 45.00 % (below the floor 50.00 %" in verdict.summary
    assert "stays" not in verdict.summary
    assert judge(evidence(recalls=(0.9, 0.5)), Policy(class_recall_floor=0.5)).outcome == "pass"


def test_a_class_without_shared_rows_is_not_judged() -> None:
    verdict = judge(evidence(recalls=(0.9, None)), Policy(class_recall_floor=0.5))
    assert verdict.outcome == "pass"
    assert [c.name for c in verdict.checks if c.name.startswith("recall")] == ["recall:stays"]


def test_every_failed_check_is_named_with_its_numbers() -> None:
    served = ServingRecord(window="24h", p95_latency_s=0.4, error_rate=0.05)
    verdict = judge(evidence(low=-0.05, recalls=(0.3, 0.9), serving=served),
                    Policy(class_recall_floor=0.5, latency_p95_s=0.25, error_rate=0.01))
    assert verdict.outcome == "fail"
    failed = [c.name for c in verdict.checks if c.passed is False]
    assert failed == ["difference", "recall:stays", "latency_p95", "error_rate"]
    assert "p95 latency of v2 0.4s (over the SLO 0.25s" in verdict.summary
    assert "error rate of v2 0.05 (over the SLO 0.01" in verdict.summary


def test_a_serving_record_within_the_slo_passes_and_one_without_traffic_is_not_judged() -> None:
    policy = Policy(latency_p95_s=0.25, error_rate=0.01)
    fine = ServingRecord(window="24h", p95_latency_s=0.25, error_rate=0.01)
    assert judge(evidence(serving=fine), policy).outcome == "pass"
    quiet = ServingRecord(window="24h", p95_latency_s=None, error_rate=None)
    verdict = judge(evidence(serving=quiet), policy)
    assert verdict.outcome == "pass"
    assert [c.passed for c in verdict.checks if c.name in ("latency_p95", "error_rate")] \
        == [None, None]


def test_prometheus_down_leaves_the_record_unjudged_but_does_not_block() -> None:
    down = ServingRecord(window="24h", p95_latency_s=None, error_rate=None,
                         unavailable="Prometheus could not answer: refused")
    verdict = judge(evidence(serving=down), Policy(latency_p95_s=0.25, error_rate=0.01))
    assert verdict.outcome == "pass"
    assert any(c.passed is None and "refused" in c.text for c in verdict.checks)


def test_nothing_in_production_lets_the_first_version_pass() -> None:
    first = evidence(baseline=None, shared=0)
    first = dataclasses.replace(first, accuracy_difference=NONE, macro_f1_difference=NONE)
    verdict = judge(first, Policy(min_shared=200))
    assert verdict.outcome == "pass"
    assert "nothing serves production yet" in verdict.summary


def test_a_difference_without_an_interval_fails() -> None:
    no_interval = dataclasses.replace(evidence(), accuracy_difference=Estimate(0.1, None, None))
    verdict = judge(no_interval, Policy())
    assert verdict.outcome == "fail"
    assert "no interval" in verdict.summary

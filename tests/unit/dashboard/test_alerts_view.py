"""The Alerts page's words and backtest figure: the banner's sentence, the figure's units,
levels and firing periods, and an empty history said in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.alerts_charts import backtest_figure, backtest_words, rule_scale
from dashboard.alerts_view import banner_text
from services.alerts.backtest import Backtest, Episode
from services.alerts.rules import LabelBacklogRule, QualityRule, TrafficStoppedRule
from services.alerts.state import Observation, Status
from services.alerts.store import FiringAlert

T0 = datetime(2026, 12, 1, tzinfo=UTC)
RULE = QualityRule(name="floor", model="churn", metric="accuracy", floor=0.75, resolve_at=0.8)


def _alert(summary: str, *, silenced: bool = False, by: str | None = None) -> FiringAlert:
    return FiringAlert(rule_id=1, name="r", model="churn", severity="warning", since=T0,
                       summary=summary, acknowledged_by=by, silenced=silenced)


def test_the_banner_counts_names_and_leaves_silenced_alerts_out() -> None:
    assert banner_text([]) == ""
    assert banner_text([_alert("a", silenced=True)]) == ""
    assert banner_text([_alert("churn accuracy 64 % < 75 % (1,920 labels)", by="olga"),
                        _alert("b", silenced=True)]) == (
        "1 alert firing: churn accuracy 64 % < 75 % (1,920 labels) (olga is on it)")
    many = banner_text([_alert(f"s{i}") for i in range(5)])
    assert many == "5 alerts firing: s0; s1; s2; and 2 more"


def _result(values: list[float | None], episodes: list[Episode]) -> Backtest:
    steps = [(T0 + timedelta(hours=i),
              Observation(v, None if v is None else (v - 0.02, v + 0.02), 500), Status.INACTIVE)
             for i, v in enumerate(values)]
    return Backtest(start=T0, end=T0 + timedelta(hours=len(values)), step_seconds=3600,
                    steps=steps, episodes=episodes)


def test_the_figure_draws_the_metric_in_percent_with_its_levels_and_firing_shaded() -> None:
    fired = Episode(fired_at=T0 + timedelta(hours=2), resolved_at=T0 + timedelta(hours=4),
                    value=0.6)
    fig = backtest_figure(rule=RULE, result=_result([0.9, 0.7, 0.6, 0.7, 0.85], [fired]),
                          tz="Europe/Paris")
    line = next(t for t in fig.data if t.name == "watched figure")
    assert [round(v, 6) for v in line.y] == [90, 70, 60, 70, 85]
    assert fig.layout.xaxis.title.text == "time (Europe/Paris)"
    assert fig.layout.yaxis.title.text == "accuracy (%)"
    levels = sorted(round(s.y0, 6) for s in fig.layout.shapes if s.type == "line")
    assert levels == [75, 80]
    (shaded,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert shaded.x0 == fired.fired_at.astimezone(shaded.x0.tzinfo)
    words = backtest_words(_result([0.9] * 5, [fired]), "UTC")
    assert words.startswith("Would have fired 1 time and resolved 1 time over the last 0 days")
    assert "fired 2026-12-01 02:00, resolved 2026-12-01 04:00" in words


def test_an_empty_history_says_so_in_the_figure() -> None:
    fig = backtest_figure(rule=RULE, result=_result([None, None], []), tz="UTC")
    assert any("nothing to judge" in a.text for a in fig.layout.annotations)


def test_each_kind_is_drawn_in_its_own_unit() -> None:
    assert rule_scale(TrafficStoppedRule(name="q", model="m", silence_seconds=600)).unit == "min"
    backlog = LabelBacklogRule(name="b", model="m", size=10, resolve_size=5)
    assert rule_scale(backlog).title == "predictions awaiting a label"
    recall = QualityRule(name="r", model="m", metric="recall:churns", floor=0.5, resolve_at=0.6)
    assert rule_scale(recall).title == "recall of churns (%)"


def test_figures_on_too_few_labels_are_drawn_apart_as_not_judged() -> None:
    steps = [(T0, Observation(1.0, (0.2, 1.0), 3), Status.INACTIVE),
             (T0 + timedelta(hours=1), Observation(0.9, (0.87, 0.93), 500), Status.INACTIVE)]
    result = Backtest(start=T0, end=T0 + timedelta(hours=2), step_seconds=3600, steps=steps)
    fig = backtest_figure(rule=RULE, result=result, tz="UTC")
    judged = next(t for t in fig.data if t.name == "watched figure")
    thin = next(t for t in fig.data if t.name == "on fewer than 200: not judged")
    assert list(judged.y) == [None, 90]
    assert list(thin.y) == [100, None]
    alone = Backtest(start=T0, end=T0 + timedelta(hours=1), step_seconds=3600, steps=steps[:1])
    fig = backtest_figure(rule=RULE, result=alone, tz="UTC")
    assert any("too small a sample at every step" in a.text for a in fig.layout.annotations)

"""Chart builders return readable figures: titles, units, time zone, sparse days marked."""

from __future__ import annotations

from datetime import date

from dashboard.charts import daily_accuracy_figure
from dashboard.format import latency, rate, share
from services.views.overview import MIN_LABELS_PER_DAY, DailyAccuracy


def test_daily_accuracy_has_units_zone_and_marks_sparse_days() -> None:
    days = [
        DailyAccuracy(day=date(2026, 1, 1), labelled=100, correct=80),
        DailyAccuracy(day=date(2026, 1, 2), labelled=MIN_LABELS_PER_DAY - 1, correct=5),
    ]
    fig = daily_accuracy_figure(model="churn", days=days, tz="Europe/Berlin")
    assert "Europe/Berlin" in fig.layout.title.text
    assert fig.layout.yaxis2.title.text == "accuracy (%)"
    bars, line, sparse = fig.data
    assert list(bars.y) == [100, MIN_LABELS_PER_DAY - 1]
    assert list(line.y) == [80.0, None]  # no point where labels are too few
    assert list(sparse.x) == ["Jan 2"]
    # The accuracy line sits on the overlaying axis, drawn above the bars.
    assert line.yaxis == "y2"


def test_formatting_of_missing_and_present_figures() -> None:
    assert share(None) == "—"
    assert share(0.4567) == "45.7 %"
    assert rate(0.5) == "0.50 req/s"
    assert rate(1234.0) == "1,234 req/s"
    assert latency(0.0123) == "12.3 ms"
    assert latency(None) == "—"

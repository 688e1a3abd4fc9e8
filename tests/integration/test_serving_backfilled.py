"""The Serving page over a known two-version history in a real, backfilled Prometheus.

Churn v1 serves 2,100 evenly spaced predictions over 28 h, then v2 is promoted at ``T``
and serves 2,400 over the 20 h up to the end of the history. The store is backfilled into
a fresh Prometheus with promtool (as ``make demo`` does), and what the page would draw is
checked twice: straight from ``serving_view`` and through the page itself under AppTest.

Rates: the page's rate window equals its step, so consecutive points count the
predictions of consecutive, non-overlapping windows. One point can be off by one
prediction over its window (the counter is sampled once a minute; Prometheus extrapolates
the sampled part to the whole window): under 1.5 / window in absolute terms. Over a
version's period those errors tile and cancel, leaving about two predictions out of
thousands, so the period's mean must be within 2 % of ``count / duration`` — loose enough
for that, tight enough to catch a wrong version, unit, window or a double count.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

import dashboard.auth
from db.schema import upgrade
from db.session import make_engine
from devstack.processes import free_loopback_port
from services.access import SYSTEM, Role
from services.auth.tokens import issue_token
from services.auth.users import create_user
from services.prometheus.presets import BUILTIN_PRESETS
from services.prometheus.source import PrometheusSource
from services.settings import PROJECT_ROOT
from services.views.serving import PANELS, ServingView, serving_view
from tests.handshake import use_handshake
from tests.live_stack import new_supervisor
from tests.serving_history import MODEL, PROMOTER, REASON, History, backfill, record_history

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="Debian's prometheus package (prometheus, promtool) is not installed",
    ),
]

SECRET = "serving-backfilled-secret-" + "s" * 32
USER = "oscar"
RATE_TITLE = f"Request rate by version ({MODEL})"
#: Relative tolerance of a version's mean rate over its period (see the module docstring).
MEAN_TOLERANCE = 0.02




@dataclass(frozen=True)
class Backfilled:
    history: History
    engine: Engine
    database_url: str
    var_dir: str
    prometheus_url: str


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backfilled]:
    var = tmp_path_factory.mktemp("serving-backfilled")
    database_url = f"sqlite:///{var / 'opsdash.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    history = History(start=end - timedelta(hours=48), promoted=end - timedelta(hours=20),
                      end=end, v1_count=2100, v2_count=2400)
    record_history(engine, history)
    create_user(engine=engine, actor=SYSTEM, username=USER, role=Role.OPERATOR,
                password="operator password 2")
    prometheus = backfill(engine, var=var, port=free_loopback_port(), end=end,
                          instance=f"127.0.0.1:{free_loopback_port()}")
    supervisor = new_supervisor(var / "logs", {})
    try:
        prometheus.start(supervisor)
        yield Backfilled(history=history, engine=engine, database_url=database_url,
                         var_dir=str(var), prometheus_url=prometheus.url)
    finally:
        supervisor.stop_all()
        engine.dispose()


# -- what a request-rate series must look like ---------------------------------------------


def _check_v1(times: Sequence[float], values: Sequence[float | None], window_s: float,
              history: History) -> None:
    """v1 serves until T: its traffic shows before T (plus one rate window), none after."""
    promoted = history.promoted.timestamp()
    busy = [t for t, v in zip(times, values, strict=True) if v]
    assert busy
    assert max(busy) <= promoted + window_s
    assert min(busy) < promoted - 24 * 3600  # and it served long before T
    # The exporter keeps v1's counter after the switch, so v1 reads 0 req/s, not "no data".
    later = [v for t, v in zip(times, values, strict=True) if t > promoted + window_s]
    assert later
    assert all(v == 0 for v in later)
    _check_rate(times, values, window_s, history.start, history.promoted, history.v1_rate)


def _check_v2(times: Sequence[float], values: Sequence[float | None], window_s: float,
              history: History) -> None:
    """v2 has no point at all before its promotion."""
    assert times
    assert min(times) > history.promoted.timestamp()
    _check_rate(times, values, window_s, history.promoted, history.end, history.v2_rate)


def _check_rate(times: Sequence[float], values: Sequence[float | None], window_s: float,
                first: datetime, last: datetime, expected: float) -> None:
    # Points whose whole window lies inside the version's period.
    inside = [v for t, v in zip(times, values, strict=True)
              if t - window_s >= first.timestamp() and t <= last.timestamp()]
    span = (last - first).total_seconds()
    assert len(inside) >= span / window_s - 3  # no gaps inside the period
    assert all(v is not None for v in inside)
    numbers = [float(v) for v in inside if v is not None]
    mean = sum(numbers) / len(numbers)
    assert mean == pytest.approx(expected, rel=MEAN_TOLERANCE)
    assert all(abs(v - expected) < 1.5 / window_s for v in numbers)


# -- serving_view straight ------------------------------------------------------------------


def _view(backfilled: Backfilled, versions: list[str] | None) -> ServingView:
    history = backfilled.history
    return serving_view(
        source=PrometheusSource(backfilled.prometheus_url, timeout=10),
        preset=BUILTIN_PRESETS["opsdash"],
        engine=backfilled.engine, model=MODEL,
        versions=versions, start=history.start - timedelta(hours=2),
        end=datetime.now(UTC),
    )


def test_serving_view_draws_each_version_in_its_own_period(backfilled: Backfilled) -> None:
    history = backfilled.history
    view = _view(backfilled, None)
    assert view.unavailable is None
    assert view.requests == len(PANELS) == 9
    assert {name: panel.empty_reason for name, panel in view.panels.items()} == dict.fromkeys(
        view.panels)
    window = float(view.window.removesuffix("s"))
    by_version = {s.labels["version"]: s for s in view.panels["request_rate"].series}
    assert sorted(by_version) == ["1", "2"]
    _check_v1(by_version["1"].times, by_version["1"].values, window, history)
    _check_v2(by_version["2"].times, by_version["2"].values, window, history)
    (marker,) = view.markers
    assert (marker.at, marker.text, marker.actor, marker.reason) == (
        history.promoted, "v2 promoted", PROMOTER, REASON)
    # One prediction in four is "churns", whichever version served it.
    (churns,) = [s for s in view.panels["class_mix"].series
                 if s.labels["predicted_class"] == "churns"]
    inside = [v for t, v in zip(churns.times, churns.values, strict=True)
              if history.start.timestamp() + window <= t <= history.end.timestamp()]
    assert sum(inside) / len(inside) == pytest.approx(0.25, abs=0.01)


def test_serving_view_asks_only_for_the_chosen_version(backfilled: Backfilled) -> None:
    view = _view(backfilled, ["2"])
    assert [s.labels["version"] for s in view.panels["request_rate"].series] == ["2"]
    assert [s.labels["version"] for s in view.panels["latency_p95"].series] == ["2"]
    assert view.requests == 9


# -- the page under AppTest -----------------------------------------------------------------


@pytest.fixture
def open_page(
    backfilled: Backfilled, monkeypatch: pytest.MonkeyPatch
) -> Callable[[], AppTest]:
    """The Serving page, signed in, over the Custom days that cover the whole history."""

    def run() -> AppTest:
        for key, value in {
            "VAR_DIR": backfilled.var_dir,
            "DATABASE_URL": backfilled.database_url,
            "COOKIE_SECRET": SECRET,
            "PROMETHEUS_URL": backfilled.prometheus_url,
            "PROMETHEUS_TIMEOUT": "10",
            "TIMEZONE": "UTC",
            "QUERY_PRESET": "opsdash",
            "QUERY_PRESETS_FILE": "",
        }.items():
            monkeypatch.setenv(f"OPSDASH_{key}", value)
        token = issue_token(username=USER, secret=SECRET, ttl_seconds=600)
        monkeypatch.setattr(dashboard.auth, "_session_cookie", lambda: token)
        use_handshake(monkeypatch)
        at = AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=20).run()
        at.switch_page("pages/serving.py").run()
        at.selectbox(key="serving-range").select("Custom days").run()
        first = backfilled.history.start.date()
        at.date_input(key="serving-days").set_value((first, datetime.now(UTC).date())).run()
        assert not at.exception
        assert not at.warning, [w.value for w in at.warning]
        return at

    return run


def _figures(at: AppTest) -> dict[str, dict[str, Any]]:
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {c["layout"]["title"]["text"]: c for c in charts}


def _seconds(x: str) -> float:
    return datetime.fromisoformat(x).timestamp()


def _caption(at: AppTest) -> str:
    (caption,) = [c.value for c in at.caption if "PromQL requests" in c.value]
    return caption


def test_the_page_charts_each_version_in_its_period_with_the_promotion_marked(
    open_page: Callable[[], AppTest], backfilled: Backfilled
) -> None:
    history = backfilled.history
    at = open_page()
    figures = _figures(at)
    assert len(figures) == len(PANELS)
    caption = _caption(at)
    assert re.search(r"· 9 PromQL requests ·", caption), caption
    step = re.search(r"step (\d+) s, rates over (\d+)s", caption)
    assert step is not None, caption
    window = float(step[2])
    # The Custom days start at midnight of the history's first day: about 300 points.
    span = datetime.now(UTC) - datetime.combine(history.start.date(), time.min, UTC)
    assert float(step[1]) == window == pytest.approx(span.total_seconds() / 299, abs=2)

    rate = figures[RATE_TITLE]
    traces = {t["name"]: t for t in rate["data"]}
    assert sorted(traces) == ["v1", "v2"]
    for name, check in (("v1", _check_v1), ("v2", _check_v2)):
        times = [_seconds(x) for x in traces[name]["x"]]
        check(times, traces[name]["y"], window, history)

    promoted_ms = history.promoted.timestamp() * 1000
    for title, figure in figures.items():
        (line,) = [s for s in figure["layout"].get("shapes", []) if s["x0"] == s["x1"]]
        assert line["x0"] == pytest.approx(promoted_ms, abs=1), title
        # The p95 chart also labels its target line.
        (note,) = [a for a in figure["layout"]["annotations"]
                   if not a["text"].startswith("target ")]
        assert note["text"] == "v2 promoted", title
        assert _seconds(note["x"]) == history.promoted.timestamp(), title

    (table,) = at.dataframe
    rows = table.value.to_dict("records")
    assert rows == [{"Time": f"{history.promoted:%Y-%m-%d %H:%M} UTC",
                     "Change": "v2 promoted", "By": PROMOTER, "Reason": REASON}]


def test_choosing_only_v2_drops_the_v1_traces(open_page: Callable[[], AppTest]) -> None:
    at = open_page()
    assert [t["name"] for t in _figures(at)[RATE_TITLE]["data"]] == ["v1", "v2"]
    at.multiselect(key=f"serving-versions-{MODEL}").set_value(["2"]).run()
    assert not at.exception
    figures = _figures(at)
    for panel in ("Request rate", "Latency p50", "Latency p95", "Latency p99"):
        title = f"{panel} by version ({MODEL})"
        assert [t["name"] for t in figures[title]["data"]] == ["v2"], title
    assert re.search(r"· 9 PromQL requests ·", _caption(at))
    assert at.dataframe[0].value["Change"].tolist() == ["v2 promoted"]


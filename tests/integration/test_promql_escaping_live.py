"""Escaped label values against a real Prometheus: a value selects exactly its own series.

Prometheus is started on a free loopback port over a data folder backfilled with
``promtool tsdb create-blocks-from openmetrics``: one ``opsdash_predictions_total`` series
per tricky model name (quotes, backslashes, line breaks, regex metacharacters, a PromQL
injection, non-ASCII, spaces), plus one without a model label. Hypothesis then asks for
arbitrary text and checks that the answer is exactly the seeded series with that value.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.processes import free_loopback_port
from devstack.prometheus_config import render_config
from devstack.specs import prometheus_spec
from services.prometheus import metric_names as names
from services.prometheus.presets import BUILTIN_PRESETS
from services.prometheus.promql import PANEL_NAMES, selector
from services.prometheus.source import MetricsSourceError, PrometheusSource
from tests.live_stack import new_supervisor

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        PROMETHEUS is None or PROMTOOL is None,
        reason="Debian's prometheus package (prometheus, promtool) is not installed",
    ),
]

METRIC = names.PREDICTIONS_TOTAL
#: Model names that break naive quoting or regex building, and some ordinary ones.
SEEDED: tuple[str, ...] = (
    "churn", "tickets", "v1.0", "v1x0",
    'say "hi"', '"', "'", "back\\slash", "trailing\\", "\\n", "\\", "two\nlines", "tab\there",
    '\'} or {__name__=~".+"} #', '"} or {__name__=~".+"} #', "x\"} or vector(1) #",
    "a.b", "axb", "a|b", "a", "b", ".*", ".+", "(x)", "x", "[abc]", "c", "^start", "end$",
    "a+", "aa", "a?", "{1,2}", "$1", "%s", "\\d", "1",
    "naïve", "日本語", "emoji 🎉", "Ωmega", "ＦＵＬＬ", "\u00a0nbsp", " ", "  two  spaces ",
)
#: The series without a model label answers ``model=""``.
UNLABELLED = ""




def _om_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _openmetrics(now: int) -> str:
    family = METRIC.removesuffix("_total")
    lines = [f"# HELP {family} Seeded model names.", f"# TYPE {family} counter"]
    # A sample a minute from well before now to well after it, so instant queries at "now"
    # find one within Prometheus' five-minute look-back however long the test takes.
    stamps = range(now - 600, now + 1800, 60)
    series = [f'{METRIC}{{model="{_om_escape(v)}",version="1"}}' for v in SEEDED]
    series.append(f'{METRIC}{{version="1"}}')
    for t in stamps:
        lines.extend(f"{s} {(t - now) // 60 + 100} {t}" for s in series)
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusSource]:
    assert PROMETHEUS is not None
    assert PROMTOOL is not None
    folder = tmp_path_factory.mktemp("promql-escaping")
    source = folder / "seed.om"
    source.write_text(_openmetrics(int(time.time())), encoding="utf-8")
    data = folder / "data"
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data)],
        check=True, capture_output=True, timeout=120,
    )
    port = free_loopback_port()
    config = folder / "prometheus.yml"
    # Nothing listens at the scrape target; the seeded blocks are all there is to query.
    target = f"127.0.0.1:{free_loopback_port()}"
    config.write_text(render_config(scrape_target=target), encoding="utf-8")
    supervisor = new_supervisor(folder / "logs", {})
    try:
        service = supervisor.start(
            prometheus_spec(binary=PROMETHEUS, config=config, data_dir=data, port=port)
        )
        supervisor.wait_ready([service])
        yield PrometheusSource(f"http://127.0.0.1:{port}", timeout=5)
    finally:
        supervisor.stop_all()


def _models(source: PrometheusSource, query: str) -> list[str]:
    result = source.instant_result(query)
    assert result.warnings == ()
    return sorted(s.labels.get("model", UNLABELLED) for s in result.samples)


def test_the_seeded_series_are_there(prometheus: PrometheusSource) -> None:
    assert _models(prometheus, METRIC) == sorted([*SEEDED, UNLABELLED])


@pytest.mark.parametrize("value", [*SEEDED, UNLABELLED])
def test_each_seeded_value_selects_exactly_its_series(
    prometheus: PrometheusSource, value: str
) -> None:
    assert _models(prometheus, selector(METRIC, {"model": value})) == [value]


_TEXT = st.one_of(st.text(), st.sampled_from([*SEEDED, UNLABELLED]))
_EXISTING = frozenset([*SEEDED, UNLABELLED])


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_TEXT)
def test_any_value_selects_only_the_series_with_that_exact_value(
    prometheus: PrometheusSource, value: str
) -> None:
    expected = [value] if value in _EXISTING else []
    assert _models(prometheus, selector(METRIC, {"model": value})) == expected


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_TEXT, max_size=5))
def test_any_value_list_selects_only_the_series_with_one_of_those_values(
    prometheus: PrometheusSource, values: Sequence[str]
) -> None:
    expected = sorted(set(values) & _EXISTING)
    assert _models(prometheus, selector(METRIC, regex_matchers={"model": values})) == expected


def test_an_empty_value_list_selects_nothing(prometheus: PrometheusSource) -> None:
    assert _models(prometheus, selector(METRIC, regex_matchers={"model": []})) == []


@pytest.mark.parametrize("preset", sorted(BUILTIN_PRESETS))
def test_every_builtin_template_is_valid_promql_for_this_prometheus(
    prometheus: PrometheusSource, preset: str
) -> None:
    chosen = BUILTIN_PRESETS[preset]
    for panel in PANEL_NAMES:
        for model, versions in (("churn", ["1", "2"]), (None, None), (SEEDED[11], [])):
            query = chosen.render(panel, model=model, versions=versions, window="5m")
            if query is None:
                continue
            try:
                prometheus.instant_result(query)
            except MetricsSourceError as exc:  # pragma: no cover - the failure message
                pytest.fail(f"{preset}/{panel}: {exc}\n{query}")


def test_the_request_rate_panel_reads_the_seeded_counter(prometheus: PrometheusSource) -> None:
    query = BUILTIN_PRESETS["opsdash"].render(
        "request_rate", model=SEEDED[11], versions=["1"], window="5m"
    )
    assert query is not None
    samples = prometheus.instant(query)
    # One increment a minute: 1/60 per second.
    assert [(s.labels, round(s.value, 4)) for s in samples] == [({"version": "1"}, 0.0167)]


def test_a_value_that_would_end_the_string_early_is_not_an_injection(
    prometheus: PrometheusSource,
) -> None:
    for hostile in ('"} or {__name__=~".+"} #', '\'} or {__name__=~".+"} #'):
        query = f"count({selector(METRIC, {'model': hostile})})"
        assert [s.value for s in prometheus.instant(query)] == [1.0]

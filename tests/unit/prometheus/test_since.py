"""The bake watch's PromQL: counts since a moment, for exactly one escaped model version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.prometheus.since import version_since_queries

SINCE = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
AT = SINCE + timedelta(minutes=10)


def test_each_query_selects_one_version_between_the_two_moments() -> None:
    queries = version_since_queries(model="churn", version="2", since=SINCE, at=AT)

    assert set(queries) == {"predictions", "errors", "latency_p95"}
    for query in queries.values():
        assert 'model="churn",version="2"' in query
        assert f"@ {SINCE.timestamp():.3f}" in query
        assert f"@ {AT.timestamp():.3f}" in query
    assert queries["errors"].startswith("sum(clamp_min(opsdash_prediction_errors_total{")
    assert queries["latency_p95"].startswith("histogram_quantile(0.95, sum by (le) (")


def test_a_hostile_model_name_stays_one_escaped_label_value() -> None:
    queries = version_since_queries(model='x"}) or vector(1) #', version="1", since=SINCE,
                                    at=AT)

    assert 'model="x\\"}) or vector(1) #"' in queries["predictions"]


@pytest.mark.parametrize(("since", "at"), [
    (SINCE.replace(tzinfo=None), AT), (SINCE, AT.replace(tzinfo=None)), (AT, SINCE)])
def test_naive_or_reversed_moments_are_refused(since: datetime, at: datetime) -> None:
    with pytest.raises(ValueError, match="since"):
        version_since_queries(model="churn", version="1", since=since, at=at)

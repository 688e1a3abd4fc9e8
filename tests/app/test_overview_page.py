"""The overview page under AppTest: store figures, and Prometheus failing in several ways."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from dashboard.format import NO_LINK
from db.base import utcnow
from services.access import Role
from tests.app.conftest import closed_port
from tests.factories import log_predictions, make_model


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    model_id, version_id = make_model(engine, name="churn")
    now = utcnow()
    rows: list[tuple[object, str, str | None]] = [
        (now - timedelta(hours=1), "stays", "stays"),
        (now - timedelta(hours=1), "churns", "stays"),
        (now - timedelta(days=2), "stays", None),
    ]
    log_predictions(engine, model_id=model_id, version_id=version_id, rows=rows)  # type: ignore[arg-type]
    make_model(engine, name="ticket-routing", classes=("billing", "tech", "account", "shipping"))
    return engine


def _read(markdown: str) -> str:
    """Markdown source as the reader sees it: escapes resolved, word joiners gone."""
    return re.sub(r"\\(.)", r"\1", markdown).replace(NO_LINK, "")


def _metrics(at: AppTest) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for metric in at.metric:
        out.setdefault(metric.label, []).append(metric.value)
    return out


def test_store_figures_show_while_prometheus_is_down(
    seeded: Engine, app: Callable[..., AppTest]
) -> None:
    at = app()
    assert not at.exception
    assert [s.value for s in at.subheader] == ["churn", "ticket-routing"]
    metrics = _metrics(at)
    assert metrics["Predictions, last 24 h"] == ["2", "0"]
    assert metrics["Predictions, last 7 days"] == ["3", "0"]
    assert metrics["Accuracy (7 days)"] == ["50.0 %", "—"]
    assert metrics["With ground truth (7 days)"] == ["66.7 %", "—"]
    assert metrics["Request rate now"] == ["—", "—"]
    (warning,) = at.warning
    assert "Prometheus at http://127.0.0.1:" in _read(warning.value)
    assert "connection refused" in warning.value


def test_credentials_in_the_prometheus_url_are_not_shown(
    seeded: Engine, app: Callable[..., AppTest]
) -> None:
    port = closed_port()
    at = app(prometheus_url=f"http://opsuser:Pr0m-s3cret@127.0.0.1:{port}", as_role=Role.ANALYST)
    assert not at.exception
    (warning,) = at.warning
    assert "connection refused" in warning.value
    assert f"Prometheus at http://***@127.0.0.1:{port} is" in _read(warning.value)
    page = _read("\n".join(str(e.value) for e in at.main if hasattr(e, "value")))
    assert "Pr0m-s3cret" not in page
    assert "opsuser" not in page


def test_a_hung_prometheus_costs_one_timeout_and_the_page_still_renders(
    seeded: Engine, app: Callable[..., AppTest], hung_port: int
) -> None:
    # AppTest raises if the run passes its timeout: 5 s is the page's promise.
    at = app(timeout=5, prometheus_url=f"http://127.0.0.1:{hung_port}", prometheus_timeout="2")
    assert not at.exception
    assert "no answer within 2 s" in at.warning[0].value
    assert _metrics(at)["Predictions, last 24 h"] == ["2", "0"]


def test_an_empty_store_says_how_to_get_models(engine: Engine, app: Callable[..., AppTest]) -> None:
    at = app()
    assert not at.exception
    assert "No models are registered yet" in at.info[0].value


def test_a_stale_schema_stops_the_app_with_the_upgrade_command(
    engine: Engine, app: Callable[..., AppTest]
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    at = app()
    assert not at.exception
    assert "python -m services.cli init-db" in at.error[0].value
    assert not at.metric

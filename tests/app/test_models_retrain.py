"""The Models page's retrain section under AppTest: who may start a job, the window's class
counts and a thin window refused, starting and cancelling, the active job's progress as a
worker reports it (the real job store's functions, called here as a worker would), the
conflict of a second start, and the history with each job's outcome and version."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from db.base import utcnow
from db.repositories import registry
from db.session import session_scope
from services.access import SYSTEM, Principal, Role
from services.audit import query_audit
from services.retrain import jobs
from tests.factories import make_model
from tests.retrain_store import retrain_store
from tests.serving_models import add_version

PAGE = "pages/models.py"
START = "retrain-start-churn"
OLIVE = Principal(username="olive", role=Role.OPERATOR)
#: The stores here hold about 150 labelled rows of each class.
FEW = {"retrain_min_per_class": "5"}


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> int:
    """Churn with a real pipeline in production and 300 labelled predictions from the last
    day; returns the model's id."""
    retrain_store(engine, folder=tmp_path)
    return 1


def _page(app: Callable[..., AppTest], role: Role, **env: str) -> AppTest:
    at = app(as_role=role, script=PAGE, **(FEW | env))
    assert not at.exception, at.exception
    return at


def _keys(at: AppTest) -> set[str]:
    return {w.key for w in at.get("button") if w.key}


def _history(at: AppTest) -> pd.DataFrame:
    (table,) = [d.value for d in at.dataframe if "Requested by" in d.value.columns]
    return table


def _queue(engine: Engine, who: Principal = OLIVE, preset: jobs.Preset = "same") -> jobs.Job:
    """A job queued by another operator (olive) on the last two days."""
    now = utcnow()
    return jobs.start_retrain(engine=engine, actor=who, model="churn",
                              start=now - timedelta(days=2), end=now, preset=preset,
                              min_per_class=5, note="after the drift")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR], ids=["admin", "operator"])
def test_operators_and_admins_get_the_dialog_with_the_window_s_class_counts(
    app: Callable[..., AppTest], engine: Engine, store: int, role: Role
) -> None:
    at = _page(app, role, timezone="Europe/Paris")
    assert "Retrain" in [s.value for s in at.subheader]
    assert START in _keys(at)
    assert not at.button(key=START).disabled
    (counts,) = [m.value for m in at.markdown if "Labelled rows per class" in m.value]
    assert "churns" in counts
    assert "stays" in counts
    assert "300 in all" in counts
    assert any("last 14 days" in c.value for c in at.caption)
    assert at.date_input(key="retrain-from-churn").label.endswith("(Europe/Paris)")


def test_analysts_see_no_dialog_and_no_cancel(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    job = _queue(engine)
    at = _page(app, Role.ANALYST)
    assert START not in _keys(at)
    assert f"retrain-cancel-{job.id}" not in _keys(at)
    assert any(f"Job {job.id}" in m.value for m in at.markdown)  # progress is readable
    assert list(_history(at)["Job"]) == [job.id]
    jobs.cancel_job(engine=engine, actor=OLIVE, job_id=job.id)
    at.run()
    assert START not in _keys(at)
    assert any("your role (analyst) sees the jobs' progress" in c.value for c in at.caption)


def test_a_window_too_thin_is_refused_with_the_start_button_disabled(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    at = _page(app, Role.OPERATOR, retrain_min_per_class="1000")
    (error,) = [e.value for e in at.error if "Cannot train" in e.value]
    assert "too few labelled predictions" in error
    assert "at least 1,000 per class" in error
    assert at.button(key=START).disabled
    assert jobs.list_jobs(engine=engine, model="churn") == []


def test_starting_a_job_queues_it_audits_it_and_shows_its_progress(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    at = _page(app, Role.OPERATOR)
    at.radio(key="retrain-preset-churn").set_value("search")
    at.text_input(key="retrain-note-churn").input("after the drift episode")
    at.run()
    at.button(key=START).click().run()
    assert not at.exception
    (job,) = jobs.list_jobs(engine=engine, model="churn")
    assert (job.status, job.preset, job.requested_by) == ("queued", "search", "operator-user")
    assert job.note == "after the drift episode"
    assert any(f"Job {job.id} queued" in s.value for s in at.success)
    (entry,) = query_audit(engine=engine, actor=SYSTEM, action="retrain_requested")
    assert (entry.actor, entry.object_id) == ("operator-user", str(job.id))
    # The active job replaces the form.
    assert START not in _keys(at)
    assert any("waiting for a worker" in m.value for m in at.markdown)
    assert f"retrain-cancel-{job.id}" in _keys(at)


def test_the_active_job_shows_what_its_worker_reports(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    job = _queue(engine, preset="search")
    claimed = jobs.claim_next(engine=engine, worker_id="w-1", lease_seconds=60)
    assert claimed is not None
    assert claimed.id == job.id
    jobs.report(engine=engine, job_id=job.id, worker_id="w-1", stage="loading data",
                percent=8, message="2,000 of 2,500 labelled rows read",
                log="loading data: reading", lease_seconds=60)
    at = _page(app, Role.OPERATOR)
    (bar,) = at.get("progress")
    assert bar.proto.value == 8
    assert "8 % · elapsed" in bar.proto.text
    assert any("loading data" in m.value for m in at.markdown)
    jobs.report(engine=engine, job_id=job.id, worker_id="w-1", stage="training", percent=42,
                message="search fold 3 of 40", log="<b>fold</b> 3 done", lease_seconds=60)
    at.run()
    (bar,) = at.get("progress")
    assert bar.proto.value == 42
    (line,) = [m.value for m in at.markdown if f"Job {job.id}" in m.value]
    assert "training" in line
    assert "search fold 3 of 40" in line
    (log,) = at.code
    assert log.value.splitlines()[-1] == "<b>fold</b> 3 done"  # shown as text
    assert "claimed by worker w-1" in log.value


def test_cancel_stops_a_queued_job_at_once_and_asks_a_running_one_to_stop(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    job = _queue(engine)
    at = _page(app, Role.OPERATOR)
    at.button(key=f"retrain-cancel-{job.id}").click().run()
    assert not at.exception
    assert jobs.get_job(engine=engine, job_id=job.id).status == "cancelled"
    assert START in _keys(at)  # the form is back
    assert _history(at)["Status"][0] == "cancelled"
    (entry,) = query_audit(engine=engine, actor=SYSTEM, action="retrain_cancelled")
    assert entry.actor == "operator-user"

    running = _queue(engine)
    jobs.claim_next(engine=engine, worker_id="w-1", lease_seconds=60)
    at.run()
    at.button(key=f"retrain-cancel-{running.id}").click().run()
    assert jobs.get_job(engine=engine, job_id=running.id).cancel_requested
    assert any("stops within seconds" in c.value for c in at.caption)
    assert f"retrain-cancel-{running.id}" not in _keys(at)


def test_a_second_start_names_the_job_that_runs_and_shows_it(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    at = _page(app, Role.OPERATOR)
    first = _queue(engine)  # another operator clicked first
    at.button(key=START).click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error if "Not started" in e.value]
    assert f"job {first.id}" in error
    assert "started by olive" in error
    assert [j.id for j in jobs.list_jobs(engine=engine, model="churn")] == [first.id]
    assert START not in _keys(at)
    assert f"retrain-cancel-{first.id}" in _keys(at)


def test_the_history_lists_outcomes_and_links_the_new_candidate_s_evidence(
    app: Callable[..., AppTest], engine: Engine, store: int, tmp_path: Path
) -> None:
    failed = _queue(engine)
    jobs.claim_next(engine=engine, worker_id="w-1", lease_seconds=60)
    jobs.finish(engine=engine, job_id=failed.id, worker_id="w-1", status="failed",
                error="the training process exited with status 5\nTraceback (most recent)")
    done = _queue(engine)
    jobs.claim_next(engine=engine, worker_id="w-1", lease_seconds=60)
    version_id = add_version(engine, folder=tmp_path, model_id=store, seed=2, promote=False)
    jobs.finish(engine=engine, job_id=done.id, worker_id="w-1", status="succeeded",
                result_version_id=version_id)
    at = _page(app, Role.OPERATOR)
    history = _history(at)
    assert list(history["Job"]) == [done.id, failed.id]
    assert list(history["Status"]) == ["succeeded", "failed"]
    assert list(history["Version"]) == ["v2", ""]
    assert history["Error"][1] == "the training process exited with status 5"
    assert list(history["Requested by"]) == ["olive", "olive"]
    assert any(f"Job {done.id} produced candidate v2" in s.value for s in at.success)
    at.button(key=f"retrain-show-{done.id}").click().run()
    assert at.selectbox(key="models-candidate-churn").value == 2


def test_a_model_served_elsewhere_retrains_only_through_the_hand_off(
    app: Callable[..., AppTest], engine: Engine
) -> None:
    model_id, _ = make_model(engine, name="churn")
    with session_scope(engine, write=True) as session:
        version = registry.add_version(session=session, model_id=model_id, artifact_path="",
                                       artifact_sha256="", created_by="ext")
        registry.set_production(session=session, model_id=model_id, version_id=version.id,
                                 actor="ext")
    at = _page(app, Role.OPERATOR)
    assert START not in _keys(at)
    (info,) = [i.value for i in at.info if "served elsewhere" in i.value]
    assert "hand\\-off" in info or "hand-off" in info
    assert "WEBHOOK" in info


def test_the_counts_follow_the_chosen_dates_and_an_empty_window_is_refused(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    at = _page(app, Role.OPERATOR)
    long_ago = (utcnow() - timedelta(days=10)).date()
    at.date_input(key="retrain-from-churn").set_value(long_ago)
    at.date_input(key="retrain-to-churn").set_value(long_ago)
    at.run()
    (counts,) = [m.value for m in at.markdown if "Labelled rows per class" in m.value]
    assert "churns 0" in counts
    assert "(0 in all)" in counts
    assert at.button(key=START).disabled
    at.date_input(key="retrain-from-churn").set_value(utcnow().date())
    at.run()
    assert any("window is empty" in e.value for e in at.error)
    assert at.button(key=START).disabled


def test_a_note_with_markup_shows_as_typed(
    app: Callable[..., AppTest], engine: Engine, store: int
) -> None:
    now = utcnow()
    jobs.start_retrain(engine=engine, actor=OLIVE, model="churn", start=now - timedelta(days=2),
                       end=now, preset="same", min_per_class=5,
                       note="<img src=x onerror=alert(1)> **bold** [link](http://example.org)")
    at = _page(app, Role.ANALYST)
    (caption,) = [c.value for c in at.caption if "note:" in c.value]
    assert "\\<img src=x onerror=alert\\(1\\)\\>" in caption  # escaped: drawn as text
    assert "\\*\\*bold\\*\\*" in caption
    assert "\\[link\\]" in caption

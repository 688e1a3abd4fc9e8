"""The worker's alert tasks on both engines: while a webhook holds a notification's
request, the worker's loop goes on and evaluates; the delivery completes once the webhook
answers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import Engine

from db.base import utcnow
from services.alerts.rules import LabelBacklogRule
from services.settings import Settings
from services.worker.__main__ import tasks
from services.worker.alerts_task import InBackground
from tests.alert_rows import deliveries, state, store_rule
from tests.factories import log_predictions, make_model
from tests.http_stub import QuietHandler, serving

SECRET = "a signing secret of the alert webhooks, long enough"


class _Held:
    """A webhook that answers only once released."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def held() -> Iterator[tuple[str, _Held]]:
    hook = _Held()

    class Handler(QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            hook.arrived.set()
            hook.release.wait(60)
            self.answer(200, b"{}")

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as httpd:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", hook
        hook.release.set()


def test_a_webhook_that_holds_its_answer_never_delays_evaluation(
        engine: Engine, settings: Settings, held: tuple[str, _Held]) -> None:
    url, hook = held
    model_id, version_id = make_model(engine, name="churn")
    log_predictions(engine, model_id=model_id, version_id=version_id,
                    rows=[(utcnow() - timedelta(minutes=5), "stays", None)] * 3)
    first = store_rule(engine, LabelBacklogRule(name="first", model="churn", size=2,
                                                resolve_size=0))
    hooked = settings.model_copy(update={
        "alert_webhook_url": url, "alert_webhook_secret": SECRET,
        "alert_webhook_hosts": "127.0.0.1", "alert_webhook_timeout_seconds": 30.0})
    by_name = {task.name: task for task in tasks(engine=engine, settings=hooked)}
    evaluate, deliver = by_name["alerts"], by_name["alert deliveries"]
    assert isinstance(deliver.run, InBackground)
    evaluate.run()
    deliver.run()
    assert hook.arrived.wait(30)
    second = store_rule(engine, LabelBacklogRule(name="second", model="churn", size=2,
                                                 resolve_size=0))
    evaluate.run()  # the webhook still holds the first notification
    assert not hook.release.is_set()
    evaluated = state(engine, second)
    assert evaluated is not None
    assert evaluated.status == "firing"
    in_flight = [d for d in deliveries(engine) if d.status == "queued" and d.attempts == 1]
    assert len(in_flight) == 1
    deliver.run()  # the previous look is still going: no second sender
    hook.release.set()
    assert deliver.run.join(30)
    deliver.run()
    assert deliver.run.join(30)
    assert [d.status for d in deliveries(engine)] == ["delivered", "delivered"]
    assert state(engine, first) is not None

"""``python -m devstack.simulator``: schema check, arguments, a short run against a stub."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest
from sqlalchemy import Engine

from devstack import simulator
from devstack.demo.scenarios import get_scenario
from services.settings import Settings
from tests.http_stub import QuietHandler, serving


class _Stub(ThreadingHTTPServer):
    models: list[str]


class _Handler(QuietHandler):
    server: _Stub

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.models.append(body["model"])
        names = get_scenario(body["model"]).feature_names
        if sorted(body["features"]) != sorted(names):
            status, answer = 422, {"detail": [{"field": "features", "message": "incomplete"}]}
        else:
            status, answer = 200, {"model": body["model"], "prediction_id": uuid.uuid4().hex}
        self.answer(status, json.dumps(answer).encode())


@pytest.fixture
def stub() -> Iterator[_Stub]:
    server = _Stub(("127.0.0.1", 0), _Handler)
    server.models = []
    with serving(server):
        yield server


def _environment(monkeypatch: pytest.MonkeyPatch, settings: Settings, port: int = 9) -> None:
    monkeypatch.setenv("OPSDASH_VAR_DIR", settings.var_dir)
    monkeypatch.setenv("OPSDASH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OPSDASH_SERVING_HOST", "127.0.0.1")
    monkeypatch.setenv("OPSDASH_SERVING_PORT", str(port))


@pytest.mark.sqlite_only  # a new SQLite file is an empty store; a PostgreSQL test's is migrated
def test_refuses_a_database_without_schema(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _environment(monkeypatch, settings)
    assert simulator.main(["--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "services.cli init-db" in err


@pytest.mark.parametrize(
    "argv",
    [["--rps", "0"], ["--rps", "inf"], ["--label-share", "1.5"], ["--model", "nope"]],
)
def test_bad_arguments_exit_2(
    argv: list[str], settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, settings)
    with pytest.raises(SystemExit) as exit_info:
        simulator.main(argv)
    assert exit_info.value.code == 2


def test_short_run_sends_both_models_to_the_service(
    engine: Engine, settings: Settings, stub: _Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch, settings, port=stub.server_address[1])
    code = simulator.main(["--duration", "1.5", "--rps", "20", "--label-delay", "0"])
    assert code == 0
    assert set(stub.models) == {"churn", "ticket-routing"}
    assert len(stub.models) > 20

"""A webhook receiver on loopback that plays an orchestrator in the hand-off tests: it keeps
every request it gets and answers with the statuses it is told, in turn. No tests here."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer

from tests.http_stub import QuietHandler, serving


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes


class Receiver(ThreadingHTTPServer):
    """Answers each POST with the next of ``statuses`` (the last one once they run out)."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.statuses = list(statuses)
        self.received: list[Received] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where to POST."""
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1/dags/retrain/dagRuns"

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class _Handler(QuietHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.received.append(Received(self.path, dict(self.headers.items()), body))
        status = self.server.next_status()
        self.answer(status, b'{"state": "queued"}' if status < 300 else b'{"detail": "no"}')


@contextmanager
def receiver(statuses: list[int] | None = None) -> Iterator[Receiver]:
    """A receiver on loopback answering ``statuses`` in turn (default: always 200)."""
    with serving(Receiver(statuses or [200])) as server:
        yield server


def closed_port_url() -> str:
    """A loopback URL nothing listens on (a receiver that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"

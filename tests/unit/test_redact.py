"""Credentials in URLs never reach a message: redact_url and redact_urls."""

from __future__ import annotations

import pytest

from services.redact import redact_url, redact_urls


@pytest.mark.parametrize(("url", "shown"), [
    ("http://user:pass@prom.example:9090/api", "http://***@prom.example:9090/api"),
    ("http://token@prom.example", "http://***@prom.example"),
    ("https://us%40er:p%3Ass%2Fw@prom.example/", "https://***@prom.example/"),
    ("http://user:pass@[::1]:9090", "http://***@[::1]:9090"),
    ("http://[::1]:9090/path", "http://[::1]:9090/path"),
    ("http://127.0.0.1:9090", "http://127.0.0.1:9090"),
    ("postgresql+psycopg://ops:s3cret@db.example:5432/opsdash",
     "postgresql+psycopg://***@db.example:5432/opsdash"),
    # SQLAlchemy reads a password up to the first "@", "/" included.
    ("postgresql://ops:pa/ss@db.example/opsdash", "postgresql://***@db.example/opsdash"),
    ("sqlite:////srv/a@b/opsdash.db", "sqlite:////srv/a@b/opsdash.db"),
    ("HTTP://u:p@host", "HTTP://***@host"),
    ("", ""),
])
def test_user_info_is_dropped_and_the_rest_kept(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_urls_inside_a_message_are_redacted() -> None:
    message = ("Prometheus at http://ann:hunter2@127.0.0.1:1 is unavailable; store "
               "postgresql://ops:pw@db/x failed, mail ops@example.org, see http://h/a@b")
    assert redact_urls(message) == (
        "Prometheus at http://***@127.0.0.1:1 is unavailable; store "
        "postgresql://***@db/x failed, mail ops@example.org, see http://h/a@b")


def test_the_settings_repr_shows_no_credentials() -> None:
    from services.settings import Settings

    settings = Settings(database_url="postgresql://ops:db-secret@db.example/opsdash",
                        prometheus_url="http://prom:prom-secret@[::1]:9090")
    shown = repr(settings)
    assert "db-secret" not in shown
    assert "prom-secret" not in shown
    assert "postgresql://***@db.example/opsdash" in shown
    assert "http://***@[::1]:9090" in shown
    # The values themselves are intact: only what is shown changes.
    assert settings.database_url == "postgresql://ops:db-secret@db.example/opsdash"


def test_the_prometheus_source_names_its_address_without_credentials() -> None:
    from services.prometheus.source import PrometheusSource

    source = PrometheusSource("http://ann:hunter2@127.0.0.1:9/", timeout=1)
    assert source.url == "http://***@127.0.0.1:9"


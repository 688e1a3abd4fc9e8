"""Settings come from OPSDASH_* variables, typed, with usable defaults."""

from __future__ import annotations

import pytest

from services.settings import Settings, SettingsError


def test_defaults_put_the_database_under_the_var_folder() -> None:
    s = Settings.from_env({"OPSDASH_VAR_DIR": "/srv/opsdash"})
    assert s.resolved_database_url == "sqlite:////srv/opsdash/opsdash.db"
    assert str(s.resolved_artifacts_dir) == "/srv/opsdash/artifacts"
    assert s.prometheus_url == "http://127.0.0.1:9090"


def test_variables_are_converted_to_the_field_type() -> None:
    s = Settings.from_env({"OPSDASH_PROMETHEUS_TIMEOUT": "1.5", "OPSDASH_SERVING_PORT": "9001"})
    assert s.prometheus_timeout == 1.5
    assert s.serving_port == 9001
    assert s.serving_url == "http://127.0.0.1:9001"


def test_an_explicit_database_url_wins() -> None:
    url = "postgresql+psycopg://u@db/opsdash"
    assert Settings.from_env({"OPSDASH_DATABASE_URL": url}).resolved_database_url == url


def test_a_badly_typed_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="OPSDASH_SERVING_PORT='eighty'"):
        Settings.from_env({"OPSDASH_SERVING_PORT": "eighty"})

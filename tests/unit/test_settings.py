"""Settings come from OPSDASH_* variables, typed, with usable defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.settings import Settings, SettingsError, get_settings


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


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OPSDASH_SERVING_PORT", "70000", "OPSDASH_SERVING_PORT=70000 must be between 1 and 65535"),
        ("OPSDASH_DASHBOARD_PORT", "0", "OPSDASH_DASHBOARD_PORT=0 must be between 1 and 65535"),
        ("OPSDASH_PROMETHEUS_TIMEOUT", "0", "OPSDASH_PROMETHEUS_TIMEOUT=0 must be greater than 0"),
        ("OPSDASH_SESSION_HOURS", "-1", "OPSDASH_SESSION_HOURS=-1 must be greater than 0"),
        ("OPSDASH_SLO_ERROR_RATE", "1.5", "OPSDASH_SLO_ERROR_RATE=1.5 must be between 0 and 1"),
        ("OPSDASH_DRIFT_SHARE", "0", "OPSDASH_DRIFT_SHARE=0 must be greater than 0 and at most 1"),
        ("OPSDASH_LOG_BATCH_SIZE", "0", "OPSDASH_LOG_BATCH_SIZE=0 must be at least 1"),
        ("OPSDASH_CACHE_TTL_SECONDS", "0", "OPSDASH_CACHE_TTL_SECONDS=0 must be at least 1"),
        ("OPSDASH_DEMO_SEED", "-1", "OPSDASH_DEMO_SEED=-1 must be at least 0"),
        ("OPSDASH_TIMEZONE", "Mars/Olympus", "OPSDASH_TIMEZONE='Mars/Olympus' is not a known IANA"),
        ("OPSDASH_SIMULATOR_RPS", "inf", "OPSDASH_SIMULATOR_RPS='inf' is not a finite number"),
        ("OPSDASH_DEMO_DAYS", "1.5", "OPSDASH_DEMO_DAYS='1.5' is not a valid int"),
    ],
)
def test_a_value_out_of_range_names_the_variable_and_the_range(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(message)


def test_the_bounds_of_a_range_are_allowed() -> None:
    s = Settings.from_env({"OPSDASH_SERVING_PORT": "65535", "OPSDASH_DASHBOARD_PORT": "1",
                           "OPSDASH_SLO_ERROR_RATE": "0", "OPSDASH_DRIFT_SHARE": "1",
                           "OPSDASH_DEMO_SEED": "0", "OPSDASH_TIMEZONE": "Europe/Berlin"})
    assert (s.serving_port, s.dashboard_port, s.slo_error_rate) == (65535, 1, 0.0)
    assert (s.drift_share, s.demo_seed, s.timezone) == (1.0, 0, "Europe/Berlin")


def test_an_empty_variable_means_the_default() -> None:
    s = Settings.from_env({"OPSDASH_SERVING_PORT": "", "OPSDASH_TIMEZONE": ""})
    assert (s.serving_port, s.timezone) == (8000, "UTC")


def test_every_bad_value_is_named_on_one_line() -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"OPSDASH_SERVING_PORT": "eighty", "OPSDASH_DEMO_DAYS": "0"})
    message = str(caught.value)
    assert "\n" not in message
    assert message == ("OPSDASH_SERVING_PORT='eighty' is not a valid int; "
                       "OPSDASH_DEMO_DAYS=0 must be at least 1")


SECRETS = ("cookie_secret", "feedback_token", "prometheus_bearer_token",
           "prometheus_basic_auth", "prometheus_headers", "retrain_webhook_secret",
           "retrain_webhook_headers")


@pytest.mark.parametrize("field", SECRETS)
def test_a_secret_is_never_printed(field: str) -> None:
    value = "hunter2-" + field
    s = Settings.from_env({f"OPSDASH_{field.upper()}": value})
    assert getattr(s, field) == value
    shown = [repr(s), str(s), repr(s.model_dump()), s.model_dump_json()]
    assert all(value not in text for text in shown)


@pytest.mark.parametrize("field", SECRETS)
def test_a_secret_is_never_echoed_in_an_error(field: str) -> None:
    value = ["hunter2-" + field]  # not a string: the one way a secret can be refused
    with pytest.raises(SettingsError) as caught:
        Settings().replace(**{field: value})
    assert str(caught.value) == f"OPSDASH_{field.upper()} is not a valid str"
    with pytest.raises(ValidationError) as direct:
        Settings(**{field: value})
    assert "hunter2" not in str(direct.value)


def test_replace_returns_a_validated_copy_and_keeps_the_original() -> None:
    s = Settings.from_env({"OPSDASH_COOKIE_SECRET": "c" * 32})
    changed = s.replace(serving_port="9001", session_hours=2)
    assert (changed.serving_port, changed.session_hours) == (9001, 2.0)
    assert changed.cookie_secret == "c" * 32
    assert (s.serving_port, s.session_hours) == (8000, 12.0)
    with pytest.raises(SettingsError, match=r"^OPSDASH_SERVING_PORT=0 must be between 1 and"):
        s.replace(serving_port=0)
    with pytest.raises(SettingsError, match=r"^'serving_prot' is not a setting$"):
        s.replace(serving_prot=9001)


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValidationError):
        s.serving_port = 1  # type: ignore[misc]
    assert s.serving_port == 8000


def test_only_from_env_reads_the_environment_and_never_a_dotenv_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("OPSDASH_DASHBOARD_PORT=1234\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSDASH_SERVING_PORT", "9001")
    assert Settings().serving_port == 8000
    assert get_settings().serving_port == 9001
    assert get_settings().dashboard_port == 8501


@pytest.mark.parametrize("value", ["", "https://dash.example.com", "http://127.0.0.1:8501",
                                   "https://dash.example.com/"])
def test_the_public_url_is_empty_or_an_address_browsers_open(value: str) -> None:
    assert Settings.from_env({"OPSDASH_PUBLIC_URL": value}).public_url == value


@pytest.mark.parametrize("value", ["dash.example.com", "ftp://dash.example.com",
                                   "https://dash.example.com/opsdash", "https://u@dash.example",
                                   "https://dash.example.com:99999", "https://dash.example?x=1",
                                   "https://"])
def test_a_public_url_that_is_not_an_origin_is_named(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^OPSDASH_PUBLIC_URL=.* must be the dashboard's "
                                            r"address as browsers open it"):
        Settings.from_env({"OPSDASH_PUBLIC_URL": value})


def test_the_webhook_backend_needs_its_url_and_a_long_secret_never_shown() -> None:
    hook = {"OPSDASH_RETRAIN_BACKEND": "webhook"}
    with pytest.raises(SettingsError, match=r"^OPSDASH_RETRAIN_BACKEND=webhook needs "
                                            r"OPSDASH_RETRAIN_WEBHOOK_URL$"):
        Settings.from_env(hook)
    hook["OPSDASH_RETRAIN_WEBHOOK_URL"] = "https://ops:pw@airflow.example/api/v1/dags/r/dagRuns"
    hook["OPSDASH_RETRAIN_WEBHOOK_SECRET"] = "hunter2-too-short"
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(hook)
    assert str(caught.value) == ("OPSDASH_RETRAIN_BACKEND=webhook needs "
                                 "OPSDASH_RETRAIN_WEBHOOK_SECRET of at least 32 characters")
    hook["OPSDASH_RETRAIN_WEBHOOK_SECRET"] = "hunter2-" + "s" * 30
    s = Settings.from_env(hook)
    assert (s.retrain_backend, s.retrain_webhook_timeout_seconds,
            s.retrain_webhook_attempts) == ("webhook", 10.0, 3)
    assert "pw@" not in repr(s)
    assert "hunter2" not in repr(s)
    with pytest.raises(SettingsError, match=r"^OPSDASH_RETRAIN_BACKEND='airflow' must be "
                                            r"'local' or 'webhook'$"):
        Settings.from_env({"OPSDASH_RETRAIN_BACKEND": "airflow"})
    with pytest.raises(SettingsError, match=r"^OPSDASH_RETRAIN_WEBHOOK_URL='ftp://x' must be "
                                            r"an http or https URL"):
        Settings.from_env({"OPSDASH_RETRAIN_WEBHOOK_URL": "ftp://x"})
    assert Settings().retrain_backend == "local"

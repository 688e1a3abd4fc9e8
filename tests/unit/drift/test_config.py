"""The drift configuration file: parsing, the model-over-shared merge, every error."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.drift.compare import ColumnConfig
from services.drift.config import (
    DriftConfig,
    DriftConfigError,
    load_drift_config,
    parse_drift_config,
)

EXAMPLE = """
drift_share = 0.6

[features.monthly_charges]
test = "psi"
threshold = 0.2

[features.tenure_months]
test = "ks"

[models.churn]
drift_share = 0.4

[models.churn.features.tenure_months]
threshold = 0.01

[models.churn.features.monthly_charges]
test = "wasserstein"

[models.churn.features.contract]
test = "chisquare"

[models.tickets.features.priority]
threshold = 1
"""


def test_parse_the_example() -> None:
    config = parse_drift_config(EXAMPLE)
    assert config.drift_share == 0.6
    assert config.features == {
        "monthly_charges": ColumnConfig(test="psi", threshold=0.2),
        "tenure_months": ColumnConfig(test="ks"),
    }
    assert set(config.models) == {"churn", "tickets"}
    share, features = config.models["churn"]
    assert share == 0.4
    assert features["tenure_months"] == ColumnConfig(threshold=0.01)
    # An integer threshold is read as a float.
    tickets_share, tickets = config.models["tickets"]
    assert tickets_share is None
    assert tickets["priority"].threshold == 1.0
    assert isinstance(tickets["priority"].threshold, float)


def test_model_entry_wins_field_by_field() -> None:
    config = parse_drift_config(EXAMPLE)
    assert config.columns_for("churn") == {
        # the model's threshold, the shared test
        "tenure_months": ColumnConfig(test="ks", threshold=0.01),
        # the model's test, the shared threshold
        "monthly_charges": ColumnConfig(test="wasserstein", threshold=0.2),
        # only the model's
        "contract": ColumnConfig(test="chisquare"),
    }
    shared = {
        "monthly_charges": ColumnConfig(test="psi", threshold=0.2),
        "tenure_months": ColumnConfig(test="ks"),
    }
    assert config.columns_for("tickets") == {**shared, "priority": ColumnConfig(threshold=1.0)}
    assert config.columns_for("unknown-model") == shared
    assert config.columns_for(None) == shared
    # The merge does not change the parsed configuration.
    assert config.features == shared


def test_drift_share_for_a_model() -> None:
    config = parse_drift_config(EXAMPLE)
    assert config.share_for("churn", 0.5) == 0.4       # its own
    assert config.share_for("tickets", 0.5) == 0.6     # the file's
    assert config.share_for(None, 0.5) == 0.6
    bare = parse_drift_config("[models.churn]\n")
    assert bare.share_for("churn", 0.3) == 0.3         # the default
    assert bare.share_for("other", 0.3) == 0.3
    assert parse_drift_config("drift_share = 1").drift_share == 1.0


def test_empty_text_and_no_file_mean_no_overrides() -> None:
    for config in (parse_drift_config(""), load_drift_config(None), load_drift_config("")):
        assert config == DriftConfig()
        assert config.columns_for("churn") == {}
        assert config.share_for("churn", 0.5) == 0.5


def test_load_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "drift.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_drift_config(path) == parse_drift_config(EXAMPLE)
    assert load_drift_config(str(path)) == parse_drift_config(EXAMPLE)


def test_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(DriftConfigError, match=r"nope\.toml: cannot be read") as info:
        load_drift_config(missing)
    assert str(info.value).startswith(f"drift configuration {missing}: cannot be read (")
    with pytest.raises(DriftConfigError, match="cannot be read"):
        load_drift_config(tmp_path)  # a folder
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[features.caf\xe9]\ntest = "ks"\n')
    with pytest.raises(DriftConfigError, match="cannot be read"):
        load_drift_config(latin)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[features.x\ntest = ", encoding="utf-8")
    with pytest.raises(DriftConfigError, match=rf"^{path}: not valid TOML \("):
        load_drift_config(path)
    with pytest.raises(DriftConfigError, match=r"^drift configuration: not valid TOML"):
        parse_drift_config("drift_share = = 1")
    with pytest.raises(DriftConfigError, match=r"^my.toml: not valid TOML"):
        parse_drift_config("x = [", origin="my.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("share = 0.5",
         "f.toml: unknown key 'share'; allowed: drift_share, features, models"),
        ("[feature.x]\ntest = 'ks'",
         "f.toml: unknown key 'feature'; allowed: drift_share, features, models"),
        ("[features.x]\ntest = 'ks'\nthreshhold = 0.1",
         "f.toml: features.x: unknown key 'threshhold'; allowed: test, threshold"),
        ("[models.churn]\nthreshold = 0.1",
         "f.toml: models.churn: unknown key 'threshold'; allowed: drift_share, features"),
        ("[models.churn.features.x]\nmethod = 'ks'",
         "f.toml: models.churn.features.x: unknown key 'method'; allowed: test, threshold"),
    ],
)
def test_unknown_keys(text: str, message: str) -> None:
    assert _refusal(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[features.x]\ntest = 'kl'",
         "f.toml: features.x: unknown drift test 'kl'; use one of "
         "ks, chisquare, z, wasserstein, jensenshannon, psi"),
        ("[models.m.features.x]\ntest = 'KS'",
         "f.toml: models.m.features.x: unknown drift test 'KS'; use one of "
         "ks, chisquare, z, wasserstein, jensenshannon, psi"),
        ("[features.x]\ntest = 3", "f.toml: features.x.test must be a test name"),
        ("[features.x]\nthreshold = 0",
         "f.toml: features.x: a drift threshold must be a positive number, got 0.0"),
        ("[features.x]\nthreshold = -0.1",
         "f.toml: features.x: a drift threshold must be a positive number, got -0.1"),
        ("[features.x]\nthreshold = inf",
         "f.toml: features.x: a drift threshold must be a positive number, got inf"),
        ("[features.x]\nthreshold = nan",
         "f.toml: features.x: a drift threshold must be a positive number, got nan"),
        ("[features.x]\nthreshold = '0.1'", "f.toml: features.x.threshold must be a number"),
        ("[features.x]\nthreshold = true", "f.toml: features.x.threshold must be a number"),
        ("[models.m.features.x]\nthreshold = 0",
         "f.toml: models.m.features.x: a drift threshold must be a positive number, got 0.0"),
    ],
)
def test_bad_tests_and_thresholds(text: str, message: str) -> None:
    assert _refusal(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("drift_share = 0", "f.toml: drift_share must be in (0, 1], got 0"),
        ("drift_share = 1.5", "f.toml: drift_share must be in (0, 1], got 1.5"),
        ("drift_share = -0.2", "f.toml: drift_share must be in (0, 1], got -0.2"),
        ("drift_share = nan", "f.toml: drift_share must be in (0, 1], got nan"),
        ("drift_share = inf", "f.toml: drift_share must be in (0, 1], got inf"),
        ("drift_share = '0.5'", "f.toml: drift_share must be a number"),
        ("drift_share = false", "f.toml: drift_share must be a number"),
        ("[models.churn]\ndrift_share = 2",
         "f.toml: models.churn.drift_share must be in (0, 1], got 2"),
        ("[models.churn]\ndrift_share = 'half'",
         "f.toml: models.churn.drift_share must be a number"),
    ],
)
def test_share_out_of_range(text: str, message: str) -> None:
    assert _refusal(text) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("features = 3", "f.toml: features must be a table"),
        ("features = { x = 3 }", "f.toml: features.x must be a table"),
        ("models = 'churn'", "f.toml: models must be a table"),
        ("models = { churn = 1 }", "f.toml: models.churn must be a table"),
        ("[models.churn]\nfeatures = []", "f.toml: models.churn.features must be a table"),
    ],
)
def test_entries_must_be_tables(text: str, message: str) -> None:
    assert _refusal(text) == message


def test_the_error_is_a_value_error() -> None:
    assert issubclass(DriftConfigError, ValueError)


def _refusal(text: str) -> str:
    """The message :func:`parse_drift_config` refuses ``text`` (named f.toml) with."""
    with pytest.raises(DriftConfigError) as info:
        parse_drift_config(text, origin="f.toml")
    return str(info.value)

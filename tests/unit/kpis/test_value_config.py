"""The value file: parsed strictly, each mistake named by file, table and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.demo.scenarios import SCENARIOS
from services.kpis import ValueConfigError, load_value_config, parse_value_config
from services.kpis.value_config import MAX_CELLS, MAX_FILE_BYTES, MAX_MODELS

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "values.toml"

CHURN = """
[models.churn]
currency = "EUR"
cpu_hour = 0.05
label = 0.10

[models.churn.outcomes]
"churned/churned" = 250
"active/churned" = -40
"""


def test_a_table_is_read_with_its_cells_and_prices() -> None:
    config = parse_value_config(CHURN, origin="values.toml")
    table = config.for_model("churn")
    assert table is not None
    assert (table.currency, table.cpu_hour, table.label) == ("EUR", 0.05, 0.10)
    assert dict(table.outcomes) == {("churned", "churned"): 250.0,
                                    ("active", "churned"): -40.0}
    assert table.money("churned", "active") == 0.0  # unspecified cells are worth 0
    assert config.for_model("ticket-routing") is None


def test_no_file_means_no_values() -> None:
    assert load_value_config("").for_model("churn") is None
    assert load_value_config(None).tables == {}


def test_the_demo_example_parses_and_fits_the_demo_models() -> None:
    config = load_value_config(EXAMPLE)
    assert set(config.tables) == {scenario.name for scenario in SCENARIOS}
    for scenario in SCENARIOS:
        table = config.for_model(scenario.name)
        assert table is not None
        table.check_classes(scenario.class_labels)  # raises if a cell names another class


@pytest.mark.parametrize(("text", "named"), [
    ('[models.churn]\ncurrency = "EUR"\nprice = 1\n', "models.churn.price"),
    ('extra = 1\n', "unknown key extra"),
    ('[models.churn]\ncurrency = "euro"\n', "models.churn.currency"),
    ('[models.churn]\ncurrency = "EU"\n', "models.churn.currency"),
    ('[models.churn]\ncurrency = 978\n', "models.churn.currency"),
    ('[models.churn]\ncpu_hour = 1\n', "models.churn.currency is missing"),
    ('[models.churn]\ncurrency = "EUR"\ncpu_hour = nan\n', "models.churn.cpu_hour"),
    ('[models.churn]\ncurrency = "EUR"\nlabel = inf\n', "models.churn.label"),
    ('[models.churn]\ncurrency = "EUR"\nlabel = -0.1\n', "models.churn.label"),
    ('[models.churn]\ncurrency = "EUR"\ncpu_hour = "0.05"\n', "models.churn.cpu_hour"),
    ('[models.churn]\ncurrency = "EUR"\ncpu_hour = true\n', "models.churn.cpu_hour"),
    ('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n"a/b" = 1e12\n',
     'models.churn.outcomes."a/b"'),
    ('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n"a/b" = -inf\n',
     'models.churn.outcomes."a/b"'),
    ('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n"ab" = 1\n',
     'models.churn.outcomes."ab"'),
    ('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n"a/b/c" = 1\n',
     'models.churn.outcomes."a/b/c"'),
    ('[models.churn]\ncurrency = "EUR"\n[models.churn.outcomes]\n"/b" = 1\n',
     'models.churn.outcomes."/b"'),
    ('[models.churn]\ncurrency = "EUR"\noutcomes = 3\n', "models.churn.outcomes must be"),
    ('models = 1\n', "models must be a table"),
    ('[models.churn\n', "not valid TOML"),
])
def test_each_mistake_is_refused_naming_file_table_and_key(text: str, named: str) -> None:
    with pytest.raises(ValueConfigError) as caught:
        parse_value_config(text, origin="values.toml")
    message = str(caught.value)
    assert message.startswith("values.toml: ")
    assert named in message
    assert "\n" not in message


def test_a_cell_naming_a_class_the_model_lacks_is_refused_when_checked() -> None:
    table = parse_value_config(CHURN.replace('"active/churned"', '"stays/churned"'),
                               origin="values.toml").for_model("churn")
    assert table is not None
    with pytest.raises(ValueConfigError) as caught:
        table.check_classes(("active", "churned"))
    assert str(caught.value).startswith('values.toml: models.churn.outcomes."stays/churned"')
    assert "'stays'" in str(caught.value)


def test_sizes_are_bounded() -> None:
    many_models = "".join(f'[models.m{i}]\ncurrency = "EUR"\n' for i in range(MAX_MODELS + 1))
    with pytest.raises(ValueConfigError, match=f"more than {MAX_MODELS}"):
        parse_value_config(many_models)
    cells = "".join(f'"a{i}/b" = 1\n' for i in range(MAX_CELLS + 1))
    with pytest.raises(ValueConfigError, match=r"models\.m\.outcomes has"):
        parse_value_config(f'[models.m]\ncurrency = "EUR"\n[models.m.outcomes]\n{cells}')
    with pytest.raises(ValueConfigError, match="bytes"):
        parse_value_config("# " + "x" * MAX_FILE_BYTES)


def test_a_file_too_large_or_unreadable_is_named(tmp_path: Path) -> None:
    big = tmp_path / "values.toml"
    big.write_text("# " + "x" * MAX_FILE_BYTES, encoding="utf-8")
    with pytest.raises(ValueConfigError, match=f"value file {big}: .* bytes"):
        load_value_config(big)
    with pytest.raises(ValueConfigError, match="cannot be read"):
        load_value_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[models.churn]\ncurrency = "EUR"\nlabel = -1\n', encoding="utf-8")
    with pytest.raises(ValueConfigError, match=f"^{bad}: models.churn.label"):
        load_value_config(bad)

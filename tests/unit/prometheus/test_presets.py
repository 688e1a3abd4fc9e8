"""Query presets: built-in stacks, a TOML file that adds or overrides, validation on load."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from services.prometheus.presets import (
    BUILTIN_PRESETS,
    Preset,
    PresetError,
    active_preset,
    load_presets,
    parse_presets,
)
from services.prometheus.promql import MATCH_NOTHING, PANEL_NAMES, placeholders_in
from services.settings import PROJECT_ROOT, Settings

INJECTION = '\'} or {__name__=~".+"} #'


def _opsdash() -> Preset:
    return BUILTIN_PRESETS["opsdash"]


def test_opsdash_request_rate_for_a_model_and_two_versions() -> None:
    query = _opsdash().render("request_rate", model="churn", versions=["2", "1"], window="5m")
    assert query == (
        'sum by (version) (rate(opsdash_predictions_total{model="churn",version=~"1|2"}[5m]))'
    )


def test_every_panel_of_every_builtin_preset_renders_completely() -> None:
    for preset in BUILTIN_PRESETS.values():
        for panel in PANEL_NAMES:
            for model, versions in (("churn", ["1", "2"]), (None, None), (INJECTION, [])):
                query = preset.render(panel, model=model, versions=versions, window="5m")
                if query is None:
                    assert panel not in preset.panels
                    continue
                assert not placeholders_in(query), (preset.name, panel, query)
                assert "{," not in query, query
                assert ",}" not in query, query
                assert query.count("(") == query.count(")"), query


def test_a_hostile_model_name_stays_one_escaped_label_value() -> None:
    query = _opsdash().render("error_rate", model=INJECTION, versions=None, window="5m")
    assert query == (
        "sum by (reason) (rate(opsdash_prediction_errors_total"
        '{model="\'} or {__name__=~\\".+\\"} #"}[5m]))'
    )


def test_versions_none_means_all_and_an_empty_list_means_none() -> None:
    everything = _opsdash().render("request_rate", model="churn", versions=None, window="5m")
    assert everything is not None
    assert "version" not in everything.split("{", 1)[1]
    nothing = _opsdash().render("request_rate", model="churn", versions=[], window="5m")
    assert nothing is not None
    assert f'version=~"{MATCH_NOTHING}"' in nothing


def test_cpu_and_memory_select_the_serving_job() -> None:
    cpu = _opsdash().render("cpu", model="churn", versions=["1"], window="2m")
    assert cpu == 'sum by (instance) (rate(process_cpu_seconds_total{job="opsdash-serving"}[2m]))'
    memory = _opsdash().render("memory", model=None, versions=None, window="2m", job='my"job')
    assert memory == 'sum by (instance) (process_resident_memory_bytes{job="my\\"job"})'


def test_top_score_is_one_query_with_three_quantiles() -> None:
    query = _opsdash().render("top_score", model="churn", versions=["1"], window="5m")
    assert query is not None
    for q in ("0.1", "0.5", "0.9"):
        assert f'histogram_quantile({q},' in query
        assert f'"quantile", "{q}"' in query


def test_an_unknown_panel_or_window_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown panel 'latency'"):
        _opsdash().render("latency", model=None, versions=None, window="5m")
    with pytest.raises(ValueError, match="duration"):
        _opsdash().render("cpu", model=None, versions=None, window="5m) or vector(1")


def test_a_panel_the_stack_cannot_provide_is_absent() -> None:
    bento = BUILTIN_PRESETS["bentoml"]
    assert bento.render("class_mix", model="iris", versions=None, window="5m") is None
    query = bento.render("request_rate", model="iris", versions=["v1"], window="5m")
    assert query is not None
    assert 'service_name="iris",service_version=~"v1"' in query
    assert '"version", "$1", "service_version"' in query


def test_a_stack_without_a_version_label_ignores_versions() -> None:
    kserve = BUILTIN_PRESETS["kserve"]
    assert kserve.version_label is None
    query = kserve.render("latency_p95", model="sklearn-iris", versions=["1"], window="1m")
    assert query == (
        'histogram_quantile(0.95, sum by (le) '
        '(rate(request_predict_seconds_bucket{model_name="sklearn-iris"}[1m])))'
    )
    assert set(kserve.panels) == {"request_rate", "latency_p50", "latency_p95", "latency_p99"}


# --- the presets file ------------------------------------------------------------------------

OVERRIDE = """
[presets.bentoml.panels]
request_rate = 'sum by (service_version) (rate(my_total{endpoint="/classify",$selector}[$window]))'
latency_p99 = ""

[presets.mystack]
description = "Our Java scorer"
model_label = "model"
version_label = ""
[presets.mystack.panels]
request_rate = 'sum(rate(scorer_requests_total{$selector}[$window]))'
"""


def test_a_file_overrides_single_panels_and_adds_presets() -> None:
    presets = parse_presets(OVERRIDE, origin="presets.toml")
    bento = presets["bentoml"]
    assert "my_total" in bento.panels["request_rate"]
    assert "latency_p99" not in bento.panels  # "" removes it
    assert bento.panels["latency_p95"] == BUILTIN_PRESETS["bentoml"].panels["latency_p95"]
    assert (bento.model_label, bento.version_label) == ("service_name", "service_version")
    mine = presets["mystack"]
    assert (mine.description, mine.model_label, mine.version_label) == (
        "Our Java scorer", "model", None)
    assert mine.render("request_rate", model="m", versions=["1"], window="5m") == (
        'sum(rate(scorer_requests_total{model="m"}[5m]))'
    )
    assert presets["opsdash"] == BUILTIN_PRESETS["opsdash"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[presets.x.panels]\nrequest_rate = 'rate(m{$selectr}[$window])'",
         r"^presets\.toml: preset 'x', panel 'request_rate': unknown placeholder \$selectr"),
        ("[presets.opsdash.panels]\nlatency = 'm'",
         r"^presets\.toml: preset 'opsdash': unknown panel 'latency'"),
        ("[presets.x]\nmodel_label = '__name__'\n[presets.x.panels]\ncpu = 'm'",
         r"^presets\.toml: preset 'x': model_label: label '__name__' is not allowed"),
        ("[presets.x]\nversion_label = 'app'\n[presets.x.panels]\ncpu = 'm'",
         r"^presets\.toml: preset 'x': version_label: label 'app' is not allowed"),
        ("[presets.x]\npanel = {}\n", r"^presets\.toml: preset 'x': unknown key 'panel'"),
        ("[presets.x]\ndescription = 'no panels'\n", r"needs a \[presets\.x\.panels\] table"),
        ("[preset.x]\n", r"unknown key 'preset'"),
        ("[presets.x.panels]\ncpu = 5\n", r"panel 'cpu': the template must be a string"),
        ("[presets.x\n", r"^presets\.toml: not valid TOML"),
        ("[presets.x]\nmodel_label = 5\n[presets.x.panels]\ncpu = 'm'", "must be a string"),
    ],
)
def test_invalid_presets_stop_with_one_line_naming_file_preset_and_panel(
    text: str, message: str
) -> None:
    with pytest.raises(PresetError, match=message) as caught:
        parse_presets(text, origin="presets.toml")
    assert "\n" not in str(caught.value)


def test_load_presets_reads_the_configured_file(tmp_path: Path) -> None:
    path = tmp_path / "presets.toml"
    path.write_text(OVERRIDE, encoding="utf-8")
    settings = Settings(query_presets_file=str(path), query_preset="mystack")
    assert set(load_presets(settings)) == {"opsdash", "bentoml", "kserve", "mystack"}
    assert active_preset(settings).origin == str(path)


def test_without_a_file_the_builtin_opsdash_preset_is_active() -> None:
    assert Settings().query_preset == "opsdash"
    assert active_preset(Settings()) is BUILTIN_PRESETS["opsdash"]
    assert set(load_presets(Settings())) == {"opsdash", "bentoml", "kserve"}


def test_a_missing_file_or_unknown_preset_names_the_variable(tmp_path: Path) -> None:
    missing = Settings(query_presets_file=str(tmp_path / "nope.toml"))
    with pytest.raises(PresetError, match=r"OPSDASH_QUERY_PRESETS_FILE=.*cannot be read"):
        load_presets(missing)
    with pytest.raises(PresetError, match=r"OPSDASH_QUERY_PRESET='bento'.*known: bentoml, kserve"):
        active_preset(Settings(query_preset="bento"))


def test_presets_are_hashable_and_immutable() -> None:
    preset = _opsdash()
    assert hash(preset) == hash(replace(preset))
    with pytest.raises(TypeError):
        preset.panels["cpu"] = "x"  # type: ignore[index]


def test_the_readme_example_is_a_valid_presets_file() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    example = readme.split("```toml\n[presets.", 1)[1].split("```", 1)[0]
    example = "[presets." + example
    presets = parse_presets(example, origin="README.md")
    assert "endpoint=\"/classify\"" in presets["bentoml"].panels["request_rate"]
    assert presets["scorer"].render("cpu", model="m", versions=None, window="1m") == (
        'sum by (instance) (rate(process_cpu_seconds_total{job="opsdash-serving"}[1m]))'
    )

"""Query presets: the Serving page's PromQL for one serving stack, as configuration.

A :class:`Preset` holds one PromQL template per panel (names in
:data:`services.prometheus.promql.PANEL_NAMES`) and the label names that stack uses for "model" and
"version". Templates use three placeholders (see :mod:`services.prometheus.promql`):

* ``$selector`` — the escaped matchers for the chosen model and versions, e.g.
  ``model="churn",version=~"1|2"`` (empty when nothing is chosen); put it inside a
  metric's braces;
* ``$window`` — the rate window, a validated duration such as ``5m``;
* ``$job`` — the matcher ``job="<scrape job of the inference service>"``.

Whatever the stack, a panel's series are labelled as the page expects: ``version`` for
``request_rate``, ``latency_p*`` and ``model_info``; ``reason`` for ``error_rate``;
``predicted_class`` for ``class_mix``; ``quantile`` for ``top_score``; ``instance`` for
``cpu`` and ``memory``. Templates for other stacks rename their labels with
``label_replace`` to get there; a stack without a version label has no ``version`` on its
series. A panel a stack cannot provide is absent and :meth:`Preset.render` returns ``None``.

Built in: ``opsdash`` (our exporter), ``bentoml`` and ``kserve``. ``OPSDASH_QUERY_PRESETS_FILE``
may name a TOML file that adds presets or overrides panels of built-in ones::

    [presets.bentoml.panels]            # override one panel; the others stay
    request_rate = '''label_replace(sum by (service_version)
      (rate(bentoml_service_request_total{endpoint="/classify",$selector}[$window])),
      "version", "$1", "service_version", "(.*)")'''
    cpu = ""                            # an empty template removes a panel

    [presets.mystack]                   # a new preset
    description = "Our Java scorer"
    model_label = "model"               # "" when the stack has no such label
    version_label = "version"
    [presets.mystack.panels]
    request_rate = 'sum by (version) (rate(scorer_requests_total{$selector}[$window]))'

Every template is checked when the presets are loaded: an unknown placeholder or panel,
an unknown key, or a label name outside :data:`services.prometheus.promql.ALLOWED_LABELS` stops with
one line naming the file, the preset and the panel.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from services.prometheus.metric_names import SERVING_JOB
from services.prometheus.promql import (
    PANEL_NAMES,
    PLACEHOLDERS,
    SERVING_PANELS,
    escape_label_value,
    fill_placeholders,
    matcher_list,
    placeholders_in,
    validate_label_name,
    validate_window,
)
from services.settings import Settings

__all__ = [
    "BUILTIN_PRESETS",
    "Preset",
    "PresetError",
    "active_preset",
    "load_presets",
    "parse_presets",
]

BUILTIN = "built-in"


class PresetError(ValueError):
    """A query preset or presets file is unusable; ``str()`` is one line naming where."""


@dataclass(frozen=True)
class Preset:
    """PromQL templates of one serving stack, one per panel it can provide.

    Attributes:
        name: what ``OPSDASH_QUERY_PRESET`` selects it by.
        description: one line for people.
        model_label: label naming the model, or ``None`` when the stack has none (then
            the model chosen on the page does not filter).
        version_label: label naming the version, or ``None`` (then the versions chosen do
            not filter and the series carry no ``version``).
        panels: panel name → template.
        origin: where it was defined: ``built-in`` or the presets file (for messages).
    """

    name: str
    description: str
    model_label: str | None
    version_label: str | None
    panels: Mapping[str, str] = field(hash=False)
    origin: str = BUILTIN

    def __post_init__(self) -> None:
        where = f"{self.origin}: preset {self.name!r}"
        for role, label in (("model_label", self.model_label),
                            ("version_label", self.version_label)):
            if label is not None:
                try:
                    validate_label_name(label)
                except ValueError as exc:
                    raise PresetError(f"{where}: {role}: {exc}") from None
        for panel, template in self.panels.items():
            if panel not in PANEL_NAMES:
                raise PresetError(
                    f"{where}: unknown panel {panel!r} (panels: {', '.join(PANEL_NAMES)})"
                )
            unknown = sorted(placeholders_in(template) - PLACEHOLDERS)
            if unknown:
                known = ", ".join(f"${p}" for p in sorted(PLACEHOLDERS))
                raise PresetError(
                    f"{where}, panel {panel!r}: unknown placeholder ${unknown[0]} "
                    f"(known: {known}; write $$ for a literal $)"
                )
            if not template.strip():
                raise PresetError(f"{where}, panel {panel!r}: empty template")
        object.__setattr__(self, "panels", MappingProxyType(dict(self.panels)))

    def render(
        self,
        panel: str,
        *,
        model: str | None,
        versions: Sequence[str] | None,
        window: str,
        job: str = SERVING_JOB,
    ) -> str | None:
        """The PromQL of ``panel`` for a model and versions, or ``None`` if it has none.

        Args:
            panel: one of :data:`services.prometheus.promql.PANEL_NAMES`.
            model: the model to show; ``None`` for every model.
            versions: the versions to show; ``None`` for all, an empty list for none (the
                query then matches nothing).
            window: rate window, a PromQL duration such as ``5m``.
            job: scrape job of the inference service (for ``cpu`` and ``memory``).

        Raises:
            ValueError: an unknown panel name or a window that is not a duration.
        """
        if panel not in PANEL_NAMES:
            raise ValueError(f"unknown panel {panel!r} (panels: {', '.join(PANEL_NAMES)})")
        validate_window(window)
        template = self.panels.get(panel)
        if template is None:
            return None
        exact = {self.model_label: model} if self.model_label and model is not None else {}
        listed = (
            {self.version_label: list(versions)}
            if self.version_label and versions is not None
            else {}
        )
        return fill_placeholders(
            template,
            {
                "selector": matcher_list(exact, listed),
                "window": window,
                "job": f'job="{escape_label_value(job)}"',
            },
        )


# --- built-in presets ------------------------------------------------------------------------


def _as_version(expr: str, label: str) -> str:
    return f'label_replace({expr}, "version", "$1", "{label}", "(.*)")'


def _bento_latency(q: str) -> str:
    return _as_version(
        f"histogram_quantile({q}, sum by (service_version, le) "
        "(rate(bentoml_service_request_duration_seconds_bucket{$selector}[$window])))",
        "service_version",
    )


def _kserve_latency(q: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le) "
        "(rate(request_predict_seconds_bucket{$selector}[$window])))"
    )


_OPSDASH = Preset(
    name="opsdash",
    description="opsdash's own inference service (services/prometheus/metric_names.py)",
    model_label="model",
    version_label="version",
    panels=SERVING_PANELS,
)

# BentoML's default service metrics, documented at
# https://docs.bentoml.com/en/latest/build-with-bentoml/observability/metrics.html
# (bentoml_service_request_total and bentoml_service_request_duration_seconds, labelled
# endpoint, service_name, runner_name, service_version, http_response_code). A Bento's
# service is the "model", its version the "version". No class mix, scores or process
# metrics are among them.
_BENTOML = Preset(
    name="bentoml",
    description="BentoML services (default bentoml_service_* metrics)",
    model_label="service_name",
    version_label="service_version",
    panels={
        "request_rate": _as_version(
            "sum by (service_version) "
            '(rate(bentoml_service_request_total{http_response_code=~"2..",$selector}'
            "[$window]))",
            "service_version",
        ),
        "error_rate": (
            'label_replace(sum by (http_response_code) (rate(bentoml_service_request_total'
            '{http_response_code!~"2..",$selector}[$window])), "reason", "HTTP $1", '
            '"http_response_code", "(.*)")'
        ),
        "latency_p50": _bento_latency("0.5"),
        "latency_p95": _bento_latency("0.95"),
        "latency_p99": _bento_latency("0.99"),
    },
)

# KServe's Python model servers (sklearnserver, xgbserver, lgbserver, custom predictors):
# https://kserve.github.io/website/latest/modelserving/observability/prometheus_metrics/
# lists request_predict_seconds (and the pre/post-process and explain histograms); its
# only label is model_name (python/kserve/kserve/metrics.py). There is no version label,
# no error counter and no class or score metric, so only rate and latency panels exist.
_KSERVE = Preset(
    name="kserve",
    description="KServe Python model servers (request_predict_seconds histogram)",
    model_label="model_name",
    version_label=None,
    panels={
        "request_rate": "sum(rate(request_predict_seconds_count{$selector}[$window]))",
        "latency_p50": _kserve_latency("0.5"),
        "latency_p95": _kserve_latency("0.95"),
        "latency_p99": _kserve_latency("0.99"),
    },
)

#: The presets that exist without a presets file.
BUILTIN_PRESETS: Mapping[str, Preset] = MappingProxyType(
    {p.name: p for p in (_OPSDASH, _BENTOML, _KSERVE)}
)

_PRESET_KEYS = frozenset({"description", "model_label", "version_label", "panels"})


def _label(value: Any, where: str, key: str) -> str | None:
    if not isinstance(value, str):
        raise PresetError(f"{where}: {key} must be a string (\"\" for none)")
    return value or None


def parse_presets(
    text: str, *, origin: str, base: Mapping[str, Preset] = BUILTIN_PRESETS
) -> dict[str, Preset]:
    """``base`` with the presets of a TOML text added or overridden.

    Raises:
        PresetError: the text is not TOML, or a preset in it is invalid.
    """
    presets = dict(base)
    for name, table in _preset_tables(text, origin).items():
        presets[name] = _preset(name, table, presets.get(name), origin=origin)
    return presets


def _preset_tables(text: str, origin: str) -> dict[str, Any]:
    """The ``[presets.NAME]`` tables of a TOML text, by name (not yet checked)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{origin}: not valid TOML: {exc}") from None
    unknown_top = sorted(set(document) - {"presets"})
    if unknown_top:
        raise PresetError(f"{origin}: unknown key {unknown_top[0]!r} (expected [presets.NAME])")
    tables = document.get("presets", {})
    if not isinstance(tables, dict):
        raise PresetError(f"{origin}: presets must be tables, [presets.NAME]")
    return tables


def _preset(name: str, table: Any, previous: Preset | None, *, origin: str) -> Preset:
    """The preset a table defines, over the one of that name it overrides (if any)."""
    where = f"{origin}: preset {name!r}"
    if not isinstance(table, dict):
        raise PresetError(f"{where}: must be a table")
    unknown = sorted(set(table) - _PRESET_KEYS)
    if unknown:
        raise PresetError(
            f"{where}: unknown key {unknown[0]!r} (keys: {', '.join(sorted(_PRESET_KEYS))})"
        )
    templates = _templates(table.get("panels", {}), where)
    if previous is None and "panels" not in table:
        raise PresetError(f"{where}: a new preset needs a [presets.{name}.panels] table")
    panels = dict(previous.panels) if previous else {}
    for panel, template in templates.items():
        if template.strip():
            panels[panel] = template
        else:
            panels.pop(panel, None)  # "" removes a panel
    return Preset(
        name=name,
        description=str(table.get("description", previous.description if previous else "")),
        model_label=(
            _label(table["model_label"], where, "model_label")
            if "model_label" in table
            else previous.model_label if previous else None
        ),
        version_label=(
            _label(table["version_label"], where, "version_label")
            if "version_label" in table
            else previous.version_label if previous else None
        ),
        panels=panels,
        origin=origin,
    )


def _templates(panels_table: Any, where: str) -> dict[str, str]:
    """A preset's ``panels`` table: panel name to PromQL template (``""`` removes it)."""
    if not isinstance(panels_table, dict):
        raise PresetError(f"{where}: panels must be a table of panel = 'PromQL'")
    for panel, template in panels_table.items():
        if not isinstance(template, str):
            raise PresetError(f"{where}, panel {panel!r}: the template must be a string")
    return panels_table


def load_presets(settings: Settings) -> dict[str, Preset]:
    """The built-in presets plus those of ``OPSDASH_QUERY_PRESETS_FILE`` (when set).

    Raises:
        PresetError: the file cannot be read or holds an invalid preset.
    """
    path = settings.query_presets_file
    if not path:
        return dict(BUILTIN_PRESETS)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PresetError(f"OPSDASH_QUERY_PRESETS_FILE={path!r} cannot be read: {reason}") from None
    return parse_presets(text, origin=path)


def active_preset(settings: Settings) -> Preset:
    """The preset ``OPSDASH_QUERY_PRESET`` names.

    Raises:
        PresetError: no preset has that name, or the presets file is invalid.
    """
    presets = load_presets(settings)
    try:
        return presets[settings.query_preset]
    except KeyError:
        raise PresetError(
            f"OPSDASH_QUERY_PRESET={settings.query_preset!r} is not a query preset; "
            f"known: {', '.join(sorted(presets))}"
        ) from None

"""All PromQL the dashboard sends lives here, as named templates.

Label values are escaped before they are placed in a query and label names are
allow-listed, so a model or version name can never change the shape of a query.

Two kinds of template live here:

* :class:`QueryTemplate` (``{window}``, ``{sel:METRIC}``) for the overview's two queries;
* the Serving page's panel templates (:data:`SERVING_PANELS`), written with ``$``
  placeholders (``$selector``, ``$window``, ``$job``) so that query presets for other
  serving stacks (:mod:`services.prometheus.presets`) can be plain configuration text.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType

from services.prometheus import metric_names as m

__all__ = [
    "ALLOWED_LABELS",
    "DEFAULT_POINTS",
    "LATENCY_P95_BY_MODEL",
    "MATCH_NOTHING",
    "MAX_POINTS",
    "PANEL_NAMES",
    "PLACEHOLDERS",
    "REQUEST_RATE_BY_MODEL",
    "SERVING_PANELS",
    "QueryTemplate",
    "clamp_range",
    "duration_seconds",
    "escape_label_value",
    "escape_regex_value",
    "fill_placeholders",
    "matcher_list",
    "placeholders_in",
    "selector",
    "validate_label_name",
    "validate_window",
    "version_record_queries",
]

#: Label names a query may filter or group on: ours, plus those that the built-in query
#: presets of other serving stacks filter on (see :mod:`services.prometheus.presets`).
ALLOWED_LABELS = frozenset({
    # opsdash's exporter and the Prometheus scrape
    "model", "version", "predicted_class", "reason", "job", "instance",
    # BentoML
    "service_name", "service_version", "endpoint", "http_response_code",
    # KServe model servers
    "model_name",
})

#: Prometheus refuses range queries whose series would have more points than this.
MAX_POINTS = 11_000
#: Points per chart when the caller does not choose a step.
DEFAULT_POINTS = 300
#: RE2 pattern that matches no string at all (a letter, then start-of-text): what an empty
#: list of values in a ``=~`` matcher renders to. It does not match the empty string
#: either, so series without the label are excluded too.
MATCH_NOTHING = "a^"

_RE2_META = re.compile(r"([.\\+*?()|\[\]{}^$])")
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?"
)
_DURATION_UNITS_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def _escape_char(ch: str) -> str:
    if ch == "\\":
        return "\\\\"
    if ch == '"':
        return '\\"'
    if ch == "\n":
        return "\\n"
    category = unicodedata.category(ch)
    if category == "Cs":
        raise ValueError(f"label value holds a lone surrogate ({ord(ch):#x}), not valid text")
    # Control characters are written as escapes (the query stays printable), and so is
    # U+FFFD: PromQL's lexer reads a literal U+FFFD as an invalid byte and rejects the query.
    if category == "Cc" or ch == "\ufffd":
        return f"\\u{ord(ch):04x}"
    return ch


def escape_label_value(value: str) -> str:
    """Escape a label value for use inside double quotes in PromQL.

    Raises:
        ValueError: ``value`` holds a lone surrogate (it cannot be sent as UTF-8).
    """
    return "".join(_escape_char(ch) for ch in value)


def escape_regex_value(value: str) -> str:
    """Escape a literal for a ``=~`` matcher: RE2 metacharacters first, then quoting."""
    return escape_label_value(_RE2_META.sub(r"\\\1", value))


def validate_label_name(name: str) -> str:
    """``name`` if it is an allow-listed label name.

    Raises:
        ValueError: ``name`` is not in :data:`ALLOWED_LABELS`.
    """
    if name not in ALLOWED_LABELS or not _LABEL_NAME.fullmatch(name):
        raise ValueError(f"label {name!r} is not allowed in queries")
    return name


def matcher_list(
    matchers: Mapping[str, str] | None = None,
    regex_matchers: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The inside of a selector's braces: ``model="churn",version=~"1|2"`` ('' for none).

    Args:
        matchers: label name → exact value (``=``).
        regex_matchers: label name → values, any of which matches (``=~"a|b"``). Each value
            is a literal (escaped, never a pattern). An empty sequence matches **nothing**
            (:data:`MATCH_NOTHING`): asking for no versions must not widen to every version.

    Raises:
        ValueError: a label name is not allow-listed, or appears in both mappings.
    """
    matchers = matchers or {}
    regex_matchers = regex_matchers or {}
    both = set(matchers) & set(regex_matchers)
    if both:
        raise ValueError(f"label {sorted(both)[0]!r} given both as value and as value list")
    parts = []
    for name in sorted(set(matchers) | set(regex_matchers)):
        validate_label_name(name)
        if name in matchers:
            parts.append(f'{name}="{escape_label_value(matchers[name])}"')
            continue
        values = regex_matchers[name]
        if isinstance(values, str):
            raise ValueError(f"values of {name!r} must be a list of strings, not one string")
        alternatives = "|".join(escape_regex_value(v) for v in sorted(set(values)))
        parts.append(f'{name}=~"{alternatives if values else MATCH_NOTHING}"')
    return ",".join(parts)


def selector(
    metric: str,
    matchers: Mapping[str, str] | None = None,
    regex_matchers: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """``metric{label="value",other=~"a|b",...}`` with escaped values and allow-listed names.

    See :func:`matcher_list` for the matchers; an empty list of values matches nothing.

    Raises:
        ValueError: a label name is not in :data:`ALLOWED_LABELS`.
    """
    inside = matcher_list(matchers, regex_matchers)
    return f"{metric}{{{inside}}}" if inside else metric


def duration_seconds(text: str) -> float:
    """Seconds of a PromQL duration such as ``5m``, ``90s`` or ``1h30m``.

    Raises:
        ValueError: ``text`` is not a positive PromQL duration.
    """
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"range {text!r} is not a PromQL duration like 5m")
    seconds = sum(
        int(g) * unit for g, unit in zip(match.groups(), _DURATION_UNITS_S, strict=True) if g
    )
    if seconds <= 0:
        raise ValueError(f"range {text!r} is not a PromQL duration like 5m (it is zero)")
    return float(seconds)


def validate_window(window: str) -> str:
    """``window`` if it is a positive PromQL duration (the ``[...]`` of a rate).

    Raises:
        ValueError: it is not.
    """
    duration_seconds(window)
    return window


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


def clamp_range(
    start: datetime,
    end: datetime,
    step_s: float | None = None,
    *,
    max_points: int = MAX_POINTS,
    min_step_s: float = 1.0,
) -> tuple[datetime, datetime, float]:
    """A range query's start, end and step, with the step Prometheus will accept.

    The step is a whole number of seconds, rounded **up**, and raised until no series
    exceeds ``max_points`` points (``floor((end - start) / step) + 1``; Prometheus refuses
    more than 11,000). Without a step, one giving at most :data:`DEFAULT_POINTS` points is
    chosen, never below ``min_step_s``. An explicit step is only ever raised.

    Raises:
        ValueError: a naive datetime, ``start >= end``, or a step that is not a positive
            finite number.
    """
    if not (_is_aware(start) and _is_aware(end)):
        raise ValueError("start and end must be timezone-aware datetimes")
    if start >= end:
        raise ValueError(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if not (math.isfinite(min_step_s) and min_step_s > 0):
        raise ValueError(f"min_step_s must be a positive number, got {min_step_s}")
    span_us = (end - start) // timedelta(microseconds=1)
    if step_s is None:
        wanted = max(span_us / 1e6 / max(DEFAULT_POINTS - 1, 1), min_step_s)
    elif not (math.isfinite(step_s) and step_s > 0):
        raise ValueError(f"step must be a positive number of seconds, got {step_s}")
    else:
        wanted = step_s
    # floor(span / step) + 1 <= max_points  <=>  span < max_points * step
    smallest_allowed = span_us // (max_points * 1_000_000) + 1
    step = max(math.ceil(wanted), smallest_allowed, 1)
    return start, end, float(step)


@dataclass(frozen=True)
class QueryTemplate:
    """A named PromQL template; ``{window}`` is a range like ``2m``, ``{sel:NAME}`` a selector."""

    name: str
    text: str
    unit: str

    def render(self, *, window: str = "2m", matchers: Mapping[str, str] | None = None) -> str:
        """The query text for a rate window and optional label matchers."""
        validate_window(window)
        text = self.text.replace("{window}", window)
        for metric in (m.PREDICTIONS_TOTAL, m.LATENCY_SECONDS + "_bucket", m.ERRORS_TOTAL):
            text = text.replace("{sel:" + metric + "}", selector(metric, matchers))
        return text


REQUEST_RATE_BY_MODEL = QueryTemplate(
    name="request_rate_by_model",
    text=f"sum by (model) (rate({{sel:{m.PREDICTIONS_TOTAL}}}[{{window}}]))",
    unit="requests/s",
)

LATENCY_P95_BY_MODEL = QueryTemplate(
    name="latency_p95_by_model",
    text=(
        "histogram_quantile(0.95, sum by (model, le) "
        f"(rate({{sel:{m.LATENCY_SECONDS}_bucket}}[{{window}}])))"
    ),
    unit="s",
)


def version_record_queries(
    *, model: str, version: str, window: str, at: datetime
) -> dict[str, str]:
    """How one version served over ``window`` ending at ``at``: three instant queries.

    ``latency_p95`` is the p95 request latency in seconds; ``errors`` and ``predictions``
    are the requests that failed and the predictions answered in the window (the error rate
    is ``errors / (errors + predictions)``, as the Serving page's objective counts it). The
    ``@`` modifier evaluates the window where the version last served, so a version that
    stopped serving days ago still has its record. Values are escaped.

    Raises:
        ValueError: ``window`` is not a PromQL duration, or ``at`` is naive.
    """
    validate_window(window)
    if not _is_aware(at):
        raise ValueError("at must be a timezone-aware datetime")
    matchers = {"model": model, "version": version}
    moment = f"@ {at.timestamp():.3f}"
    latency = selector(m.LATENCY_SECONDS + "_bucket", matchers)
    return {
        "latency_p95": (
            f"histogram_quantile(0.95, sum by (le) (rate({latency}[{window}] {moment})))"),
        "errors": f"sum(increase({selector(m.ERRORS_TOTAL, matchers)}[{window}] {moment}))",
        "predictions": (
            f"sum(increase({selector(m.PREDICTIONS_TOTAL, matchers)}[{window}] {moment}))"),
    }


# --- Serving page panels -------------------------------------------------------------------
#
# ``$selector``: the escaped model/version matchers (e.g. ``model="churn",version=~"1|2"``),
#     possibly empty; put it inside a metric's braces, next to any other matchers.
# ``$window``:   the rate window, a validated PromQL duration such as ``5m``.
# ``$job``:      the complete matcher ``job="<scrape job>"`` of the inference service.
# ``$$``:        a literal ``$``. A ``$`` not followed by a name (as in label_replace's
#     ``"$1"``) is left alone.

#: Placeholders a panel template may use.
PLACEHOLDERS = frozenset({"selector", "window", "job"})
_PLACEHOLDER = re.compile(r"\$(\$|[A-Za-z_][A-Za-z0-9_]*)")
_EMPTY_SELECTOR = re.compile(r"\$selector\s*,\s*|,\s*\$selector(?![A-Za-z0-9_])")


def _quantile(q: str, metric: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (version, le) "
        f"(rate({metric}_bucket{{$selector}}[$window])))"
    )


def _score_quantiles(qs: Sequence[str]) -> str:
    # One query, three quantiles: each histogram_quantile() result gets a ``quantile`` label,
    # so the three vectors have distinct label sets and ``or`` keeps all of them.
    parts = [
        f'label_replace(histogram_quantile({q}, sum by (le) '
        f'(rate({m.SCORE}_bucket{{$selector}}[$window]))), "quantile", "{q}", "", "")'
        for q in qs
    ]
    return " or ".join(parts)


#: The Serving page's queries for opsdash's own exporter, by panel name. Every query groups
#: so that one request serves every selected version; the label of each panel's series:
#:
#: ``request_rate``  predictions answered per second, by ``version``;
#: ``error_rate``    failed requests per second, by ``reason`` (all selected versions);
#: ``latency_p50`` / ``latency_p95`` / ``latency_p99``  request latency quantiles in seconds,
#:                   by ``version`` (three queries: one per quantile);
#: ``class_mix``     share of predictions per ``predicted_class`` (0–1; NaN without traffic);
#: ``top_score``     quantiles 0.1 / 0.5 / 0.9 of the top-class probability, by ``quantile``
#:                   — the median with a 10–90 % band; interpolated within the score
#:                   histogram's buckets, so read it as a trend, not an exact value;
#: ``cpu``           CPU seconds per second (cores) of the inference service, by ``instance``;
#: ``memory``        resident memory in bytes of the inference service, by ``instance``;
#: ``model_info``    1 for each selected version currently loaded, by ``version``.
SERVING_PANELS: Mapping[str, str] = MappingProxyType({
    "request_rate": f"sum by (version) (rate({m.PREDICTIONS_TOTAL}{{$selector}}[$window]))",
    "error_rate": f"sum by (reason) (rate({m.ERRORS_TOTAL}{{$selector}}[$window]))",
    "latency_p50": _quantile("0.5", m.LATENCY_SECONDS),
    "latency_p95": _quantile("0.95", m.LATENCY_SECONDS),
    "latency_p99": _quantile("0.99", m.LATENCY_SECONDS),
    "class_mix": (
        f"sum by (predicted_class) (rate({m.PREDICTIONS_TOTAL}{{$selector}}[$window]))"
        f" / ignoring (predicted_class) group_left"
        f" sum(rate({m.PREDICTIONS_TOTAL}{{$selector}}[$window]))"
    ),
    "top_score": _score_quantiles(("0.1", "0.5", "0.9")),
    "cpu": "sum by (instance) (rate(process_cpu_seconds_total{$job}[$window]))",
    "memory": "sum by (instance) (process_resident_memory_bytes{$job})",
    "model_info": f"max by (version) ({m.MODEL_INFO}{{$selector}})",
})

#: Every panel name a query preset may define, in the page's order.
PANEL_NAMES: tuple[str, ...] = tuple(SERVING_PANELS)


def placeholders_in(template: str) -> set[str]:
    """Names of the ``$placeholders`` in ``template`` (``$$`` and ``$1`` are not ones)."""
    return {name for name in _PLACEHOLDER.findall(template) if name != "$"}


def fill_placeholders(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``$name`` replaced by ``values[name]`` and ``$$`` by ``$``.

    An empty ``selector`` takes a comma next to it along, so ``{$selector,code="500"}`` and
    ``{code="500",$selector}`` both stay valid PromQL.

    Raises:
        KeyError: a placeholder has no value.
    """
    if values.get("selector") == "":
        template = _EMPTY_SELECTOR.sub("", template)
    return _PLACEHOLDER.sub(lambda g: "$" if g[1] == "$" else values[g[1]], template)

"""All PromQL the dashboard sends lives here, as named templates.

Label values are escaped before they are placed in a query and label names are
allow-listed, so a model or version name can never change the shape of a query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from services import metric_names as m

__all__ = [
    "ALLOWED_LABELS",
    "LATENCY_P95_BY_MODEL",
    "REQUEST_RATE_BY_MODEL",
    "QueryTemplate",
    "escape_label_value",
    "escape_regex_value",
    "selector",
]

#: Label names a query may filter or group on.
ALLOWED_LABELS = frozenset({"model", "version", "predicted_class", "reason", "job", "instance"})

_RE2_META = re.compile(r"([.\\+*?()|\[\]{}^$])")


def escape_label_value(value: str) -> str:
    """Escape a label value for use inside double quotes in PromQL."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_regex_value(value: str) -> str:
    """Escape a literal for a ``=~`` matcher: RE2 metacharacters first, then quoting."""
    return escape_label_value(_RE2_META.sub(r"\\\1", value))


def selector(metric: str, matchers: Mapping[str, str] | None = None) -> str:
    """``metric{label="value",...}`` with escaped values and allow-listed names.

    Raises:
        ValueError: a label name is not in :data:`ALLOWED_LABELS`.
    """
    if not matchers:
        return metric
    parts = []
    for name, value in sorted(matchers.items()):
        if name not in ALLOWED_LABELS:
            raise ValueError(f"label {name!r} is not allowed in queries")
        parts.append(f'{name}="{escape_label_value(value)}"')
    return f"{metric}{{{','.join(parts)}}}"


@dataclass(frozen=True)
class QueryTemplate:
    """A named PromQL template; ``{window}`` is a range like ``2m``, ``{sel:NAME}`` a selector."""

    name: str
    text: str
    unit: str

    def render(self, *, window: str = "2m", matchers: Mapping[str, str] | None = None) -> str:
        """The query text for a rate window and optional label matchers."""
        if not re.fullmatch(r"\d+[smhd]", window):
            raise ValueError(f"range {window!r} is not a PromQL duration like 5m")
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

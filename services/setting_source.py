"""How settings are read and how a bad one is described: the ``OPSDASH_*`` variables of a
mapping as a pydantic-settings source, and one line per invalid value naming its variable
(a secret's value never shown). Split from :mod:`services.settings`, which uses both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from services.redact import redact_urls
from services.setting_types import allowed_range

__all__ = ["PREFIX", "Variables", "describe_error"]

#: Every setting's variable starts with this.
PREFIX = "OPSDASH_"
_PREFIX = PREFIX


class Variables(PydanticBaseSettingsSource):
    """The ``OPSDASH_*`` entries of a mapping (the process environment, or a test's own).

    A source of our own (pydantic-settings' public extension point) rather than its
    environment source, which reads only ``os.environ``: names match exactly, and an empty
    variable is left out, so it means the default, as an unset one does.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """The variable's raw text for ``field_name`` (``None`` when unset)."""
        return self._environ.get(_PREFIX + field_name.upper()), field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value not in (None, ""):
                values[key] = value
        return values


def describe_error(error: ErrorDetails, fields: Mapping[str, FieldInfo]) -> str:
    """One bad value as ``OPSDASH_X=value`` and what is wrong with it (a secret's value left
    out)."""
    if not error["loc"]:  # a rule across settings (it names them itself)
        return str(error.get("ctx", {}).get("error", error["msg"]))
    name = str(error["loc"][0])
    field = fields.get(name)
    if field is None:
        return f"{name!r} is not a setting"
    variable = _PREFIX + name.upper()
    hidden = field.exclude is True  # only secrets are left out of dumps
    kind = error["type"]
    if kind in {"greater_than", "greater_than_equal", "less_than_equal"}:
        # A number reads better bare: OPSDASH_SERVING_PORT=70000.
        given = "" if hidden else f"={redact_urls(str(error['input']))}"
        return f"{variable}{given} must be {allowed_range(field)}"
    given = "" if hidden else f"={redact_urls(repr(error['input']))}"
    if kind == "value_error":
        return f"{variable}{given} {error.get('ctx', {}).get('error')}"
    if kind == "literal_error":
        return f"{variable}{given} must be {error.get('ctx', {}).get('expected')}"
    if kind == "finite_number":
        return f"{variable}{given} is not a finite number"
    return f"{variable}{given} is not a valid {getattr(field.annotation, '__name__', 'value')}"

"""What each outcome of a model is worth, and what serving it costs, from a TOML file.

One table per model, named by ``OPSDASH_VALUE_FILE`` (empty: no values configured)::

    [models.churn]
    currency = "EUR"      # a 3-letter code (ISO 4217 style), upper case
    cpu_hour = 0.05       # price of one CPU-hour of the inference service
    label = 0.10          # price of one label collected

    [models.churn.outcomes]   # money of each confusion-matrix cell, "<true>/<predicted>"
    "churned/churned" = 250   # a leaving customer caught and retained
    "active/churned" = -40    # a false alarm: a discount given for nothing

Cells left out are worth 0. The file is parsed strictly, since a typing mistake here turns
into a wrong business figure that nobody would notice: unknown keys, numbers that are not
finite or beyond any plausible amount, and a currency that is not a code are refused, each
with a one-line :class:`ValueConfigError` naming the file, the table and the key. Class
names are checked against a model's classes only when they are known
(:meth:`ValueTable.check_classes`), since the file is read without the store.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

__all__ = [
    "MAX_CELLS", "MAX_FILE_BYTES", "MAX_MODELS", "MAX_MONEY", "MAX_PRICE",
    "ValueConfig", "ValueConfigError", "ValueTable", "load_value_config", "parse_value_config",
]

#: A value file larger than this is refused unread (a few models need a few kilobytes).
MAX_FILE_BYTES = 256 * 1024
#: Models in one file.
MAX_MODELS = 200
#: Cells of one model's outcome table (a model of 30 classes has 900).
MAX_CELLS = 900
#: The largest amount one outcome may be worth or cost, in either direction.
MAX_MONEY = 1e9
#: The largest price of a CPU-hour or a label.
MAX_PRICE = 1e6

_TOP_KEYS = frozenset({"models"})
_MODEL_KEYS = frozenset({"currency", "cpu_hour", "label", "outcomes"})
_CURRENCY = re.compile(r"[A-Z]{3}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


class ValueConfigError(ValueError):
    """The value file cannot be used; ``str()`` is one line naming file, table and key."""


@dataclass(frozen=True)
class ValueTable:
    """Money of one model's outcomes and prices of its costs, in one currency.

    ``outcomes`` maps ``(true label, predicted class)`` to the money of one prediction in
    that cell; cells absent are worth 0. ``origin`` and ``where`` (``models.churn``) are kept
    so a later check can name the place of a mistake.
    """

    model: str
    currency: str
    cpu_hour: float = 0.0
    label: float = 0.0
    outcomes: Mapping[tuple[str, str], float] = field(
        default_factory=lambda: MappingProxyType({}))
    origin: str = "value file"

    @property
    def where(self) -> str:
        """The table's name in the file, for messages."""
        return f"models.{self.model}"

    def money(self, true: str, predicted: str) -> float:
        """Money of one prediction of ``predicted`` whose true label is ``true`` (0 if unset)."""
        return self.outcomes.get((true, predicted), 0.0)

    def check_classes(self, labels: Sequence[str]) -> None:
        """Refuse a cell that names a class outside ``labels`` (the model's classes).

        Raises:
            ValueConfigError: naming the file, the table and the first such cell.
        """
        known = set(labels)
        for true, predicted in self.outcomes:
            unknown = [name for name in (true, predicted) if name not in known]
            if unknown:
                raise ValueConfigError(
                    f"{self.origin}: {self.where}.outcomes.\"{true}/{predicted}\" names "
                    f"{unknown[0]!r}, not a class of the model ({', '.join(labels)})")


@dataclass(frozen=True)
class ValueConfig:
    """Every model's :class:`ValueTable`; empty when no file is configured."""

    tables: Mapping[str, ValueTable] = field(default_factory=lambda: MappingProxyType({}))

    def for_model(self, name: str) -> ValueTable | None:
        """The table of model ``name``, or None when its outcomes have no value set."""
        return self.tables.get(name)


def load_value_config(path: str | Path | None) -> ValueConfig:
    """Read the value file at ``path``; an empty path means no values configured.

    Raises:
        ValueConfigError: the file cannot be read, is too large, or is invalid.
    """
    if not path:
        return ValueConfig()
    source = Path(path)
    try:
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueConfigError(f"value file {source}: {size} bytes, more than the "
                                   f"{MAX_FILE_BYTES} allowed")
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueConfigError(f"value file {source}: cannot be read ({exc})") from exc
    return parse_value_config(text, origin=str(source))


def parse_value_config(text: str, *, origin: str = "value file") -> ValueConfig:
    """Parse the TOML ``text`` (see the module docstring); ``origin`` names it in errors.

    Raises:
        ValueConfigError: invalid TOML, an unknown key, a bad number or currency, too many
            models or cells.
    """
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise ValueConfigError(f"{origin}: more than {MAX_FILE_BYTES} bytes")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueConfigError(f"{origin}: not valid TOML ({exc})") from exc
    _no_unknown(document, _TOP_KEYS, origin, "")
    models = _table(document.get("models", {}), origin, "models")
    if len(models) > MAX_MODELS:
        raise ValueConfigError(f"{origin}: models has {len(models)} tables, more than "
                               f"{MAX_MODELS}")
    tables = {name: _model(name, entry, origin) for name, entry in models.items()}
    return ValueConfig(tables=MappingProxyType(tables))


def _model(name: str, entry: Any, origin: str) -> ValueTable:
    where = f"models.{name}"
    if not _NAME.fullmatch(name):
        raise ValueConfigError(f"{origin}: {where!r} is not a model name")
    table = _table(entry, origin, where)
    _no_unknown(table, _MODEL_KEYS, origin, where)
    currency = table.get("currency")
    if currency is None:
        raise ValueConfigError(f"{origin}: {where}.currency is missing (a code like \"EUR\")")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueConfigError(f"{origin}: {where}.currency must be a 3-letter code in "
                               "capitals, like \"EUR\" or \"USD\"")
    return ValueTable(
        model=name,
        currency=currency,
        cpu_hour=_number(table.get("cpu_hour", 0.0), origin, f"{where}.cpu_hour", 0.0,
                         MAX_PRICE),
        label=_number(table.get("label", 0.0), origin, f"{where}.label", 0.0, MAX_PRICE),
        outcomes=MappingProxyType(_outcomes(table.get("outcomes", {}), origin, where)),
        origin=origin,
    )


def _outcomes(value: Any, origin: str, where: str) -> dict[tuple[str, str], float]:
    here = f"{where}.outcomes"
    cells = _table(value, origin, here)
    if len(cells) > MAX_CELLS:
        raise ValueConfigError(f"{origin}: {here} has {len(cells)} cells, more than "
                               f"{MAX_CELLS}")
    out: dict[tuple[str, str], float] = {}
    for key, money in cells.items():
        place = f"{here}.\"{key}\""
        true, slash, predicted = key.partition("/")
        if not slash or not true or not predicted or "/" in predicted \
                or not _NAME.fullmatch(key):
            raise ValueConfigError(f"{origin}: {place} must be \"<true label>/<predicted "
                                   "class>\", like \"churned/churned\"")
        out[(true, predicted)] = _number(money, origin, place, -MAX_MONEY, MAX_MONEY)
    return out


def _number(value: Any, origin: str, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueConfigError(f"{origin}: {where} must be a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueConfigError(f"{origin}: {where} must be a finite number")
    if not low <= number <= high:
        raise ValueConfigError(f"{origin}: {where} = {number:g} is outside {low:g} to "
                               f"{high:g}")
    return number


def _table(value: Any, origin: str, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueConfigError(f"{origin}: {where} must be a table")
    return value


def _no_unknown(table: Mapping[str, Any], allowed: frozenset[str], origin: str,
                where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        place = f"{where}.{unknown[0]}" if where else unknown[0]
        raise ValueConfigError(f"{origin}: unknown key {place} (expected one of "
                               f"{', '.join(sorted(allowed))})")

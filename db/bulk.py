"""One statement run for many rows (an executemany) with as little work per row as possible.

``connection.execute(statement, rows)`` converts every value of every row through its
column type (a timestamp to SQLite's text, a dict to JSON) and builds each row's parameters
twice; for a batch of thousands of label rows that costs about as much as SQLite's own
inserts. :func:`executemany` gives the same result with SQLAlchemy's own conversions run
once per distinct value (a batch shares its time, source and labeler) and, on SQLite, the
converted values bound to the driver directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["executemany"]

# Types whose equal values (with the same tzinfo) are the same value to every converter.
_REMEMBERED = frozenset({str, int, bool, type(None), date, datetime})


def _once_per_value(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its result per distinct value, for the types whose equal
    values always convert alike (text, whole numbers, times in the same zone)."""
    seen: dict[tuple[Any, ...], Any] = {}

    def run(value: Any) -> Any:
        kind = type(value)
        if kind not in _REMEMBERED:
            return process(value)  # a JSON document, a float (0.0 == -0.0), …
        key = (kind, value, getattr(value, "tzinfo", None))
        if key not in seen:
            seen[key] = process(value)
        return seen[key]

    return run


def _picker(names: Sequence[str]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """The values of ``names`` in a row, in that order (C's itemgetter: no loop per row)."""
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]] = itemgetter(*names)
    return pick


def _execute(connection: Connection, statement: UpdateBase,
             rows: Sequence[Mapping[str, Any]]) -> int:
    # preserve_rowcount: the rows of every page when an INSERT is sent as pages of
    # multi-row VALUES (psycopg2), not the last page's.
    result = connection.execute(statement, list(rows),
                                execution_options={"preserve_rowcount": True})
    return result.rowcount


def executemany(connection: Connection, statement: UpdateBase,
                rows: Sequence[Mapping[str, Any]]) -> int:
    """Run ``statement`` once per row of ``rows``, in one executemany.

    The same effect as ``connection.execute(statement, rows)``, except that no Python-side
    column default is applied: every row gives every parameter of the statement, under
    the same keys. Returns the number of rows the statement inserted or matched in all.
    """
    if not rows:
        return 0
    dialect = connection.dialect
    if dialect.paramstyle != "qmark" or len(rows) == 1:  # only SQLite binds directly
        return _execute(connection, statement, rows)
    # Compiled as connection.execute compiles it (it caches that; this is once a batch).
    compiled = statement.compile(dialect=dialect, column_keys=sorted(rows[0]),
                                 for_executemany=True)
    names = compiled.positiontup
    if (names is None or compiled.literal_execute_params or compiled.post_compile_params
            or compiled.escaped_bind_names):
        return _execute(connection, statement, rows)
    given = rows[0].keys()
    constants: dict[str, Any] = {}
    converters: dict[str, Callable[[Any], Any]] = {}
    for name in dict.fromkeys(names):  # a parameter may be used more than once
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name not in given:  # a value of the statement itself (``revision + 1``)
            if bind.required:
                raise KeyError(f"no value for the parameter {name!r}")
            value = bind.effective_value
            constants[name] = value if process is None else process(value)
        elif process is not None:
            converters[name] = _once_per_value(process)
    values = _picker(names)
    if not constants and not converters:
        converted = [values(row) for row in rows]
    else:
        converted = [values({**row, **constants,
                             **{name: process(row[name]) for name, process in converters.items()}})
                     for row in rows]
    return connection.exec_driver_sql(compiled.string, converted).rowcount

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
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.dml import UpdateBase

__all__ = ["executemany"]


def _once_per_value(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``process`` remembering its result per distinct hashable value (of the same type)."""
    seen: dict[tuple[type, Any], Any] = {}

    def run(value: Any) -> Any:
        try:
            key = (type(value), value)
            if key in seen:
                return seen[key]
        except TypeError:  # unhashable: a JSON document
            return process(value)
        seen[key] = out = process(value)
        return out

    return run


def _constant(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda _row: value


def _converted(name: str, process: Callable[[Any], Any]) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: process(row[name])


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
        return connection.execute(statement, list(rows)).rowcount
    # Compiled as connection.execute compiles it (it caches that; this is once a batch).
    compiled = statement.compile(dialect=dialect, column_keys=sorted(rows[0]),
                                 for_executemany=True)
    names = compiled.positiontup
    if (names is None or compiled.literal_execute_params or compiled.post_compile_params
            or compiled.escaped_bind_names):
        return connection.execute(statement, list(rows)).rowcount
    given = rows[0].keys()
    getters: list[Callable[[Mapping[str, Any]], Any]] = []
    for name in names:
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name not in given:  # a value of the statement itself (``revision + 1``)
            if bind.required:
                raise KeyError(f"no value for the parameter {name!r}")
            value = bind.effective_value
            getters.append(_constant(value if process is None else process(value)))
        elif process is None:
            getters.append(itemgetter(name))
        else:
            getters.append(_converted(name, _once_per_value(process)))
    converted = [tuple([get(row) for get in getters]) for row in rows]
    return connection.exec_driver_sql(compiled.string, converted).rowcount

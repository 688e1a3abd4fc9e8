"""One statement run for many rows (an executemany) with as little work per row as possible.

``connection.execute(statement, rows)`` converts every value of every row through its
column type (a timestamp to SQLite's text, a dict to JSON) and builds a dict, then a tuple,
per row; for a batch of thousands of label rows that profiled about as long as SQLite's own
inserts. :func:`executemany` gives the same result with SQLAlchemy's own conversions run
once per distinct value (a batch shares one time) and, on SQLite, the converted values
bound to the driver directly, built column by column.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
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
    # Column by column (C loops: map, zip), each distinct parameter once.
    columns: dict[str, Iterable[Any]] = {}
    for name in dict.fromkeys(names):  # a parameter may be used more than once
        bind = compiled.binds[name]
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if name not in given:  # a value of the statement itself (``revision + 1``)
            if bind.required:
                raise KeyError(f"no value for the parameter {name!r}")
            value = bind.effective_value
            columns[name] = [value if process is None else process(value)] * len(rows)
        elif process is None:
            columns[name] = list(map(itemgetter(name), rows))
        else:
            columns[name] = list(map(_once_per_value(process), map(itemgetter(name), rows)))
    converted = list(zip(*(columns[name] for name in names), strict=True))
    return connection.exec_driver_sql(compiled.string, converted).rowcount

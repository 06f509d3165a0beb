"""Writing many rows at once on the request path.

On PostgreSQL through psycopg, many rows go in with ``COPY ... FROM STDIN``, written by psycopg's
own row formatting: for a hundred rows it costs a fraction of a multi-row ``INSERT`` built by
SQLAlchemy (which renders, converts and binds every parameter in Python). A few rows (one
request's) go as a prepared ``INSERT`` each, pipelined: one round trip where ``COPY`` takes two
(measured on a single transfer's creation: a fifth less of PostgreSQL's CPU). The values pass
through each column type's bind processing first, exactly as a Core ``INSERT`` would send them.
Elsewhere, and whenever a row leaves out a column whose default is computed in Python, the rows
go through a Core ``INSERT``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from psycopg import sql
from sqlalchemy import Dialect, Table, insert
from sqlalchemy.orm import Session


def driver_connection(session: Session) -> Any | None:
    """The psycopg connection under the session's transaction, after the session's pending
    changes are written; None on other databases."""
    if session.get_bind().dialect.driver != "psycopg":
        return None
    session.flush()
    return session.connection().connection.driver_connection


# Up to this many rows go as a prepared INSERT each (one round trip: pipelined for several);
# more go by COPY (two round trips, far less work per row).
FEW_ROWS = 8


@cache
def _plan(
    table: Table, columns: tuple[str, ...], dialect: Dialect
) -> tuple[str, str, tuple[tuple[int, Callable[[Any], Any]], ...]] | None:
    """The COPY and one-row INSERT statements (rendered once: quoting each name cost more than
    the rows), and the bind processing of the columns that have one (by position); None if a
    left-out column's default is computed in Python (the Core INSERT computes it)."""
    for column in table.columns:
        if column.key not in columns and column.default is not None:
            return None
    name = sql.Identifier(table.name)
    names = sql.SQL(", ").join(sql.Identifier(table.columns[key].name) for key in columns)
    copy = sql.SQL("COPY {} ({}) FROM STDIN").format(name, names)
    one = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        name, names, sql.SQL(", ").join(sql.Placeholder() * len(columns))
    )
    processors = (table.columns[key].type.bind_processor(dialect) for key in columns)
    return (
        copy.as_string(),
        one.as_string(),
        tuple((index, process) for index, process in enumerate(processors) if process is not None),
    )


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) into the table."""
    if not rows:
        return
    connection = driver_connection(session)
    columns = tuple(rows[0])
    plan = _plan(table, columns, session.get_bind().dialect) if connection is not None else None
    if plan is None:
        session.execute(insert(table), list(rows))
        return
    copy_text, one_text, processors = plan
    values = [[row[key] for key in columns] for row in rows]
    # Before anything is sent: a refused value leaves the transaction usable.
    for index, process in processors:
        for row in values:
            row[index] = process(row[index])
    with connection.cursor() as cursor:  # type: ignore[union-attr]
        if len(values) == 1:
            cursor.execute(one_text, values[0], prepare=True)
        elif len(values) <= FEW_ROWS:
            cursor.executemany(one_text, values)
        else:
            with cursor.copy(copy_text) as copy:
                for row in values:
                    copy.write_row(row)

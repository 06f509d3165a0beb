"""Writing many rows at once on the request path.

On PostgreSQL through psycopg, many rows go in with ``COPY ... FROM STDIN`` in its binary format,
written by psycopg: for a hundred rows it costs a fraction of a multi-row ``INSERT`` built by
SQLAlchemy (which renders, converts and binds every parameter in Python), and against COPY's text
format nothing is escaped or parsed and bytes are not spelt out in hex (measured on batches of 100
transfers: a tenth less of the service's CPU, a fifth less of PostgreSQL's). A few rows (one
request's) go as one prepared multi-row ``INSERT``: one round trip where ``COPY`` takes two, and
a few tables' rows in one statement of data-modifying CTEs (``insert_together``; measured on a
single transfer's creation, against a pipelined ``INSERT`` per row and per table: a sixth less
of the creation's CPU in the service, a fifth less of PostgreSQL's). The values pass through
each column type's bind processing first, exactly as a Core ``INSERT`` would send them.
Elsewhere, and for a table with a column of a type not listed in ``_BINARY_TYPES`` or one whose
default is computed in Python and left out, the rows go through a Core ``INSERT``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from psycopg import sql
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.exc import NoReferencedTableError
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine


def driver_connection(session: Session) -> Any | None:
    """The psycopg connection under the session's transaction, after the session's pending
    changes are written; None on other databases."""
    if session.get_bind().dialect.driver != "psycopg":
        return None
    session.flush()
    return session.connection().connection.driver_connection


# Up to this many rows go as one prepared multi-row INSERT (one round trip); more go by COPY (two
# round trips, far less work per row).
FEW_ROWS = 8


# The column types whose values, after their bind processing, psycopg writes in COPY's binary
# format (by the PostgreSQL type's OID): exact classes, so an Enum (a String) is not one of them.
_BINARY_TYPES: dict[type[TypeEngine[Any]], int] = {
    Boolean: 16,  # bool
    LargeBinary: 17,  # bytea
    BigInteger: 20,  # int8
    SmallInteger: 21,  # int2
    Integer: 23,  # int4
    Text: 25,  # text
    Float: 701,  # float8
    String: 1043,  # varchar
    Date: 1082,  # date
}
_TIMESTAMPTZ = 1184
_FLOAT4 = 700


def _binary_oid(column: Column[Any], dialect: Dialect) -> int | None:
    """The OID COPY's binary format writes the column as; None if its type is not a plain one."""
    column_type: TypeEngine[Any] = column.type
    if isinstance(column_type, NullType) and column.foreign_keys:
        # A foreign key declared without a type takes the type of the column it refers to.
        try:
            column_type = next(iter(column.foreign_keys)).column.type
        except NoReferencedTableError:  # that table's model is not loaded: the Core INSERT
            return None
    # The type this database is given (a variant for it, a decorator's own choice), as Core does.
    column_type = column_type._variant_mapping.get(dialect.name, column_type)
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.load_dialect_impl(dialect)
    if type(column_type) is DateTime:
        return _TIMESTAMPTZ if column_type.timezone else None
    if type(column_type) is Float and (column_type.precision or 53) <= 24:
        return _FLOAT4
    return _BINARY_TYPES.get(type(column_type))


@dataclass(frozen=True, slots=True)
class _Plan:
    copy: str  # COPY ... FROM STDIN (FORMAT BINARY)
    types: tuple[int, ...]  # the columns' OIDs for it
    inserts: tuple[str, ...]  # INSERT ... VALUES with 1, 2, ... FEW_ROWS rows
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (position, bind processing)


@cache
def _plan(table: Table, columns: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    """The COPY and multi-row INSERT statements (rendered once: quoting each name cost more than
    the rows), the columns' types and their bind processing; None when the Core INSERT is
    needed: a column of another type (psycopg would not adapt its values as Core does, JSON's
    for one), or a left-out column whose default is computed in Python. (A plan of None made
    while a referenced table's model is not loaded is kept: that table's rows go by INSERT.)"""
    for column in table.columns:
        if column.key not in columns and column.default is not None:
            return None
    types = tuple(_binary_oid(table.columns[key], dialect) for key in columns)
    if None in types:
        return None
    name = sql.Identifier(table.name)
    names = sql.SQL(", ").join(sql.Identifier(table.columns[key].name) for key in columns)
    copy = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(name, names)
    row = sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    inserts = tuple(
        sql.SQL("INSERT INTO {} ({}) VALUES {}").format(name, names, sql.SQL(", ").join([row] * n))
        for n in range(1, FEW_ROWS + 1)
    )
    processors = (table.columns[key].type.bind_processor(dialect) for key in columns)
    return _Plan(
        copy.as_string(),
        tuple(oid for oid in types if oid is not None),
        tuple(statement.as_string() for statement in inserts),
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
    values = _values(plan, columns, rows)
    with connection.cursor() as cursor:  # type: ignore[union-attr]
        if len(values) <= FEW_ROWS:
            cursor.execute(
                plan.inserts[len(values) - 1], [v for row in values for v in row], prepare=True
            )
        else:
            with cursor.copy(plan.copy) as copy:
                copy.set_types(plan.types)
                for row in values:
                    copy.write_row(row)


def insert_together(
    session: Session, parts: Sequence[tuple[Table, Sequence[dict[str, Any]]]]
) -> None:
    """Insert rows into several tables: on PostgreSQL, when each table has only a few rows, in
    one statement (data-modifying CTEs, one round trip; the order of the tables within it does
    not matter, as foreign keys are checked at its end); otherwise as :func:`insert_rows` each,
    in the order given."""
    parts = [(table, rows) for table, rows in parts if rows]
    connection = driver_connection(session) if len(parts) > 1 else None
    dialect = session.get_bind().dialect
    plans = [
        _plan(table, tuple(rows[0]), dialect) if len(rows) <= FEW_ROWS else None
        for table, rows in parts
    ]
    if connection is None or None in plans:
        for table, rows in parts:
            insert_rows(session, table, rows)
        return
    statements = [
        plan.inserts[len(rows) - 1] for plan, (_, rows) in zip(plans, parts, strict=True) if plan
    ]
    params = [
        value
        for plan, (_, rows) in zip(plans, parts, strict=True)
        if plan
        for row in _values(plan, tuple(rows[0]), rows)
        for value in row
    ]
    with connection.cursor() as cursor:
        cursor.execute(_together(tuple(statements)), params, prepare=True)


@cache
def _together(statements: tuple[str, ...]) -> str:
    *first, last = statements
    return "WITH {} {}".format(  # the rendered INSERTs, names quoted by psycopg
        ", ".join(f"part_{n} AS ({text})" for n, text in enumerate(first)), last
    )


def _values(
    plan: _Plan, columns: tuple[str, ...], rows: Sequence[dict[str, Any]]
) -> list[list[Any]]:
    """The rows' values in column order, through their columns' bind processing (before
    anything is sent: a refused value leaves the transaction usable)."""
    values = [[row[key] for key in columns] for row in rows]
    for index, process in plan.processors:
        for row in values:
            row[index] = process(row[index])
    return values

"""The declarative base, with a naming convention so migrations name constraints the same way
on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import cast

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def table_of(model: type[Base]) -> Table:
    """The table of a mapped class, for Core statements on hot paths."""
    return cast(Table, model.__table__)


def import_models() -> None:
    """Import every module that defines tables, so the metadata is complete (for Alembic)."""
    import exchange.audit.models
    import exchange.authorities.models
    import exchange.transfers.models
    import exchange.vault.models  # noqa: F401

"""Run Alembic migrations from code (the CLI and start-up use this, never create_all)."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from exchange.config import get_settings

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration pointing at the project's migrations and the given database."""
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%")
    )
    return config


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Undo migrations down to ``revision``."""
    command.downgrade(alembic_config(url), revision)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Apply migrations up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def check(url: str | None = None) -> None:
    """Fail when the models and the migrations disagree (alembic check)."""
    command.check(alembic_config(url))


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions a fully migrated database is at."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def is_at_head(connection: Connection) -> bool:
    """Whether the database has every migration applied."""
    current = set(MigrationContext.configure(connection).get_current_heads())
    return current == head_revisions()

"""Settings, read from the environment with the prefix ``EXCHANGE_``."""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_database_url() -> str:
    return f"sqlite:///{Path('data') / 'exchange.db'}"


class Settings(BaseSettings):
    """How the service runs: database, limits, logging."""

    model_config = SettingsConfigDict(env_prefix="EXCHANGE_", extra="ignore")

    database_url: str = Field(
        default_factory=_default_database_url,
        description="SQLAlchemy URL; a SQLite file under ./data by default, "
        "postgresql+psycopg://... for production.",
    )
    migrate_on_start: bool = Field(
        default=False,
        description="Apply migrations and load the authority registry when the service starts.",
    )
    max_request_bytes: int = Field(
        default=16 * 1024 * 1024, description="Largest request body accepted."
    )
    log_level: str = "INFO"
    log_json: bool = Field(default=True, description="Logs as JSON lines (false: plain text).")


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()

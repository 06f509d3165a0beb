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
    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded defaults keep their files."
    )
    encryption_keys: str | None = Field(
        default=None,
        description='Key-encryption keys "kid:base64,kid:base64", the first active. Unset: a '
        "key is generated in data_dir (for the embedded default only).",
    )
    pseudonym_key: str | None = Field(
        default=None,
        description="Secret for the audit log's child pseudonyms (keyed HMAC). Unset: generated "
        "in data_dir.",
    )
    audit_signing_key: str | None = Field(
        default=None,
        description="Ed25519 private key (base64 of 32 bytes) that signs audit checkpoints. "
        "Unset: generated in data_dir.",
    )
    conference_clock_start: str = Field(
        default="acknowledgement",
        description="When the 15 working days to the transfer-in conference start: "
        "notification, receipt, acknowledgement or acceptance.",
    )
    retention_days: int = Field(
        default=90, ge=0, description="Days after a transfer closes before its content is purged."
    )
    max_active_requests: int = Field(
        default=4,
        ge=1,
        description="Requests that use the database at once in each worker process (PostgreSQL); "
        "more wait their turn. A few threads sharing one interpreter's lock finish more work, "
        "and sooner, than many contending for it.",
    )
    max_children_per_transfer: int = Field(default=20, ge=1)
    max_batch_items: int = Field(default=200, ge=1, description="Transfers per batch request.")
    max_documents_per_transfer: int = Field(default=50, ge=0)
    max_document_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    max_message_chars: int = Field(default=20_000, ge=1)
    idempotency_key_hours: int = Field(
        default=24, ge=1, description="How long an Idempotency-Key's response is kept for replay."
    )
    token_rotation_grace_minutes: int = Field(
        default=60, ge=0, description="How long a rotated token's old secret still works."
    )


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()

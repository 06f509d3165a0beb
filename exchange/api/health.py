"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from exchange.db import get_engine
from exchange.db.migrate import is_at_head
from exchange.errors import NotReady

router = APIRouter(tags=["health"])
log = logging.getLogger("exchange.health")


class Health(BaseModel):
    """The service's state."""

    status: str
    database: str | None = None


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"description": "Not ready"}})
def readyz() -> Health:
    """The database is reachable and every migration is applied."""
    engine = get_engine()
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("SELECT 1"))
            migrated = is_at_head(connection)
    except Exception as exc:
        log.warning("database not reachable: %s", type(exc).__name__)
        raise NotReady(
            "The database cannot be reached.",
            fix="Check EXCHANGE_DATABASE_URL and that the database server is running.",
        ) from exc
    if not migrated:
        raise NotReady(
            "The database is reachable but not migrated to the current schema.",
            fix="Run `exchange db upgrade`.",
        )
    return Health(status="ok", database=engine.dialect.name)

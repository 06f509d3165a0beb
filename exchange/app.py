"""The application factory: routers, error handlers, request ids, start-up."""

from __future__ import annotations

import datetime as dt
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from exchange import __version__
from exchange.api import health
from exchange.api.limits import BodyLimitMiddleware
from exchange.api.observability import RequestIdMiddleware, configure_logging
from exchange.audit import endpoints as audit_endpoints
from exchange.authorities import client_endpoints
from exchange.authorities import endpoints as authority_endpoints
from exchange.canonical import ChildRecord
from exchange.config import Settings, get_settings
from exchange.errors import install_error_handlers
from exchange.records import endpoints as record_endpoints
from exchange.transfers import clock
from exchange.transfers import endpoints as transfer_endpoints
from exchange.transfers.schemas import RecordsOut, RecordUpdate, TransferCreate

log = logging.getLogger("exchange")

DESCRIPTION = """
Moves a child protection case from one English local authority to another: one canonical child
record, adapters for each authority's exports, and an audited transfer API.

Errors are RFC 9457 problem details (`application/problem+json`) with a stable `code`, a `fix`
and the `request_id` that appears in the service's logs.
"""


def setup_database(settings: Settings) -> None:
    """Apply migrations and load the shipped authority registry (idempotent)."""
    from exchange.authorities import load_registry
    from exchange.authorities.repository import sync_registry
    from exchange.db import session_scope
    from exchange.db.migrate import upgrade

    upgrade(settings.database_url)
    with session_scope(settings.database_url) as session:
        changed = sync_registry(session, load_registry())
    log.info("database ready", extra={"authorities_changed": changed})


def keep_out_of_collections() -> None:
    """Leave what start-up loaded (modules, models and their schemas, the calendar) out of the
    cyclic garbage collector's scans, once per process.

    It lives as long as the process, yet every full collection walked all of it again: a sixth
    of a batch's CPU in the service. Requests' own objects are collected as before.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            setup_database(settings)
        clock.warm_up(dt.datetime.now(dt.UTC).date())
        keep_out_of_collections()
        yield

    app = FastAPI(
        title="exchange",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(authority_endpoints.router)
    app.include_router(record_endpoints.router)
    app.include_router(transfer_endpoints.router)
    app.include_router(client_endpoints.router)
    app.include_router(audit_endpoints.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (ChildRecord, TransferCreate, RecordUpdate, RecordsOut):
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            model_schema.pop("$id", None)
            components[model.__name__] = model_schema
        schema["components"]["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer", "description": "exch.<client>.<secret>"}
        }
        schema["security"] = [{"bearer": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def main_app() -> FastAPI:
    """The app uvicorn serves (`exchange serve`), with logging configured."""
    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    return create_app(settings)

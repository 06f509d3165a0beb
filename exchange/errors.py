"""Domain errors and their one mapping to RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://exchange.example/problems/"

log = logging.getLogger("exchange.errors")


class ExchangeError(Exception):
    """Base of the errors a client can act on; each maps to one problem type and status."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"
    audit_as_denied: bool = False  # an access refused to an authenticated caller is audited
    denial: tuple[Any, str, dict[str, str]] | None = None  # (actor, action, details) to audit

    def __init__(self, detail: str, *, fix: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix
        self.extra = extra


class NotFound(ExchangeError):
    """The thing asked for does not exist (or the caller may not know it exists)."""

    status, code, title = 404, "not-found", "Not found"


class BodyNotJSON(ExchangeError):
    """The request body is not JSON."""

    status, code, title = 400, "body-not-json", "Body is not JSON"


class BodyNotObject(ExchangeError):
    """The request body is JSON but not an object."""

    status, code, title = 422, "body-not-object", "Body is not a JSON object"


class BodyTooLarge(ExchangeError):
    """The request body is larger than the service accepts."""

    status, code, title = 413, "body-too-large", "Body too large"


class UnsupportedMediaType(ExchangeError):
    """The request body is not of a media type the endpoint reads."""

    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class NotReady(ExchangeError):
    """The service cannot serve requests yet (database unreachable or not migrated)."""

    status, code, title = 503, "not-ready", "Service not ready"


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    fix: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem response, with the request id so logs and reports can be matched."""
    body = _problem_body(status=status, code=code, title=title, detail=detail, fix=fix)
    body["instance"] = request.url.path
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def problem_fields(exc: ExchangeError) -> dict[str, Any]:
    """The problem an error makes, as a JSON object inside another answer (a batch item's)."""
    body = _problem_body(
        status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, fix=exc.fix
    )
    body.update(exc.extra)
    return body


def _problem_body(
    *, status: int, code: str, title: str, detail: str, fix: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if fix:
        body["fix"] = fix
    return body


async def _audit_denied(request: Request, exc: ExchangeError) -> None:
    # The request's own transaction has ended by now (function-scoped session); the writer
    # records the refusal in a transaction of its own.
    writer = getattr(request.state, "denied_writer", None)
    if writer is None:
        return
    from fastapi.concurrency import run_in_threadpool

    transfer_id = request.path_params.get("transfer_id")
    if exc.denial is not None:
        actor, action, details = exc.denial
    else:
        principal = getattr(request.state, "principal", None)
        if principal is None:
            return
        actor, action = principal.actor, "access.denied"
        details = {"code": exc.code, "path": request.url.path}
    await run_in_threadpool(writer, actor, action, details, transfer_id)


def install_error_handlers(app: FastAPI) -> None:
    """Map every error the app can raise to problem+json, in this one place."""

    @app.exception_handler(ExchangeError)
    async def _exchange_error(request: Request, exc: ExchangeError) -> JSONResponse:
        if exc.audit_as_denied or exc.denial is not None:
            await _audit_denied(request, exc)
        return problem(
            request,
            status=exc.status,
            code=exc.code,
            title=exc.title,
            detail=exc.detail,
            fix=exc.fix,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                "pointer": "/" + "/".join(str(p) for p in err.get("loc", ())[1:]),
                "in": str(err.get("loc", ("",))[0]),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        return problem(
            request,
            status=422,
            code="request-invalid",
            title="Request not valid",
            detail="The request's parameters or body do not match what the endpoint takes.",
            fix="Correct the values listed in errors.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(
            request,
            status=exc.status_code,
            code=code,
            title=str(exc.detail) if exc.status_code != 404 else "Not found",
            detail=str(exc.detail),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(
            request,
            status=500,
            code="internal-error",
            title="Internal error",
            detail="The service failed to handle the request; it has been logged.",
            fix="Try again later; quote the request_id when reporting it.",
        )

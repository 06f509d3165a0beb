"""Reading request bodies safely: a size cap, JSON that cannot crash the parser."""

from __future__ import annotations

import codecs
from typing import Any

import orjson
from fastapi import Request

from exchange.config import get_settings
from exchange.errors import BodyNotJSON, BodyNotObject, BodyTooLarge, UnsupportedMediaType


async def read_body(request: Request, *, limit: int | None = None) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit."""
    cap = limit or get_settings().max_request_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > cap:
        raise BodyTooLarge(
            f"The body is {declared} bytes; the limit is {cap}.",
            fix="Send a smaller body; large exports go through transfer jobs in parts.",
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise BodyTooLarge(f"The body is over the limit of {cap} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def check_json_media_type(request: Request) -> None:
    """Refuse a body that is not declared as JSON (415)."""
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"The body is {media_type}; this endpoint reads application/json.",
            fix="Send the body as JSON with Content-Type: application/json.",
        )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Bytes as a JSON object, or a 4xx problem that says what is wrong with them."""
    try:
        # orjson: strict RFC 8259 (no NaN or Infinity), and several times faster than the
        # standard library on the large bodies of transfer jobs; it reads the bytes as UTF-8
        # itself. orjson refuses a byte order mark: one is skipped here, as "utf-8-sig" did.
        document = orjson.loads(raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8-sig")
        except UnicodeDecodeError as not_text:
            raise BodyNotJSON(
                f"The body is not valid UTF-8 (byte {not_text.start}).",
                fix="Encode the JSON as UTF-8.",
            ) from exc
        if "depth" in exc.msg or "recursion" in exc.msg:
            raise BodyNotJSON(
                "The body is nested too deeply to be a record.",
                fix="Send the record as the schema describes it; it is a few levels deep.",
            ) from exc
        raise BodyNotJSON(
            f"The body is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
            fix="Send a JSON object.",
        ) from exc
    if not isinstance(document, dict):
        raise BodyNotObject(
            f"The body is a JSON {type(document).__name__}, not an object.",
            fix="Send one JSON object.",
        )
    return document


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 4xx problem that says what is wrong with it."""
    check_json_media_type(request)
    return parse_json_object(await read_body(request))

"""CSV cells that a spreadsheet opening the file will not execute."""

from __future__ import annotations

import datetime as dt
import json

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A value as a CSV cell; a leading = + - @ (a formula to a spreadsheet) is neutralised."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, sort_keys=True)
    elif isinstance(value, dt.datetime):
        value = value.isoformat()
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text

"""The job report: every record not sent, with where it came from, what went wrong and the fix."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from exchange.csvcells import csv_cell
from exchange.jobs.journal import Fate
from exchange.jobs.runner import JobOutcome, JobParams

COLUMNS = [
    "position",
    "record",
    "status",
    "to_authority",
    "code",
    "file",
    "line",
    "row",
    "column",
    "element",
    "pointer",
    "message",
    "fix",
    "attempts",
]

_env = Environment(
    loader=PackageLoader("exchange.jobs", "templates"), autoescape=select_autoescape(["html"])
)


def _row(fate: Fate) -> dict[str, Any]:
    loc = fate.location or {}
    return {
        "position": fate.n,
        "record": fate.record_key,
        "status": fate.status,
        "to_authority": fate.to_authority,
        "code": fate.code,
        "file": loc.get("file"),
        "line": loc.get("line"),
        "row": loc.get("row"),
        "column": loc.get("column"),
        "element": loc.get("element"),
        "pointer": loc.get("pointer"),
        "message": fate.message,
        "fix": fate.fix,
        "attempts": fate.attempts,
    }


def write_reports(
    directory: Path, outcome: JobOutcome, params: JobParams, fates: list[Fate]
) -> tuple[Path, Path]:
    """Write report.csv and report.html into the job's folder."""
    rows = [_row(f) for f in fates]
    csv_path = directory / "report.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([csv_cell(row[c]) for c in COLUMNS])
    html_path = directory / "report.html"
    by_code: dict[str, int] = {}
    for row in rows:
        by_code[row["code"] or "unknown"] = by_code.get(row["code"] or "unknown", 0) + 1
    html = _env.get_template("job_report.html").render(
        outcome=outcome,
        params=params,
        rows=rows,
        by_code=sorted(by_code.items(), key=lambda kv: -kv[1]),
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    html_path.write_text(html, encoding="utf-8")
    return csv_path, html_path

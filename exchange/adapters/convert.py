"""Running an adapter over a whole export: records out, every problem into a report.

Used by ``exchange convert`` and ``exchange validate`` (and by benchmarks), so what the command
line reports is exactly what the adapter found.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from exchange.adapters.base import Adapter, InputUnreadable, ReadResult, Source
from exchange.canonical import ChildRecord, Problem, Severity
from exchange.csvcells import csv_cell

REPORT_COLUMNS = [
    "record",
    "severity",
    "code",
    "dfe_rule",
    "file",
    "line",
    "row",
    "column",
    "element",
    "pointer",
    "message",
    "fix",
]


class ProblemReport:
    """Writes one CSV row per problem as it is found, and keeps counts for the summary."""

    def __init__(self, out: IO[str] | None, examples: int = 5) -> None:
        self.writer = csv.writer(out) if out is not None else None
        if self.writer is not None:
            self.writer.writerow(REPORT_COLUMNS)
        self.by_code: Counter[tuple[str, str]] = Counter()
        self.first: dict[tuple[str, str], list[tuple[str | None, Problem]]] = {}
        self.examples = examples

    def add(self, key: str | None, problem: Problem) -> None:
        """Record one problem of the record ``key``."""
        ident = (problem.severity.value, problem.code)
        self.by_code[ident] += 1
        bucket = self.first.setdefault(ident, [])
        if len(bucket) < self.examples:
            bucket.append((key, problem))
        if self.writer is not None:
            loc = problem.location
            self.writer.writerow(
                [
                    csv_cell(v)
                    for v in (
                        key,
                        problem.severity.value,
                        problem.code,
                        problem.dfe_rule,
                        loc.file if loc else None,
                        loc.line if loc else None,
                        loc.row if loc else None,
                        loc.column if loc else None,
                        loc.element if loc else None,
                        problem.pointer,
                        problem.message,
                        problem.fix,
                    )
                ]
            )


@dataclass
class ConversionSummary:
    """What happened to every record of an export."""

    records: int = 0
    built: int = 0
    skipped: int = 0
    with_errors: int = 0
    with_warnings: int = 0
    written: int = 0
    fatal: Problem | None = None
    write_problems: list[Problem] = field(default_factory=list)

    def exit_code(self, *, strict: bool = False) -> int:
        """0 clean (warnings allowed unless strict), 1 some records have errors, 2 unreadable."""
        if self.fatal is not None:
            return 2
        if self.skipped or self.with_errors or self.write_problems:
            return 1
        if strict and self.with_warnings:
            return 1
        return 0


def read_all(
    adapter: Adapter,
    source: Source,
    report: ProblemReport,
    summary: ConversionSummary,
    on_record: Callable[[ReadResult], None] | None = None,
) -> Iterator[ChildRecord]:
    """Every record the adapter builds, with every problem reported and counted on the way."""
    try:
        for result in adapter.read(source):
            summary.records += 1
            for found in result.problems:
                report.add(result.key, found)
            if result.record is None:
                summary.skipped += 1
            else:
                summary.built += 1
                if result.has_errors:
                    summary.with_errors += 1
                elif result.problems:
                    summary.with_warnings += 1
            if on_record is not None:
                on_record(result)
            if result.record is not None:
                yield result.record
    except InputUnreadable as exc:
        summary.fatal = exc.problem
        report.add(None, exc.problem)


def write_json_lines(records: Iterator[ChildRecord], out: IO[bytes]) -> int:
    """Canonical records as JSON Lines; returns how many were written."""
    count = 0
    for record in records:
        out.write(record.model_dump_json(exclude_none=True).encode("utf-8"))
        out.write(b"\n")
        count += 1
    return count


def convert(
    adapter: Adapter,
    source: Source,
    *,
    target: Adapter | None,
    out: IO[bytes] | None,
    report: ProblemReport,
    on_record: Callable[[ReadResult], None] | None = None,
) -> ConversionSummary:
    """Read an export and write it as canonical JSON Lines (target None) or another format."""
    summary = ConversionSummary()
    records = read_all(adapter, source, report, summary, on_record)
    if out is None:
        for _ in records:
            pass
        return summary
    if target is None:
        summary.written = write_json_lines(records, out)
        return summary
    counted = _counting(records, summary)
    summary.write_problems = target.write(counted, out)
    for found in summary.write_problems:
        report.add(None, found)
    summary.written -= len(summary.write_problems)
    return summary


def _counting(records: Iterator[ChildRecord], summary: ConversionSummary) -> Iterator[ChildRecord]:
    for record in records:
        summary.written += 1
        yield record


def problems_csv_text(problems: list[tuple[str | None, Problem]]) -> str:
    """A small report as CSV text (for tests and API answers)."""
    buffer = io.StringIO()
    report = ProblemReport(buffer)
    for key, found in problems:
        report.add(key, found)
    return buffer.getvalue()


__all__ = [
    "ConversionSummary",
    "ProblemReport",
    "Severity",
    "convert",
    "problems_csv_text",
    "read_all",
]

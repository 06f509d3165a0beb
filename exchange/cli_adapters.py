"""`exchange convert`, `exchange validate` and `exchange adapters`: exports on the command line."""

from __future__ import annotations

import contextlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from exchange.adapters import Adapter, Source, UnknownAdapter, adapters, get_adapter
from exchange.adapters.convert import ConversionSummary, ProblemReport, convert

console = Console(stderr=True)
adapters_app = typer.Typer(help="The adapters that read and write exports.", no_args_is_help=True)
TARGETS = ("canonical", "cin-census", "dfe-csc-api")
PROGRESS_FROM_BYTES = 1 << 20


@adapters_app.command("list")
def list_adapters() -> None:
    """Every installed adapter: name, direction, formats and versions."""
    table = Table("name", "direction", "formats", "versions", "what it reads")
    for name, cls in adapters().items():
        direction = "/".join(d for d, ok in (("in", cls.reads), ("out", cls.writes)) if ok)
        table.add_row(name, direction, ", ".join(cls.formats), ", ".join(cls.versions), cls.title)
    Console().print(table)


MappingOption = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, help="Mapping file for --adapter mapping."),
]
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        exists=True, dir_okay=False, help="Vendor adapter configuration (code maps, renames)."
    ),
]
AuthorityOption = Annotated[
    str | None,
    typer.Option(help="The sending authority (DfE or GSS code), for exports that do not say."),
]


def _options(**given: Any) -> dict[str, Any]:
    """The adapter options the user gave (those left out keep the adapter's defaults)."""
    return {name: value for name, value in given.items() if value is not None}


def _adapter(name: str, **options: Any) -> Adapter:
    try:
        cls = get_adapter(name)
    except UnknownAdapter as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    unknown = [o for o in options if o not in inspect.signature(cls).parameters]
    if unknown:
        console.print(
            f"[red]The {name} adapter takes no {', '.join('--' + o.replace('_', '-') for o in unknown)}.[/]"
        )
        raise typer.Exit(2)
    return cls(**options)


@contextlib.contextmanager
def _progress(source: Source) -> Iterator[Source]:
    if source.size < PROGRESS_FROM_BYTES or not console.is_terminal:
        yield source
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[records]} records"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(Path(source.name).name, total=source.size, records=0)
        yield source.with_progress(lambda n: progress.advance(task, n))


def _run(
    adapter_name: str,
    input_path: Path,
    *,
    target_name: str | None,
    out_path: Path | None,
    problems_path: Path,
    strict: bool,
    options: dict[str, Any] | None = None,
) -> None:
    adapter = _adapter(adapter_name, **(options or {}))
    target = None if target_name in (None, "canonical") else _adapter(target_name or "")
    if target is not None and not target.writes:
        console.print(f"[red]The {target.name} adapter cannot write.[/]")
        raise typer.Exit(2)
    source = Source.from_path(input_path)
    problems_path.parent.mkdir(parents=True, exist_ok=True)
    with problems_path.open("w", newline="", encoding="utf-8") as problems_file:
        report = ProblemReport(problems_file)
        with _progress(source) as watched, _output(out_path, target_name) as out:
            summary = convert(adapter, watched, target=target, out=out, report=report)
    _summarise(summary, report, problems_path, out_path, strict=strict)
    raise typer.Exit(summary.exit_code(strict=strict))


@contextlib.contextmanager
def _output(path: Path | None, target_name: str | None) -> Iterator[IO[bytes] | None]:
    if target_name is None:
        yield None
    elif path is None:
        yield sys.stdout.buffer
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            yield out


def _summarise(
    summary: ConversionSummary,
    report: ProblemReport,
    problems_path: Path,
    out_path: Path | None,
    *,
    strict: bool,
) -> None:
    if summary.fatal is not None:
        problem = summary.fatal
        fatal_at = problem.location.model_dump(exclude_none=True) if problem.location else {}
        console.print(f"[red bold]Input unreadable[/] ({problem.code}): {problem.message}")
        if fatal_at:
            console.print(f"  where: {', '.join(f'{k} {v}' for k, v in fatal_at.items())}")
        console.print(f"  fix: {problem.fix}")
    console.print(
        f"{summary.records} records read: {summary.built} built "
        f"({summary.with_errors} with errors, {summary.with_warnings} with warnings only), "
        f"{summary.skipped} could not be read"
        + (f"; {summary.written} written to {out_path}" if out_path else "")
    )
    if report.by_code:
        table = Table("severity", "code", "count", "first seen (record: where)")
        for (severity, code), count in sorted(
            report.by_code.items(),
            key=lambda item: (item[0][0] != "fatal", item[0][0] != "error", -item[1]),
        ):
            examples = []
            for key, problem in report.first[(severity, code)][:3]:
                loc = problem.location
                where = ""
                if loc is not None:
                    parts = [
                        loc.file,
                        f"line {loc.line}" if loc.line else None,
                        f"row {loc.row}" if loc.row else None,
                        loc.column,
                        loc.element,
                    ]
                    where = " ".join(p for p in parts if p)
                pointer = f" {problem.pointer}" if problem.pointer else ""
                examples.append(f"{key or '-'}: {where}{pointer}")
            colour = {"fatal": "red bold", "error": "red", "warning": "yellow"}[severity]
            table.add_row(f"[{colour}]{severity}[/]", code, str(count), "\n".join(examples))
        console.print(table)
        first = next(iter(report.first.values()))[0][1]
        console.print(f"e.g. {first.message} Fix: {first.fix}")
    console.print(f"Every problem, with its location and fix: {problems_path}")
    exit_code = summary.exit_code(strict=strict)
    verdict = {0: "[green]no errors[/]", 1: "[red]errors found[/]", 2: "[red]input unreadable[/]"}
    console.print(
        verdict[exit_code] + (" (strict: warnings count)" if strict and exit_code else "")
    )


def register(app: typer.Typer) -> None:
    """Add the export commands to the main command line."""

    @app.command("convert")
    def convert_command(
        input_path: Annotated[
            Path, typer.Argument(metavar="INPUT", exists=True, help="Export file or folder.")
        ],
        adapter: Annotated[str, typer.Option("--adapter", "-a", help="Adapter reading INPUT.")],
        to: Annotated[
            str, typer.Option(help=f"Output format: {', '.join(TARGETS)}.")
        ] = "canonical",
        out: Annotated[
            Path | None, typer.Option("-o", "--out", help="Output file (default stdout).")
        ] = None,
        problems: Annotated[
            Path | None, typer.Option(help="Problems CSV (default OUT.problems.csv).")
        ] = None,
        strict: Annotated[
            bool, typer.Option(help="Warnings count as errors for the exit code.")
        ] = False,
        mapping: MappingOption = None,
        config: ConfigOption = None,
        source_authority: AuthorityOption = None,
    ) -> None:
        """Convert an export: JSON Lines of canonical records (or another format) and a problems report.

        Exit code 0: no errors; 1: some records have errors; 2: the input cannot be read.
        """
        if to not in TARGETS:
            console.print(f"[red]--to must be one of {', '.join(TARGETS)}[/]")
            raise typer.Exit(2)
        default = (out or Path(input_path.name)).with_name(
            (out or input_path).name + ".problems.csv"
        )
        _run(
            adapter,
            input_path,
            target_name=to,
            out_path=out,
            problems_path=problems or default,
            strict=strict,
            options=_options(mapping=mapping, config=config, source_authority=source_authority),
        )

    @app.command("validate")
    def validate_command(
        input_path: Annotated[
            Path, typer.Argument(metavar="INPUT", exists=True, help="Export file or folder.")
        ],
        adapter: Annotated[str, typer.Option("--adapter", "-a", help="Adapter reading INPUT.")],
        problems: Annotated[
            Path | None, typer.Option(help="Problems CSV (default INPUT.problems.csv here).")
        ] = None,
        strict: Annotated[
            bool, typer.Option(help="Warnings count as errors for the exit code.")
        ] = False,
        mapping: MappingOption = None,
        config: ConfigOption = None,
        source_authority: AuthorityOption = None,
    ) -> None:
        """Check an export before a transfer: the same reading and report as convert, no output.

        Exit code 0: no errors; 1: some records have errors; 2: the input cannot be read.
        """
        default = Path(input_path.name + ".problems.csv")
        _run(
            adapter,
            input_path,
            target_name=None,
            out_path=None,
            problems_path=problems or default,
            strict=strict,
            options=_options(mapping=mapping, config=config, source_authority=source_authority),
        )

    from exchange.cli_mapping import register as register_mapping

    register_mapping(adapters_app)
    app.add_typer(adapters_app, name="adapters")

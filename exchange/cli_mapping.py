"""`exchange adapters check MAPPING.yml`: check a mapping file before converting with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from exchange.adapters.mapping import check_mapping
from exchange.canonical import Problem


def _line(problem: Problem) -> str:
    loc = problem.location
    where = ""
    if loc is not None:
        where = f"{loc.file}" + (f":{loc.line}" if loc.line else "")
        if loc.element:
            where += f" ({loc.element})"
        where += ": "
    return (
        f"{where}{problem.severity.value} {problem.code}: {problem.message}\n  fix: {problem.fix}"
    )


def register(adapters_app: typer.Typer) -> None:
    """Add `check` to the `exchange adapters` commands."""

    @adapters_app.command("check")
    def check_command(
        mapping: Annotated[
            Path,
            typer.Argument(
                metavar="MAPPING",
                exists=True,
                dir_okay=False,
                help="The mapping file (YAML) describing another system's CSV export.",
            ),
        ],
    ) -> None:
        """Check a mapping file: targets, joins, value maps and date formats, each with its line.

        Exit code 0: the mapping can be used (warnings allowed); 1: it has errors.
        """
        result = check_mapping(mapping)
        for found in result.problems:
            typer.echo(_line(found))
        if not result.ok:
            count = len(result.errors)
            typer.echo(f"{mapping.name}: {count} error{'s' if count != 1 else ''}; not usable yet.")
            raise typer.Exit(1)
        typer.echo(f"valid: {result.summary()}")

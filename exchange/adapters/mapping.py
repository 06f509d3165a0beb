"""Any other system's CSV export, converted by a mapping file instead of code.

An integration engineer describes the export in YAML (docs/mapping-files.md has the format, field
by field, and the list of canonical fields): its files, how they join, and for each column the
canonical field it fills, with value maps and date formats. ``exchange adapters check`` checks
the file itself; ``exchange convert --adapter mapping --mapping FILE`` converts an export.

**Reading the mapping.** :func:`check_mapping` reads the YAML through PyYAML's node tree, so each
problem names its line: an unknown canonical field (with the nearest valid names), a value map on
a field without a code list, a value map to a code the field does not have, a join to a file
that is not described or has no key, a file with no columns, two columns filling the same
field, a date format that cannot read a date, an item nothing gives a required field to, and
YAML syntax. A mapping with errors converts nothing (fatal ``mapping-invalid``). Without a
``mapping`` argument the adapter looks for ``mapping.yml`` (or ``.yaml``) among the export's files
(fatal ``mapping-missing`` when there is none), so an export sent over the API can carry it.

**Joins, streaming.** Files are read once by :class:`~exchange.adapters.tables.TableSet` into
its scratch SQLite store (UTF-8 or Windows-1252, else fatal ``file-undecodable``; ``NULL`` and
empty cells absent; a file the mapping needs but the export lacks is fatal ``table-missing``, a
mapped column missing from its file ``columns-missing``), each row grouped by its join column:
the person file by its id, a file joined to the person file by the column naming the child, a
file joined to another file by the column naming that file's ``key``. Records are then built one
child at a time, walking the join tree from the child's person row; memory holds one child. The rows read are marked in a scratch table next to the store, so rows that
reached no child are reported afterwards (``join-value-missing``, ``join-not-found``,
``person-id-missing``) with all their values in the message.

**Items.** Each row makes a new item for every ``[]`` in its targets, except an ``[]`` that the
row it joins to (or that row's own parent row) already makes: a plan row joined to a referral row
goes into that referral's episode. An item is added to the record only once a value is written
to it; one that still lacks a required field at the end (an alert without its summary) is left
out, reported (``required-value-missing``) and its values kept unmapped.

**Nothing lost.** Every non-empty cell of a file the mapping names is mapped, or kept in
``unmapped`` with its file, row and column: values that cannot be read (``date-invalid``,
``code-unknown``, ``value-not-mapped``, ``boolean-invalid``, ``number-invalid``,
``value-invalid``), values a map sends to null, a second different value for a field already
filled (``value-conflict``), cells of columns the mapping does not name (one ``columns-not-mapped``
warning per file and set of columns), and differing cells of a duplicated person row
(``person-id-duplicate``). A join column repeating its parent's key counts as mapped. Rows the
mapping excludes (``exclude``), with the rows joined to them, are left out on purpose and counted
in one ``rows-excluded`` warning; files the mapping does not name are not read
(``file-not-mapped``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.mapping_schema import (
    ColumnMapping,
    FileMapping,
    Leaf,
    MappingFile,
    MappingSyntaxError,
    MappingText,
    Place,
    Step,
    Target,
    TargetError,
    load_mapping_text,
    parse_target,
    validation_messages,
)
from exchange.adapters.tables import Row, TableSet, TableSpec
from exchange.adapters.values import Values, Where, parse_bool, parse_date
from exchange.canonical import Problem, RuleContext, Severity
from exchange.canonical.model import ChildRecord, SourceLocation

ERROR, WARNING = Severity.ERROR, Severity.WARNING
MAPPING_NAMES = ("mapping.yml", "mapping.yaml")
"""Names under which a mapping file travels inside an export folder."""

# --- checking the mapping file --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """One mapped column: its targets, its value map (upper-case source value -> code)."""

    name: str
    targets: tuple[Target, ...]
    values: Mapping[str, str | None] | None
    dates: tuple[str, ...]
    optional: bool = False


@dataclass(slots=True)
class FilePlan:
    """One file of the export as the adapter reads it."""

    name: str
    person: bool
    group: str
    parent: str | None
    key: str | None
    required: bool
    columns: tuple[ColumnPlan, ...]
    constants: tuple[tuple[Target, Any], ...]
    exclude: tuple[tuple[str, frozenset[str] | None], ...]
    children: list[str] = field(default_factory=list)
    makes: tuple[tuple[str, tuple[Step, ...], tuple[str, ...]], ...] = ()

    @property
    def table(self) -> str:
        """The scratch-store name of the file."""
        return self.name.upper()

    @property
    def read(self) -> frozenset[str]:
        """Columns whose values count as mapped (upper case): the mapped ones and the join."""
        names = {c.name.upper() for c in self.columns}
        if not self.person:
            names.add(self.group.upper())
        return frozenset(names)

    @property
    def required_columns(self) -> frozenset[str]:
        """Columns the file must have."""
        return frozenset(
            [c.name for c in self.columns if not c.optional]
            + [c for c, _ in self.exclude]
            + [self.key or ""]
        ) - {""}

    def excluded(self, row: Row) -> bool:
        """The mapping leaves this row out."""
        for column, wanted in self.exclude:
            value = row.get(column)
            if value is not None and (wanted is None or value.upper() in wanted):
                return True
        return False


@dataclass(slots=True)
class CompiledMapping:
    """A checked mapping, ready to convert exports."""

    name: str
    system: str | None
    source_authority: str | None
    person: FilePlan
    files: dict[str, FilePlan]
    constants: tuple[tuple[Target, Any], ...]
    value_maps: int

    def children_of(self, plan: FilePlan) -> Iterator[FilePlan]:
        """The files joined to this one, in the mapping's order."""
        for name in plan.children:
            yield self.files[name]


@dataclass(slots=True)
class MappingCheck:
    """What checking a mapping file found: the compiled mapping when it has no errors."""

    name: str
    problems: list[Problem]
    mapping: CompiledMapping | None = None

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return self.mapping is not None and not self.errors

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop the mapping being used."""
        return [p for p in self.problems if p.severity != WARNING]

    def summary(self) -> str:
        """One paragraph saying what the mapping reads."""
        m = self.mapping
        if m is None:
            return f"{self.name} cannot be used."
        columns = sum(len(f.columns) for f in m.files.values())
        targets = {t.text for f in m.files.values() for c in f.columns for t in c.targets}
        joins = ", ".join(
            f"{f.name}.{f.group} -> {f.parent and m.files[f.parent].name}"
            for f in m.files.values()
            if not f.person
        )
        return (
            f"{self.name}: {len(m.files)} files, person file {m.person.name} (id {m.person.group}); "
            f"{columns} columns mapped to {len(targets)} canonical fields, "
            f"{m.value_maps} value maps" + (f"; joins: {joins}" if joins else "") + "."
        )


def check_mapping(
    mapping: Path | str | Mapping[str, Any], *, name: str | None = None
) -> MappingCheck:
    """Read and check a mapping file (a path, or the parsed data); every problem with its line."""
    if isinstance(mapping, Mapping):
        return _check(MappingText(dict(mapping)), name or "mapping")
    path = Path(mapping)
    label = name or path.name
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return MappingCheck(
            label,
            [
                problem(
                    "mapping-unreadable",
                    f"{label} cannot be read: {exc}.",
                    "Give the path of the mapping file, saved as UTF-8 text.",
                    SourceLocation(file=label),
                )
            ],
        )
    return check_mapping_text(text, label)


def check_mapping_text(text: str, name: str = "mapping") -> MappingCheck:
    """Check a mapping file given as YAML text."""
    try:
        loaded = load_mapping_text(text)
    except MappingSyntaxError as exc:
        return MappingCheck(
            name,
            [
                problem(
                    "yaml-invalid",
                    f"{name} is not valid YAML: {exc}.",
                    "Quote target paths written inside { }: {to: 'episodes[].referral_date'} "
                    "(YAML reads [ ] there as a list)."
                    if "flow" in str(exc)
                    else "Correct the YAML at that line (indentation, a missing colon, "
                    "an unclosed quote or bracket).",
                    SourceLocation(file=name, line=exc.line),
                )
            ],
        )
    return _check(loaded, name)


_DIRECTIVES = frozenset("aAbBcdfGHIjmMpSuUVwWxXyYzZ%")
_SAMPLE = dt.datetime(2016, 3, 14, 13, 5, 9)


def date_format_problem(text: str) -> str | None:
    """Why a date format (strptime, or 'auto') cannot read dates, or None when it can."""
    if text.strip().lower() == "auto":
        return None
    found = set()
    i = 0
    while i < len(text):
        if text[i] == "%":
            if i + 1 >= len(text):
                return "it ends with a lone %"
            if text[i + 1] not in _DIRECTIVES:
                return f"%{text[i + 1]} is not a strptime directive"
            found.add(text[i + 1])
            i += 2
        else:
            i += 1
    if not found & {"Y", "y", "G"} or not (
        (found & {"m", "b", "B"} and "d" in found) or "j" in found
    ):
        return "it does not hold a day, a month and a year (e.g. %d/%m/%Y)"
    try:
        again = dt.datetime.strptime(_SAMPLE.strftime(text), text)
    except (ValueError, re.error) as exc:  # re.error: a directive given twice
        return f"it cannot read back the dates it describes ({exc})"
    if again.date() != _SAMPLE.date():
        return "it cannot read back the dates it describes"
    return None


class _Checker:
    """Turns a validated MappingFile into a CompiledMapping, collecting problems with lines."""

    def __init__(self, text: MappingText, name: str) -> None:
        self.text = text
        self.name = name
        self.problems: list[Problem] = []

    def report(
        self, code: str, where: Place, message: str, fix: str, severity: Severity = ERROR
    ) -> None:
        line = self.text.line(where)
        self.problems.append(
            problem(
                code,
                message,
                fix,
                SourceLocation(file=self.name, line=line, element=".".join(where) or None),
                severity=severity,
            )
        )

    @property
    def failed(self) -> bool:
        return any(p.severity != WARNING for p in self.problems)

    # -- the parts -------------------------------------------------------------------------

    def target(self, text: str, where: Place) -> Target | None:
        try:
            return parse_target(text)
        except TargetError as exc:
            self.report(exc.code, where, exc.message, exc.fix)
            return None

    def dates(self, formats: list[str] | None, where: Place) -> tuple[str, ...] | None:
        if formats is None:
            return None
        for i, text in enumerate(formats):
            why = date_format_problem(text)
            if why is not None:
                self.report(
                    "date-format-invalid",
                    where + ((str(i),) if len(formats) > 1 else ()),
                    f"The date format {text!r} cannot be used: {why}.",
                    "Write a strptime format such as '%d/%m/%Y' or '%Y-%m-%d %H:%M:%S.%f', "
                    "or 'auto'.",
                )
        return tuple(formats)

    def constant(
        self, path: str, raw: str, where: Place, whole_record: bool
    ) -> tuple[Target, Any] | None:
        target = self.target(path, where)
        if target is None:
            return None
        if whole_record and target.each_prefixes:
            self.report(
                "constant-invalid",
                where,
                f"{path!r} makes an item per row; a constant for the whole record cannot.",
                "Put the constant under the file whose rows make those items.",
            )
            return None
        value, why = _constant_value(target.leaf, raw)
        if why is not None:
            self.report(
                "constant-invalid",
                where,
                f"The constant {raw!r} cannot go in {target.text}: {why}.",
                "Give a value the field takes"
                + (f": one of {', '.join(target.leaf.codes)}." if target.leaf.codes else "."),
            )
            return None
        return target, value

    def value_map(
        self, column: ColumnMapping, targets: list[Target], where: Place
    ) -> dict[str, str | None] | None:
        if column.values is None:
            return None
        free = [t for t in targets if not t.leaf.has_code_list]
        if free:
            self.report(
                "value-map-without-code-list",
                (*where, "values"),
                f"{free[0].text} is {_kind_words(free[0].leaf)}, with no code list; "
                "a value map cannot apply to it.",
                "Remove the values map, or map the column to a field with a code list.",
            )
            return None
        normalised: dict[str, str | None] = {}
        for source, wanted in column.values.items():
            key = source.strip().upper()
            code: str | None = None
            if wanted is not None:
                for target in targets:
                    code = _code_of(target.leaf, wanted)
                    if code is None:
                        near = [c for c in target.leaf.codes if c.lower() == wanted.strip().lower()]
                        self.report(
                            "value-map-target-invalid",
                            (*where, "values", source),
                            f"{wanted!r} (for source value {source!r}) is not a code of "
                            f"{target.text}" + (f"; did you mean {near[0]}?" if near else "."),
                            f"Use one of: {', '.join(target.leaf.codes)} (or null for a value "
                            "with no canonical code).",
                        )
                        break
            if key in normalised and normalised[key] != code:
                self.report(
                    "key-duplicate",
                    (*where, "values", source),
                    f"The source value {source!r} is mapped twice (values are matched "
                    "ignoring case and spaces around them).",
                    "Keep one entry for it.",
                )
            normalised[key] = code
        return normalised

    def file(
        self, name: str, spec: FileMapping, top_dates: tuple[str, ...]
    ) -> tuple[FilePlan, list[tuple[Place, Target]]]:
        base: Place = ("files", name)
        file_dates = self.dates(spec.dates, (*base, "dates")) or top_dates
        columns: list[ColumnPlan] = []
        writes: list[tuple[Place, Target]] = []
        if not spec.columns:
            self.report(
                "file-no-columns",
                base,
                f"{name} maps no columns, so nothing of it would reach the record.",
                "Add its columns under columns:, or leave the file out of the mapping.",
            )
        seen: dict[str, str] = {}
        for column_name, column in spec.columns.items():
            where = (*base, "columns", column_name)
            if column_name.upper() in seen:
                self.report(
                    "key-duplicate",
                    where,
                    f"{name} maps the column {column_name} twice (as {seen[column_name.upper()]} "
                    f"and {column_name}; column names are matched ignoring case).",
                    "Map it once, with to: [first.field, second.field] to fill two fields.",
                )
                continue
            seen[column_name.upper()] = column_name
            targets = []
            for i, path in enumerate(column.to):
                found = self.target(
                    path, where + (("to", str(i)) if len(column.to) > 1 else ("to",))
                )
                if found is not None:
                    targets.append(found)
                    writes.append((where, found))
            values = self.value_map(column, targets, where)
            dates = self.dates(column.dates, (*where, "dates"))
            if dates is not None and targets and not any(t.leaf.kind == "date" for t in targets):
                self.report(
                    "date-format-not-date",
                    (*where, "dates"),
                    f"{column_name} fills {targets[0].text}, which is not a date; "
                    "a date format does not apply.",
                    "Remove dates: from this column.",
                )
            columns.append(
                ColumnPlan(
                    column_name, tuple(targets), values, dates or file_dates, column.optional
                )
            )
        constants = []
        for path, raw in spec.constants.items():
            found_constant = self.constant(path, raw, (*base, "constants", path), False)
            if found_constant is not None:
                constants.append(found_constant)
                writes.append(((*base, "constants", path), found_constant[0]))
        exclude = tuple(
            (column, None if rule == "filled" else frozenset(v.strip().upper() for v in rule))
            for column, rule in spec.exclude.items()
        )
        person = spec.role == "person"
        plan = FilePlan(
            name=_file_name(name),
            person=person,
            group=(spec.id if person else spec.join.column if spec.join else "") or "",
            parent=None,
            key=spec.id if person else spec.key,
            required=spec.required or person,
            columns=tuple(columns),
            constants=tuple(constants),
            exclude=exclude,
        )
        return plan, writes

    def joins(self, model: MappingFile, plans: dict[str, FilePlan]) -> FilePlan | None:
        people = [n for n, f in model.files.items() if f.role == "person"]
        if not people:
            self.report(
                "person-file-missing",
                ("files",),
                "No file has role: person; one file must hold a row per child.",
                "Add role: person and id: <the child id column> to the file with a row per child.",
            )
        for extra in people[1:]:
            self.report(
                "person-file-several",
                ("files", extra, "role"),
                f"{extra} is a second person file (the first is {people[0]}).",
                "Keep role: person on one file; join the other to it with join: <column>.",
            )
        person = plans[_file_name(people[0]).upper()] if people else None
        for name, spec in model.files.items():
            where: Place = ("files", name)
            plan = plans[_file_name(name).upper()]
            if spec.role == "person":
                if not spec.id:
                    self.report(
                        "person-id-column-missing",
                        where,
                        f"The person file {name} does not say which column holds the child's id.",
                        "Add id: <column> (e.g. id: CLIENT_NO).",
                    )
                for extra_key in ("join", "key"):
                    if getattr(spec, extra_key) is not None:
                        self.report(
                            "join-not-allowed",
                            (*where, extra_key),
                            f"The person file {name} takes no {extra_key}: it is joined on its id.",
                            f"Remove {extra_key}: from {name}.",
                        )
                continue
            if spec.id is not None:
                self.report(
                    "join-not-allowed",
                    (*where, "id"),
                    f"{name} is not the person file; id: belongs to the person file only.",
                    "Use join: <column naming the child> here, and key: for its own row id.",
                )
            if spec.join is None:
                self.report(
                    "join-missing",
                    where,
                    f"{name} does not say how its rows find their child (no join).",
                    "Add join: <column naming the child>, or join: {column: ..., to: <file>} "
                    "for a file whose rows belong to rows of another file.",
                )
                continue
            if spec.join.to is None:
                plan.parent = person.table if person else None
                continue
            parent = plans.get(_file_name(spec.join.to).upper())
            if parent is None:
                near = [
                    n
                    for n in model.files
                    if n.upper() != name.upper() and _close(spec.join.to.upper(), n.upper())
                ]
                self.report(
                    "join-file-unknown",
                    (*where, "join", "to"),
                    f"{name} joins to {spec.join.to}, which is not a file of the mapping"
                    + (f"; did you mean {near[0]}?" if near else "."),
                    f"Join to one of: {', '.join(model.files)}.",
                )
                continue
            if parent.table == plan.table:
                self.report(
                    "join-cycle",
                    (*where, "join", "to"),
                    f"{name} joins to itself.",
                    "Join it to the file its rows belong to.",
                )
                continue
            if not parent.person and not parent.key:
                self.report(
                    "join-key-missing",
                    (*where, "join", "to"),
                    f"{name} joins to {parent.name}, but {parent.name} has no key: column "
                    f"for {name}.{spec.join.column} to match.",
                    f"Add key: <its row id column> to {parent.name} (the column whose values "
                    f"{name}.{spec.join.column} holds).",
                )
                continue
            plan.parent = parent.table
        if self.failed:
            return person
        for plan in plans.values():
            seen = {plan.table}
            walk = plan
            while walk.parent is not None:
                if walk.parent in seen:
                    self.report(
                        "join-cycle",
                        ("files", plan.name, "join"),
                        f"{plan.name}'s joins go round in a circle and never reach the person file.",
                        "Join each file to the file its rows belong to, ending at the person file.",
                    )
                    break
                seen.add(walk.parent)
                walk = plans[walk.parent]
        return person

    def items(
        self, plans: dict[str, FilePlan], writes: dict[str, list[tuple[Place, Target]]]
    ) -> None:
        """Work out the items each file's rows make; report duplicates and missing fields."""
        order = _topological(plans)
        for plan in order:
            inherited = self._made_above(plan, plans)
            made: list[tuple[str, tuple[Step, ...], tuple[str, ...]]] = []
            for _, target in writes[plan.table]:
                for i, step in enumerate(target.node_steps):
                    prefix = target.prefix(i + 1)
                    fresh = prefix not in inherited and prefix not in (m for m, _, _ in made)
                    if step.kind == "each" and fresh:
                        made.append((prefix, target.steps[: i + 1], target.paths[: i + 1]))
            plan.makes = tuple(made)
            if plan.parent is not None:
                plans[plan.parent].children.append(plan.table)
        filled: dict[tuple[str, str], tuple[str, Place]] = {}
        nodes: dict[tuple[str, str], tuple[Any, str | None, Place, str]] = {}
        covered: dict[tuple[str, str], set[str]] = {}
        for plan in order:
            for where, target in writes[plan.table]:
                steps = target.steps
                owner = ""
                for i, step in enumerate(target.node_steps):
                    prefix = target.prefix(i + 1)
                    if step.kind == "each":
                        owner = self._maker(plan, prefix, plans)
                    nodes.setdefault(
                        (owner, prefix), (step.model, step.key_field, where, plan.name)
                    )
                covered.setdefault((owner, target.node_path), set()).add(steps[-1].name)
                if steps[-1].kind == "append":
                    continue
                slot = (owner, target.text)
                if slot in filled:
                    first, _first_where = filled[slot]
                    self.report(
                        "target-duplicate",
                        where,
                        f"{'.'.join(where[1:])} and {first} both fill {target.text}"
                        + (
                            f" of the same item (rows of {plan.name} fill the items rows of "
                            f"{plans[owner].name} make)"
                            if owner and owner != plan.table
                            else ""
                        )
                        + ".",
                        "Map one column to it; map the other to another field, or leave it "
                        "unmapped (its values are then kept unmapped).",
                    )
                else:
                    filled[slot] = (".".join(where[1:]), where)
        for (owner, prefix), (model, key_field, where, file_name) in nodes.items():
            required = [n for n, f in model.model_fields.items() if f.is_required()]
            have = covered.get((owner, prefix), set()) | ({key_field} if key_field else set())
            missing = [n for n in required if n not in have]
            if missing:
                self.report(
                    "required-field-unmapped",
                    where,
                    f"{file_name} makes items of {prefix}, but nothing fills their "
                    f"{' and '.join(missing)}, which every such item needs.",
                    f"Map a column to {prefix}.{missing[0]}, or set it under the file's "
                    f"constants (e.g. {prefix}.{missing[0]}: ...).",
                )

    @staticmethod
    def _made_above(plan: FilePlan, plans: dict[str, FilePlan]) -> set[str]:
        found: set[str] = set()
        walk = plan
        while walk.parent is not None:
            walk = plans[walk.parent]
            found.update(m for m, _, _ in walk.makes)
        return found

    @staticmethod
    def _maker(plan: FilePlan, prefix: str, plans: dict[str, FilePlan]) -> str:
        walk: FilePlan | None = plan
        while walk is not None:
            if any(m == prefix for m, _, _ in walk.makes):
                return walk.table
            walk = plans[walk.parent] if walk.parent else None
        return plan.table


def _check(text: MappingText, name: str) -> MappingCheck:
    checker = _Checker(text, name)
    for where, first, again in text.duplicates:
        checker.report(
            "key-duplicate",
            where,
            f"{'.'.join(where)} is written twice (lines {first} and {again}); only one can count.",
            "Write each key once; to fill two fields from one column write to: [a, b].",
        )
    if not isinstance(text.data, dict):
        checker.report(
            "structure-invalid",
            (),
            f"{name} does not hold a mapping (keys and values) with files: in it.",
            "Start from docs/examples/mappings/carefirst.yml.",
        )
        return MappingCheck(name, checker.problems)
    try:
        model = MappingFile.model_validate(text.data)
    except ValidationError as exc:
        for where, message, fix in validation_messages(exc):
            checker.report("structure-invalid", where, message, fix)
        return MappingCheck(name, checker.problems)
    top_dates = checker.dates(model.dates, ("dates",)) or ("auto",)
    plans: dict[str, FilePlan] = {}
    writes: dict[str, list[tuple[Place, Target]]] = {}
    for file_name, spec in model.files.items():
        plan, file_writes = checker.file(file_name, spec, top_dates)
        if plan.table in plans:
            checker.report(
                "key-duplicate",
                ("files", file_name),
                f"The file {file_name} is described twice (file names are matched ignoring case).",
                "Describe each file once.",
            )
            continue
        plans[plan.table] = plan
        writes[plan.table] = file_writes
    constants = []
    for path, raw in model.constants.items():
        found = checker.constant(path, raw, ("constants", path), True)
        if found is not None:
            constants.append(found)
    person = checker.joins(model, plans)
    if person is None or checker.failed:
        return MappingCheck(name, checker.problems)
    checker.items(plans, writes)
    if not any(
        t.text == "child.identifiers[la_child_id].value"
        for f in plans.values()
        for c in f.columns
        for t in c.targets
    ):
        checker.report(
            "la-child-id-unmapped",
            ("files", person.name),
            "No column fills child.identifiers[la_child_id], the child's id in the sending "
            "authority; every record will be reported without it.",
            f"Map the child id column (e.g. {person.group}) to child.identifiers[la_child_id].",
            WARNING,
        )
    if checker.failed:
        return MappingCheck(name, checker.problems)
    compiled = CompiledMapping(
        name=name,
        system=model.system,
        source_authority=model.source_authority,
        person=person,
        files={p.table: p for p in _topological(plans)},
        constants=tuple(constants),
        value_maps=sum(1 for f in plans.values() for c in f.columns if c.values is not None),
    )
    return MappingCheck(name, checker.problems, compiled)


def _topological(plans: dict[str, FilePlan]) -> list[FilePlan]:
    """The person file first, then each file after the file it joins to, in mapping order."""
    order: list[FilePlan] = []
    placed: set[str] = set()
    while len(order) < len(plans):
        progressed = False
        for plan in plans.values():
            if plan.table not in placed and (plan.parent is None or plan.parent in placed):
                order.append(plan)
                placed.add(plan.table)
                progressed = True
        if not progressed:
            break
    return order


def _file_name(name: str) -> str:
    return name[:-4] if name.lower().endswith(".csv") else name


def _close(a: str, b: str) -> bool:
    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.6


def _kind_words(leaf: Leaf) -> str:
    return {
        "text": "free text",
        "date": "a date",
        "date-time": "a date and time",
        "number": "a number",
    }.get(leaf.kind, leaf.kind)


def _code_of(leaf: Leaf, text: str) -> str | None:
    """The canonical code a value map or constant names (historic spellings allowed)."""
    if leaf.kind == "yes/no":
        flag = parse_bool(text)
        return None if flag is None else ("true" if flag else "false")
    assert leaf.read_code is not None
    return leaf.read_code(text.strip())


def _constant_value(leaf: Leaf, raw: str) -> tuple[Any, str | None]:
    try:
        if leaf.has_code_list:
            code = _code_of(leaf, raw)
            if code is None:
                return None, "not one of its codes"
            return leaf.check(code == "true" if leaf.kind == "yes/no" else code), None
        if leaf.kind == "date":
            day = parse_date(raw)
            if day is None:
                return None, "not a date (write YYYY-MM-DD)"
            return day, None
        return leaf.check(raw), None
    except ValidationError as exc:
        return None, exc.errors()[0]["msg"].lower()


# --- the adapter ----------------------------------------------------------------------------


class _Nothing:
    """A value that was not read (already reported and kept)."""


NOTHING = _Nothing()


class _Node:
    """One part of the record being built; added to its parent only once written to."""

    __slots__ = (
        "attached",
        "children",
        "data",
        "kept",
        "keyed",
        "kind",
        "model",
        "name",
        "origin",
        "parent",
        "path",
        "singles",
    )

    def __init__(
        self,
        model: Any,
        parent: _Node | None,
        name: str,
        kind: str,
        path: str,
        origin: SourceLocation | None,
    ) -> None:
        self.model = model
        self.parent = parent
        self.name = name
        self.kind = kind
        self.path = path
        self.origin = origin
        self.data: dict[str, Any] = {}
        self.attached = parent is None
        self.children: list[_Node] = []
        self.singles: dict[str, _Node] = {}
        self.keyed: dict[tuple[str, str], _Node] = {}
        self.kept: list[tuple[str, str, Where]] = []

    def attach(self) -> None:
        if self.attached or self.parent is None:
            return
        self.parent.attach()
        if self.kind == "single":
            self.parent.data[self.name] = self.data
        else:
            self.parent.data.setdefault(self.name, []).append(self.data)
        self.parent.children.append(self)
        self.attached = True

    def detach(self) -> None:
        parent = self.parent
        assert parent is not None
        if self.kind == "single":
            parent.data.pop(self.name, None)
        else:
            items = parent.data.get(self.name, [])
            parent.data[self.name] = [d for d in items if d is not self.data]
            if not parent.data[self.name]:
                del parent.data[self.name]
        parent.children.remove(self)

    def everything_kept(self) -> Iterator[tuple[str, str, Where]]:
        yield from self.kept
        for child in self.children:
            yield from child.everything_kept()


class _Record:
    """The record of one child under construction."""

    def __init__(self, values: Values, provenance: dict[str, Any]) -> None:
        self.values = values
        self.root = _Node(ChildRecord, None, "", "root", "", None)
        # The parts every record has, there from the start (constants may add to provenance).
        for name, data in (("provenance", provenance), ("child", {})):
            part = self.root.singles[name] = _Node(
                ChildRecord.model_fields[name].annotation, self.root, name, "single", name, None
            )
            part.data.update(data)
            part.attach()

    def node(
        self,
        steps: tuple[Step, ...],
        paths: tuple[str, ...],
        bindings: dict[str, _Node],
        origin: SourceLocation,
    ) -> _Node:
        """The part of the record the steps lead to (``paths``: the path up to each step)."""
        node = self.root
        for step, path in zip(steps, paths, strict=False):
            if step.kind == "each":
                found = bindings.get(path)
                if found is None:
                    found = bindings[path] = _Node(
                        step.model, node, step.name, "each", path, origin
                    )
            elif step.kind == "single":
                found = node.singles.get(step.name)
                if found is None:
                    found = node.singles[step.name] = _Node(
                        step.model, node, step.name, "single", path, origin
                    )
            else:
                assert step.key is not None
                assert step.key_field is not None
                found = node.keyed.get((step.name, step.key))
                if found is None:
                    found = node.keyed[(step.name, step.key)] = _Node(
                        step.model, node, step.name, "keyed", path, origin
                    )
                    found.data[step.key_field] = step.key
            node = found
        return node

    def put(
        self,
        node: _Node,
        target: Target,
        value: Any,
        cell: tuple[str, str, Where] | None,
        *,
        touch: bool = True,
    ) -> None:
        step = target.steps[-1]
        if step.kind == "append":
            node.data.setdefault(step.name, []).append(value)
        else:
            before = node.data.get(step.name)
            if before is not None and before != value:
                if cell is not None:
                    column, raw, where = cell
                    self.values.report(
                        "value-conflict",
                        f"{column} {raw!r} would replace {_said(before)!r} already in "
                        f"{target.text}; the first value is kept.",
                        "Correct the export, or map the columns to different fields.",
                        where,
                        WARNING,
                    )
                    self.values.keep(column, raw, where, f"a second value for {target.text}")
                return
            node.data[step.name] = value
        if cell is not None:
            node.kept.append(cell)
        if touch:
            node.attach()

    def prune(self, node: _Node | None = None) -> None:
        """Leave out items that lack a required field; their values are kept unmapped."""
        node = node or self.root
        for child in list(node.children):
            missing = [n for n in _required(child.model) if child.data.get(n) is None]
            if not missing:
                self.prune(child)
                continue
            child.detach()
            origin = child.origin
            self.values.report(
                "required-value-missing",
                f"{child.path} has no {' or '.join(missing)}"
                + (f" in {origin.file} row {origin.row}" if origin else "")
                + ", which it needs; it is left out and its values kept unmapped.",
                f"Fill in the column mapped to {child.path}.{missing[0]} in the export.",
                origin or SourceLocation(),
            )
            for column, raw, where in child.everything_kept():
                self.values.keep(
                    column, raw, where, f"part of {child.path}, left out: no {missing[0]}"
                )


_REQUIRED: dict[Any, tuple[str, ...]] = {}


def _required(model: Any) -> tuple[str, ...]:
    found = _REQUIRED.get(model)
    if found is None:
        found = _REQUIRED[model] = tuple(
            n for n, f in model.model_fields.items() if f.is_required()
        )
    return found


def _said(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(getattr(value, "value", value))


class MappingAdapter(Adapter):
    """Any system's CSV export -> canonical records, as a YAML mapping file describes it."""

    name = "mapping"
    title = "Any system's CSV export, described by a mapping file (YAML)"
    formats = ("csv",)
    versions = ("1",)

    def __init__(
        self,
        context: RuleContext | None = None,
        *,
        mapping: Path | str | Mapping[str, Any] | None = None,
        source_authority: str | None = None,
    ) -> None:
        super().__init__(context)
        self.source_authority = (source_authority or "").strip() or None
        self.mapping_check = check_mapping(mapping) if mapping is not None else None

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per child of the person file, then one per row that reached no child."""
        check = self.mapping_check or self._check_from(source)
        if check.mapping is None or check.errors:
            first = check.errors[0] if check.errors else None
            listed = "; ".join(
                (f"line {p.location.line}: " if p.location and p.location.line else "") + p.message
                for p in check.errors[:5]
            )
            raise fatal(
                "mapping-invalid",
                f"The mapping file {check.name} cannot be used ({len(check.errors)} problem"
                f"{'s' if len(check.errors) != 1 else ''}): {listed}",
                f"Run `exchange adapters check {check.name}` and correct what it lists.",
                first.location if first else SourceLocation(file=check.name),
            )
        mapping = check.mapping
        if not source.files:
            raise fatal(
                "source-empty",
                f"{source.name} holds no files.",
                f"Give the folder of the export's CSV files ({mapping.person.name}.csv, ...).",
            )
        specs = [
            TableSpec(p.name, p.group, p.required_columns, p.required)
            for p in mapping.files.values()
        ]
        with TableSet(source, specs) as tables:
            yield from _Reader(self, mapping, tables, source).results()

    def _check_from(self, source: Source) -> MappingCheck:
        for file in source.files:
            if file.name.lower() in MAPPING_NAMES:
                with file.open() as raw:
                    data = raw.read()
                try:
                    return check_mapping_text(data.decode("utf-8-sig"), file.name)
                except UnicodeDecodeError:
                    raise fatal(
                        "mapping-unreadable",
                        f"{file.name} is not UTF-8 text.",
                        "Save the mapping file as UTF-8.",
                        SourceLocation(file=file.name),
                    ) from None
        raise fatal(
            "mapping-missing",
            f"No mapping file was given, and {source.name} holds no mapping.yml.",
            "Give the mapping file (exchange convert --adapter mapping --mapping FILE), or put "
            "it in the export folder as mapping.yml.",
            SourceLocation(file=source.name),
        )


class _Reader:
    """Builds the records of one export, one child at a time."""

    def __init__(
        self, adapter: MappingAdapter, mapping: CompiledMapping, tables: TableSet, source: Source
    ) -> None:
        self.adapter = adapter
        self.mapping = mapping
        self.tables = tables
        self.source = source
        self.authority = adapter.source_authority or mapping.source_authority
        self.columns_reported: dict[str, set[str]] = {}
        self.read_columns = {t: set(p.read) for t, p in mapping.files.items()}
        self.marked: list[tuple[str, int]] = []
        # The rows that reached a child (or were left out on purpose), so the rest can be
        # reported; kept next to the rows in TableSet's scratch store, not in memory.
        tables.db.execute("CREATE TABLE mapping_used (tbl TEXT, n INTEGER, PRIMARY KEY (tbl, n))")

    # -- the whole export ------------------------------------------------------------------

    def results(self) -> Iterator[ReadResult]:
        notices = self.notices()
        person = self.mapping.person
        if not any(True for _ in self.tables.rows(person.table)):
            raise fatal(
                "no-people",
                f"{person.name}.csv holds no rows; there is no child to convert.",
                "Export the person file again with its rows.",
                SourceLocation(file=person.name + ".csv", row=1),
            )
        for result in self.built():
            if notices:
                result.problems[:0] = notices
                notices = []
            yield result

    def built(self) -> Iterator[ReadResult]:
        person = self.mapping.person
        for person_id in self.tables.people(person.table):
            rows = self.tables.rows_for(person.table, person_id)
            kept = []
            for row in rows:
                if person.excluded(row):
                    self.mark(person, row)
                else:
                    kept.append(row)
            if not kept:
                self.mark_below(person, person_id)
                continue
            yield self.record(person_id, kept)
        for plan in self.mapping.files.values():
            for row in self.tables.rows(plan.table):
                if not self.used(plan, row) and not plan.excluded(row):
                    yield self.unplaced(plan, row)

    def notices(self) -> list[Problem]:
        found: list[Problem] = []
        if self.authority is None:
            found.append(
                problem(
                    "source-authority-missing",
                    "Neither the mapping nor the command says which authority sent the export; "
                    "records say 'unknown'.",
                    "Add source_authority: <DfE or GSS code> to the mapping file.",
                    severity=WARNING,
                )
            )
        described = set(self.mapping.files)
        for file in self.source.files:
            stem, suffix = Path(file.name).stem.upper(), Path(file.name).suffix.lower()
            if file.name.lower() in MAPPING_NAMES or (stem in described and suffix == ".csv"):
                continue
            found.append(
                problem(
                    "file-not-mapped",
                    f"{file.name} is not described by the mapping {self.mapping.name}; "
                    "it is not read.",
                    "Add it to the mapping's files if the record needs it; otherwise nothing "
                    "to do.",
                    SourceLocation(file=file.name),
                    severity=WARNING,
                )
            )
        found.extend(self.tables.problems)
        for plan in self.mapping.files.values():
            if not plan.exclude:
                continue
            count, shown, where = 0, list[str](), plan.name + ".csv"
            for row in self.tables.rows(plan.table):
                if plan.excluded(row):
                    count += 1
                    where = row.file
                    if len(shown) < 20:
                        shown.append(str(row.number))
            if count:
                rules = ", ".join(
                    f"{c} {'filled' if v is None else 'in ' + '/'.join(sorted(v))}"
                    for c, v in plan.exclude
                )
                listed = ", ".join(shown) + (", ..." if count > len(shown) else "")
                found.append(
                    problem(
                        "rows-excluded",
                        f"{count} row{'s' if count > 1 else ''} of {where} "
                        f"(row{'s' if count > 1 else ''} {listed}) "
                        f"{'are' if count > 1 else 'is'} left out by the mapping ({rules}), "
                        "with the rows joined to them.",
                        "Nothing to do if they are meant to stay behind; otherwise change the "
                        "mapping's exclude rules.",
                        SourceLocation(file=where),
                        severity=WARNING,
                    )
                )
        return found

    # -- one child ---------------------------------------------------------------------------

    def record(self, person_id: str, rows: list[Row]) -> ReadResult:
        problems: list[Problem] = []
        values = Values(problems)
        provenance: dict[str, Any] = {"source_authority": self.authority or "unknown"}
        if self.mapping.system:
            provenance["source_system"] = self.mapping.system
        record = _Record(values, provenance)
        for target, value in self.mapping.constants:
            node = record.node(target.node_steps, target.paths, {}, SourceLocation())
            record.put(node, target, value, None)
        first = rows[0]
        seen: set[tuple[str, int]] = set()
        new_columns: dict[str, list[str]] = {}
        self.apply(self.mapping.person, first, {}, record, values, seen, new_columns)
        for again in rows[1:]:
            self.mark(self.mapping.person, again)
            self.duplicate(person_id, first, again, values)
        record.prune()
        for file, columns in new_columns.items():
            problems.append(
                problem(
                    "columns-not-mapped",
                    f"{file} has column{'s' if len(columns) > 1 else ''} the mapping does not "
                    f"name: {', '.join(columns)}; {'their' if len(columns) > 1 else 'its'} "
                    "values are kept unmapped.",
                    "Map them in the mapping file if the record has a place for them.",
                    SourceLocation(file=file),
                    severity=WARNING,
                )
            )
        data = record.root.data
        if self.authority:
            for identifier in data["child"].get("identifiers", []):
                if str(identifier.get("system")) in ("la_child_id", "legacy"):
                    identifier.setdefault("issuer", self.authority)
        data["unmapped"] = values.unmapped
        location = SourceLocation(file=first.file, row=first.number)
        return self.adapter.finish(data, key=person_id, location=location, problems=problems)

    def apply(
        self,
        plan: FilePlan,
        row: Row,
        inherited: dict[str, _Node],
        record: _Record,
        values: Values,
        seen: set[tuple[str, int]],
        new_columns: dict[str, list[str]],
    ) -> None:
        """Write one row into the record, then the rows joined to it."""
        seen.add((plan.table, row.number))
        self.mark(plan, row)
        origin = SourceLocation(file=row.file, row=row.number)
        bindings = dict(inherited)
        for prefix, steps, paths in plan.makes:
            bindings[prefix] = record.node(steps, paths, bindings, origin)
        for column in plan.columns:
            raw = row.get(column.name)
            if raw is None:
                continue
            where = row.where(column.name)
            label = row.column(column.name) or column.name
            for target in column.targets:
                value = self.value(raw, label, column, target, where, values)
                if value is NOTHING:
                    continue
                node = record.node(target.node_steps, target.paths, bindings, origin)
                record.put(node, target, value, (label, raw, where))
        for target, value in plan.constants:
            node = record.node(target.node_steps, target.paths, bindings, origin)
            record.put(node, target, value, None, touch=False)
        reported = self.columns_reported.setdefault(plan.table, set())
        for name, raw in row.unread(self.read_columns[plan.table]):
            values.keep(name, raw, row.where(name), "column not in the mapping")
            if name.upper() not in reported:
                reported.add(name.upper())
                new_columns.setdefault(row.file, []).append(name)
        key = row.get(plan.key) if plan.key else None
        if key is None:
            return
        for child in self.mapping.children_of(plan):
            for joined in self.tables.rows_for(child.table, key):
                if (child.table, joined.number) in seen:
                    continue
                if child.excluded(joined):
                    self.mark(child, joined)
                    self.mark_below(child, joined.get(child.key) if child.key else None)
                    continue
                self.apply(child, joined, bindings, record, values, seen, new_columns)

    def value(
        self,
        raw: str,
        column: str,
        plan: ColumnPlan,
        target: Target,
        where: Where,
        values: Values,
    ) -> Any:
        """The cell read as the target's value, or NOTHING (reported and kept)."""
        leaf = target.leaf
        text = raw
        if plan.values is not None:
            key = raw.strip().upper()
            if key not in plan.values:
                values.report(
                    "value-not-mapped",
                    f"{column} {raw!r} is not in the mapping's values for {target.text}.",
                    f"Add {raw!r} to the values of {plan.name} in the mapping file, or correct "
                    "the export.",
                    where,
                )
                values.keep(column, raw, where, "not in the mapping's values")
                return NOTHING
            mapped = plan.values[key]
            if mapped is None:
                values.keep(column, raw, where, f"the mapping gives it no {target.text}")
                return NOTHING
            text = mapped
        if leaf.kind == "yes/no":
            flag = values.boolean(text, column, where)
            return NOTHING if flag is None else flag
        if leaf.kind == "code":
            assert leaf.read_code is not None
            code = leaf.read_code(text.strip())
            if code is None:
                values.report(
                    "code-unknown",
                    f"{column} {raw!r} is not a code of {target.text}.",
                    f"Use one of: {', '.join(leaf.codes)}; or map the column's values in the "
                    "mapping file.",
                    where,
                )
                values.keep(column, raw, where, "not a known code")
                return NOTHING
            return code  # a code of the list already; the record turns it into the enum
        if leaf.kind == "date":
            return self.date(raw, column, plan.dates, where, values)
        if leaf.plain_text_limit is not None and len(raw) <= leaf.plain_text_limit:
            return raw  # trimmed, not empty, short enough: nothing else to check
        if leaf.kind == "number":
            number = values.integer(raw, column, where)
            if number is None:
                return NOTHING
            text_or_number: Any = number
        else:
            text_or_number = raw
        try:
            return leaf.check(text_or_number)
        except ValidationError as exc:
            values.report(
                "value-invalid",
                f"{column} {raw!r} cannot go in {target.text}: {exc.errors()[0]['msg'].lower()}.",
                "Correct the value in the export.",
                where,
            )
            values.keep(column, raw, where, f"not a valid {target.steps[-1].name}")
            return NOTHING

    @staticmethod
    def date(raw: str, column: str, formats: tuple[str, ...], where: Where, values: Values) -> Any:
        text = raw.strip()
        for form in formats:
            if form.lower() == "auto":
                day = parse_date(text)
                if day is not None:
                    return day
                continue
            try:
                return dt.datetime.strptime(text, form).date()
            except ValueError:
                continue
        shown = " or ".join(
            "a date in any usual form" if f.lower() == "auto" else repr(f) for f in formats
        )
        values.report(
            "date-invalid",
            f"{column} {text!r} is not a date ({shown}).",
            "Correct the date in the export, or the column's dates: format in the mapping file.",
            where,
        )
        values.keep(column, text, where, "not a date")
        return NOTHING

    def duplicate(self, person_id: str, first: Row, again: Row, values: Values) -> None:
        values.report(
            "person-id-duplicate",
            f"Rows {first.number} and {again.number} of {again.file} both have "
            f"{self.mapping.person.group} {person_id!r}; the first is read, and values of the "
            "second that differ are kept unmapped.",
            "Remove or merge the duplicated person in the source system, then export again.",
            SourceLocation(file=again.file, row=again.number),
        )
        for column, raw in again.cells.items():
            if first.get(column) != raw:
                values.keep(
                    column,
                    raw,
                    again.at(column),
                    f"duplicate row of {person_id}; differs from row {first.number}",
                )

    # -- rows that reached no child ----------------------------------------------------------

    def mark(self, plan: FilePlan, row: Row) -> None:
        self.marked.append((plan.table, row.number))
        if len(self.marked) >= 2000:
            self.flush()

    def flush(self) -> None:
        self.tables.db.executemany("INSERT OR IGNORE INTO mapping_used VALUES (?, ?)", self.marked)
        self.marked.clear()

    def used(self, plan: FilePlan, row: Row) -> bool:
        if self.marked:
            self.flush()
        query = "SELECT 1 FROM mapping_used WHERE tbl = ? AND n = ?"
        return self.tables.db.execute(query, (plan.table, row.number)).fetchone() is not None

    def mark_below(self, plan: FilePlan, key: str | None) -> None:
        """Mark the rows joined (at any depth) to a row left out, as left out with it."""
        if key is None:
            return
        for child in self.mapping.children_of(plan):
            for row in self.tables.rows_for(child.table, key):
                if not self.used(child, row):
                    self.mark(child, row)
                    self.mark_below(child, row.get(child.key) if child.key else None)

    def unplaced(self, plan: FilePlan, row: Row) -> ReadResult:
        file = row.file
        listed = ", ".join(f"{c}={v!r}" for c, v in row.cells.items())
        joined = row.get(plan.group)
        if plan.person:
            code = "person-id-missing"
            said = f"has no {plan.group}"
            fix = f"Give every row of {file} its {plan.group}."
        elif joined is None:
            code = "join-value-missing"
            said = f"has no {plan.group}"
            fix = f"Fill in {plan.group} so the row can find its place."
        else:
            parent = self.mapping.files[plan.parent or ""]
            code = "join-not-found"
            said = (
                f"has {plan.group} {joined!r}, which names no row of {parent.name}.csv "
                "that belongs to a child"
            )
            fix = f"Export the row it belongs to in {parent.name}.csv, or leave this row out."
        location = SourceLocation(file=file, row=row.number)
        return ReadResult(
            None,
            [
                problem(
                    code,
                    f"Row {row.number} of {file} {said}; it belongs to no record: {listed}.",
                    fix,
                    location,
                )
            ],
            None,
            location,
        )


__all__ = [
    "ColumnPlan",
    "CompiledMapping",
    "FilePlan",
    "MappingAdapter",
    "MappingCheck",
    "check_mapping",
    "check_mapping_text",
    "date_format_problem",
]

"""The mapping file: what it may say, how it is read with its line numbers, where values may go.

Three things live here, all without reading an export:

- the pydantic models of the YAML file (:class:`MappingFile`), with the shorthands an engineer
  writes (``GENDER: child.sex`` for ``GENDER: {to: child.sex}``, ``join: CLIENT_NO`` for
  ``join: {column: CLIENT_NO}``) expanded before validation, and :func:`mapping_json_schema`
  for editors;
- :func:`load_mapping_text`, which reads the YAML through PyYAML's node tree so that every key
  keeps its line, and keeps every scalar as the text written (YAML 1.1 would read ``N`` as
  false, ``01`` as 1 and ``NO`` as false; in a value map those are source codes);
- the canonical targets: :func:`canonical_fields` walks :class:`ChildRecord` and lists every
  field a column may fill, and :func:`parse_target` reads one target path against the model.

Target paths are dotted field names of the canonical record. A list field takes brackets:
``episodes[]`` is a new item for each row of the file (and the same item for rows of files
joined to that row); ``identifiers[nhs_number]`` is the one item whose key field (an
identifier's ``system``, a name's ``use``, a related person's ``relationship``, an alert's or a
conference's ``type``) has that code, made when first needed; a list of plain values
(``lines[]``, ``disabilities[]``, ``review_dates[]``) gets each value appended. A path ending
on an identifier (``child.identifiers[upn]``) fills its ``value``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import enum
import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.fields import FieldInfo

from exchange.canonical.model import (
    Alert,
    ChildRecord,
    Conference,
    Identifier,
    PersonName,
    RelatedPerson,
)

# --- the file's models ----------------------------------------------------------------------


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _as_text(value: object) -> object:
    # A mapping given as a Python dict may hold numbers where YAML text would be read.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _column_shorthand(value: object) -> object:
    return {"to": value} if isinstance(value, str | list) else value


def _join_shorthand(value: object) -> object:
    return {"column": value} if isinstance(value, str) else value


Name = Annotated[str, BeforeValidator(_as_text), Field(min_length=1)]
DateFormats = Annotated[
    list[Annotated[str, Field(min_length=1)]],
    BeforeValidator(_as_list),
    Field(
        min_length=1,
        description="'auto' (ISO, dd/mm/yyyy, SQL Server and Oracle text) or strptime formats "
        "such as '%d/%m/%Y', tried in order.",
    ),
]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ColumnMapping(_Part):
    """Where one column's values go, and how they are read."""

    to: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        BeforeValidator(_as_list),
        Field(
            min_length=1, description="Canonical target path(s), e.g. child.names[official].given."
        ),
    ]
    values: dict[Name, Annotated[str | None, BeforeValidator(_as_text)]] | None = Field(
        default=None,
        description="Source value -> canonical code (null: a known value with no canonical "
        "code, kept unmapped without a problem). With a map, values not in it are reported.",
    )
    dates: DateFormats | None = None
    optional: bool = Field(default=False, description="The column may be absent from the export.")


Column = Annotated[ColumnMapping, BeforeValidator(_column_shorthand)]


class JoinMapping(_Part):
    """How the rows of a file find their place: a column naming a row of another file."""

    column: Name = Field(description="The column of this file holding the other file's key.")
    to: Name | None = Field(
        default=None, description="The file it points at (default: the person file)."
    )


def _exclusion(value: object) -> object:
    if isinstance(value, str) and value.strip().lower() != "filled":
        raise ValueError("write 'filled' (any value) or a list of values, e.g. [ADULT]")
    return value


Exclusion = Annotated[
    Literal["filled"] | list[Annotated[str, BeforeValidator(_as_text)]],
    BeforeValidator(_exclusion),
]


class FileMapping(_Part):
    """One CSV file of the export (its name without .csv, matched case-insensitively)."""

    role: Literal["person", "joined"] = Field(
        default="joined", description="'person' for the one file with a row per child."
    )
    id: Name | None = Field(default=None, description="The person file's child id column.")
    join: Annotated[JoinMapping | None, BeforeValidator(_join_shorthand)] = None
    key: Name | None = Field(
        default=None, description="This file's own row id, for files joined to it."
    )
    required: bool = Field(default=True, description="false: the export may leave it out.")
    dates: DateFormats | None = None
    exclude: dict[Name, Exclusion] = Field(
        default_factory=dict,
        description="Rows left out of the transfer: column -> 'filled' or a list of values.",
    )
    constants: dict[Name, Annotated[str, BeforeValidator(_as_text)]] = Field(
        default_factory=dict, description="Target path -> value, set for each row's items."
    )
    columns: dict[Name, Column] = Field(default_factory=dict)


class MappingFile(_Part):
    """A mapping file: another system's CSV export described for the ``mapping`` adapter."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, title="Exchange mapping file"
    )

    version: Annotated[Literal["1"], BeforeValidator(_as_text)] = "1"
    description: str | None = None
    system: str | None = Field(default=None, description="The source system, for provenance.")
    source_authority: Annotated[str | None, BeforeValidator(_as_text)] = Field(
        default=None, description="DfE or GSS code of the sending authority."
    )
    dates: DateFormats = Field(default_factory=lambda: ["auto"])
    constants: dict[Name, Annotated[str, BeforeValidator(_as_text)]] = Field(
        default_factory=dict, description="Target path -> value, set once in every record."
    )
    files: dict[Name, FileMapping] = Field(min_length=1)


MAPPING_KEYS = frozenset(
    name
    for model in (MappingFile, FileMapping, ColumnMapping, JoinMapping)
    for name in model.model_fields
)


def mapping_json_schema() -> dict[str, Any]:
    """JSON Schema of the mapping file as written (shorthands, YAML numbers), for editors."""
    schema = MappingFile.model_json_schema()
    defs = schema["$defs"]
    column, file, top = (
        defs["ColumnMapping"]["properties"],
        defs["FileMapping"]["properties"],
        schema["properties"],
    )
    defs["TargetPath"] = {
        "type": "string",
        "pattern": r"^[A-Za-z_]\w*(\[[^\[\]]*\])?(\.[A-Za-z_]\w*(\[[^\[\]]*\])?)*$",
        "description": "A canonical target path (docs/mapping-files.md lists them).",
        "examples": [f.path for f in canonical_fields()],
    }
    path = {"$ref": "#/$defs/TargetPath"}
    paths = {"anyOf": [path, {"type": "array", "items": path, "minItems": 1}]}
    # YAML reads 6, true and 1 as numbers and booleans; the adapter reads them as written.
    scalar = {"type": ["string", "number", "boolean"]}
    formats = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "'auto' or strptime formats such as '%d/%m/%Y', tried in order.",
    }
    column["to"] = paths | {"description": "Canonical target path(s)."}
    column["values"] = {
        "type": "object",
        "description": column["values"]["description"],
        "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
    }
    for where in (column, file, top):
        where["dates"] = formats
    file["columns"] = {
        "type": "object",
        "description": "Column name -> target path, list of paths, or a column mapping.",
        "additionalProperties": {"anyOf": [*paths["anyOf"], {"$ref": "#/$defs/ColumnMapping"}]},
    }
    file["join"] = {
        "anyOf": [
            {"type": "string", "description": "The column naming the child."},
            {"$ref": "#/$defs/JoinMapping"},
        ]
    }
    file["exclude"]["additionalProperties"] = {
        "anyOf": [{"const": "filled"}, {"type": "array", "items": scalar}]
    }
    for where in (file, top):
        where["constants"]["additionalProperties"] = scalar
        where["constants"]["propertyNames"] = path
    top["version"] = {"enum": ["1", 1], "default": 1}
    top["source_authority"] = {"type": ["string", "integer"], "description": "DfE or GSS code."}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://exchange.example/schemas/mapping-file.v1.json"
    return schema


# --- reading the YAML with its lines --------------------------------------------------------

Place = tuple[str, ...]
"""A place in the mapping file: the keys from the top, e.g. ('files', 'CLIENTS', 'columns')."""


@dataclass(slots=True)
class MappingText:
    """A mapping file read into plain data, with the line of each key."""

    data: Any
    lines: dict[Place, int] = field(default_factory=dict)
    duplicates: list[tuple[Place, int, int]] = field(default_factory=list)
    nodes: int = 0

    def line(self, where: Place) -> int | None:
        """The line of the deepest part of ``where`` that the file has."""
        for end in range(len(where), -1, -1):
            found = self.lines.get(where[:end])
            if found is not None:
                return found
        return None


class MappingSyntaxError(Exception):
    """The file is not YAML."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.line = line


def load_mapping_text(text: str) -> MappingText:
    """Plain data (text scalars, None for null) with the line of each key; raises on bad YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        said = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        raise MappingSyntaxError(said or str(exc), mark.line + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise MappingSyntaxError(str(exc), None) from exc
    found = MappingText(None)
    if node is not None:
        found.lines[()] = node.start_mark.line + 1
        found.data = _plain(node, (), found)
    return found


MAX_NODES = 100_000
MAX_DEPTH = 30


def _plain(node: yaml.Node, where: Place, found: MappingText) -> Any:
    # Aliases can make a small file a huge (or endless) tree; a mapping file is neither.
    found.nodes += 1
    if found.nodes > MAX_NODES or len(where) > MAX_DEPTH:
        raise MappingSyntaxError(
            "the file expands to more than a mapping file holds (aliases nested too deep?)",
            node.start_mark.line + 1,
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        pairs: list[tuple[yaml.Node, yaml.Node, bool]] = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                # `<<: *anchor` copies the anchored keys; keys written here win over them.
                merged = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in merged:
                    if isinstance(source, yaml.MappingNode):
                        pairs.extend((k, v, True) for k, v in source.value)
            else:
                pairs.append((key_node, value_node, False))
        explicit = {str(k.value) for k, _, inherited in pairs if not inherited}
        for key_node, value_node, inherited in pairs:
            if inherited and (str(key_node.value) in explicit or str(key_node.value) in out):
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise MappingSyntaxError(
                    "a key must be a plain name, not a list or a mapping",
                    key_node.start_mark.line + 1,
                )
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in out:
                found.duplicates.append(((*where, key), found.lines[(*where, key)], line))
            found.lines[(*where, key)] = line
            out[key] = _plain(value_node, (*where, key), found)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            found.lines[(*where, str(i))] = item.start_mark.line + 1
            items.append(_plain(item, (*where, str(i)), found))
        return items
    if node.tag == "tag:yaml.org,2002:null":
        return None
    return str(node.value)


def validation_messages(exc: ValidationError) -> Iterator[tuple[Place, str, str]]:
    """(where, message, fix) for each error pydantic found in a mapping's structure."""
    seen: set[tuple[Place, str]] = set()
    for error in exc.errors():
        where = tuple(str(p) for p in error["loc"] if not _is_branch(p))
        kind = error["type"]
        if kind == "extra_forbidden":
            key = where[-1] if where else "?"
            near = difflib.get_close_matches(key, sorted(MAPPING_KEYS), n=1, cutoff=0.6)
            message = f"{'.'.join(where)}: {key!r} is not a key of the mapping file here"
            fix = f"Did you mean {near[0]!r}?" if near else "Remove it; see docs/mapping-files.md."
            message += "."
        elif kind == "missing":
            message = f"{'.'.join(where)}: this key is required."
            fix = f"Add {where[-1]!r} here."
        else:
            message = f"{'.'.join(where) or 'the file'}: {error['msg']}."
            fix = "See docs/mapping-files.md for what this key takes."
        if (where, message) not in seen:
            seen.add((where, message))
            yield where, message, fix


def _is_branch(part: object) -> bool:
    # pydantic names union members and validators in error locations; they are not keys.
    return isinstance(part, str) and (part in {"str", "list[str]"} or "[" in part)


# --- the canonical targets ------------------------------------------------------------------

KEY_FIELDS: dict[type[BaseModel], str] = {
    Identifier: "system",
    PersonName: "use",
    RelatedPerson: "relationship",
    Alert: "type",
    Conference: "type",
}
"""The field a bracketed code selects items of a list by, e.g. identifiers[nhs_number]."""

IMPLIED_LEAF: dict[type[BaseModel], str] = {Identifier: "value"}
"""The field a path ending on such an item fills: child.identifiers[upn] is its value."""

RESERVED = (
    "schema_version",
    "unmapped",
    "provenance.adapter",
    "provenance.adapter_version",
    "provenance.source_authority",
)
"""Fields the adapter fills itself (the sending authority comes from source_authority)."""

Kind = Literal["text", "date", "date-time", "yes/no", "number", "code"]


@dataclass(frozen=True, slots=True)
class Leaf:
    """The value a target path ends on: its kind, its code list, and how to check it."""

    kind: Kind
    codes: tuple[str, ...]
    annotation: Any
    read_code: Callable[[str], str | None] | None = None
    plain_text_limit: int | None = None
    """For text with a length limit and nothing else to check: the limit (a fast path)."""

    @property
    def has_code_list(self) -> bool:
        """A closed list of values (codes or yes/no), so a value map makes sense."""
        return self.kind in ("code", "yes/no")

    def check(self, value: object) -> Any:
        """The value as the record holds it (raises ValueError when it is not one)."""
        return _type_adapter(self.annotation).validate_python(value)


@cache
def _type_adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


@dataclass(frozen=True, slots=True)
class Step:
    """One part of a target path.

    ``single``: a field holding one part (child, immigration_status); ``each``: a new list item
    per row (``[]``); ``keyed``: the list item whose key field holds ``key``; ``leaf``: the value;
    ``append``: a value added to a list of values.
    """

    name: str
    kind: Literal["single", "each", "keyed", "leaf", "append"]
    model: type[BaseModel] | None = None
    key_field: str | None = None
    key: str | None = None

    @property
    def text(self) -> str:
        """The step as written in a normalised path."""
        if self.kind in ("each", "append"):
            return f"{self.name}[]"
        if self.kind == "keyed":
            return f"{self.name}[{self.key}]"
        return self.name


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed target path: the parts leading to the value, and the value's kind."""

    steps: tuple[Step, ...]
    leaf: Leaf
    paths: tuple[str, ...] = field(init=False)
    """The normalised path up to each step (worked out once: records are built with them)."""

    def __post_init__(self) -> None:
        paths: list[str] = []
        for step in self.steps:
            paths.append(f"{paths[-1]}.{step.text}" if paths else step.text)
        object.__setattr__(self, "paths", tuple(paths))

    @property
    def text(self) -> str:
        """The normalised path, e.g. child.identifiers[nhs_number].value."""
        return self.paths[-1]

    def prefix(self, upto: int) -> str:
        """The normalised path of the first ``upto`` steps."""
        return self.paths[upto - 1] if upto else ""

    @property
    def node_steps(self) -> tuple[Step, ...]:
        """The steps leading to the part that holds the value."""
        return self.steps[:-1]

    @property
    def node_path(self) -> str:
        """The normalised path of the part that holds the value."""
        return self.prefix(len(self.steps) - 1)

    @property
    def each_prefixes(self) -> list[str]:
        """The paths of the ``[]`` items this target goes through, outermost first."""
        return [self.paths[i] for i, s in enumerate(self.node_steps) if s.kind == "each"]


class TargetError(ValueError):
    """A target path the canonical record has no place for."""

    def __init__(self, code: str, message: str, fix: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fix = fix


@dataclass(frozen=True, slots=True)
class CanonicalField:
    """A field a column can fill: its path (brackets empty), its kind and its code list."""

    path: str
    kind: Kind
    codes: tuple[str, ...]
    many: bool
    required: bool
    description: str | None


_SEGMENT = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<bracket>\[(?P<sel>[^\[\]]*)\])?")


def _unwrap(annotation: Any) -> Any:
    """The type inside Optional[...] and Annotated[...]."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _field_annotation(info: Any) -> Any:
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _shape(info: Any) -> tuple[str, Any]:
    """('model', cls), ('models', cls), ('values', item annotation) or ('value', annotation)."""
    inner = _unwrap(info.annotation)
    if typing.get_origin(inner) is list:
        item = typing.get_args(inner)[0]
        base = _unwrap(item)
        if isinstance(base, type) and issubclass(base, BaseModel):
            return "models", base
        return "values", item
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return "model", inner
    return "value", _field_annotation(info)


def _leaf(annotation: Any) -> Leaf:
    base = _unwrap(annotation)
    if typing.get_origin(base) is Literal:
        codes = tuple(str(a) for a in typing.get_args(base))
        return Leaf("code", codes, annotation, lambda v: v if v in codes else None)
    if isinstance(base, type) and issubclass(base, enum.Enum):
        enum_type = base

        def read_code(value: str) -> str | None:
            try:
                return str(enum_type(value).value)
            except ValueError:
                return None

        return Leaf("code", tuple(str(m.value) for m in base), annotation, read_code)
    if base is bool:
        return Leaf("yes/no", ("true", "false"), annotation)
    if base is dt.datetime:
        return Leaf("date-time", (), annotation)
    if base is dt.date:
        return Leaf("date", (), annotation)
    if base is int:
        return Leaf("number", (), annotation)
    return Leaf("text", (), annotation, plain_text_limit=_plain_text_limit(annotation))


def _plain_text_limit(annotation: Any) -> int | None:
    """The length limit of text that is only trimmed and limited (not patterned or rewritten)."""
    limit: int | None = None
    while True:
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return None
            annotation = members[0]
        elif origin is Annotated:
            base, *metadata = typing.get_args(annotation)
            for item in metadata:
                if isinstance(item, FieldInfo):
                    continue
                if not isinstance(item, StringConstraints) or (
                    item.pattern or item.to_upper or item.to_lower or (item.min_length or 1) > 1
                ):
                    return None
                limit = item.max_length if limit is None else min(limit, item.max_length or limit)
            annotation = base
        else:
            return limit if annotation is str else None


def _reserved(path: str) -> bool:
    return any(path == r or path.startswith(r + ".") for r in RESERVED)


@cache
def canonical_fields() -> tuple[CanonicalField, ...]:
    """Every field of the canonical record a column or constant may fill."""
    found: list[CanonicalField] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            path = prefix + name
            if _reserved(path):
                continue
            shape, inner = _shape(info)
            if shape == "model":
                walk(inner, path + ".")
            elif shape == "models":
                walk(inner, path + "[].")
            else:
                leaf = _leaf(inner)
                found.append(
                    CanonicalField(
                        path + ("[]" if shape == "values" else ""),
                        leaf.kind,
                        leaf.codes if leaf.kind == "code" else (),
                        shape == "values",
                        info.is_required(),
                        info.description,
                    )
                )

    walk(ChildRecord, "")
    return tuple(found)


def _list_hint(name: str, item: type[BaseModel]) -> str:
    key_field = KEY_FIELDS.get(item)
    if key_field is None:
        return f"write {name}[] (a new item for each row)"
    example = _codes_of(item, key_field)[0]
    return (
        f"write {name}[] (a new item for each row) or {name}[{example}] "
        f"(the item whose {key_field} is {example})"
    )


def _codes_of(model: type[BaseModel], field_name: str) -> tuple[str, ...]:
    return _leaf(_field_annotation(model.model_fields[field_name])).codes


def parse_target(text: str) -> Target:
    """Read a target path against the canonical record; raises TargetError naming what is wrong."""
    path = text.strip()
    parts = path.split(".")
    model: type[BaseModel] | None = ChildRecord
    steps: list[Step] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        match = _SEGMENT.fullmatch(part)
        if match is None:
            raise TargetError(
                "target-invalid",
                f"{path!r} is not a target path: {part!r} is not a field name"
                + (" with [] or [code]" if "[" in part else "")
                + ".",
                "Write dotted field names, e.g. child.names[official].given.",
            )
        name, bracket, selector = match["name"], match["bracket"], (match["sel"] or "").strip()
        if model is None:
            raise TargetError(
                "target-invalid",
                f"{path!r}: {steps[-1].name} is a value; nothing can follow it.",
                f"End the path at {'.'.join(parts[:i])}.",
            )
        info = model.model_fields.get(name)
        if info is None:
            raise _unknown(path, parts, i, model)
        shape, inner = _shape(info)
        if shape == "model":
            if bracket:
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: {name} is not a list; it takes no brackets.",
                    f"Write {name} without [].",
                )
            steps.append(Step(name, "single", inner))
            model = inner
        elif shape == "models":
            if bracket is None:
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: {name} is a list.",
                    _list_hint(name, inner).capitalize() + ".",
                )
            if not selector:
                steps.append(Step(name, "each", inner))
            else:
                steps.append(_keyed(path, name, inner, selector))
            model = inner
        else:
            if shape == "values" and (bracket is None or selector):
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: {name} is a list of values.",
                    f"Write {name}[] to add each value to the list.",
                )
            if shape == "value" and bracket is not None:
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: {name} is not a list; it takes no brackets.",
                    f"Write {name} without [].",
                )
            if not last:
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: {name} is a value; nothing can follow it.",
                    f"End the path at {'.'.join(parts[: i + 1])}.",
                )
            keyed = steps[-1] if steps and steps[-1].kind == "keyed" else None
            if keyed is not None and keyed.key_field == name:
                raise TargetError(
                    "target-invalid",
                    f"{path!r}: the {name} of {keyed.text} is set by its brackets.",
                    f"Map the column to {keyed.name}[].{name} to read {name} from the column.",
                )
            steps.append(Step(name, "append" if shape == "values" else "leaf"))
            model = None
    if model is not None:
        implied = IMPLIED_LEAF.get(model)
        if implied is not None and steps[-1].kind == "keyed":
            steps.append(Step(implied, "leaf"))
        else:
            fields = ", ".join(
                n
                for n in model.model_fields
                if n != KEY_FIELDS.get(model) or steps[-1].kind != "keyed"
            )
            raise TargetError(
                "target-invalid",
                f"{path!r} ends on a part of the record ({model.__name__}), not on a value.",
                f"Add one of its fields: {fields}.",
            )
    if _reserved(".".join(s.name for s in steps)):
        raise TargetError(
            "target-reserved",
            f"{path!r} is filled by the adapter itself.",
            "Give the sending authority as source_authority at the top of the mapping file."
            if "source_authority" in path
            else "Leave it out of the mapping.",
        )
    container = steps[-2].model if len(steps) > 1 else ChildRecord
    assert container is not None
    info = container.model_fields[steps[-1].name]
    shape, inner = _shape(info)
    return Target(tuple(steps), _leaf(inner))


def _keyed(path: str, name: str, item: type[BaseModel], selector: str) -> Step:
    key_field = KEY_FIELDS.get(item)
    if key_field is None:
        raise TargetError(
            "target-invalid",
            f"{path!r}: the items of {name} are not chosen by a code.",
            f"Write {name}[] (a new item for each row of the file).",
        )
    leaf = _leaf(_field_annotation(item.model_fields[key_field]))
    assert leaf.read_code is not None
    code = leaf.read_code(selector)
    if code is None:
        near = [c for c in leaf.codes if c.startswith(selector.lower())] or (
            difflib.get_close_matches(selector.lower(), leaf.codes, n=2, cutoff=0.5)
        )
        raise TargetError(
            "selector-unknown",
            f"{path!r}: {selector!r} is not a {key_field} of {name}"
            + (f"; did you mean {' or '.join(near)}?" if near else "."),
            f"Use one of: {', '.join(leaf.codes)}.",
        )
    return Step(name, "keyed", item, key_field, code)


def _unknown(path: str, parts: list[str], at: int, model: type[BaseModel]) -> TargetError:
    name = _SEGMENT.fullmatch(parts[at])["name"]  # type: ignore[index]
    siblings = [
        n
        for n in model.model_fields
        if not _reserved(".".join([*(p.split("[")[0] for p in parts[:at]), n]))
    ]
    said = "."
    for near in difflib.get_close_matches(name, siblings, n=3, cutoff=0.5):
        rest = parts[at].replace(name, near, 1)
        guess = ".".join([*parts[:at], rest, *parts[at + 1 :]])
        try:
            parse_target(guess)
        except TargetError:
            continue
        said = f"; did you mean {guess}?"
        break
    else:
        generic = re.sub(r"\[[^\]]*\]", "[]", path)
        close = difflib.get_close_matches(
            generic, [f.path for f in canonical_fields()], n=3, cutoff=0.6
        )
        if close:
            said = f"; nearest canonical fields: {', '.join(close)}."
    where = ".".join(parts[:at]) or "the record"
    return TargetError(
        "target-unknown",
        f"{path!r} is not a canonical field: {where} has no field {name!r}{said}",
        f"Use a field of {model.__name__}: {', '.join(siblings)} (all fields: docs/mapping-files.md).",
    )


__all__ = [
    "CanonicalField",
    "ColumnMapping",
    "FileMapping",
    "JoinMapping",
    "Leaf",
    "MappingFile",
    "MappingSyntaxError",
    "MappingText",
    "Step",
    "Target",
    "TargetError",
    "canonical_fields",
    "load_mapping_text",
    "mapping_json_schema",
    "parse_target",
    "validation_messages",
]

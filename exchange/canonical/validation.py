"""Validate any JSON document as a canonical record and report every problem with its pointer.

A document that does not fit the schema still gets its rules checked: the parts that do not fit
are pruned away (and reported), the rest is parsed and the cross-field rules run on it, with
pointers translated back to the document as sent.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from exchange.canonical.model import ChildRecord
from exchange.canonical.problems import Problem, Severity, pointer
from exchange.canonical.rules import RuleContext, check_record

Path = tuple[str | int, ...]
MAX_PRUNING_PASSES = 25
MAX_DEPTH = 32  # the schema is under ten levels deep; anything far deeper is not a record
MAX_PROBLEMS = 1000

_DATE_ERRORS = {
    "date_parsing",
    "date_from_datetime_parsing",
    "date_from_datetime_inexact",
    "date_type",
    "datetime_parsing",
    "datetime_from_date_parsing",
    "datetime_type",
    "timezone_aware",
}
_TYPE_ERRORS = {
    "string_type",
    "int_type",
    "int_parsing",
    "int_from_float",
    "bool_type",
    "bool_parsing",
    "list_type",
    "model_type",
    "model_attributes_type",
    "dict_type",
    "float_type",
    "float_parsing",
    "none_required",
}


@dataclass(slots=True)
class ValidationReport:
    """The outcome of validating one document: the record when it parsed, and every problem."""

    problems: list[Problem] = field(default_factory=list)
    record: ChildRecord | None = None

    @property
    def valid(self) -> bool:
        """True when no problem is an error."""
        return not any(p.severity != Severity.WARNING for p in self.problems)


def _describe(error: Any) -> tuple[str, str, str]:
    """Stable code, message and fix for one pydantic error."""
    kind = error["type"]
    given = error.get("input")
    shown = repr(given) if isinstance(given, str | int | float | bool) else None
    if shown and len(shown) > 60:
        shown = shown[:57] + "...'"
    suffix = f" (got {shown})" if shown else ""
    if kind == "missing":
        return "field-missing", "A required field is missing.", "Add the field."
    if kind == "extra_forbidden":
        return (
            "field-unknown",
            "The record has a field the schema does not define.",
            "Remove the field or correct its spelling (see schemas/child-record.v1.json).",
        )
    if kind in ("enum", "literal_error"):
        expected = error.get("ctx", {}).get("expected", "")
        return (
            "code-unknown",
            f"Not a known code{suffix}; expected {expected}.",
            "Use one of the listed codes; map local codes before sending.",
        )
    if kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", error["msg"]))
        if reason.startswith("a date"):
            return (
                "date-invalid",
                f"Not a valid date{suffix}: {reason}.",
                "Write dates as YYYY-MM-DD.",
            )
        return "value-invalid", f"{reason[:1].upper()}{reason[1:]}{suffix}.", "Correct the value."
    if kind in _DATE_ERRORS:
        return "date-invalid", f"Not a valid date{suffix}.", "Write dates as YYYY-MM-DD."
    if kind in _TYPE_ERRORS:
        return (
            "type-wrong",
            f"{error['msg']}{suffix}.",
            "Send the value with the type the schema gives.",
        )
    return "value-invalid", f"{error['msg']}{suffix}.", "Correct the value as the message says."


def _prune(node: Any, path: Path, removals: set[Path], kept: dict[Path, list[int]]) -> Any:
    if isinstance(node, dict):
        return {
            k: _prune(v, (*path, k), removals, kept)
            for k, v in node.items()
            if (*path, k) not in removals
        }
    if isinstance(node, list):
        indices = [i for i in range(len(node)) if (*path, i) not in removals]
        kept[path] = indices
        return [_prune(node[i], (*path, i), removals, kept) for i in indices]
    return node


def _to_original(loc: Path, kept: dict[Path, list[int]]) -> Path:
    original: list[str | int] = []
    for part in loc:
        indices = kept.get(tuple(original))
        if isinstance(part, int) and indices is not None and part < len(indices):
            part = indices[part]
        original.append(part)
    return tuple(original)


def _translate_pointer(ptr: str | None, kept: dict[Path, list[int]]) -> str | None:
    if not ptr:
        return ptr
    parts: list[str | int] = []
    for raw in ptr.split("/")[1:]:
        text = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(text) if text.isdigit() else text)
    return pointer(*_to_original(tuple(parts), kept))


def _under_removed(ptr: str, removals: set[Path]) -> bool:
    return any(ptr == pointer(*path) or ptr.startswith(pointer(*path) + "/") for path in removals)


# Rules that compare several parts of a record: when a part they look at was pruned for not
# fitting the schema, their verdict on what is left could be wrong, so it is not reported.
_RULE_SCOPES: dict[str, tuple[Path, ...]] = {
    "person-reference-unknown": (("related_people",),),
    "person-id-duplicate": (("related_people",),),
    "la-child-id-missing": (("child", "identifiers"),),
    "birth-date-or-expected": (("child",),),
    "birth-date-in-future": (("child",),),
    "death-before-birth": (("child",),),
    "referral-before-birth": (("child",), ("episodes",)),
    "cp-plans-open-several": (("episodes",),),
    "cp-plans-overlap": (("episodes",),),
    "address-exclusion-not-confidential": (("related_people",),),
}


def _scope_pruned(code: str, removals: set[Path]) -> bool:
    scopes = _RULE_SCOPES.get(code, ())
    return any(path[: len(scope)] == scope for scope in scopes for path in removals)


def _too_deep(document: Any) -> Path | None:
    """The first path nested deeper than MAX_DEPTH, found without recursion (containers are
    counted by depth alone; the path is built only for a document that is too deep)."""
    stack: list[tuple[Any, int]] = [(document, 0)] if isinstance(document, dict | list) else []
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth >= MAX_DEPTH:
            if children:  # a value one level deeper still
                return _deep_path(document)
            continue
        stack.extend([(v, depth + 1) for v in children if isinstance(v, dict | list)])
    return None


def _deep_path(document: Any) -> Path:
    """The path to the first value nested deeper than MAX_DEPTH (the document has one)."""
    stack: list[tuple[Any, Path]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if len(path) > MAX_DEPTH:
            return path
        if isinstance(node, dict):
            stack.extend((v, (*path, k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, (*path, i)) for i, v in enumerate(node))
    raise AssertionError("no value is nested that deep")


def validate_document(
    document: dict[str, Any], context: RuleContext | None = None
) -> ValidationReport:
    """Every problem in a JSON object taken as a canonical record: schema errors, then rules."""
    report = _validate(document, context)
    if len(report.problems) > MAX_PROBLEMS:
        hidden = len(report.problems) - MAX_PROBLEMS
        report.problems = [
            *report.problems[:MAX_PROBLEMS],
            Problem(
                code="problems-truncated",
                severity=Severity.ERROR,
                message=f"{hidden} more problems were found and not listed.",
                fix="Fix the problems listed and validate again.",
            ),
        ]
    return report


def _fit(document: Any) -> ChildRecord | ValidationError:
    """The document as a record, or why it does not fit the schema."""
    try:
        return ChildRecord.model_validate(document)
    except ValidationError as exc:
        return exc


def _validate(document: dict[str, Any], context: RuleContext | None) -> ValidationReport:
    report = ValidationReport()
    # The schema is a few levels deep with no free-form values, so a document that fits it is
    # never too deep: depth is looked at only when it does not fit.
    outcome = _fit(document)
    deep = _too_deep(document) if isinstance(outcome, ValidationError) else None
    if deep is not None:
        report.problems.append(
            Problem(
                code="nesting-too-deep",
                severity=Severity.ERROR,
                message=f"The document is nested more than {MAX_DEPTH} levels deep here.",
                fix="Send the record as the schema describes it; no part of it is this deep.",
                pointer=pointer(*deep),
            )
        )
        return report
    removals: set[Path] = set()
    kept: dict[Path, list[int]] = {}
    current: Any = document
    for attempt in range(MAX_PRUNING_PASSES):
        if attempt:
            outcome = _fit(current)
        if isinstance(outcome, ValidationError):
            new: set[Path] = set()
            for error in outcome.errors():
                loc = _to_original(tuple(error["loc"]), kept)
                if attempt == 0:
                    code, message, fix = _describe(error)
                    report.problems.append(
                        Problem(
                            code=code,
                            severity=Severity.ERROR,
                            message=message,
                            fix=fix,
                            pointer=pointer(*loc),
                        )
                    )
                target = loc[:-1] if error["type"] == "missing" else loc
                if target:
                    new.add(target)
            if not new - removals:
                return report
            removals |= new
            kept = {}
            current = _prune(copy.deepcopy(document), (), removals, kept)
            continue
        record = outcome
        for problem in check_record(record, context):
            translated = _translate_pointer(problem.pointer, kept)
            if translated and _under_removed(translated, removals):
                continue  # about a value already reported as not fitting the schema
            if _scope_pruned(problem.code, removals):
                continue
            report.problems.append(problem.model_copy(update={"pointer": translated}))
        if attempt == 0:
            report.record = record
        return report
    return report

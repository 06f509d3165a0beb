"""DfE children's social care data API payload ("specification v0.7", JSON), in and out.

Authorities push one JSON object per child to the DfE (``POST .../children_social_care_data/
{la_code}/children``). This adapter reads files of those objects and writes them back.

**Reading.** A file holds one record object, a JSON array of records, or JSON Lines. The first
non-whitespace byte decides: ``[`` is an array; ``{`` is JSON Lines when the first non-blank line is
a complete JSON object on its own, otherwise one pretty-printed object (several concatenated
objects are accepted too). JSON Lines are read line by line with the standard library. Arrays and
pretty-printed objects go through ijson's incremental parser (C backend where installed), fed one
line at a time (at most 64 KiB), so only one record is ever held in memory and the line each
record starts on is known: the parser asks ``_Tracker.new_object`` for the first object of a
record on the line being parsed. Malformed JSON is fatal and names its line and column; for an
error in the middle of a line a second pass (only then) feeds the failing line byte by byte to
find the column. A UTF-8 BOM is skipped; JSON is UTF-8 by definition (RFC 8259), so other
encodings are fatal (``json-not-utf8``).

**Locations.** Every value's location is ``file``, ``line`` (the line its record starts on),
``row`` (the record's 1-based position in the file) and ``element``, a JSON pointer into the
record (``/social_care_episodes/0/child_protection_plans/1/start_date``). A record-level problem
in an array also gives the record's own pointer into the file (``element='/3'``).

**Mapping** (``MAPPING`` lists it field by field): ``la_code`` is the sending authority;
``la_child_id`` the ``la_child_id`` identifier and ``mis_child_id`` a ``legacy`` identifier, both
issued by ``la_code`` (the published SSD extracts fill ``mis_child_id`` from the case-management
system's legacy id); ``child_details`` the child (``postcode`` becomes a current address with just
a postcode; ``uasc_flag``/``uasc_end_date`` the immigration status); ``care_worker_details`` the
record's professionals (role "social worker"); ``child_and_family_assessments``,
``child_in_need_plans``, ``section_47_assessments`` (``icpc_required_flag`` is the negation of
``initial_conference_not_required``), ``child_protection_plans`` and
``child_looked_after_placements`` (one looked-after episode with its placement each; ``start_reason``
is the reason for the new episode when it is an SSDA903 RNE code, otherwise kept unmapped) go to
the episode they sit in.

**Decisions and assumptions** (the v0.7 text was not at hand; field names and shapes follow the
DfE sample payloads the Data to Insight extracts publish):

- SDQ assessments become chronology entries (category ``health``, source ``SDQ``, summary
  "SDQ total difficulties score: N"), so the receiving social worker sees them in the story of
  the case. An SDQ without a readable date cannot be a chronology entry: its values are kept
  unmapped, marked ``SDQ_KEPT``, and written back from there.
- ``adoption`` and ``care_leavers`` (one object each per episode) have no canonical fields: their
  values are kept unmapped with their pointers and written back from there.
- ``purge`` is on every object. ``false`` is the default and is not kept. ``true`` at the top
  level asks the receiver to delete the child's record: the record is still built, the flag is
  kept unmapped (``/purge``) and a ``purge-requested`` warning says so. ``true`` on a part
  (episode, plan, placement, ...) is kept with its pointer and the part's id
  (``part-purge-requested`` warning).
- Unknown fields are kept unmapped with their pointers (``field-unknown`` warning); a key repeated
  in one object keeps the earlier value unmapped (``json-duplicate-key``).
- ``la_code`` may be missing (the published samples carry it in the URL, not the body): the
  sending authority is then "unknown" with a ``source-authority-missing`` error.
- ``uasc_flag`` null with a ``uasc_end_date`` reads as not UASC (the canonical flag is a plain
  yes/no), so it is written back as ``false``.
- Duplicate ``la_child_id`` across a file is not checked: pushes are per child and a later one
  supersedes an earlier one, and remembering every id would make memory grow with the file.
- The payload cannot carry a primary need code or CP plan categories, so the canonical rules
  that require them report errors on every record that has episodes or plans.

**Writing** produces JSON Lines, one v0.7 object per record, streamed. Every object carries
``purge: false`` except where this adapter read ``purge: true`` (only for records it read
itself, and only when the part at that pointer still has the id it had). Values this adapter kept
unmapped from a field of the specification (SDQs without a date, adoption, care leavers, codes
that could not be read, exactly as they were sent) are put back at their pointers where the
canonical record has nothing there, so JSON -> canonical -> JSON keeps every value of the
specification; unknown fields are not written. Care workers are placed in the episode whose referral to
closure span holds their start date (the latest such episode; else the latest episode). The
payload has no confidentiality flag, so a confidential address's postcode is never written:
``postcode`` is null and a ``confidential-postcode-withheld`` warning is returned (placement
postcodes equal to a confidential address's are withheld the same way). A record without an LA
child id cannot be written (``la-child-id-missing``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

import ijson

from exchange.adapters.base import Adapter, ReadResult, Source, SourceFile, fatal, problem
from exchange.adapters.values import Values, Where, parse_bool, parse_date
from exchange.canonical import ChildRecord, Problem, Severity
from exchange.canonical.codes import (
    ASSESSMENT_FACTORS,
    SEX_ALIASES,
    ChronologyCategory,
    Disability,
    Ethnicity,
    IdentifierSystem,
    ReasonForClosure,
    ReasonNewEpisode,
    ReferralSource,
    Sex,
    UPNUnknownReason,
)
from exchange.canonical.model import (
    Address,
    ChronologyEntry,
    Professional,
    SocialCareEpisode,
    SourceLocation,
)

SPEC_VERSION = "0.7"
ADAPTER_NAME = "dfe-csc-api"

SEXES = frozenset(s.value for s in Sex)
ETHNICITIES = frozenset(e.value for e in Ethnicity)
DISABILITIES = frozenset(d.value for d in Disability)
SOURCES = frozenset(r.value for r in ReferralSource)
CLOSURES = frozenset(r.value for r in ReasonForClosure)
UPN_UNKNOWN = frozenset(u.value for u in UPNUnknownReason)
NEW_EPISODE_REASONS = frozenset(r.value for r in ReasonNewEpisode)

# --- the payload's shape --------------------------------------------------------------------

OBJECTS: dict[str, tuple[str, ...]] = {
    "": (
        "la_code",
        "la_child_id",
        "mis_child_id",
        "child_details",
        "health_and_wellbeing",
        "social_care_episodes",
        "purge",
    ),
    "/child_details": (
        "unique_pupil_number",
        "former_unique_pupil_number",
        "unique_pupil_number_unknown_reason",
        "first_name",
        "surname",
        "date_of_birth",
        "expected_date_of_birth",
        "sex",
        "ethnicity",
        "disabilities",
        "postcode",
        "uasc_flag",
        "uasc_end_date",
        "purge",
    ),
    "/health_and_wellbeing": ("sdq_assessments", "purge"),
    "/health_and_wellbeing/sdq_assessments/*": ("date", "score", "purge"),
    "/social_care_episodes/*": (
        "social_care_episode_id",
        "referral_date",
        "referral_source",
        "referral_no_further_action_flag",
        "care_worker_details",
        "child_and_family_assessments",
        "child_in_need_plans",
        "section_47_assessments",
        "child_protection_plans",
        "child_looked_after_placements",
        "adoption",
        "care_leavers",
        "closure_date",
        "closure_reason",
        "purge",
    ),
    "/social_care_episodes/*/care_worker_details/*": (
        "worker_id",
        "start_date",
        "end_date",
        "purge",
    ),
    "/social_care_episodes/*/child_and_family_assessments/*": (
        "child_and_family_assessment_id",
        "start_date",
        "authorisation_date",
        "factors",
        "purge",
    ),
    "/social_care_episodes/*/child_in_need_plans/*": (
        "child_in_need_plan_id",
        "start_date",
        "end_date",
        "purge",
    ),
    "/social_care_episodes/*/section_47_assessments/*": (
        "section_47_assessment_id",
        "start_date",
        "icpc_required_flag",
        "icpc_date",
        "end_date",
        "purge",
    ),
    "/social_care_episodes/*/child_protection_plans/*": (
        "child_protection_plan_id",
        "start_date",
        "end_date",
        "purge",
    ),
    "/social_care_episodes/*/child_looked_after_placements/*": (
        "child_looked_after_placement_id",
        "start_date",
        "start_reason",
        "placement_type",
        "postcode",
        "end_date",
        "end_reason",
        "change_reason",
        "purge",
    ),
    "/social_care_episodes/*/adoption": (
        "initial_decision_date",
        "matched_date",
        "placed_date",
        "purge",
    ),
    "/social_care_episodes/*/care_leavers": ("contact_date", "activity", "accommodation", "purge"),
}
"""Every object of the payload (by JSON pointer pattern, ``*`` for an array index) and its fields."""

OBJECT_ARRAYS = frozenset(p.removesuffix("/*") for p in OBJECTS if p.endswith("/*"))
VALUE_ARRAYS = frozenset(
    [
        "/child_details/disabilities",
        "/social_care_episodes/*/child_and_family_assessments/*/factors",
    ]
)
SINGLE_OBJECTS = frozenset(
    ["/social_care_episodes/*/adoption", "/social_care_episodes/*/care_leavers"]
)
SPEC_VALUES = frozenset(
    f"{pattern}/{name}"
    for pattern, names in OBJECTS.items()
    for name in names
    if name != "purge"
    and f"{pattern}/{name}" not in OBJECTS
    and f"{pattern}/{name}" not in OBJECT_ARRAYS
    and f"{pattern}/{name}" not in VALUE_ARRAYS
) | frozenset(f"{p}/*" for p in VALUE_ARRAYS)
"""Patterns of every single value the specification defines (purge flags aside)."""

NUMBER_VALUES = frozenset(["/health_and_wellbeing/sdq_assessments/*/score"])
BOOLEAN_VALUES = frozenset(
    [
        "/child_details/uasc_flag",
        "/social_care_episodes/*/referral_no_further_action_flag",
        "/social_care_episodes/*/section_47_assessments/*/icpc_required_flag",
    ]
)

_EP = "/episodes/{0}"
MAPPING: dict[str, str] = {
    "/la_code": "/provenance/source_authority",
    "/la_child_id": "/child/identifiers/[la_child_id]/value",
    "/mis_child_id": "/child/identifiers/[legacy]/value",
    "/child_details/unique_pupil_number": "/child/identifiers/[upn]/value",
    "/child_details/former_unique_pupil_number": "/child/identifiers/[former_upn]/value",
    "/child_details/unique_pupil_number_unknown_reason": "/child/upn_unknown_reason",
    "/child_details/first_name": "/child/names/0/given",
    "/child_details/surname": "/child/names/0/family",
    "/child_details/date_of_birth": "/child/birth_date",
    "/child_details/expected_date_of_birth": "/child/expected_birth_date",
    "/child_details/sex": "/child/sex",
    "/child_details/ethnicity": "/child/ethnicity",
    "/child_details/disabilities/*": "/child/disabilities/*",
    "/child_details/postcode": "/child/addresses/0/postcode",
    "/child_details/uasc_flag": "/child/immigration_status/uasc",
    "/child_details/uasc_end_date": "/child/immigration_status/uasc_end_date",
    "/health_and_wellbeing/sdq_assessments/*/date": "/chronology/*/date",
    "/health_and_wellbeing/sdq_assessments/*/score": "/chronology/*/summary",
    "/social_care_episodes/*/social_care_episode_id": _EP + "/id",
    "/social_care_episodes/*/referral_date": _EP + "/referral_date",
    "/social_care_episodes/*/referral_source": _EP + "/referral_source",
    "/social_care_episodes/*/referral_no_further_action_flag": _EP + "/referral_no_further_action",
    "/social_care_episodes/*/closure_date": _EP + "/closure_date",
    "/social_care_episodes/*/closure_reason": _EP + "/closure_reason",
    "/social_care_episodes/*/care_worker_details/*/worker_id": "/professionals/*/id",
    "/social_care_episodes/*/care_worker_details/*/start_date": "/professionals/*/start_date",
    "/social_care_episodes/*/care_worker_details/*/end_date": "/professionals/*/end_date",
    "/social_care_episodes/*/child_and_family_assessments/*/child_and_family_assessment_id": _EP
    + "/assessments/{1}/id",
    "/social_care_episodes/*/child_and_family_assessments/*/start_date": _EP
    + "/assessments/{1}/start_date",
    "/social_care_episodes/*/child_and_family_assessments/*/authorisation_date": _EP
    + "/assessments/{1}/authorisation_date",
    "/social_care_episodes/*/child_and_family_assessments/*/factors/*": _EP
    + "/assessments/{1}/factors/*",
    "/social_care_episodes/*/child_in_need_plans/*/child_in_need_plan_id": _EP
    + "/cin_plans/{1}/id",
    "/social_care_episodes/*/child_in_need_plans/*/start_date": _EP + "/cin_plans/{1}/start_date",
    "/social_care_episodes/*/child_in_need_plans/*/end_date": _EP + "/cin_plans/{1}/end_date",
    "/social_care_episodes/*/section_47_assessments/*/section_47_assessment_id": _EP
    + "/section47_enquiries/{1}/id",
    "/social_care_episodes/*/section_47_assessments/*/start_date": _EP
    + "/section47_enquiries/{1}/start_date",
    "/social_care_episodes/*/section_47_assessments/*/icpc_required_flag": "not "
    + _EP
    + "/section47_enquiries/{1}/initial_conference_not_required",
    "/social_care_episodes/*/section_47_assessments/*/icpc_date": _EP
    + "/section47_enquiries/{1}/initial_conference_date",
    "/social_care_episodes/*/section_47_assessments/*/end_date": _EP
    + "/section47_enquiries/{1}/end_date",
    "/social_care_episodes/*/child_protection_plans/*/child_protection_plan_id": _EP
    + "/cp_plans/{1}/id",
    "/social_care_episodes/*/child_protection_plans/*/start_date": _EP + "/cp_plans/{1}/start_date",
    "/social_care_episodes/*/child_protection_plans/*/end_date": _EP + "/cp_plans/{1}/end_date",
    "/social_care_episodes/*/child_looked_after_placements/*/child_looked_after_placement_id": _EP
    + "/looked_after_episodes/{1}/placement/id",
    "/social_care_episodes/*/child_looked_after_placements/*/start_date": _EP
    + "/looked_after_episodes/{1}/placement/start_date",
    "/social_care_episodes/*/child_looked_after_placements/*/start_reason": _EP
    + "/looked_after_episodes/{1}/reason_new_episode",
    "/social_care_episodes/*/child_looked_after_placements/*/placement_type": _EP
    + "/looked_after_episodes/{1}/placement/placement_type",
    "/social_care_episodes/*/child_looked_after_placements/*/postcode": _EP
    + "/looked_after_episodes/{1}/placement/postcode",
    "/social_care_episodes/*/child_looked_after_placements/*/end_date": _EP
    + "/looked_after_episodes/{1}/placement/end_date",
    "/social_care_episodes/*/child_looked_after_placements/*/end_reason": _EP
    + "/looked_after_episodes/{1}/reason_episode_ceased",
    "/social_care_episodes/*/child_looked_after_placements/*/change_reason": _EP
    + "/looked_after_episodes/{1}/placement/change_reason",
}
"""Where each payload value goes in the canonical record: a JSON pointer template where ``{n}`` is
the n-th array index of the source pointer, ``*`` any element of a list, ``[system]`` the
identifier of that system, and a leading ``not`` a negated flag. Values of fields not listed here
(``adoption``, ``care_leavers``, ``purge: true``, unknown fields) are kept unmapped."""

# Reasons that mark unmapped values the writer puts back.
NOT_AN_OBJECT = "list item is not an object"
PURGE_REQUESTED = "purge requested"
SDQ_KEPT = "SDQ without a readable date"
NO_PLACE = "no place in the canonical record"
SDQ_SOURCE = "SDQ"
_SDQ_SUMMARY = "SDQ total difficulties score: {}"
_SDQ_SCORE = re.compile(r"score: (\d+)$")
_PURGE_TARGET = re.compile(r" for ([a-z0-9_]+)=(.*)$")

_BOM = b"\xef\xbb\xbf"
_CHUNK = 64 * 1024
_WHITESPACE = b" \t\r\n"
_ID_LIMIT = 100
_TEXT_LIMIT = 2000
_POSTCODE_LIMIT = 16


# --- reading JSON: shapes, streaming, errors ------------------------------------------------


class _Object(dict[str, Any]):
    """A JSON object that remembers the values its repeated keys overwrote."""

    __slots__ = ("overwritten",)
    overwritten: list[tuple[str, Any]]

    def __setitem__(self, key: str, value: Any) -> None:
        # called for every key the parser reads, so it stays lean: the list exists only if needed
        if dict.__contains__(self, key):
            if not hasattr(self, "overwritten"):
                self.overwritten = []
            self.overwritten.append((key, dict.__getitem__(self, key)))
        dict.__setitem__(self, key, value)


def _object_from_pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        obj[key] = value
    return obj


class _Tracker:
    """Receives records from ijson and notes the line each one starts on."""

    def __init__(self) -> None:
        self.line = 1
        self.start: int | None = None
        self.done: list[tuple[Any, int]] = []

    def new_object(self) -> _Object:
        # ijson makes a record's first object before any object inside it, on the line parsed now
        if self.start is None:
            self.start = self.line
        return _Object()

    def send(self, value: Any) -> None:
        self.done.append((value, self.start if self.start is not None else self.line))
        self.start = None

    def take(self) -> list[tuple[Any, int]]:
        done, self.done = self.done, []
        return done


class _Discard:
    def send(self, value: Any) -> None:
        """Throw the value away (a diagnostic pass only looks for the error)."""


def _detect_shape(file: SourceFile) -> str:
    """'array', 'lines' or 'objects', from the first non-whitespace byte and the first line."""
    first: bytes = b""
    with file.open() as stream:
        start = True
        while chunk := stream.read(_CHUNK):
            if start:
                chunk, start = chunk.removeprefix(_BOM), False
            stripped = chunk.lstrip(_WHITESPACE)
            if stripped:
                first = stripped[:1]
                break
    if not first:
        raise fatal(
            "file-empty",
            "The file is empty: it holds no JSON.",
            "Export the payload again; the file was not written.",
            _at(file.name),
        )
    if first == b"[":
        return "array"
    if first != b"{":
        raise fatal(
            "json-not-records",
            f"The file starts with {first.decode('latin-1')!r}, not a JSON object or array of objects.",
            "Give a file of DfE CSC API records: one object, an array of objects, or JSON Lines.",
            _at(file.name, line=1),
        )
    with file.open() as stream:
        for raw in stream:
            if raw.removeprefix(_BOM).strip():
                try:
                    value = json.loads(raw.removeprefix(_BOM).decode("utf-8"))
                except (ValueError, RecursionError):
                    return "objects"
                return "lines" if isinstance(value, dict) else "objects"
    return "objects"


def _json_lines(file: SourceFile) -> Iterator[tuple[Any, int]]:
    """Each non-blank line's value and its line number."""
    with file.open() as stream:
        for number, raw in enumerate(stream, 1):
            data = raw.removeprefix(_BOM) if number == 1 else raw
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise fatal(
                    "json-not-utf8",
                    f"Line {number} is not UTF-8 text (byte {exc.start + 1} of the line).",
                    "Export the payload as UTF-8, which JSON requires.",
                    _at(
                        file.name,
                        line=number,
                        column=len(data[: exc.start].decode("utf-8", "replace")) + 1,
                    ),
                ) from exc
            if not text.strip():
                continue
            try:
                value = json.loads(
                    text,
                    object_pairs_hook=_object_from_pairs,
                    parse_float=_finite,
                    parse_constant=_not_json,
                )
            except ValueError as exc:
                said, column = str(exc), None
                if isinstance(exc, json.JSONDecodeError):
                    said, column = f"{exc.msg} (column {exc.colno})", exc.colno
                raise fatal(
                    "json-malformed",
                    f"Line {number} is not a complete JSON value: {said}. "
                    "JSON Lines needs one whole record on each line.",
                    "Export the payload again; the file is cut short, edited by hand, or mixes "
                    "JSON Lines with pretty-printed JSON.",
                    _at(file.name, line=number, column=column),
                ) from exc
            except RecursionError as exc:
                raise fatal(
                    "json-too-deep",
                    f"Line {number} nests objects and arrays too deeply to read.",
                    "Check the export; a DfE CSC API record nests only a few levels.",
                    _at(file.name, line=number),
                ) from exc
            yield value, number


def _finite(text: str) -> float:
    # the same numbers as the incremental parser accepts: no overflow to infinity
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text} is too large")
    return number


def _not_json(text: str) -> float:
    raise ValueError(f"{text} is not a JSON value")


def _parsed(file: SourceFile, prefix: str, multiple: bool) -> Iterator[tuple[Any, int]]:
    """Each record ijson finds (array items or top-level values) and the line it starts on."""
    tracker = _Tracker()
    parser = ijson.items_coro(
        tracker, prefix, map_type=tracker.new_object, use_float=True, multiple_values=multiple
    )
    line, chunk_index, line_chars = 1, 0, 0
    send = parser.send
    with file.open() as stream:
        readline = stream.readline  # one line (at most 64 KiB) per send: the parser's line is known
        while chunk := readline(_CHUNK):
            if chunk_index == 0:
                chunk = chunk.removeprefix(_BOM)
            tracker.line = line
            try:
                send(chunk)
            except (ijson.JSONError, ValueError) as exc:
                column = _bad_utf8(chunk) or _error_column(file, prefix, multiple, chunk_index)
                at = None if column is None else line_chars + column
                raise _malformed(file.name, exc, line, at) from exc
            if tracker.done:
                yield from tracker.take()
            chunk_index += 1
            if chunk.endswith(b"\n"):
                line, line_chars = line + 1, 0
            else:
                line_chars += len(chunk.decode("utf-8", "replace"))
        try:
            parser.close()
        except (ijson.JSONError, ValueError) as exc:
            raise _malformed(file.name, exc, tracker.line, None, ended=True) from exc
        yield from tracker.take()


def _bad_utf8(chunk: bytes) -> int | None:
    """The 1-based column of the first byte that is not UTF-8, if the chunk has one."""
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # a character split by the 64 KiB read
            return len(chunk[: exc.start].decode("utf-8")) + 1
    return None


def _error_column(file: SourceFile, prefix: str, multiple: bool, failing: int) -> int | None:
    """The 1-based column (in the failing chunk) where a fresh parser first fails."""
    parser = ijson.items_coro(_Discard(), prefix, use_float=True, multiple_values=multiple)
    try:
        with file.open() as stream:
            for index in range(failing + 1):
                chunk = stream.readline(_CHUNK)
                if index == 0:
                    chunk = chunk.removeprefix(_BOM)
                if index < failing:
                    parser.send(chunk)
                    continue
                for at in range(len(chunk)):
                    try:
                        parser.send(chunk[at : at + 1])
                    except (ijson.JSONError, ValueError):
                        return len(chunk[:at].decode("utf-8", "replace")) + 1
    except (ijson.JSONError, ValueError, OSError):
        return None
    return None


def _malformed(
    name: str, exc: Exception, line: int, column: int | None, *, ended: bool = False
) -> Exception:
    detail = exc.args[0] if exc.args else ""
    if isinstance(detail, bytes):  # yajl reports some errors as bytes
        detail = detail.decode("utf-8", "replace")
    lines = str(detail).strip().splitlines()
    said = lines[0].rstrip(".") if lines else type(exc).__name__
    where = f"line {line}" + (f", column {column}" if column else "")
    if isinstance(exc, UnicodeError) or "UTF8" in said:
        return fatal(
            "json-not-utf8",
            f"The file is not UTF-8 text at {where}.",
            "Export the payload as UTF-8, which JSON requires.",
            _at(name, line=line, column=column),
        )
    message = (
        f"The file ends before its JSON is complete ({said})."
        if ended
        else f"The file is not valid JSON at {where}: {said}."
    )
    return fatal(
        "json-malformed",
        message,
        "Export the payload again; the file is cut short or was edited by hand.",
        _at(name, line=line, column=column),
    )


def _at(
    name: str,
    *,
    line: int | None = None,
    row: int | None = None,
    column: int | None = None,
    element: str | None = None,
) -> SourceLocation:
    return SourceLocation(
        file=name,
        line=line,
        row=row,
        column=None if column is None else str(column),
        element=element or None,
    )


# --- reading one record ---------------------------------------------------------------------


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _tokens(pointer: str) -> list[str]:
    return [_unescape(t) for t in pointer.split("/")[1:]] if pointer else []


def _pattern(tokens: Iterable[str]) -> str:
    return "".join("/" + ("*" if t.isdigit() else t) for t in tokens)


def _scalar_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _field_name(pointer: str) -> str:
    names = [t for t in _tokens(pointer) if not t.isdigit()]
    return names[-1] if names else "record"


class _RecordReader:
    """Reads one payload object into plain data for the canonical record."""

    def __init__(self, file: str, line: int, row: int, problems: list[Problem]) -> None:
        self.file = file
        self.line = line
        self.row = row
        self.values = Values(problems)
        self.professionals: list[dict[str, Any]] = []
        self.chronology: list[dict[str, Any]] = []

    # -- locations and generic values --------------------------------------------------------

    def where(self, pointer: str) -> Where:
        def make() -> SourceLocation:
            return _at(self.file, line=self.line, row=self.row, element=pointer)

        return make

    def warn(self, code: str, message: str, fix: str, pointer: str) -> None:
        self.values.report(code, message, fix, self.where(pointer), Severity.WARNING)

    def keep_all(self, value: Any, pointer: str, reason: str) -> None:
        """Keep every non-empty value in ``value`` (a value, object or list) with its pointer."""
        stack: list[tuple[str, Any, str]] = [(pointer, value, reason)]
        while stack:  # a loop, not recursion: unknown subtrees may nest without limit
            here, node, why = stack.pop()
            if isinstance(node, dict):
                pending = [(f"{here}/{_escape(k)}", v, why) for k, v in node.items()]
                pending += self.repeated(node, here)
                stack.extend(reversed(pending))
            elif isinstance(node, list):
                stack.extend(reversed([(f"{here}/{i}", v, why) for i, v in enumerate(node)]))
            else:
                text = _scalar_text(node)
                if text is not None:
                    self.values.keep(_field_name(here), text, self.where(here), why)

    def repeated(self, node: dict[str, Any], pointer: str) -> list[tuple[str, Any, str]]:
        """Report keys given twice; the values they overwrote, to keep."""
        earlier = getattr(node, "overwritten", [])
        for key, _value in earlier:
            self.warn(
                "json-duplicate-key",
                f"{key!r} is given more than once in one object; the last value is read and "
                "the earlier one kept unmapped.",
                "Give each field once.",
                f"{pointer}/{_escape(key)}",
            )
        return [
            (f"{pointer}/{_escape(k)}", v, "repeated key: the later value was read")
            for k, v in earlier
        ]

    def fields(self, node: Any, pointer: str, *, in_list: bool = False) -> dict[str, Any] | None:
        """The object at ``pointer`` with its unknown fields kept; None (and kept) if not one."""
        if node is None:
            return None
        if not isinstance(node, dict):
            self.values.report(
                "value-not-object",
                f"{_field_name(pointer)} at {pointer} is not a JSON object.",
                "Give an object with the fields the specification lists.",
                self.where(pointer),
            )
            self.keep_all(node, pointer, NOT_AN_OBJECT if in_list else "not an object")
            return None
        self.keep_all_list(self.repeated(node, pointer))
        known = OBJECTS[_pattern(_tokens(pointer))]
        for key, value in node.items():
            if key not in known:
                here = f"{pointer}/{_escape(key)}"
                self.warn(
                    "field-unknown",
                    f"{key!r} is not a field of the v{SPEC_VERSION} payload here; its value is "
                    "kept unmapped.",
                    "Check the field name against the DfE specification.",
                    here,
                )
                self.keep_all(value, here, f"field not in the v{SPEC_VERSION} specification")
        return node

    def keep_all_list(self, items: list[tuple[str, Any, str]]) -> None:
        for here, value, why in items:
            self.keep_all(value, here, why)

    def items(self, node: Any, pointer: str) -> list[tuple[str, Any]]:
        """The items of the list at ``pointer`` with their pointers; a non-list is kept."""
        if node is None:
            return []
        if not isinstance(node, list):
            self.values.report(
                "value-not-list",
                f"{_field_name(pointer)} at {pointer} is not a JSON list.",
                "Give a list ([...]), even for one item.",
                self.where(pointer),
            )
            self.keep_all(node, pointer, "not a list")
            return []
        return [(f"{pointer}/{i}", item) for i, item in enumerate(node)]

    def raw(self, node: Any, pointer: str) -> str | None:
        """One value as text; an object or list where one value belongs is reported and kept."""
        if isinstance(node, dict | list):
            self.values.report(
                "value-not-single",
                f"{_field_name(pointer)} at {pointer} holds "
                f"{'an object' if isinstance(node, dict) else 'a list'} where one value belongs.",
                "Give a single value, as the specification says.",
                self.where(pointer),
            )
            self.keep_all(node, pointer, "not a single value")
            return None
        return _scalar_text(node)

    def text(
        self, obj: dict[str, Any], pointer: str, key: str, limit: int = _TEXT_LIMIT
    ) -> str | None:
        """A text value no longer than ``limit``; a longer one is reported and kept."""
        here = f"{pointer}/{key}"
        value = self.raw(obj.get(key), here)
        if value is not None and len(value) > limit:
            self.values.report(
                "value-too-long",
                f"{key} at {here} is {len(value)} characters long; at most {limit} are read.",
                "Check the value; it is probably in the wrong field.",
                self.where(here),
            )
            self.values.keep(key, value, self.where(here), "too long")
            return None
        return value

    def date(self, obj: dict[str, Any], pointer: str, key: str) -> dt.date | None:
        return self.values.date(self.text(obj, pointer, key), key, self.where(f"{pointer}/{key}"))

    def flag(self, obj: dict[str, Any], pointer: str, key: str) -> bool | None:
        return self.values.boolean(
            self.text(obj, pointer, key), key, self.where(f"{pointer}/{key}")
        )

    def code(
        self,
        obj: dict[str, Any],
        pointer: str,
        key: str,
        allowed: frozenset[str],
        aliases: dict[str, str] | None = None,
        dfe_rule: str | None = None,
    ) -> str | None:
        return self.values.code(
            self.text(obj, pointer, key),
            key,
            self.where(f"{pointer}/{key}"),
            allowed,
            aliases,
            dfe_rule=dfe_rule,
        )

    def codes(
        self, obj: dict[str, Any], pointer: str, key: str, allowed: frozenset[str]
    ) -> list[str]:
        found = []
        for here, item in self.items(obj.get(key), f"{pointer}/{key}"):
            code = self.values.code(self.raw(item, here), key, self.where(here), allowed)
            if code:
                found.append(code)
        return found

    def purge(self, obj: dict[str, Any], pointer: str, id_key: str | None = None) -> None:
        """Keep a ``purge: true`` with its pointer (and the part's id) and warn."""
        here = f"{pointer}/purge"
        raw = obj.get("purge")
        if isinstance(raw, bool):
            requested = raw
        else:
            text = self.raw(raw, here)
            requested = bool(self.values.boolean(text, "purge", self.where(here)))
        if not requested:
            return
        part_id = _scalar_text(obj.get(id_key)) if id_key else None
        reason = PURGE_REQUESTED + (f" for {id_key}={part_id}" if part_id else "")
        self.values.keep("purge", "true", self.where(here), reason)
        if not pointer:
            self.warn(
                "purge-requested",
                "The sender asks the receiver to delete this child's record (purge: true).",
                "Delete the child's record as asked, or confirm with the sending authority first; "
                "the record is passed on with the request.",
                here,
            )
        else:
            self.warn(
                "part-purge-requested",
                f"The sender asks the receiver to delete {_field_name(pointer)} at {pointer}"
                + (f" ({id_key} {part_id})" if part_id else "")
                + " (purge: true).",
                "Delete that part of the child's record as asked, or confirm with the sending "
                "authority first.",
                here,
            )

    # -- the record --------------------------------------------------------------------------

    def read(self, root: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        self.fields(root, "")
        la_code = self.text(root, "", "la_code")
        key = self.text(root, "", "la_child_id")
        child: dict[str, Any] = {"identifiers": []}
        if key:
            child["identifiers"].append(_identifier(IdentifierSystem.LA_CHILD_ID, key, la_code))
        mis_id = self.text(root, "", "mis_child_id")
        if mis_id:
            child["identifiers"].append(_identifier(IdentifierSystem.LEGACY, mis_id, la_code))
        self.purge(root, "")
        details = self.fields(root.get("child_details"), "/child_details")
        if details is not None:
            self.child_details(details, child)
        health = self.fields(root.get("health_and_wellbeing"), "/health_and_wellbeing")
        if health is not None:
            for here, item in self.items(
                health.get("sdq_assessments"), "/health_and_wellbeing/sdq_assessments"
            ):
                self.sdq(item, here)
            self.purge(health, "/health_and_wellbeing")
        episodes = []
        for here, item in self.items(root.get("social_care_episodes"), "/social_care_episodes"):
            episode = self.episode(item, here)
            if episode is not None:
                episodes.append(episode)
        provenance: dict[str, Any] = {
            "source_authority": la_code or "unknown",
            "source_format_version": SPEC_VERSION,
        }
        if la_code is None:
            self.values.report(
                "source-authority-missing",
                "The record has no la_code, so the sending authority is unknown.",
                "Give la_code, the sending authority's 3-digit DfE code.",
                self.where("/la_code"),
            )
        data = {
            "provenance": provenance,
            "child": child,
            "professionals": self.professionals,
            "episodes": episodes,
            "chronology": self.chronology,
            "unmapped": self.values.unmapped,
        }
        return data, key

    def child_details(self, obj: dict[str, Any], child: dict[str, Any]) -> None:
        p = "/child_details"
        for key, system in (
            ("unique_pupil_number", IdentifierSystem.UPN),
            ("former_unique_pupil_number", IdentifierSystem.FORMER_UPN),
        ):
            value = self.text(obj, p, key)
            if value:
                child["identifiers"].append({"system": system.value, "value": value})
        child["upn_unknown_reason"] = self.code(
            obj, p, "unique_pupil_number_unknown_reason", UPN_UNKNOWN
        )
        given, family = self.text(obj, p, "first_name"), self.text(obj, p, "surname")
        if given or family:
            child["names"] = [{"given": given, "family": family, "use": "official"}]
        child["birth_date"] = self.date(obj, p, "date_of_birth")
        child["expected_birth_date"] = self.date(obj, p, "expected_date_of_birth")
        child["sex"] = self.code(obj, p, "sex", SEXES, SEX_ALIASES)
        child["ethnicity"] = self.code(obj, p, "ethnicity", ETHNICITIES, dfe_rule="4220")
        child["disabilities"] = self.codes(obj, p, "disabilities", DISABILITIES)
        postcode = self.text(obj, p, "postcode", _POSTCODE_LIMIT)
        if postcode:
            child["addresses"] = [{"postcode": postcode}]
        uasc = self.flag(obj, p, "uasc_flag")
        uasc_end = self.date(obj, p, "uasc_end_date")
        if uasc is not None or uasc_end is not None:
            child["immigration_status"] = {"uasc": bool(uasc), "uasc_end_date": uasc_end}
        self.purge(obj, p)

    def sdq(self, node: Any, pointer: str) -> None:
        obj = self.fields(node, pointer, in_list=True)
        if obj is None:
            return
        kept_from = len(self.values.unmapped)
        date_text = self.text(obj, pointer, "date")
        score = self.values.integer(
            self.text(obj, pointer, "score"), "score", self.where(f"{pointer}/score")
        )
        if score is not None and score > 40:
            self.warn(
                "sdq-score-out-of-range",
                f"SDQ score {score} at {pointer}/score is above 40, the highest total "
                "difficulties score.",
                "Check the score in the source system.",
                f"{pointer}/score",
            )
        self.purge(obj, pointer)
        date = parse_date(date_text) if date_text else None
        if date is not None:
            summary = _SDQ_SUMMARY.format(score) if score is not None else "SDQ (no score given)"
            self.chronology.append(
                {"date": date, "category": "health", "summary": summary, "source": SDQ_SOURCE}
            )
            return
        # without a date there is no chronology entry: keep every value of this SDQ, marked
        if date_text:
            self.values.report(
                "date-invalid",
                f"date {date_text!r} is not a date.",
                "Write dates as YYYY-MM-DD.",
                self.where(f"{pointer}/date"),
            )
            self.values.keep("date", date_text, self.where(f"{pointer}/date"), "not a date")
        else:
            self.warn(
                "sdq-date-missing",
                f"The SDQ at {pointer} has no date, so it cannot join the chronology; its values "
                "are kept unmapped.",
                "Give the date the SDQ was completed.",
                pointer,
            )
        if score is not None:
            self.values.keep("score", str(score), self.where(f"{pointer}/score"))
        for entry in self.values.unmapped[kept_from:]:
            entry["reason"] = SDQ_KEPT + (f"; {entry['reason']}" if entry.get("reason") else "")

    def episode(self, node: Any, pointer: str) -> dict[str, Any] | None:
        obj = self.fields(node, pointer, in_list=True)
        if obj is None:
            return None
        p = pointer
        episode: dict[str, Any] = {
            "id": self.text(obj, p, "social_care_episode_id", _ID_LIMIT),
            "referral_date": self.date(obj, p, "referral_date"),
            "referral_source": self.code(obj, p, "referral_source", SOURCES),
            "referral_no_further_action": self.flag(obj, p, "referral_no_further_action_flag"),
            "closure_date": self.date(obj, p, "closure_date"),
            "closure_reason": self.code(obj, p, "closure_reason", CLOSURES, dfe_rule="8640"),
            "assessments": [],
            "cin_plans": [],
            "section47_enquiries": [],
            "cp_plans": [],
            "looked_after_episodes": [],
        }
        for here, item in self.items(obj.get("care_worker_details"), f"{p}/care_worker_details"):
            worker = self.fields(item, here, in_list=True)
            if worker is not None:
                self.professionals.append(
                    {
                        "id": self.text(worker, here, "worker_id", _ID_LIMIT),
                        "role": "social worker",
                        "agency": "social_care",
                        "start_date": self.date(worker, here, "start_date"),
                        "end_date": self.date(worker, here, "end_date"),
                    }
                )
                self.purge(worker, here, "worker_id")
        for here, item in self.parts(obj, p, "child_and_family_assessments"):
            episode["assessments"].append(
                {
                    "id": self.text(item, here, "child_and_family_assessment_id", _ID_LIMIT),
                    "start_date": self.date(item, here, "start_date"),
                    "authorisation_date": self.date(item, here, "authorisation_date"),
                    "factors": self.codes(item, here, "factors", ASSESSMENT_FACTORS),
                }
            )
            self.purge(item, here, "child_and_family_assessment_id")
        for here, item in self.parts(obj, p, "child_in_need_plans"):
            episode["cin_plans"].append(
                {
                    "id": self.text(item, here, "child_in_need_plan_id", _ID_LIMIT),
                    "start_date": self.date(item, here, "start_date"),
                    "end_date": self.date(item, here, "end_date"),
                }
            )
            self.purge(item, here, "child_in_need_plan_id")
        for here, item in self.parts(obj, p, "section_47_assessments"):
            required = self.flag(item, here, "icpc_required_flag")
            episode["section47_enquiries"].append(
                {
                    "id": self.text(item, here, "section_47_assessment_id", _ID_LIMIT),
                    "start_date": self.date(item, here, "start_date"),
                    "initial_conference_not_required": None if required is None else not required,
                    "initial_conference_date": self.date(item, here, "icpc_date"),
                    "end_date": self.date(item, here, "end_date"),
                }
            )
            self.purge(item, here, "section_47_assessment_id")
        for here, item in self.parts(obj, p, "child_protection_plans"):
            episode["cp_plans"].append(
                {
                    "id": self.text(item, here, "child_protection_plan_id", _ID_LIMIT),
                    "start_date": self.date(item, here, "start_date"),
                    "end_date": self.date(item, here, "end_date"),
                }
            )
            self.purge(item, here, "child_protection_plan_id")
        for here, item in self.parts(obj, p, "child_looked_after_placements"):
            episode["looked_after_episodes"].append(self.placement(item, here))
        for key in ("adoption", "care_leavers"):
            part = self.fields(obj.get(key), f"{p}/{key}")
            if part is not None:
                for name in OBJECTS[f"/social_care_episodes/*/{key}"]:
                    if name != "purge":
                        value = self.raw(part.get(name), f"{p}/{key}/{name}")
                        if value is not None:
                            self.values.keep(name, value, self.where(f"{p}/{key}/{name}"), NO_PLACE)
                self.purge(part, f"{p}/{key}")
        self.purge(obj, p, "social_care_episode_id")
        return episode

    def parts(
        self, obj: dict[str, Any], pointer: str, key: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """The objects of a list of parts (plans, assessments, ...); other items are kept."""
        found = []
        for here, item in self.items(obj.get(key), f"{pointer}/{key}"):
            part = self.fields(item, here, in_list=True)
            if part is not None:
                found.append((here, part))
        return found

    def placement(self, obj: dict[str, Any], p: str) -> dict[str, Any]:
        start, end = self.date(obj, p, "start_date"), self.date(obj, p, "end_date")
        reason = self.text(obj, p, "start_reason")
        new_episode = None
        if reason:
            if reason.upper() in NEW_EPISODE_REASONS:
                new_episode = reason.upper()
            else:
                self.warn(
                    "start-reason-not-rne",
                    f"start_reason {reason!r} at {p}/start_reason is not an SSDA903 reason for a "
                    "new episode (S, L, P, T, B, U); it is kept unmapped.",
                    "Give the RNE code, or leave it as it is if the system records another reason.",
                    f"{p}/start_reason",
                )
                self.values.keep(
                    "start_reason", reason, self.where(f"{p}/start_reason"), "not an RNE code"
                )
        self.purge(obj, p, "child_looked_after_placement_id")
        return {
            "start_date": start,
            "end_date": end,
            "reason_new_episode": new_episode,
            "reason_episode_ceased": self.text(obj, p, "end_reason"),
            "placement": {
                "id": self.text(obj, p, "child_looked_after_placement_id", _ID_LIMIT),
                "start_date": start,
                "end_date": end,
                "placement_type": self.text(obj, p, "placement_type"),
                "postcode": self.text(obj, p, "postcode", _POSTCODE_LIMIT),
                "change_reason": self.text(obj, p, "change_reason"),
            },
        }


def _identifier(system: IdentifierSystem, value: str, issuer: str | None) -> dict[str, Any]:
    ident = {"system": system.value, "value": value}
    if issuer:
        ident["issuer"] = issuer
    return ident


# --- writing --------------------------------------------------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _code(value: Any) -> str | None:
    return str(value) if value is not None else None


def _postcode_key(value: str) -> str:
    return value.replace(" ", "").upper()


class _PayloadWriter:
    """Builds the payload object of one canonical record."""

    def __init__(self, record: ChildRecord, n: int, problems: list[Problem]) -> None:
        self.record = record
        self.n = n
        self.problems = problems
        self.withheld = {
            _postcode_key(a.postcode)
            for a in record.child.addresses
            if a.postcode and (a.confidential or a.not_to_be_disclosed_to)
        }

    def warn(self, code: str, message: str, fix: str, pointer: str | None = None) -> None:
        self.problems.append(
            problem(
                code,
                message,
                fix,
                _writing(self.n),
                severity=Severity.WARNING,
                pointer=pointer,
            )
        )

    def payload(self, la_child_id: str) -> dict[str, Any]:
        r = self.record
        la_code = _dfe_code(r.provenance.source_authority)
        if la_code is None:
            self.warn(
                "la-code-unknown",
                f"Record {self.n}: no DfE 3-digit code is known for the sending authority "
                f"{r.provenance.source_authority!r}; la_code is written as null.",
                "Give the sending authority's DfE or GSS code in the record's provenance.",
                "/provenance/source_authority",
            )
        payload: dict[str, Any] = {
            "la_code": la_code,
            "la_child_id": la_child_id,
            "mis_child_id": _identifier_value(r, IdentifierSystem.LEGACY),
            "child_details": self.child_details(),
            "health_and_wellbeing": {
                "sdq_assessments": [
                    {"date": e.date.isoformat(), "score": _sdq_score(e), "purge": False}
                    for e in r.chronology
                    if e.source == SDQ_SOURCE and e.category == ChronologyCategory.HEALTH
                ],
                "purge": False,
            },
            "social_care_episodes": self.episodes(),
            "purge": False,
        }
        if r.provenance.adapter == ADAPTER_NAME:
            _Restorer(self, payload).restore()
        return payload

    def child_details(self) -> dict[str, Any]:
        c = self.record.child
        name = next(
            (n for n in c.names if n.use == "official" and n.end_date is None),
            c.names[0] if c.names else None,
        )
        return {
            "unique_pupil_number": _identifier_value(self.record, IdentifierSystem.UPN),
            "former_unique_pupil_number": _identifier_value(
                self.record, IdentifierSystem.FORMER_UPN
            ),
            "unique_pupil_number_unknown_reason": _code(c.upn_unknown_reason),
            "first_name": name.given if name else None,
            "surname": name.family if name else None,
            "date_of_birth": _iso(c.birth_date),
            "expected_date_of_birth": _iso(c.expected_birth_date),
            "sex": _code(c.sex),
            "ethnicity": _code(c.ethnicity),
            "disabilities": [str(d) for d in c.disabilities],
            "postcode": self.child_postcode(),
            "uasc_flag": c.immigration_status.uasc if c.immigration_status else None,
            "uasc_end_date": _iso(c.immigration_status.uasc_end_date)
            if c.immigration_status
            else None,
            "purge": False,
        }

    def child_postcode(self) -> str | None:
        current = _current_address(self.record.child.addresses)
        if current is None:
            return None
        index, address = current
        if address.postcode and (address.confidential or address.not_to_be_disclosed_to):
            self.warn(
                "confidential-postcode-withheld",
                f"Record {self.n}: the child's address is confidential, so its postcode is not "
                "written (the DfE payload cannot mark it confidential).",
                "Nothing to do if the address must stay confidential; the receiving authority "
                "gets it through the exchange, which carries the flag.",
                f"/child/addresses/{index}/postcode",
            )
            return None
        return address.postcode

    def episodes(self) -> list[dict[str, Any]]:
        r = self.record
        workers = _workers_by_episode(r)
        placed = sum(len(w) for w in workers.values())
        unplaced = sum(1 for p in r.professionals if _is_social_worker(p)) - placed
        if unplaced:
            self.warn(
                "care-workers-not-written",
                f"Record {self.n}: {unplaced} social worker(s) are not written because the "
                "record has no social care episode to hold them.",
                "Add the child's social care episodes to the record.",
                "/professionals",
            )
        out = []
        for e, ep in enumerate(r.episodes):
            out.append(
                {
                    "social_care_episode_id": ep.id,
                    "referral_date": _iso(ep.referral_date),
                    "referral_source": _code(ep.referral_source),
                    "referral_no_further_action_flag": ep.referral_no_further_action,
                    "care_worker_details": [
                        {
                            "worker_id": p.id,
                            "start_date": _iso(p.start_date),
                            "end_date": _iso(p.end_date),
                            "purge": False,
                        }
                        for p in workers.get(e, [])
                    ],
                    "child_and_family_assessments": [
                        {
                            "child_and_family_assessment_id": a.id,
                            "start_date": _iso(a.start_date),
                            "authorisation_date": _iso(a.authorisation_date),
                            "factors": list(a.factors),
                            "purge": False,
                        }
                        for a in ep.assessments
                    ],
                    "child_in_need_plans": [
                        {
                            "child_in_need_plan_id": plan.id,
                            "start_date": _iso(plan.start_date),
                            "end_date": _iso(plan.end_date),
                            "purge": False,
                        }
                        for plan in ep.cin_plans
                    ],
                    "section_47_assessments": [
                        {
                            "section_47_assessment_id": s.id,
                            "start_date": _iso(s.start_date),
                            "icpc_required_flag": None
                            if s.initial_conference_not_required is None
                            else not s.initial_conference_not_required,
                            "icpc_date": _iso(s.initial_conference_date),
                            "end_date": _iso(s.end_date),
                            "purge": False,
                        }
                        for s in ep.section47_enquiries
                    ],
                    "child_protection_plans": [
                        {
                            "child_protection_plan_id": cp.id,
                            "start_date": _iso(cp.start_date),
                            "end_date": _iso(cp.end_date),
                            "purge": False,
                        }
                        for cp in ep.cp_plans
                    ],
                    "child_looked_after_placements": [
                        self.placement(e, i, ep) for i in range(len(ep.looked_after_episodes))
                    ],
                    "adoption": None,
                    "care_leavers": None,
                    "closure_date": _iso(ep.closure_date),
                    "closure_reason": _code(ep.closure_reason),
                    "purge": False,
                }
            )
        return out

    def placement(self, e: int, i: int, ep: SocialCareEpisode) -> dict[str, Any]:
        la = ep.looked_after_episodes[i]
        pl = la.placement
        postcode = pl.postcode if pl else None
        if postcode and _postcode_key(postcode) in self.withheld:
            self.warn(
                "confidential-postcode-withheld",
                f"Record {self.n}: a placement's postcode is the child's confidential address, "
                "so it is not written.",
                "Nothing to do if the address must stay confidential.",
                f"/episodes/{e}/looked_after_episodes/{i}/placement/postcode",
            )
            postcode = None
        return {
            "child_looked_after_placement_id": (pl.id if pl else None) or la.id,
            "start_date": _iso((pl.start_date if pl else None) or la.start_date),
            "start_reason": _code(la.reason_new_episode),
            "placement_type": pl.placement_type if pl else None,
            "postcode": postcode,
            "end_date": _iso((pl.end_date if pl else None) or la.end_date),
            "end_reason": la.reason_episode_ceased,
            "change_reason": pl.change_reason if pl else None,
            "purge": False,
        }


class _Restorer:
    """Puts back what this adapter kept unmapped from fields of the specification."""

    def __init__(self, writer: _PayloadWriter, payload: dict[str, Any]) -> None:
        self.writer = writer
        self.payload = payload
        self.entries = [
            (_tokens(u.location.element), u)
            for u in writer.record.unmapped
            if u.location.element and u.location.element.startswith("/")
        ]
        # items of lists of objects the reader could not read (not objects): no canonical part
        # stands for them, so later items' indexes shift down
        self.skipped: dict[tuple[str, ...], set[int]] = {}
        for tokens, u in self.entries:
            if u.reason == NOT_AN_OBJECT:
                slot = _deepest_list_item(tokens)
                if slot is not None:
                    self.skipped.setdefault(slot[0], set()).add(slot[1])

    def out(self, tokens: list[str]) -> list[str]:
        """The pointer (as tokens) in the written payload of a pointer into the source."""
        result = []
        for i, token in enumerate(tokens):
            if token.isdigit() and _pattern(tokens[:i]) in OBJECT_ARRAYS:
                j = int(token)
                skipped = self.skipped.get(tuple(tokens[:i]), set())
                result.append(str(j - sum(1 for s in skipped if s < j)))
            else:
                result.append(token)
        return result

    def restore(self) -> None:
        sdqs: set[int] = set()
        for tokens, u in self.entries:
            if (u.reason or "").startswith(SDQ_KEPT) and len(tokens) >= 3 and tokens[2].isdigit():
                sdqs.add(int(tokens[2]))
        target = self.payload["health_and_wellbeing"]["sdq_assessments"]
        for k in sorted(sdqs):
            at = int(self.out(["health_and_wellbeing", "sdq_assessments", str(k)])[2])
            target.insert(min(at, len(target)), {"date": None, "score": None, "purge": False})
        guard_postcodes = bool(self.writer.withheld)
        for tokens, u in self.entries:
            pattern = _pattern(tokens)
            if u.field == "purge" and PURGE_REQUESTED in (u.reason or ""):
                self.purge(self.out(tokens), u.reason or "")
            elif pattern in SPEC_VALUES and u.reason != NOT_AN_OBJECT:
                if guard_postcodes and pattern.endswith("/postcode"):
                    continue
                self.put(self.out(tokens), pattern, u.value)

    def container(self, tokens: list[str]) -> Any:
        node: Any = self.payload
        for i, token in enumerate(tokens[:-1]):
            if isinstance(node, dict):
                nxt = node.get(token)
                pattern = _pattern(tokens[: i + 1])
                if nxt is None and token in node and pattern in SINGLE_OBJECTS:
                    nxt = dict.fromkeys(OBJECTS[pattern]) | {"purge": False}
                    node[token] = nxt
            elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
                nxt = node[int(token)]
            else:
                return None
            node = nxt
        return node

    def put(self, tokens: list[str], pattern: str, value: str) -> None:
        node = self.container(tokens)
        last = tokens[-1]
        typed = _typed(pattern, value)
        if isinstance(node, list) and last.isdigit():
            node.insert(min(int(last), len(node)), typed)
        elif isinstance(node, dict) and last in node and node[last] is None:
            node[last] = typed

    def purge(self, tokens: list[str], reason: str) -> None:
        node = self.container(tokens)
        if not isinstance(node, dict) or "purge" not in node:
            self.writer.problems.append(
                problem(
                    "purge-not-written",
                    f"Record {self.writer.n}: a purge request read at /{'/'.join(tokens)} has no "
                    "part to go with in the record, so it is not written.",
                    "Check the record's episodes and plans against the source payload.",
                    _writing(self.writer.n),
                )
            )
            return
        match = _PURGE_TARGET.search(reason)
        if match and str(node.get(match[1])) != match[2]:
            # never ask for the wrong part to be deleted
            self.writer.problems.append(
                problem(
                    "purge-not-written",
                    f"Record {self.writer.n}: a purge request was read for {match[1]} "
                    f"{match[2]!r}, but that part is no longer where it was; it is not written.",
                    "Check the record's episodes and plans against the source payload.",
                    _writing(self.writer.n),
                )
            )
            return
        node["purge"] = True


def _deepest_list_item(tokens: list[str]) -> tuple[tuple[str, ...], int] | None:
    found = None
    for i, token in enumerate(tokens):
        if token.isdigit() and _pattern(tokens[:i]) in OBJECT_ARRAYS:
            found = (tuple(tokens[:i]), int(token))
    return found


def _typed(pattern: str, value: str) -> Any:
    if pattern in NUMBER_VALUES:
        try:
            number = json.loads(value)
        except ValueError:
            return value
        return number if isinstance(number, int | float) else value
    if pattern in BOOLEAN_VALUES:
        flag = parse_bool(value)
        return value if flag is None else flag
    return value


def _sdq_score(entry: ChronologyEntry) -> int | None:
    match = _SDQ_SCORE.search(entry.summary)
    return int(match[1]) if match else None


def _writing(n: int) -> SourceLocation:
    return SourceLocation(element=f"record {n}")


def _identifier_value(record: ChildRecord, system: IdentifierSystem) -> str | None:
    found = [i for i in record.child.identifiers if i.system == system]
    own = [i for i in found if i.issuer == record.provenance.source_authority]
    chosen = own or found
    return chosen[0].value if chosen else None


def _current_address(addresses: list[Address]) -> tuple[int, Address] | None:
    current = [(i, a) for i, a in enumerate(addresses) if a.end_date is None]
    if not current:
        return None
    return max(current, key=lambda ia: (ia[1].start_date is not None, ia[1].start_date, ia[0]))


def _is_social_worker(professional: Professional) -> bool:
    role = professional.role.lower()
    return "social worker" in role or role == "care worker"


def _workers_by_episode(record: ChildRecord) -> dict[int, list[Professional]]:
    """Each social worker in the episode whose span holds their start (else the latest one)."""
    episodes = record.episodes
    placed: dict[int, list[Professional]] = {}
    if not episodes:
        return placed
    order = sorted(
        range(len(episodes)),
        key=lambda e: (episodes[e].referral_date is not None, episodes[e].referral_date, e),
    )
    for worker in record.professionals:
        if not _is_social_worker(worker):
            continue
        holding = [e for e in order if _holds(episodes[e], worker.start_date)]
        placed.setdefault((holding or order)[-1], []).append(worker)
    return placed


def _holds(episode: SocialCareEpisode, day: dt.date | None) -> bool:
    if day is None:
        return True
    opened, closed = episode.referral_date, episode.closure_date
    return (opened is None or opened <= day) and (closed is None or day <= closed)


def _dfe_code(code: str) -> str | None:
    if code.isdigit() and len(code) == 3:
        return code
    from exchange.authorities import load_registry

    authority = load_registry().get(code)
    return authority.dfe_code if authority else None


# --- the adapter ----------------------------------------------------------------------------


class DfECSCAPIAdapter(Adapter):
    """DfE children's social care data API payload (JSON, v0.7) <-> canonical records."""

    name = ADAPTER_NAME
    title = "DfE children's social care data API payload (JSON, v0.7)"
    formats = ("json", "jsonl")
    versions = (SPEC_VERSION,)
    writes = True

    def read(self, source: Source) -> Iterator[ReadResult]:
        """One result per record of a JSON array, JSON Lines or pretty-printed object file."""
        file = source.single(self.name)
        shape = _detect_shape(file)
        if shape == "lines":
            found = _json_lines(file)
        else:
            found = _parsed(file, "item" if shape == "array" else "", shape == "objects")
        count = 0
        for value, line in found:
            count += 1
            yield self._record(value, file.name, line, count, shape == "array")
        if count == 0:
            raise fatal(
                "no-records",
                "The file holds no records.",
                "Check that the export selected any children.",
                _at(file.name),
            )

    def _record(self, value: Any, name: str, line: int, row: int, in_array: bool) -> ReadResult:
        location = _at(name, line=line, row=row, element=f"/{row - 1}" if in_array else None)
        if not isinstance(value, dict):
            kind = (
                "a list"
                if isinstance(value, list)
                else "null"
                if value is None
                else f"the value {_scalar_text(value)!r}"
            )
            return ReadResult(
                None,
                [
                    problem(
                        "record-not-object",
                        f"Record {row}"
                        + (f" (array index {row - 1})" if in_array else "")
                        + f" is {kind}, not a JSON object; it is skipped.",
                        "Give each child as one JSON object.",
                        location,
                    )
                ],
                None,
                location,
            )
        problems: list[Problem] = []
        reader = _RecordReader(name, line, row, problems)
        data, key = reader.read(value)
        return self.finish(data, key=key, location=location, problems=problems)

    def write(self, records: Iterable[ChildRecord], out: IO[bytes]) -> list[Problem]:
        """Write v0.7 payloads as JSON Lines, one child per line; returns the problems found."""
        problems: list[Problem] = []
        for n, record in enumerate(records, 1):
            la_child_id = _identifier_value(record, IdentifierSystem.LA_CHILD_ID)
            if la_child_id is None:
                problems.append(
                    problem(
                        "la-child-id-missing",
                        f"Record {n} has no LA child id, which the DfE payload requires; it is "
                        "not written.",
                        "Add the sending authority's id for the child (system la_child_id).",
                        _writing(n),
                        pointer="/child/identifiers",
                        dfe_rule="8500",
                    )
                )
                continue
            payload = _PayloadWriter(record, n, problems).payload(la_child_id)
            out.write(json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n")
        return problems

"""Children in Need census XML, both shapes (GenderCurrent to 2023-24, Sex from 2024-25), in and out.

Reading streams with lxml's iterparse: only Header and Child elements are reported, each Child is
turned into a record and then cleared, so memory does not grow with the file. DTDs are refused
outright (no entity of any kind is expanded, nothing is fetched), which stops entity bombs and
external entities (XXE) before they can do anything.

Writing produces the 2025-26 shape, streamed with ``lxml.etree.xmlfile``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lxml import etree

from exchange.adapters.base import Adapter, ReadResult, Source, fatal, problem
from exchange.adapters.values import Values, Where
from exchange.canonical import ChildRecord, Problem, Severity
from exchange.canonical.codes import (
    ASSESSMENT_FACTORS,
    SEX_ALIASES,
    CategoryOfAbuse,
    Disability,
    Ethnicity,
    IdentifierSystem,
    PrimaryNeed,
    ReasonForClosure,
    ReferralSource,
    Sex,
    UPNUnknownReason,
)
from exchange.canonical.model import SourceLocation

SEXES = frozenset(s.value for s in Sex)
ETHNICITIES = frozenset(e.value for e in Ethnicity)
DISABILITIES = frozenset(d.value for d in Disability)
SOURCES = frozenset(r.value for r in ReferralSource)
NEEDS = frozenset(n.value for n in PrimaryNeed)
CLOSURES = frozenset(r.value for r in ReasonForClosure)
CATEGORIES = frozenset(c.value for c in CategoryOfAbuse)
UPN_UNKNOWN = frozenset(u.value for u in UPNUnknownReason)

FORMAT_VERSIONS = ("2023-24", "2024-25", "2025-26")

# Elements that may appear once in their parent: a repeat is kept unmapped, never overwrites.
_SINGLE = {
    "ChildIdentifiers": frozenset(
        {
            "LAchildID",
            "UPN",
            "FormerUPN",
            "UPNunknown",
            "PersonBirthDate",
            "ExpectedPersonBirthDate",
            "Sex",
            "GenderCurrent",
            "PersonDeathDate",
        }
    ),
    "ChildCharacteristics": frozenset({"Ethnicity", "Disabilities"}),
    "CINdetails": frozenset(
        {
            "CINreferralDate",
            "ReferralSource",
            "PrimaryNeedCode",
            "CINclosureDate",
            "ReasonForClosure",
            "DateOfInitialCPC",
            "ReferralNFA",
        }
    ),
    "Assessments": frozenset(
        {
            "AssessmentActualStartDate",
            "AssessmentInternalReviewDate",
            "AssessmentAuthorisationDate",
            "FactorsIdentifiedAtAssessment",
        }
    ),
    "CINPlanDates": frozenset({"CINPlanStartDate", "CINPlanEndDate"}),
    "Section47": frozenset(
        {"S47ActualStartDate", "InitialCPCtarget", "DateOfInitialCPC", "ICPCnotRequired"}
    ),
    "ChildProtectionPlans": frozenset(
        {
            "CPPstartDate",
            "CPPendDate",
            "InitialCategoryOfAbuse",
            "LatestCategoryOfAbuse",
            "NumberOfPreviousCPP",
            "Reviews",
        }
    ),
}
_ATTRIBUTES = etree.XPath("descendant-or-self::*/@*")
_STRAY_TEXT = etree.XPath(".//text()[normalize-space()][../*]")


def _text(elem: Any) -> str:
    text = elem.text
    return text.strip() if text else ""


class _ChildReader:
    """Reads one Child element into plain data for the canonical record."""

    def __init__(self, file: str, child: Any, index: int, problems: list[Problem]) -> None:
        self.file = file
        self.child = child
        self.base = f"/Message/Children/Child[{index}]"
        self.values = Values(problems)

    def where(self, elem: Any, path: str) -> Where:
        def make() -> SourceLocation:
            return SourceLocation(file=self.file, line=elem.sourceline, element=self.base + path)

        return make

    def date(self, text: str, item: Any, tag: str, path: str) -> dt.date | None:
        """A date; the common well-formed case is read without building a location."""
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                pass
        return self.values.date(text, tag, self.where(item, f"{path}/{tag}"))

    def code(
        self,
        text: str,
        item: Any,
        tag: str,
        path: str,
        allowed: frozenset[str],
        aliases: dict[str, str] | None = None,
        dfe_rule: str | None = None,
    ) -> str | None:
        """A code; an exact match is taken without building a location."""
        if text in allowed:
            return text
        return self.values.code(
            text, tag, self.where(item, f"{path}/{tag}"), allowed, aliases, dfe_rule=dfe_rule
        )

    def keep_unknown(self, elem: Any, path: str) -> None:
        """An element the format does not define: keep every value in it."""
        tag = elem.tag if isinstance(elem.tag, str) else "node"
        here = f"{path}/{tag}"
        kids = [k for k in elem if isinstance(k.tag, str)]
        if not kids:
            text = _text(elem)
            if text:
                self.values.keep(tag, text, self.where(elem, here), "element not in the CIN census")
            return
        for kid in kids:
            self.keep_unknown(kid, here)

    def leftovers(self) -> None:
        """Keep what the element-by-element reading would not see: attributes and text between
        elements (rare, so a quick scan decides whether to look for them)."""
        for el in self.child.iter():
            if (
                el.attrib
                or (el.tail and not el.tail.isspace())
                or (len(el) and el.text and not el.text.isspace())
            ):
                break
        else:
            return
        attributes: Any = _ATTRIBUTES(self.child)
        for value in attributes:
            owner = value.getparent()
            self.values.keep(
                f"{owner.tag}@{value.attrname}",
                str(value),
                SourceLocation(file=self.file, line=owner.sourceline, element=self._path(owner)),
                "attribute not in the CIN census",
            )
        texts: Any = _STRAY_TEXT(self.child)
        for text in texts:
            owner = text.getparent()
            self.values.keep(
                "text",
                str(text).strip(),
                SourceLocation(file=self.file, line=owner.sourceline, element=self._path(owner)),
                "text between elements",
            )

    def repeated(self, item: Any, container: str) -> None:
        """A repeat of an element that may appear once: reported, kept; the first one counts."""
        where = SourceLocation(file=self.file, line=item.sourceline, element=self._path(item))
        self.values.report(
            "element-repeated",
            f"{item.tag} appears more than once in {container}; the first is used.",
            "Give the element once; correct the export where it was duplicated.",
            where,
            Severity.WARNING,
        )
        parent_path = self._path(item.getparent())[len(self.base) :]
        self.keep_unknown(item, parent_path)

    def _path(self, elem: Any) -> str:
        parts: list[str] = []
        while elem is not None and elem is not self.child:
            parent = elem.getparent()
            same = [k for k in parent if k.tag == elem.tag] if parent is not None else [elem]
            parts.append(f"{elem.tag}[{same.index(elem) + 1}]" if len(same) > 1 else str(elem.tag))
            elem = parent
        return self.base + "".join(f"/{p}" for p in reversed(parts))

    def read(self, lea: str | None) -> tuple[dict[str, Any], str | None]:
        self.leftovers()
        child: dict[str, Any] = {"identifiers": [], "disabilities": []}
        episodes: list[dict[str, Any]] = []
        key: str | None = None
        for part in self.child:
            tag = part.tag
            if tag == "ChildIdentifiers":
                key = self.identifiers(part, child, lea)
            elif tag == "ChildCharacteristics":
                self.characteristics(part, child)
            elif tag == "CINdetails":
                episodes.append(self.episode(part, len(episodes) + 1))
            elif isinstance(tag, str):
                self.keep_unknown(part, "")
        return {"child": child, "episodes": episodes}, key

    def identifiers(self, elem: Any, child: dict[str, Any], lea: str | None) -> str | None:
        ids = "/ChildIdentifiers"
        key = None
        seen: set[str] = set()
        for item in elem:
            tag, text = item.tag, _text(item)
            if tag in _SINGLE["ChildIdentifiers"]:
                if tag in seen:
                    self.repeated(item, "ChildIdentifiers")
                    continue
                seen.add(tag)
            if not text:
                continue
            if tag == "LAchildID":
                key = text
                ident = {"system": IdentifierSystem.LA_CHILD_ID.value, "value": text}
                if lea:
                    ident["issuer"] = lea
                child["identifiers"].append(ident)
            elif tag == "UPN":
                child["identifiers"].append({"system": IdentifierSystem.UPN.value, "value": text})
            elif tag == "FormerUPN":
                child["identifiers"].append(
                    {"system": IdentifierSystem.FORMER_UPN.value, "value": text}
                )
            elif tag == "UPNunknown":
                child["upn_unknown_reason"] = self.code(text, item, tag, ids, UPN_UNKNOWN)
            elif tag == "PersonBirthDate":
                child["birth_date"] = self.date(text, item, tag, ids)
            elif tag == "ExpectedPersonBirthDate":
                child["expected_birth_date"] = self.date(text, item, tag, ids)
            elif tag in ("Sex", "GenderCurrent"):
                child["sex"] = self.code(text, item, tag, ids, SEXES, SEX_ALIASES)
            elif tag == "PersonDeathDate":
                child["death_date"] = self.date(text, item, tag, ids)
            elif isinstance(tag, str):
                self.keep_unknown(item, "/ChildIdentifiers")
        return key

    def characteristics(self, elem: Any, child: dict[str, Any]) -> None:
        seen: set[str] = set()
        for item in elem:
            tag = item.tag
            if tag in _SINGLE["ChildCharacteristics"]:
                if tag in seen:
                    self.repeated(item, "ChildCharacteristics")
                    continue
                seen.add(tag)
            if tag == "Ethnicity":
                child["ethnicity"] = self.code(
                    _text(item), item, tag, "/ChildCharacteristics", ETHNICITIES, dfe_rule="4220"
                )
            elif tag == "Disabilities":
                for d in item:
                    if d.tag == "Disability" and _text(d):
                        code = self.code(
                            _text(d),
                            d,
                            "Disability",
                            "/ChildCharacteristics/Disabilities",
                            DISABILITIES,
                        )
                        if code:
                            child["disabilities"].append(code)
                    elif isinstance(d.tag, str):
                        self.keep_unknown(d, "/ChildCharacteristics/Disabilities")
            elif isinstance(tag, str):
                self.keep_unknown(item, "/ChildCharacteristics")

    def episode(self, elem: Any, n: int) -> dict[str, Any]:
        v = self.values
        path = f"/CINdetails[{n}]"
        episode: dict[str, Any] = {
            "assessments": [],
            "cin_plans": [],
            "section47_enquiries": [],
            "conferences": [],
            "cp_plans": [],
        }
        seen: set[str] = set()
        for item in elem:
            tag, text = item.tag, _text(item)
            if tag in _SINGLE["CINdetails"]:
                if tag in seen:
                    self.repeated(item, "CINdetails")
                    continue
                seen.add(tag)
            if tag == "CINreferralDate":
                episode["referral_date"] = self.date(text, item, tag, path)
            elif tag == "ReferralSource":
                episode["referral_source"] = self.code(text, item, tag, path, SOURCES)
            elif tag == "PrimaryNeedCode":
                episode["primary_need"] = self.code(text, item, tag, path, NEEDS, dfe_rule="8650")
            elif tag == "CINclosureDate":
                episode["closure_date"] = self.date(text, item, tag, path)
            elif tag == "ReasonForClosure":
                episode["closure_reason"] = self.code(
                    text, item, tag, path, CLOSURES, dfe_rule="8640"
                )
            elif tag == "DateOfInitialCPC":
                date = self.date(text, item, tag, path)
                if date:
                    episode["conferences"].append({"type": "initial", "date": date})
            elif tag == "ReferralNFA":
                episode["referral_no_further_action"] = v.boolean(
                    text, tag, self.where(item, f"{path}/{tag}")
                )
            elif tag == "Assessments":
                episode["assessments"].append(self.assessment(item, f"{path}/Assessments"))
            elif tag == "CINPlanDates":
                episode["cin_plans"].append(
                    self.dates(
                        item,
                        f"{path}/CINPlanDates",
                        {"CINPlanStartDate": "start_date", "CINPlanEndDate": "end_date"},
                    )
                )
            elif tag == "Section47":
                episode["section47_enquiries"].append(self.section47(item, f"{path}/Section47"))
            elif tag == "ChildProtectionPlans":
                episode["cp_plans"].append(self.cp_plan(item, f"{path}/ChildProtectionPlans"))
            elif isinstance(tag, str):
                self.keep_unknown(item, path)
        return episode

    def dates(self, elem: Any, path: str, names: dict[str, str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for item in elem:
            name = names.get(item.tag) if isinstance(item.tag, str) else None
            if name and name in out:
                self.repeated(item, path.rsplit("/", 1)[-1])
            elif name:
                out[name] = self.date(_text(item), item, item.tag, path)
            elif isinstance(item.tag, str):
                self.keep_unknown(item, path)
        return out

    def assessment(self, elem: Any, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {"factors": []}
        names = {
            "AssessmentActualStartDate": "start_date",
            "AssessmentInternalReviewDate": "internal_review_date",
            "AssessmentAuthorisationDate": "authorisation_date",
        }
        seen: set[str] = set()
        for item in elem:
            tag = item.tag
            if tag in _SINGLE["Assessments"]:
                if tag in seen:
                    self.repeated(item, "Assessments")
                    continue
                seen.add(tag)
            if tag in names:
                out[names[tag]] = self.date(_text(item), item, tag, path)
            elif tag == "FactorsIdentifiedAtAssessment":
                for f in item:
                    if f.tag == "AssessmentFactors" and _text(f):
                        code = self.code(
                            _text(f), f, "AssessmentFactors", f"{path}/{tag}", ASSESSMENT_FACTORS
                        )
                        if code:
                            out["factors"].append(code)
                    elif isinstance(f.tag, str):
                        self.keep_unknown(f, f"{path}/{tag}")
            elif isinstance(tag, str):
                self.keep_unknown(item, path)
        return out

    def section47(self, elem: Any, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        names = {
            "S47ActualStartDate": "start_date",
            "InitialCPCtarget": "initial_conference_target_date",
            "DateOfInitialCPC": "initial_conference_date",
        }
        seen: set[str] = set()
        for item in elem:
            tag = item.tag
            if tag in _SINGLE["Section47"]:
                if tag in seen:
                    self.repeated(item, "Section47")
                    continue
                seen.add(tag)
            if tag in names:
                out[names[tag]] = self.date(_text(item), item, tag, path)
            elif tag == "ICPCnotRequired":
                out["initial_conference_not_required"] = self.values.boolean(
                    _text(item), tag, self.where(item, f"{path}/{tag}")
                )
            elif isinstance(tag, str):
                self.keep_unknown(item, path)
        return out

    def cp_plan(self, elem: Any, path: str) -> dict[str, Any]:
        v = self.values
        out: dict[str, Any] = {"review_dates": []}
        seen: set[str] = set()
        for item in elem:
            tag, text = item.tag, _text(item)
            if tag in _SINGLE["ChildProtectionPlans"]:
                if tag in seen:
                    self.repeated(item, "ChildProtectionPlans")
                    continue
                seen.add(tag)
            if tag == "CPPstartDate":
                out["start_date"] = self.date(text, item, tag, path)
            elif tag == "CPPendDate":
                out["end_date"] = self.date(text, item, tag, path)
            elif tag == "InitialCategoryOfAbuse":
                out["initial_category"] = self.code(
                    text, item, tag, path, CATEGORIES, dfe_rule="8905"
                )
            elif tag == "LatestCategoryOfAbuse":
                out["latest_category"] = self.code(
                    text, item, tag, path, CATEGORIES, dfe_rule="8910"
                )
            elif tag == "NumberOfPreviousCPP":
                out["number_of_previous_plans"] = v.integer(
                    text, tag, self.where(item, f"{path}/{tag}")
                )
            elif tag == "Reviews":
                for r in item:
                    if r.tag == "CPPreviewDate" and _text(r):
                        date = self.date(_text(r), r, "CPPreviewDate", f"{path}/Reviews")
                        if date:
                            out["review_dates"].append(date)
                    elif isinstance(r.tag, str):
                        self.keep_unknown(r, f"{path}/Reviews")
            elif isinstance(tag, str):
                self.keep_unknown(item, path)
        return out


class CINCensusAdapter(Adapter):
    """CIN census XML <-> canonical records."""

    name = "cin-census"
    title = "Children in Need census (XML)"
    formats = ("xml",)
    versions = FORMAT_VERSIONS
    writes = True

    def read(self, source: Source) -> Iterator[ReadResult]:
        file = source.single(self.name)
        seen_ids: set[str] = set()
        seen_upns: set[str] = set()
        header: dict[str, Any] = {}
        index = 0
        checked_prolog = False
        with file.open() as stream:
            parser = etree.iterparse(
                stream,
                events=("end",),
                tag=("Header", "Child"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                remove_comments=True,
                remove_pis=True,
                remove_blank_text=True,  # indentation: no Python strings for blank tails
            )
            try:
                for _event, elem in parser:
                    if not checked_prolog:
                        checked_prolog = True
                        self._refuse_dtd(elem, file.name)
                    if elem.tag == "Header":
                        header = self._header(elem, file.name)
                        continue
                    if elem.tag != "Child":
                        continue
                    index += 1
                    yield self._child(elem, index, file.name, header, seen_ids, seen_upns)
                    elem.clear(keep_tail=False)
                    parent = elem.getparent()
                    if parent is not None:
                        while elem.getprevious() is not None:
                            del parent[0]
            except etree.XMLSyntaxError as exc:
                with file.open() as head:
                    if b"<!DOCTYPE" in head.read(8192):
                        # e.g. libxml2 stopping an entity bomb: the DTD is the problem to name
                        raise fatal(
                            "xml-dtd-forbidden",
                            "The file declares a DTD (<!DOCTYPE ...>); entity declarations are refused.",
                            "Export the census without a DOCTYPE; the census format does not use one.",
                            SourceLocation(file=file.name, line=1),
                        ) from exc
                if file.size == 0:
                    raise fatal(
                        "file-empty",
                        "The file is empty (0 bytes).",
                        "Export the census again; the file was not written.",
                        SourceLocation(file=file.name),
                    ) from exc
                line, column = exc.position if exc.position else (None, None)
                raise fatal(
                    "xml-malformed",
                    f"The file is not well-formed XML: {exc.msg}.",
                    "Export the census again; the file is cut short or was edited by hand.",
                    SourceLocation(
                        file=file.name, line=line or None, column=str(column) if column else None
                    ),
                ) from exc
            root = getattr(parser, "root", None)
            if index == 0 and root is not None:
                self._refuse_dtd(root, file.name)
        if index == 0:
            raise fatal(
                "no-children",
                "The file has no Child elements.",
                "Check that the file is a CIN census return (Message/Children/Child).",
                SourceLocation(file=file.name),
            )

    @staticmethod
    def _refuse_dtd(elem: Any, name: str) -> None:
        docinfo = elem.getroottree().docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise fatal(
                "xml-dtd-forbidden",
                "The file declares a DTD (<!DOCTYPE ...>); entity declarations are refused.",
                "Export the census without a DOCTYPE; the census format does not use one.",
                SourceLocation(file=name, line=1),
            )

    def _header(self, elem: Any, name: str) -> dict[str, Any]:
        values: dict[str, str] = {}
        for item in elem.iter():
            if isinstance(item.tag, str) and len(item) == 0 and _text(item):
                values[item.tag] = _text(item)
        header: dict[str, Any] = {"values": values, "line": elem.sourceline, "file": name}
        # Read once; every record carries the same provenance and header leftovers.
        collector = Values([])
        header["provenance"] = self._provenance(values, collector, header)
        header["unmapped"] = collector.unmapped
        header["problems"] = collector.problems
        return header

    def _child(
        self,
        elem: Any,
        index: int,
        name: str,
        header: dict[str, Any],
        seen_ids: set[str],
        seen_upns: set[str],
    ) -> ReadResult:
        problems: list[Problem] = []
        hv: dict[str, str] = header.get("values", {})
        lea = hv.get("LEA")
        reader = _ChildReader(name, elem, index, problems)
        data, key = reader.read(lea)
        line, base = elem.sourceline, reader.base

        def location() -> SourceLocation:
            # Made only if a problem or a caller asks: most records need none.
            return SourceLocation(file=name, line=line, element=base)

        data["provenance"] = dict(header.get("provenance") or {"source_authority": "unknown"})
        data["unmapped"] = [*header.get("unmapped", ()), *reader.values.unmapped]
        if index == 1:
            problems.extend(header.get("problems", ()))
        if key is not None:
            if key in seen_ids:
                problems.append(
                    problem(
                        "la-child-id-duplicate",
                        f"LAchildID {key!r} appears more than once in the file.",
                        "Give each child one Child element; merge duplicated records in the source system.",
                        location(),
                        dfe_rule="8510",
                    )
                )
            seen_ids.add(key)
        for ident in data["child"]["identifiers"]:
            if ident["system"] == "upn":
                if ident["value"] in seen_upns:
                    problems.append(
                        problem(
                            "upn-duplicate",
                            f"UPN {ident['value']!r} belongs to more than one child in the file.",
                            "Check which child the UPN belongs to; a UPN identifies one pupil.",
                            location(),
                            dfe_rule="1520",
                        )
                    )
                seen_upns.add(ident["value"])
        if lea is None:
            problems.append(
                problem(
                    "source-authority-missing",
                    "The file has no Header/Source/LEA, so the sending authority is unknown.",
                    "Export the census with its header.",
                    location(),
                    severity=Severity.ERROR,
                )
            )
            data["provenance"]["source_authority"] = "unknown"
        return self.finish(data, key=key, location=location, problems=problems)

    @staticmethod
    def _provenance(hv: dict[str, str], values: Values, header: dict[str, Any]) -> dict[str, Any]:
        provenance: dict[str, Any] = {"source_authority": hv.get("LEA", "unknown")}
        if "SoftwareCode" in hv:
            provenance["source_system"] = hv["SoftwareCode"]
        if "Release" in hv:
            provenance["source_system_version"] = hv["Release"]
        if "Year" in hv:
            provenance["source_format_version"] = hv["Year"]
        if "SerialNo" in hv:
            provenance["batch_id"] = hv["SerialNo"]
        where = SourceLocation(
            file=header.get("file"), line=header.get("line"), element="/Message/Header"
        )
        if "ReferenceDate" in hv:
            provenance["reference_date"] = values.date(hv["ReferenceDate"], "ReferenceDate", where)
        if "DateTime" in hv:
            try:
                provenance["extracted_at"] = dt.datetime.fromisoformat(hv["DateTime"])
            except ValueError:
                values.keep("DateTime", hv["DateTime"], where, "not a date and time")
        for known in ("Collection", "SourceLevel"):
            value = hv.get(known)
            if value and value not in ("CIN", "L"):
                values.keep(known, value, where, "unexpected header value")
        for other, value in hv.items():
            if other not in {
                "LEA",
                "SoftwareCode",
                "Release",
                "Year",
                "SerialNo",
                "ReferenceDate",
                "DateTime",
                "Collection",
                "SourceLevel",
            }:
                values.keep(other, value, where, "header element not in the CIN census")
        return provenance

    # -- writing ------------------------------------------------------------------------------

    def write(self, records: Iterable[ChildRecord], out: IO[bytes]) -> list[Problem]:
        """Write a 2025-26 shape CIN census return; the first record's provenance fills the header."""
        problems: list[Problem] = []
        iterator = iter(records)
        first = next(iterator, None)
        with etree.xmlfile(out, encoding="utf-8") as xf:
            xf.write_declaration()
            with xf.element("Message"):
                if first is not None:
                    xf.write(self._header_element(first))
                with xf.element("Children"):
                    for n, record in enumerate(_chain(first, iterator), 1):
                        missing = _missing_for_census(record)
                        if missing:
                            problems.append(
                                problem(
                                    "census-fields-missing",
                                    f"Record {n} cannot be written as a census Child: no {', '.join(missing)}.",
                                    "Complete the record; the census requires these.",
                                    SourceLocation(element=f"record {n}"),
                                )
                            )
                            continue
                        xf.write(self._child_element(record))
        return problems

    def _header_element(self, record: ChildRecord) -> Any:
        p = record.provenance
        header = etree.Element("Header")
        details = etree.SubElement(header, "CollectionDetails")
        _sub(details, "Collection", "CIN")
        _sub(
            details,
            "Year",
            p.source_format_version
            if p.source_format_version and p.source_format_version.isdigit()
            else None,
        )
        _sub(details, "ReferenceDate", p.reference_date)
        source = etree.SubElement(header, "Source")
        _sub(source, "SourceLevel", "L")
        _sub(source, "LEA", _dfe_code(p.source_authority))
        _sub(source, "SoftwareCode", p.source_system)
        _sub(source, "Release", p.source_system_version)
        _sub(
            source,
            "SerialNo",
            p.batch_id if p.batch_id and p.batch_id.isdigit() and len(p.batch_id) >= 3 else None,
        )
        _sub(
            source,
            "DateTime",
            p.extracted_at.replace(tzinfo=None).isoformat(timespec="seconds")
            if p.extracted_at
            else None,
        )
        return header

    def _child_element(self, record: ChildRecord) -> Any:
        c = record.child
        child = etree.Element("Child")
        ids = etree.SubElement(child, "ChildIdentifiers")

        def ident(system: str) -> str | None:
            return next((i.value for i in c.identifiers if i.system == system), None)

        _sub(ids, "LAchildID", ident("la_child_id"))
        _sub(ids, "UPN", ident("upn"))
        _sub(ids, "FormerUPN", ident("former_upn"))
        _sub(ids, "UPNunknown", c.upn_unknown_reason)
        _sub(ids, "PersonBirthDate", c.birth_date)
        _sub(ids, "ExpectedPersonBirthDate", c.expected_birth_date)
        _sub(ids, "Sex", c.sex)
        _sub(ids, "PersonDeathDate", c.death_date)
        chars = etree.SubElement(child, "ChildCharacteristics")
        _sub(chars, "Ethnicity", c.ethnicity)
        if c.disabilities:
            disabilities = etree.SubElement(chars, "Disabilities")
            for d in c.disabilities:
                _sub(disabilities, "Disability", d)
        for ep in record.episodes:
            details = etree.SubElement(child, "CINdetails")
            _sub(details, "CINreferralDate", ep.referral_date)
            _sub(details, "ReferralSource", ep.referral_source)
            _sub(details, "PrimaryNeedCode", ep.primary_need)
            _sub(details, "CINclosureDate", ep.closure_date)
            _sub(details, "ReasonForClosure", ep.closure_reason)
            initial = next(
                (cf.date for cf in ep.conferences if cf.type == "initial" and cf.date), None
            )
            _sub(details, "DateOfInitialCPC", initial)
            for a in ep.assessments:
                el = etree.SubElement(details, "Assessments")
                _sub(el, "AssessmentActualStartDate", a.start_date)
                _sub(el, "AssessmentInternalReviewDate", a.internal_review_date)
                _sub(el, "AssessmentAuthorisationDate", a.authorisation_date)
                if a.factors:
                    factors = etree.SubElement(el, "FactorsIdentifiedAtAssessment")
                    for f in a.factors:
                        _sub(factors, "AssessmentFactors", f)
            for plan in ep.cin_plans:
                el = etree.SubElement(details, "CINPlanDates")
                _sub(el, "CINPlanStartDate", plan.start_date)
                _sub(el, "CINPlanEndDate", plan.end_date)
            for s47 in ep.section47_enquiries:
                el = etree.SubElement(details, "Section47")
                _sub(el, "S47ActualStartDate", s47.start_date)
                _sub(el, "InitialCPCtarget", s47.initial_conference_target_date)
                _sub(el, "DateOfInitialCPC", s47.initial_conference_date)
                _sub(el, "ICPCnotRequired", _yes_no(s47.initial_conference_not_required or False))
            _sub(details, "ReferralNFA", _yes_no(ep.referral_no_further_action or False))
            for cp in ep.cp_plans:
                el = etree.SubElement(details, "ChildProtectionPlans")
                _sub(el, "CPPstartDate", cp.start_date)
                _sub(el, "CPPendDate", cp.end_date)
                _sub(el, "InitialCategoryOfAbuse", cp.initial_category)
                _sub(el, "LatestCategoryOfAbuse", cp.latest_category)
                _sub(
                    el,
                    "NumberOfPreviousCPP",
                    cp.number_of_previous_plans if cp.number_of_previous_plans is not None else 0,
                )
                if cp.review_dates:
                    reviews = etree.SubElement(el, "Reviews")
                    for r in cp.review_dates:
                        _sub(reviews, "CPPreviewDate", r)
        return child


def _yes_no(value: bool) -> str:
    return "1" if value else "0"  # the XSD's yesnotype takes 0 and 1 only


def _sub(parent: Any, tag: str, value: object) -> None:
    if value is None or value == "":
        return
    etree.SubElement(parent, tag).text = (
        value.isoformat() if isinstance(value, dt.date) else str(value)
    )


def _chain(first: ChildRecord | None, rest: Iterator[ChildRecord]) -> Iterator[ChildRecord]:
    if first is not None:
        yield first
    yield from rest


def _dfe_code(code: str) -> str | None:
    if code.isdigit() and len(code) == 3:
        return code
    from exchange.authorities import load_registry

    authority = load_registry().get(code)
    return authority.dfe_code if authority else None


def _missing_for_census(record: ChildRecord) -> list[str]:
    missing = []
    c = record.child
    if not any(i.system == "la_child_id" for i in c.identifiers):
        missing.append("LA child id")
    if c.sex is None:
        missing.append("sex")
    if c.ethnicity is None:
        missing.append("ethnicity")
    if not record.episodes:
        missing.append("social care episode")
    for ep in record.episodes:
        if ep.referral_date is None or ep.referral_source is None:
            missing.append("referral date and source")
        if any(a.start_date is None for a in ep.assessments):
            missing.append("assessment start date")
        if any(p.start_date is None for p in ep.cin_plans):
            missing.append("CIN plan start date")
        if any(s.start_date is None for s in ep.section47_enquiries):
            missing.append("Section 47 start date")
        for cp in ep.cp_plans:
            if cp.start_date is None or cp.initial_category is None or cp.latest_category is None:
                missing.append("CP plan start date and categories")
    return sorted(set(missing))

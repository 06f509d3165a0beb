"""Rules that make a record wrong (error) or doubtful (warning), each with a stable code.

Where a DfE validation rule says the same thing, its number travels with the problem
(``dfe_rule``) so an authority can match it to its census report. Rules about several records
at once (duplicate LA child ids or UPNs) belong to the adapters that read a whole return.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import combinations

from exchange.canonical.codes import ASSESSMENT_FACTORS, IdentifierSystem
from exchange.canonical.identifiers import (
    UPNProblem,
    nhs_number_problem,
    normalise_partial_postcode,
    normalise_postcode,
    upn_problems,
)
from exchange.canonical.model import Address, ChildProtectionPlan, ChildRecord, Identifier
from exchange.canonical.problems import Problem, Severity, pointer


@dataclass(frozen=True, slots=True)
class RuleContext:
    """What the rules may know beyond the record: the authorities and today's date."""

    today: dt.date = field(default_factory=dt.date.today)
    is_known_authority: Callable[[str], bool] | None = None
    known_dfe_codes: frozenset[str] | None = None


Check = Callable[["ChildRecord", "RuleContext"], Iterable[tuple[str, str]]]
FamilyCheck = Callable[["ChildRecord", "RuleContext"], Iterable[tuple[str, str, str]]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule's stable code, severity, DfE number and the sentence that says how to fix it."""

    code: str
    severity: Severity
    title: str
    fix: str
    dfe_rule: str | None
    check: Check | None = None


RULES: dict[str, Rule] = {}
FAMILIES: list[FamilyCheck] = []
ERROR, WARNING = Severity.ERROR, Severity.WARNING


def define(
    code: str, severity: Severity, title: str, fix: str, dfe_rule: str | None = None
) -> None:
    """Declare a rule whose breaches a family check reports."""
    if code in RULES:
        raise ValueError(f"rule {code} registered twice")
    RULES[code] = Rule(code, severity, title, fix, dfe_rule)


def rule(
    code: str, severity: Severity, title: str, fix: str, dfe_rule: str | None = None
) -> Callable[[Check], Check]:
    """Register a check that yields (JSON pointer, message) pairs for each breach."""

    def register(check: Check) -> Check:
        define(code, severity, title, fix, dfe_rule)
        RULES[code] = Rule(code, severity, title, fix, dfe_rule, check)
        return check

    return register


def family(check: FamilyCheck) -> FamilyCheck:
    """Register one pass that checks several declared rules, yielding (code, pointer, message)."""
    FAMILIES.append(check)
    return check


def _problem(rule_: Rule, where: str, message: str) -> Problem:
    return Problem(
        code=rule_.code,
        severity=rule_.severity,
        message=message,
        fix=rule_.fix,
        pointer=where,
        dfe_rule=rule_.dfe_rule,
    )


_ABOUT_PEOPLE = frozenset(
    {"person-reference-unknown", "person-id-duplicate", "address-exclusion-not-confidential"}
)
_ABOUT_POSTCODES = frozenset({"postcode-invalid", "postcode-partial"})


def _nothing_to_check(record: ChildRecord) -> frozenset[str]:
    """Rules with nothing to look at in this record (statutory returns carry no people)."""
    if record.related_people or record.alerts or record.child.addresses:
        return frozenset()
    if any(ep.looked_after_episodes for ep in record.episodes):
        return _ABOUT_PEOPLE
    return _ABOUT_PEOPLE | _ABOUT_POSTCODES


def check_record(record: ChildRecord, context: RuleContext | None = None) -> list[Problem]:
    """Every breach of every rule in one record, errors first."""
    ctx = context or RuleContext()
    skip = _nothing_to_check(record)
    problems = [
        _problem(r, where, message)
        for r in RULES.values()
        if r.check is not None and r.code not in skip
        for where, message in r.check(record, ctx)
    ]
    for check in FAMILIES:
        problems.extend(
            _problem(RULES[code], where, message) for code, where, message in check(record, ctx)
        )
    problems.sort(key=lambda p: p.severity != Severity.ERROR)
    return problems


# --- identifiers ----------------------------------------------------------------------------


def _identifiers(record: ChildRecord) -> Iterator[tuple[tuple[str | int, ...], Identifier]]:
    for i, ident in enumerate(record.child.identifiers):
        yield ("child", "identifiers", i, "value"), ident
    for p, person in enumerate(record.related_people):
        for i, ident in enumerate(person.identifiers):
            yield ("related_people", p, "identifiers", i, "value"), ident


@functools.lru_cache(maxsize=8192)
def _upn_problems(value: str, known: frozenset[str] | None) -> tuple[UPNProblem, ...]:
    # five rules look at the same UPN; the check is computed once
    return tuple(upn_problems(value, known_la_code=known))


define(
    "nhs-number-invalid",
    ERROR,
    "NHS number is not valid",
    "Check the NHS number against the source system; a mistyped digit fails the check digit.",
)


_UPN_RULES = {
    "1500": "upn-length",
    "1510": "upn-check-letter",
    "1530": "upn-la-code",
    "1540": "upn-not-numeric",
    "1550": "upn-last-character",
}
for _dfe, _code in _UPN_RULES.items():
    define(
        _code,
        ERROR,
        "UPN is not valid",
        "Take the UPN from the school census record; if none is known, leave it out and give "
        "child.upn_unknown_reason.",
        None if _dfe == "1500" else _dfe,
    )


@family
def _upns(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    for where, ident in _identifiers(record):
        if ident.system in (IdentifierSystem.UPN, IdentifierSystem.FORMER_UPN):
            label = "Former UPN" if ident.system == IdentifierSystem.FORMER_UPN else "UPN"
            for found in _upn_problems(ident.value, ctx.known_dfe_codes):
                yield (
                    _UPN_RULES[found.dfe_rule],
                    pointer(*where),
                    f"{label} {ident.value!r} is not valid: {found.message}.",
                )


_LA_CHILD_ID = re.compile(r"^[A-Za-z0-9]{1,20}$")


define(
    "la-child-id-missing",
    ERROR,
    "No LA child id",
    "Add the sending authority's own id for the child as an identifier with system la_child_id.",
    "8500",
)


define(
    "la-child-id-format",
    ERROR,
    "LA child id too long or not alphanumeric",
    "Use the id as the census return gives it: at most 20 letters and digits.",
    "1570",
)


@rule(
    "source-authority-unknown",
    ERROR,
    "Sending authority is not known",
    "Give the sending authority's DfE 3-digit code (e.g. 202) or GSS code (e.g. E09000007).",
)
def _source_authority(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    code = record.provenance.source_authority
    if ctx.is_known_authority is not None and not ctx.is_known_authority(code):
        yield (
            pointer("provenance", "source_authority"),
            f"{code!r} is not the code of an English children's services authority.",
        )


# --- addresses ------------------------------------------------------------------------------


def _postcodes(record: ChildRecord) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for path, address in _addresses(record):
        if address.postcode:
            yield (*path, "postcode"), address.postcode
    for e, ep in enumerate(record.episodes):
        for i, la in enumerate(ep.looked_after_episodes):
            path = ("episodes", e, "looked_after_episodes", i)
            if la.home_postcode:
                yield (*path, "home_postcode"), la.home_postcode
            if la.placement and la.placement.postcode:
                yield (*path, "placement", "postcode"), la.placement.postcode


def _addresses(record: ChildRecord) -> Iterator[tuple[tuple[str | int, ...], Address]]:
    for i, address in enumerate(record.child.addresses):
        yield ("child", "addresses", i), address
    for p, person in enumerate(record.related_people):
        for i, address in enumerate(person.addresses):
            yield ("related_people", p, "addresses", i), address


@rule(
    "postcode-invalid",
    WARNING,
    "Postcode is not a UK postcode",
    "Correct the postcode, or leave it out and keep the address lines.",
)
def _postcode_invalid(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, pc in _postcodes(record):
        if not normalise_postcode(pc) and not normalise_partial_postcode(pc):
            yield pointer(*path), f"{pc!r} is not a UK postcode."


@rule(
    "postcode-partial",
    WARNING,
    "Postcode is incomplete",
    "Give the full postcode if the source system holds it.",
)
def _postcode_partial(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, pc in _postcodes(record):
        if not normalise_postcode(pc) and normalise_partial_postcode(pc):
            yield pointer(*path), f"{pc!r} is only part of a postcode."


@rule(
    "person-reference-unknown",
    ERROR,
    "Refers to a related person who is not in the record",
    "Use the id of one of related_people, or add that person; a safety flag must name someone.",
)
def _person_references(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    known = {person.id for person in record.related_people}
    refs: list[tuple[tuple[str | int, ...], list[str]]] = []
    for i, alert in enumerate(record.alerts):
        refs.append((("alerts", i, "related_person_ids"), alert.related_person_ids))
        refs.append((("alerts", i, "not_to_be_disclosed_to"), alert.not_to_be_disclosed_to))
    for p, person in enumerate(record.related_people):
        for i, alert in enumerate(person.alerts):
            at: tuple[str | int, ...] = ("related_people", p, "alerts", i)
            refs.append(((*at, "related_person_ids"), alert.related_person_ids))
            refs.append(((*at, "not_to_be_disclosed_to"), alert.not_to_be_disclosed_to))
    for path, address in _addresses(record):
        refs.append(((*path, "not_to_be_disclosed_to"), address.not_to_be_disclosed_to))
    for path, ids in refs:
        for j, ref in enumerate(ids):
            if ref not in known:
                yield pointer(*path, j), f"No related person has id {ref!r}."


@rule(
    "person-id-duplicate",
    ERROR,
    "Two related people share an id",
    "Give each related person an id of their own.",
)
def _person_ids(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    seen: set[str] = set()
    for i, person in enumerate(record.related_people):
        if person.id in seen:
            yield pointer("related_people", i, "id"), f"Id {person.id!r} is used twice."
        seen.add(person.id)


@rule(
    "address-exclusion-not-confidential",
    WARNING,
    "An address is withheld from someone but not marked confidential",
    "Set confidential to true; the exchange treats the address as confidential meanwhile.",
)
def _exclusion_flag(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, address in _addresses(record):
        if address.not_to_be_disclosed_to and not address.confidential:
            yield pointer(*path, "confidential"), "The address names people who must not see it."


# --- dates of the child ---------------------------------------------------------------------


define(
    "birth-date-or-expected",
    WARNING,
    "Exactly one of birth date and expected birth date",
    "Give the birth date, or for an unborn child only the expected birth date.",
    "8525Q",
)


define(
    "birth-date-in-future",
    ERROR,
    "Birth date is in the future",
    "Correct the birth date; for an unborn child give expected_birth_date instead.",
    "8520",
)


define(
    "death-before-birth",
    ERROR,
    "Death date before birth date",
    "Correct whichever of the two dates is wrong.",
)


define(
    "referral-before-birth",
    WARNING,
    "Referral before the child's birth",
    "Check the dates; a pre-birth referral is right only for a child referred while unborn.",
)


define(
    "closure-before-referral",
    ERROR,
    "Episode closes before its referral",
    "Correct the referral or the closure date.",
    "8620",
)


define(
    "closure-reason-missing",
    ERROR,
    "Closed episode without a reason, or a reason without a closure date",
    "Give both closure_date and closure_reason (RC1-RC9), or neither for an open episode.",
    "8640",
)


define(
    "primary-need-missing",
    ERROR,
    "Episode has no primary need code",
    "Give the primary need code (N0-N9) recorded at referral.",
    "8650",
)


define(
    "assessment-factor-unknown",
    ERROR,
    "Assessment factor is not a DfE code",
    "Use the DfE factor codes (1A-24A, 18B/18C/19B/19C); keep free text in the chronology.",
)


define(
    "assessment-factor-21-not-alone",
    ERROR,
    "Factor 21 (no factors) given with other factors",
    "Remove 21, or remove the other factors.",
)


# --- periods --------------------------------------------------------------------------------


def _periods(
    record: ChildRecord,
) -> Iterator[tuple[tuple[str | int, ...], dt.date | None, dt.date | None]]:
    for path, address in _addresses(record):
        yield path, address.start_date, address.end_date
    for i, alert in enumerate(record.alerts):
        yield ("alerts", i), alert.start_date, alert.end_date
    for i, missing in enumerate(record.missing_episodes):
        yield ("missing_episodes", i), missing.start_date, missing.end_date
    for i, prof in enumerate(record.professionals):
        yield ("professionals", i), prof.start_date, prof.end_date
    for e, ep in enumerate(record.episodes):
        for i, plan in enumerate(ep.cin_plans):
            yield ("episodes", e, "cin_plans", i), plan.start_date, plan.end_date
        for i, s47 in enumerate(ep.section47_enquiries):
            yield ("episodes", e, "section47_enquiries", i), s47.start_date, s47.end_date
        for i, la in enumerate(ep.looked_after_episodes):
            yield ("episodes", e, "looked_after_episodes", i), la.start_date, la.end_date
            if la.placement:
                p = la.placement
                path = ("episodes", e, "looked_after_episodes", i, "placement")
                yield path, p.start_date, p.end_date


@rule(
    "period-ends-before-start",
    ERROR,
    "Ends before it starts",
    "Correct the start or the end date.",
)
def _period_order(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    for path, start, end in _periods(record):
        if start and end and end < start:
            yield pointer(*path, "end_date"), f"Ends {end}, before it starts {start}."


# --- child protection plans -----------------------------------------------------------------


def _cp_plans(record: ChildRecord) -> Iterator[tuple[tuple[str | int, ...], ChildProtectionPlan]]:
    for e, ep in enumerate(record.episodes):
        for i, plan in enumerate(ep.cp_plans):
            yield ("episodes", e, "cp_plans", i), plan


define(
    "cp-plan-start-missing",
    ERROR,
    "Child protection plan without a start date",
    "Give the date the plan started (the initial or transfer-in conference's date).",
    "8720",
)
define(
    "cp-plan-ends-before-start",
    ERROR,
    "Child protection plan ends before it starts",
    "Correct the plan's start or end date.",
    "8925",
)
define(
    "cp-plan-same-day",
    ERROR,
    "Child protection plan starts and ends on the same day",
    "Check the end date; a plan that never ran should not be recorded.",
    "8840",
)
define(
    "cp-plan-initial-category-missing",
    ERROR,
    "Child protection plan without an initial category of abuse",
    "Give the initial category (NEG, PHY, SAB, EMO or MUL).",
    "8905",
)
define(
    "cp-plan-latest-category-missing",
    ERROR,
    "Child protection plan without a latest category of abuse",
    "Give the latest category (NEG, PHY, SAB, EMO or MUL); it may equal the initial one.",
    "8910",
)


@family
def _cp_plan_each(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    for path, plan in _cp_plans(record):
        start, end = plan.start_date, plan.end_date
        if start is None:
            yield (
                "cp-plan-start-missing",
                pointer(*path, "start_date"),
                "The plan has no start date.",
            )
        elif end is not None and end < start:
            yield (
                "cp-plan-ends-before-start",
                pointer(*path, "end_date"),
                f"Plan ends {end}, before it starts {start}.",
            )
        elif end == start:
            yield (
                "cp-plan-same-day",
                pointer(*path, "end_date"),
                f"Plan starts and ends on {start}.",
            )
        if plan.initial_category is None:
            yield (
                "cp-plan-initial-category-missing",
                pointer(*path, "initial_category"),
                "The plan has no initial category.",
            )
        if plan.latest_category is None:
            yield (
                "cp-plan-latest-category-missing",
                pointer(*path, "latest_category"),
                "The plan has no latest category.",
            )


@rule(
    "cp-plans-open-several",
    ERROR,
    "More than one open child protection plan",
    "Give an end date to every plan but the current one.",
    "8935",
)
def _cp_open(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    open_plans = [
        (path, p)
        for path, p in _cp_plans(record)
        if p.end_date is None and not p.other_local_authority
    ]
    for path, _plan in open_plans[1:]:
        yield (
            pointer(*path, "end_date"),
            f"{len(open_plans)} plans are open; a child has at most one.",
        )


@rule(
    "cp-plans-overlap",
    ERROR,
    "Child protection plans overlap",
    "Correct the dates so that each plan ends before the next starts.",
    "8940",
)
def _cp_overlap(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str]]:
    plans = [
        (path, p) for path, p in _cp_plans(record) if p.start_date and not p.other_local_authority
    ]
    for (path_a, a), (path_b, b) in combinations(plans, 2):
        if a.end_date is None and b.end_date is None:
            continue  # reported as several open plans
        a_start, b_start = a.start_date or dt.date.min, b.start_date or dt.date.min
        a_end, b_end = a.end_date or dt.date.max, b.end_date or dt.date.max
        if a_start < b_end and b_start < a_end:
            later = path_b if b_start >= a_start else path_a
            yield pointer(*later, "start_date"), "This plan overlaps another plan."


# --- one pass over the child and one over each episode --------------------------------------
# The simple per-field rules above are checked together: a pass per rule costs more than the
# checks themselves, and adapters run these on every record of large exports.

_LA_CHILD_ID_PATTERN = _LA_CHILD_ID


@family
def _child_rules(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    child = record.child
    has_la_child_id = False
    for i, ident in enumerate(child.identifiers):
        if ident.system == IdentifierSystem.LA_CHILD_ID:
            has_la_child_id = True
            if not _LA_CHILD_ID_PATTERN.match(ident.value):
                yield (
                    "la-child-id-format",
                    pointer("child", "identifiers", i, "value"),
                    f"LA child id {ident.value!r} is not 1-20 letters and digits.",
                )
    if not has_la_child_id:
        yield (
            "la-child-id-missing",
            pointer("child", "identifiers"),
            "The child has no LA child id.",
        )
    for where, ident in _identifiers(record):
        if ident.system == IdentifierSystem.NHS_NUMBER:
            why = nhs_number_problem(ident.value)
            if why:
                yield (
                    "nhs-number-invalid",
                    pointer(*where),
                    f"NHS number {ident.value!r} is not valid: {why}.",
                )
    born, expected, died = child.birth_date, child.expected_birth_date, child.death_date
    if born and expected:
        yield (
            "birth-date-or-expected",
            pointer("child", "expected_birth_date"),
            "Both a birth date and an expected one.",
        )
    elif not born and not expected:
        yield (
            "birth-date-or-expected",
            pointer("child", "birth_date"),
            "Neither a birth date nor an expected birth date.",
        )
    if born and born > ctx.today:
        yield (
            "birth-date-in-future",
            pointer("child", "birth_date"),
            f"Birth date {born} is after today ({ctx.today}).",
        )
    if born and died and died < born:
        yield (
            "death-before-birth",
            pointer("child", "death_date"),
            f"Death date {died} is before birth date {born}.",
        )


@family
def _episode_rules(record: ChildRecord, ctx: RuleContext) -> Iterator[tuple[str, str, str]]:
    born = record.child.birth_date
    for i, ep in enumerate(record.episodes):
        referral, closure = ep.referral_date, ep.closure_date
        if born and referral and referral < born:
            yield (
                "referral-before-birth",
                pointer("episodes", i, "referral_date"),
                f"Referral {referral} is before birth {born}.",
            )
        if referral and closure and closure < referral:
            yield (
                "closure-before-referral",
                pointer("episodes", i, "closure_date"),
                f"Closure {closure} is before referral {referral}.",
            )
        if closure and not ep.closure_reason:
            yield (
                "closure-reason-missing",
                pointer("episodes", i, "closure_reason"),
                "Closed but no reason given.",
            )
        elif ep.closure_reason and not closure:
            yield (
                "closure-reason-missing",
                pointer("episodes", i, "closure_date"),
                "A closure reason but no closure date.",
            )
        if referral and not ep.primary_need:
            yield (
                "primary-need-missing",
                pointer("episodes", i, "primary_need"),
                "The episode has no primary need.",
            )
        for a, assessment in enumerate(ep.assessments):
            factors = assessment.factors
            for f, factor in enumerate(factors):
                if factor not in ASSESSMENT_FACTORS:
                    yield (
                        "assessment-factor-unknown",
                        pointer("episodes", i, "assessments", a, "factors", f),
                        f"{factor!r} is not an assessment factor code.",
                    )
            if "21" in factors and len(factors) > 1:
                yield (
                    "assessment-factor-21-not-alone",
                    pointer("episodes", i, "assessments", a, "factors"),
                    "Factor 21 means no factors but others are listed.",
                )

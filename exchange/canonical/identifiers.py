"""Identifier checks: NHS number, UPN, postcode and local authority codes.

NHS number and UPN check characters come from python-stdnum (``stdnum.gb.nhs``,
``stdnum.gb.upn``), a maintained library of standard-number algorithms. The UPN's LA code is
checked against the exchange's own authority registry rather than stdnum's fixed list, which
lacks the authorities created since 2019. Postcodes follow the format in the Royal Mail /
BS 7666 pattern; no maintained library covers normalisation of partial postcodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stdnum.gb import nhs as _nhs
from stdnum.gb import upn as _upn

_NON_ALNUM = re.compile(r"[\s\-]")


def _digits(text: str) -> bool:
    """Only the ASCII digits 0-9 (str.isdigit also accepts other scripts' digits)."""
    return text.isascii() and text.isdigit()


UPN_ALPHABET = "ABCDEFGHJKLMNPQRTUVWXYZ"


def compact(value: str) -> str:
    """Remove spaces and hyphens and upper-case an identifier as typed."""
    return _NON_ALNUM.sub("", value).upper()


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The NHS number check digit for nine digits, or None where no valid digit exists (10)."""
    for digit in range(10):
        if _nhs.checksum(first_nine + str(digit)) == 0:
            return digit
    return None


def is_valid_nhs_number(value: str) -> bool:
    """True for ten digits whose last is the modulus 11 check digit of the first nine."""
    number = compact(value)
    return len(number) == 10 and _digits(number) and bool(_nhs.is_valid(number))


def nhs_number_problem(value: str) -> str | None:
    """Why an NHS number is not valid (a sentence), or None when it is."""
    number = compact(value)
    if len(number) != 10 or not _digits(number):
        return "an NHS number is 10 digits"
    if not _nhs.is_valid(number):
        return "the last digit is not the modulus 11 check digit of the first nine"
    return None


@dataclass(frozen=True, slots=True)
class UPNProblem:
    """One reason a UPN is wrong, with the DfE rule it breaks."""

    dfe_rule: str
    message: str


def upn_check_letter(upn_after_first: str) -> str:
    """The check letter for the 12 characters after it (modulus 23 weighted sum)."""
    return str(_upn.calc_check_digit(upn_after_first))


def upn_problems(value: str, *, known_la_code: frozenset[str] | None = None) -> list[UPNProblem]:
    """Everything wrong with a UPN, as DfE rules 1510-1550 describe; empty when valid."""
    upn = compact(value)
    if len(upn) != 13:
        return [UPNProblem("1500", f"a UPN is 13 characters; this one has {len(upn)}")]
    problems: list[UPNProblem] = []
    if known_la_code is not None and _digits(upn[1:4]) and upn[1:4] not in known_la_code:
        problems.append(
            UPNProblem("1530", f"characters 2-4 ({upn[1:4]}) are not a local authority code")
        )
    if not _digits(upn[1:4]):
        problems.append(UPNProblem("1530", "characters 2-4 must be a 3-digit LA code"))
    if not _digits(upn[4:12]):
        problems.append(UPNProblem("1540", "characters 5-12 must be digits"))
    if not (_digits(upn[12]) or upn[12] in UPN_ALPHABET):
        problems.append(
            UPNProblem("1550", "character 13 must be a digit or a letter other than I, O and S")
        )
    well_formed = _digits(upn[1:12]) and (_digits(upn[12]) or upn[12] in UPN_ALPHABET)
    if well_formed and upn[0] != upn_check_letter(upn[1:]):
        problems.append(
            UPNProblem(
                "1510", f"the check letter should be {upn_check_letter(upn[1:])}, not {upn[0]}"
            )
        )
    return problems


def is_temporary_upn(value: str) -> bool:
    """A temporary UPN ends in a letter."""
    upn = compact(value)
    return len(upn) == 13 and upn[12] in UPN_ALPHABET


# The UK postcode format: outward code (area, district) and inward code (sector, unit).
_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2})$", re.ASCII)
_OUTWARD = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")
_PARTIAL = re.compile(r"^([A-Z]{1,2}[0-9][0-9A-Z]?) ?([0-9][A-Z]?)?$")


def normalise_postcode(value: str) -> str | None:
    """A full postcode in upper case with one space before the inward code, or None."""
    text = re.sub(r"\s+", "", value).upper()
    if not _POSTCODE.match(text):
        return None
    return f"{text[:-3]} {text[-3:]}"


def normalise_partial_postcode(value: str) -> str | None:
    """A truncated postcode ("AA9 4", "AA9") normalised, or None when it is not even that."""
    text = " ".join(value.upper().split())
    match = _PARTIAL.match(text)
    if not match:
        return None
    outward, inward = match.group(1), match.group(2)
    if not _OUTWARD.match(outward):
        return None
    return f"{outward} {inward}" if inward else outward


_DFE_LA_CODE = re.compile(r"^[0-9]{3}$")
_GSS_LA_CODE = re.compile(r"^[ENSW][0-9]{8}$")


def looks_like_dfe_la_code(value: str) -> bool:
    """Three digits, the DfE's local authority code."""
    return bool(_DFE_LA_CODE.match(value.strip()))


def looks_like_gss_code(value: str) -> bool:
    """A letter and eight digits, an ONS GSS code (E06, E08, E09, E10 …)."""
    return bool(_GSS_LA_CODE.match(value.strip().upper()))

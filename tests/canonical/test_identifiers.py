"""Identifier checks: NHS number, UPN, postcodes and local authority codes.

Worked examples come from DOMAIN.md; the property tests compare the library with a reference
implementation of the published algorithms written here from the text of DOMAIN.md.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.authorities import load_registry
from exchange.canonical.identifiers import (
    UPN_ALPHABET,
    compact,
    is_temporary_upn,
    is_valid_nhs_number,
    looks_like_dfe_la_code,
    looks_like_gss_code,
    nhs_number_check_digit,
    nhs_number_problem,
    normalise_partial_postcode,
    normalise_postcode,
    upn_check_letter,
    upn_problems,
)

KNOWN_DFE_CODES = frozenset(a.dfe_code for a in load_registry() if a.dfe_code)
FAST = settings(max_examples=100, deadline=None)


def reference_nhs_check_digit(first_nine: str) -> int | None:
    """DOMAIN.md: weights 10..2 on digits 1-9; check = 11 - (sum mod 11); 11 -> 0; 10 -> none."""
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    return {11: 0, 10: None}.get(check, check)


def reference_upn_check_letter(after_first: str) -> str:
    """DOMAIN.md: sum of (value of character n x n) for n = 2..13, mod 23, onto the alphabet.

    A digit is worth itself; a letter (temporary UPN, position 13) its place in the alphabet.
    """
    total = 0
    for position, char in enumerate(after_first, start=2):
        value = int(char) if char.isdigit() else UPN_ALPHABET.index(char)
        total += value * position
    return UPN_ALPHABET[total % 23]


def upn_codes(value: str, known: frozenset[str] | None = None) -> list[str]:
    return [p.dfe_rule for p in upn_problems(value, known_la_code=known)]


# --- NHS number -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["9434765919", "943 476 5919", "943-476-5919", " 9434765919 "])
def test_valid_nhs_number_as_people_type_it(value: str) -> None:
    assert is_valid_nhs_number(value)
    assert nhs_number_problem(value) is None


def test_nhs_number_with_the_last_digit_wrong_is_invalid() -> None:
    assert not is_valid_nhs_number("9434765918")
    assert nhs_number_problem("9434765918") == (
        "the last digit is not the modulus 11 check digit of the first nine"
    )


@pytest.mark.parametrize("value", ["943476591", "94347659190", "94347659A9", "", "NHS"])
def test_nhs_number_that_is_not_ten_digits(value: str) -> None:
    assert not is_valid_nhs_number(value)
    assert nhs_number_problem(value) == "an NHS number is 10 digits"


def test_nhs_check_digit_worked_example() -> None:
    assert nhs_number_check_digit("943476591") == 9


def test_nine_digits_whose_check_would_be_ten_have_no_valid_number() -> None:
    # 1x10 + 1x2 = 12; 12 mod 11 = 1; 11 - 1 = 10: no digit fits.
    assert reference_nhs_check_digit("100000001") is None
    assert nhs_number_check_digit("100000001") is None
    assert not any(is_valid_nhs_number(f"100000001{d}") for d in range(10))


def test_check_eleven_means_zero() -> None:
    # Sum 0 -> 11 - 0 = 11 -> check digit 0.
    assert nhs_number_check_digit("000000000") == 0
    assert is_valid_nhs_number("0000000000")


@FAST
@given(st.text(alphabet=string.digits, min_size=9, max_size=9))
def test_nhs_check_digit_matches_the_published_algorithm(first_nine: str) -> None:
    assert nhs_number_check_digit(first_nine) == reference_nhs_check_digit(first_nine)


@FAST
@given(
    st.text(alphabet=string.digits, min_size=9, max_size=9),
    st.integers(min_value=0, max_value=9),
    st.integers(min_value=1, max_value=9),
)
def test_any_single_digit_change_is_caught(first_nine: str, position: int, shift: int) -> None:
    check = nhs_number_check_digit(first_nine)
    if check is None:
        assert not any(is_valid_nhs_number(f"{first_nine}{d}") for d in range(10))
        return
    number = f"{first_nine}{check}"
    assert is_valid_nhs_number(number)
    changed = str((int(number[position]) + shift) % 10)
    typo = number[:position] + changed + number[position + 1 :]
    assert not is_valid_nhs_number(typo)
    assert nhs_number_problem(typo) is not None


# --- UPN ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("upn", "letter"), [("A000000000000", "A"), ("P123456789123", "P")])
def test_upn_worked_examples(upn: str, letter: str) -> None:
    assert upn_check_letter(upn[1:]) == letter
    assert reference_upn_check_letter(upn[1:]) == letter
    assert upn_problems(upn) == []


def test_upn_is_compacted_before_checking() -> None:
    assert compact(" p123-4567 89123 ") == "P123456789123"
    assert upn_problems("p123 4567 89123") == []


def test_wrong_check_letter_names_the_right_one() -> None:
    problems = upn_problems("B123456789123")
    assert [p.dfe_rule for p in problems] == ["1510"]
    assert "should be P, not B" in problems[0].message


def test_non_numeric_characters_5_to_12() -> None:
    problems = upn_problems("P1234567X9123")
    assert [p.dfe_rule for p in problems] == ["1540"]
    assert "5-12" in problems[0].message


@pytest.mark.parametrize("last", ["I", "O", "S", "!", "*"])
def test_invalid_last_character(last: str) -> None:
    assert upn_codes(f"P12345678912{last}") == ["1550"]


def test_la_code_not_known_when_known_codes_are_given() -> None:
    body = "999" + "12345678" + "1"
    upn = upn_check_letter(body) + body
    assert upn_codes(upn) == []  # without a list of codes, any 3 digits will do
    problems = upn_problems(upn, known_la_code=KNOWN_DFE_CODES)
    assert [p.dfe_rule for p in problems] == ["1530"]
    assert "999" in problems[0].message


def test_la_code_known() -> None:
    body = "202" + "41002012" + "3"
    assert upn_problems(upn_check_letter(body) + body, known_la_code=KNOWN_DFE_CODES) == []


def test_la_code_not_digits() -> None:
    assert "1530" in upn_codes("PABC456789123")


def test_wrong_length() -> None:
    assert upn_codes("P12345678912") == ["1500"]
    assert upn_codes("P1234567891234") == ["1500"]


def test_temporary_upn_ending_in_a_letter() -> None:
    body = "202" + "41002012" + "K"
    letter = upn_check_letter(body)
    assert letter == reference_upn_check_letter(body)
    upn = letter + body
    assert is_temporary_upn(upn)
    assert upn_problems(upn, known_la_code=KNOWN_DFE_CODES) == []
    wrong = next(c for c in UPN_ALPHABET if c != letter)
    assert upn_codes(wrong + body) == ["1510"]


def test_permanent_upn_is_not_temporary() -> None:
    assert not is_temporary_upn("P123456789123")


upn_bodies = st.builds(
    lambda la, digits, last: la + digits + last,
    st.text(alphabet=string.digits, min_size=3, max_size=3),
    st.text(alphabet=string.digits, min_size=8, max_size=8),
    st.sampled_from(string.digits + UPN_ALPHABET),
)


@FAST
@given(upn_bodies)
def test_computed_check_letter_validates(body: str) -> None:
    letter = upn_check_letter(body)
    assert letter == reference_upn_check_letter(body)
    assert upn_problems(letter + body) == []


@FAST
@given(upn_bodies, st.sampled_from(UPN_ALPHABET))
def test_any_other_check_letter_is_rule_1510(body: str, other: str) -> None:
    letter = upn_check_letter(body)
    if other == letter:
        other = UPN_ALPHABET[(UPN_ALPHABET.index(letter) + 1) % len(UPN_ALPHABET)]
    problems = upn_problems(other + body)
    assert [p.dfe_rule for p in problems] == ["1510"]
    assert f"should be {letter}, not {other}" in problems[0].message


# --- postcodes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("sw1a1aa", "SW1A 1AA"),
        (" ec1a  1bb ", "EC1A 1BB"),
        ("GIR0AA", "GIR 0AA"),
        ("m1 1ae", "M1 1AE"),
        ("B33 8TH", "B33 8TH"),
        ("cr2 6xh", "CR2 6XH"),
        ("DN551PT", "DN55 1PT"),
    ],
)
def test_full_postcodes_are_normalised(typed: str, stored: str) -> None:
    assert normalise_postcode(typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"), [("AA9 4", "AA9 4"), ("nw5", "NW5"), ("sw1a 1", "SW1A 1")]
)
def test_truncated_postcodes_are_partial(typed: str, stored: str) -> None:
    assert normalise_postcode(typed) is None
    assert normalise_partial_postcode(typed) == stored


@pytest.mark.parametrize("typed", ["NOTAPOSTCODE", "", "12345", "SW1A 1AAA", "1AA 1AA"])
def test_not_postcodes(typed: str) -> None:
    assert normalise_postcode(typed) is None
    assert normalise_partial_postcode(typed) is None


_letters = st.sampled_from(string.ascii_uppercase)
_digits = st.sampled_from(string.digits)
outward_codes = st.one_of(
    st.tuples(_letters, _digits),  # A9
    st.tuples(_letters, _digits, _digits),  # A99
    st.tuples(_letters, _letters, _digits),  # AA9
    st.tuples(_letters, _letters, _digits, _digits),  # AA99
    st.tuples(_letters, _digits, _letters),  # A9A
    st.tuples(_letters, _letters, _digits, _letters),  # AA9A
).map("".join)
inward_codes = st.tuples(_digits, _letters, _letters).map("".join)


@st.composite
def typed_postcodes(draw: st.DrawFn) -> tuple[str, str]:
    """A valid postcode as stored, and the same postcode as someone might type or export it."""
    outward, inward = draw(outward_codes), draw(inward_codes)
    stored = f"{outward} {inward}"
    typed = ""
    for char in outward + inward:
        typed += draw(st.sampled_from(["", " ", "  ", "\t"])) + draw(
            st.sampled_from([char, char.lower()])
        )
    return stored, typed + draw(st.sampled_from(["", " ", "\n"]))


@FAST
@given(typed_postcodes())
def test_postcode_normalisation_ignores_case_and_spacing(pair: tuple[str, str]) -> None:
    stored, typed = pair
    assert normalise_postcode(typed) == stored


@FAST
@given(typed_postcodes())
def test_postcode_normalisation_is_idempotent(pair: tuple[str, str]) -> None:
    once = normalise_postcode(pair[1])
    assert once is not None
    assert normalise_postcode(once) == once


@FAST
@given(outward_codes, _digits, st.booleans())
def test_postcode_cut_after_the_sector_is_partial(outward: str, sector: str, lower: bool) -> None:
    typed = f"{outward} {sector}"
    assert normalise_postcode(typed) is None
    assert normalise_partial_postcode(typed.lower() if lower else typed) == typed


# --- local authority codes ------------------------------------------------------------------


@pytest.mark.parametrize("code", ["202", "873", " 301 ", "000"])
def test_dfe_la_codes(code: str) -> None:
    assert looks_like_dfe_la_code(code)


@pytest.mark.parametrize("code", ["20", "2020", "E09000007", "abc", "", "2O2"])
def test_not_dfe_la_codes(code: str) -> None:
    assert not looks_like_dfe_la_code(code)


@pytest.mark.parametrize(
    "code", ["E09000007", "E10000003", "e06000053", " E08000025 ", "W06000015"]
)
def test_gss_codes(code: str) -> None:
    assert looks_like_gss_code(code)


@pytest.mark.parametrize("code", ["202", "E0900000", "E090000077", "X09000007", "E09-000007"])
def test_not_gss_codes(code: str) -> None:
    assert not looks_like_gss_code(code)


@FAST
@given(st.text(alphabet=string.digits, min_size=3, max_size=3))
def test_any_three_digits_look_like_a_dfe_code(code: str) -> None:
    assert looks_like_dfe_la_code(code)
    assert not looks_like_gss_code(code)


@FAST
@given(st.sampled_from("ENSW"), st.text(alphabet=string.digits, min_size=8, max_size=8))
def test_a_country_letter_and_eight_digits_look_like_a_gss_code(letter: str, digits: str) -> None:
    assert looks_like_gss_code(letter + digits)
    assert not looks_like_dfe_la_code(letter + digits)


@FAST
@given(st.text(alphabet=string.printable, max_size=12))
def test_dfe_code_is_exactly_three_digits(text: str) -> None:
    expected = len(text.strip()) == 3 and all(c in string.digits for c in text.strip())
    assert looks_like_dfe_la_code(text) == expected


# --- non-ASCII digits are not digits ------------------------------------------------------


def test_upn_with_non_ascii_digits_is_reported_not_a_crash() -> None:
    assert upn_codes("A00000000000\u0660") == ["1550"]


def test_nhs_number_with_non_ascii_digit_is_not_ten_digits() -> None:
    assert nhs_number_problem("943476591\u0669") == "an NHS number is 10 digits"


def test_la_code_patterns_take_ascii_digits_only() -> None:
    assert not looks_like_dfe_la_code("\u0662\u0660\u0662")
    assert not looks_like_gss_code("E\u0660\u0669000007")

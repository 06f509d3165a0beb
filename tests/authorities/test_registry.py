"""Tests for the authority registry, against the CSV shipped with the package."""

from __future__ import annotations

import datetime
import re

import pytest

from exchange.authorities import Authority, AuthorityRegistry, load_registry

CHILDRENS_SERVICES_KINDS = {
    "county",
    "unitary",
    "metropolitan_district",
    "london_borough",
    "city_of_london",
    "isles_of_scilly",
}
# E06 unitary (Isles of Scilly is E06000053), E08 metropolitan district, E09 London borough
# (City of London is E09000001), E10 county. No E07 (lower-tier district), W, S or N codes.
GSS_CODE = re.compile(r"^E(06|08|09|10)\d{6}$")


@pytest.fixture(scope="module")
def registry() -> AuthorityRegistry:
    return load_registry()


def _get(registry: AuthorityRegistry, code: str) -> Authority:
    authority = registry.get(code)
    assert authority is not None, code
    return authority


def test_dfe_and_gss_codes_give_the_same_authority(registry: AuthorityRegistry) -> None:
    camden = _get(registry, "202")
    assert camden.short_name == "Camden"
    assert registry.get("E09000007") is camden


@pytest.mark.parametrize(
    ("code", "short_name", "kind"),
    [
        ("202", "Camden", "london_borough"),
        ("301", "Barking and Dagenham", "london_borough"),
        ("873", "Cambridgeshire", "county"),
        ("201", "City of London", "city_of_london"),
        ("420", "Isles of Scilly", "isles_of_scilly"),
    ],
)
def test_well_known_codes(
    registry: AuthorityRegistry, code: str, short_name: str, kind: str
) -> None:
    authority = _get(registry, code)
    assert authority.short_name == short_name
    assert authority.kind == kind
    assert authority.is_current


@pytest.mark.parametrize(
    ("dfe_code", "name", "start_date"),
    [
        ("838", "Dorset Council", datetime.date(2019, 4, 1)),
        ("839", "Bournemouth, Christchurch and Poole Council", datetime.date(2019, 4, 1)),
        ("825", "Buckinghamshire Council", datetime.date(2020, 4, 1)),
        ("940", "North Northamptonshire Council", datetime.date(2021, 4, 1)),
        ("941", "West Northamptonshire Council", datetime.date(2021, 4, 1)),
        ("942", "Cumberland Council", datetime.date(2023, 4, 1)),
        ("943", "Westmorland and Furness Council", datetime.date(2023, 4, 1)),
        ("815", "North Yorkshire Council", datetime.date(2023, 4, 1)),
        ("933", "Somerset Council", datetime.date(2023, 4, 1)),
    ],
)
def test_authorities_created_since_2019(
    registry: AuthorityRegistry, dfe_code: str, name: str, start_date: datetime.date
) -> None:
    authority = _get(registry, dfe_code)
    assert authority.name == name
    assert authority.kind == "unitary"
    assert authority.start_date == start_date
    assert authority.end_date is None


def test_northamptonshire_abolished_with_two_successors(registry: AuthorityRegistry) -> None:
    northamptonshire = _get(registry, "928")
    assert northamptonshire.name == "Northamptonshire County Council"
    assert northamptonshire.end_date == datetime.date(2021, 4, 1)
    assert northamptonshire.is_current_on(datetime.date(2021, 3, 31))
    assert not northamptonshire.is_current_on(datetime.date(2021, 4, 1))
    assert not northamptonshire.is_current
    assert {a.short_name for a in registry.successors(northamptonshire)} == {
        "North Northamptonshire",
        "West Northamptonshire",
    }


def test_cumbria_abolished_with_two_successors(registry: AuthorityRegistry) -> None:
    cumbria = _get(registry, "909")
    assert cumbria.end_date == datetime.date(2023, 4, 1)
    assert [a.dfe_code for a in registry.successors(cumbria)] == ["942", "943"]
    assert {a.name for a in registry.successors(cumbria)} == {
        "Cumberland Council",
        "Westmorland and Furness Council",
    }


@pytest.mark.parametrize(("dfe_code", "short_name"), [("837", "Bournemouth"), ("836", "Poole")])
def test_bournemouth_and_poole_replaced_by_bcp(
    registry: AuthorityRegistry, dfe_code: str, short_name: str
) -> None:
    authority = _get(registry, dfe_code)
    assert authority.short_name == short_name
    # Still in existence on its last day; the register's 2019-03-31 is normalised.
    assert authority.is_current_on(datetime.date(2019, 3, 31))
    assert authority.end_date == datetime.date(2019, 4, 1)
    assert [a.dfe_code for a in registry.successors(authority)] == ["839"]


@pytest.mark.parametrize("dfe_code", ["825", "815", "933"])
def test_dfe_code_shared_by_county_and_successor_unitary(
    registry: AuthorityRegistry, dfe_code: str
) -> None:
    county, unitary = registry.by_dfe_code(dfe_code)
    assert county.kind == "county"
    assert county.gss_code.startswith("E10")
    assert not county.is_current
    assert registry.successors(county) == [unitary]
    assert unitary.kind == "unitary"
    assert unitary.gss_code.startswith("E06")
    assert unitary.is_current
    # The DfE code resolves to the current unitary; the GSS code still finds the county.
    assert registry.get(dfe_code) is unitary
    assert registry.get(county.gss_code) is county


def test_shared_dfe_code_before_the_reorganisation() -> None:
    county = Authority(
        "999", "E10000099", "Old County Council", "Old", "county", None,
        datetime.date(2000, 4, 1), ("E06000099",), "South West",
    )  # fmt: skip
    other = Authority(
        "999", "E10000098", "Older County Council", "Older", "county", None,
        datetime.date(1990, 4, 1), (), "South West",
    )  # fmt: skip
    registry = AuthorityRegistry([other, county])
    # Neither is current: the latest-ending one wins.
    assert registry.get("999") is county
    assert registry.by_dfe_code("999") == [other, county]


def test_only_english_childrens_services_authorities(registry: AuthorityRegistry) -> None:
    for authority in registry.all():
        assert authority.kind in CHILDRENS_SERVICES_KINDS, authority
        assert authority.gss_code.startswith("E"), authority
    # Lower-tier districts, Wales, Scotland, Northern Ireland, the GLA.
    for code in ["E07000008", "E07000240", "W06000015", "S12000034", "N09000002", "E61000001"]:
        assert registry.get(code) is None, code
    names = {a.short_name for a in registry.all()}
    assert not names & {"Cambridge", "St Albans", "Christchurch", "Cardiff", "Aberdeenshire"}


def test_number_of_current_authorities(registry: AuthorityRegistry) -> None:
    current = [a for a in registry.all() if a.is_current_on(datetime.date(2026, 1, 1))]
    # 21 counties + 62 unitaries + 36 metropolitan districts + 32 London boroughs + City of
    # London + Isles of Scilly = 153, DfE's count of local authorities since the April 2023
    # reorganisations (Cumbria split in two; North Yorkshire and Somerset became unitaries).
    assert len(current) == 153
    # The 8 abolished: Bournemouth, Poole, Dorset (2019), Buckinghamshire (2020),
    # Northamptonshire (2021), Cumbria, North Yorkshire, Somerset (2023).
    assert len(registry) - len(current) == 8


def test_unknown_codes(registry: AuthorityRegistry) -> None:
    assert registry.get("999") is None
    assert registry.get("E09999999") is None
    assert registry.get("") is None
    assert not registry.is_known_dfe_code("999")
    assert registry.by_dfe_code("999") == []


@pytest.mark.parametrize(
    "code", ["E09000007", "e09000007", "  E09000007\n", " e09000007 ", " 202 "]
)
def test_codes_are_case_and_whitespace_tolerant(registry: AuthorityRegistry, code: str) -> None:
    assert _get(registry, code).short_name == "Camden"


def test_is_known_dfe_code(registry: AuthorityRegistry) -> None:
    assert registry.is_known_dfe_code("202")
    assert registry.is_known_dfe_code("928")  # abolished, still in old records
    assert registry.is_known_dfe_code(" 940 ")
    assert not registry.is_known_dfe_code("E09000007")


def test_every_row_has_valid_codes(registry: AuthorityRegistry) -> None:
    for authority in registry.all():
        assert GSS_CODE.match(authority.gss_code), authority
        assert authority.dfe_code is not None, authority
        assert re.fullmatch(r"\d{3}", authority.dfe_code), authority
        assert authority.region, authority


def test_every_successor_resolves(registry: AuthorityRegistry) -> None:
    for authority in registry.all():
        assert len(registry.successors(authority)) == len(authority.successor_gss_codes)
        assert bool(authority.successor_gss_codes) == (authority.end_date is not None)
        for successor in registry.successors(authority):
            assert successor.start_date == authority.end_date, authority


def test_all_is_sorted_by_name(registry: AuthorityRegistry) -> None:
    names = [a.name for a in registry.all()]
    assert names == sorted(names)
    assert len(names) == len(registry)


def test_load_registry_is_cached() -> None:
    assert load_registry() is load_registry()


def test_authority_is_frozen(registry: AuthorityRegistry) -> None:
    camden = _get(registry, "202")
    with pytest.raises(AttributeError):
        camden.name = "Somewhere else"  # type: ignore[misc]


def test_duplicate_gss_code_is_rejected(registry: AuthorityRegistry) -> None:
    camden = _get(registry, "202")
    with pytest.raises(ValueError, match="duplicate GSS code"):
        AuthorityRegistry([camden, camden])

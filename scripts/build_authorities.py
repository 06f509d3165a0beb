"""Build ``exchange/authorities/data/authorities.csv`` from the mySociety register.

Usage (from the repository root)::

    .venv/bin/python scripts/build_authorities.py [SOURCE_CSV] [--output PATH]

``SOURCE_CSV`` defaults to ``../shared/reference/uk_local_authorities.csv`` relative to the
repository root. The output keeps every English authority with children's social care powers,
current and abolished: county councils (CTY), unitary authorities (UA), metropolitan districts
(MD), London boroughs (LBO) and the City of London (CC). The Isles of Scilly is a UA in the
source (E06000053) and gets its own kind, ``isles_of_scilly``. Lower-tier districts (NMD),
combined authorities (COMB), the Greater London Authority (the source's only SRA) and the
Welsh, Scottish and Northern Irish councils are left out.

Adjustments made on top of the source (all listed in ``exchange/authorities/data/README.md``):

* DfE 3-digit codes: taken from ``old-ons-la-code`` when it is 3 digits. Authorities created
  since 2019 have none in the source; they come from ``MANUAL_DFE_CODES`` below (DOMAIN.md).
  DfE reused the county's code for Buckinghamshire (825), North Yorkshire (815) and Somerset
  (933), so the predecessor county and its successor unitary share a DfE code; both rows are
  kept, each with its own GSS code. Nothing else may share a code.
* End dates: the source mixes two conventions (last day in existence, e.g. Bournemouth
  2019-03-31, and first day of the successor, e.g. Northamptonshire 2021-04-01). The registry
  treats ``end_date`` as the date of abolition (an authority is current on a day strictly before
  it), so an end date falling the day before every successor's start date is moved to that
  start date.
* Region: blank for some abolished authorities in the source; filled from their successors when
  all the successors agree.

Start dates are copied as they are (for pre-2009 authorities they are often the date the
register's record began, not the authority's creation).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import re
import sys
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT / ".." / "shared" / "reference" / "uk_local_authorities.csv"
DEFAULT_OUTPUT = REPO_ROOT / "exchange" / "authorities" / "data" / "authorities.csv"

COLUMNS = [
    "dfe_code",
    "gss_code",
    "name",
    "short_name",
    "kind",
    "start_date",
    "end_date",
    "successor_gss_codes",
    "region",
]

KINDS = {
    "CTY": "county",
    "UA": "unitary",
    "MD": "metropolitan_district",
    "LBO": "london_borough",
    "CC": "city_of_london",
}
ISLES_OF_SCILLY_GSS = "E06000053"

# DfE codes missing from the source, keyed by GSS code (DOMAIN.md, "Identifiers").
MANUAL_DFE_CODES = {
    "E06000059": ("838", "Dorset Council"),
    "E06000058": ("839", "Bournemouth, Christchurch and Poole Council"),
    "E06000060": ("825", "Buckinghamshire Council"),
    "E06000061": ("940", "North Northamptonshire Council"),
    "E06000062": ("941", "West Northamptonshire Council"),
    "E06000063": ("942", "Cumberland Council"),
    "E06000064": ("943", "Westmorland and Furness Council"),
    "E06000065": ("815", "North Yorkshire Council"),
    "E06000066": ("933", "Somerset Council"),
}

GSS_PATTERN = re.compile(r"^E(06|08|09|10)\d{6}$")
DFE_PATTERN = re.compile(r"^\d{3}$")
EXPECTED_CURRENT = range(150, 156)


def _iso(value: str) -> datetime.date | None:
    return datetime.date.fromisoformat(value) if value else None


def build(source: Path) -> list[dict[str, str]]:
    """Read the mySociety CSV and return the registry rows, sorted and checked."""
    with source.open(newline="", encoding="utf-8") as handle:
        source_rows = list(csv.DictReader(handle))

    gss_by_register_code = {r["local-authority-code"]: r["gss-code"] for r in source_rows}
    selected = [
        r for r in source_rows if r["nation"] == "England" and r["local-authority-type"] in KINDS
    ]

    rows: list[dict[str, str]] = []
    for r in selected:
        gss = r["gss-code"]
        kind = "isles_of_scilly" if gss == ISLES_OF_SCILLY_GSS else KINDS[r["local-authority-type"]]
        dfe = r["old-ons-la-code"] if DFE_PATTERN.match(r["old-ons-la-code"]) else ""
        if gss in MANUAL_DFE_CODES:
            manual_code, manual_name = MANUAL_DFE_CODES[gss]
            if r["official-name"] != manual_name:
                raise SystemExit(f"{gss}: expected {manual_name!r}, found {r['official-name']!r}")
            if dfe and dfe != manual_code:
                raise SystemExit(f"{gss}: source DfE code {dfe} differs from manual {manual_code}")
            dfe = manual_code
        successor_gss = [
            gss_by_register_code[code] for code in r["replaced-by"].split(",") if code.strip()
        ]
        rows.append(
            {
                "dfe_code": dfe,
                "gss_code": gss,
                "name": r["official-name"],
                "short_name": r["nice-name"],
                "kind": kind,
                "start_date": r["start-date"],
                "end_date": r["end-date"],
                "successor_gss_codes": " ".join(successor_gss),
                "region": r["region"],
            }
        )

    unused = set(MANUAL_DFE_CODES) - {row["gss_code"] for row in rows}
    if unused:
        raise SystemExit(f"manual DfE codes for unknown GSS codes: {sorted(unused)}")

    by_gss = {row["gss_code"]: row for row in rows}
    for row in rows:
        successors = [by_gss[code] for code in row["successor_gss_codes"].split()]
        if not successors:
            continue
        # End date convention: date of abolition (= the successors' start date).
        starts = {s["start_date"] for s in successors}
        end = _iso(row["end_date"])
        if len(starts) == 1 and end is not None:
            start = _iso(starts.pop())
            if start is not None and end + datetime.timedelta(days=1) == start:
                print(f"  end date {row['end_date']} -> {start} for {row['name']}")
                row["end_date"] = start.isoformat()
        # Region: fill a blank from the successors when they agree.
        regions = {s["region"] for s in successors}
        if not row["region"] and len(regions) == 1:
            row["region"] = regions.pop()
            print(f"  region {row['region']!r} filled for {row['name']}")

    rows.sort(key=lambda row: (row["dfe_code"], row["gss_code"]))
    check(rows)
    return rows


def check(rows: list[dict[str, str]]) -> None:
    """Raise SystemExit if the rows break any of the registry's invariants."""
    problems: list[str] = []
    by_gss = {row["gss_code"]: row for row in rows}
    if len(by_gss) != len(rows):
        problems.append("duplicate GSS codes")
    for row in rows:
        if not GSS_PATTERN.match(row["gss_code"]):
            problems.append(f"bad GSS code {row['gss_code']}")
        if not DFE_PATTERN.match(row["dfe_code"]):
            problems.append(f"{row['name']}: no 3-digit DfE code")
        if not row["region"]:
            problems.append(f"{row['name']}: no region")
        if row["end_date"] and not row["successor_gss_codes"]:
            problems.append(f"{row['name']}: abolished without successor")
        for code in row["successor_gss_codes"].split():
            if code not in by_gss:
                problems.append(f"{row['name']}: successor {code} not in registry")
    # A DfE code may only be shared by a predecessor and its successor.
    by_dfe: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_dfe.setdefault(row["dfe_code"], []).append(row)
    for code, group in by_dfe.items():
        current = [row for row in group if not row["end_date"]]
        if len(current) > 1:
            problems.append(f"DfE {code} shared by several current authorities")
        for row in group:
            if row["end_date"] and not set(row["successor_gss_codes"].split()) >= {
                other["gss_code"] for other in group if other is not row
            }:
                problems.append(f"DfE {code} shared by unrelated authorities")
    current_count = sum(1 for row in rows if not row["end_date"])
    if current_count not in EXPECTED_CURRENT:
        problems.append(f"{current_count} current authorities, expected about 153")
    if problems:
        raise SystemExit("\n".join(problems))


def write(rows: list[dict[str, str]], output: Path) -> None:
    """Write the rows as CSV with a fixed column order and LF line endings."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    """Build the registry CSV and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    rows = build(args.source)
    write(rows, args.output)

    current = [row for row in rows if not row["end_date"]]
    abolished = [row for row in rows if row["end_date"]]
    print(f"wrote {len(rows)} authorities to {args.output}")
    print(f"  current:   {len(current)}")
    print(f"  abolished: {len(abolished)}")
    for kind, count in sorted(Counter(row["kind"] for row in current).items()):
        print(f"    current {kind}: {count}")
    counts = Counter(row["dfe_code"] for row in rows)
    shared = sorted(code for code, count in counts.items() if count > 1)
    print(f"  DfE codes shared by predecessor and successor: {', '.join(shared)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

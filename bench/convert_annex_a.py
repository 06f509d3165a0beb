"""Benchmark: convert a generated Annex A workbook, against a bare openpyxl read of the same file.

Writes a synthetic workbook (openpyxl write-only mode) with N children, each with a row or two
in lists 3, 4, 6, 7 and 8, into a temporary folder. Then, each in a fresh subprocess so peak
memory is its own: a bare openpyxl read-only pass over every row of every sheet (the floor any
xlsx reader pays), and the full conversion to canonical records. Prints children/s, peak RSS
and the ratio of the two times.

    .venv/bin/python bench/convert_annex_a.py [--children 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COMMON = ["Child Unique ID", "Gender", "Ethnicity", "Date of Birth", "Age of Child (Years)"]
ALLOCATED = ["Allocated Team", "Allocated Worker"]
HEADERS = {
    "List 3": [
        *COMMON,
        "Date of referral",
        "Referral Source",
        "Referral NFA?",
        "Number of Referrals in Last 12 Months",
        *ALLOCATED,
    ],
    "List 4": [
        *COMMON,
        "Does the Child have a Disability",
        "Continuous Assessment Start Date",
        "Child Seen During Continuous Assessment",
        "Continuous Assessment Date of Authorisation",
        *ALLOCATED,
    ],
    "List 6": [
        *COMMON,
        "Does the Child have a Disability",
        "CIN Start Date",
        "Primary Need Code",
        "Date Child Was Last Seen",
        "CIN Closure Date",
        "Reason for Closure",
        "Case Status",
        *ALLOCATED,
    ],
    "List 7": [
        *COMMON,
        "Does the Child have a Disability",
        "Child Protection Plan Start Date",
        "Initial Category of Abuse",
        "Latest Category of Abuse",
        "Date of the Last Statutory Visit",
        "Was the Child Seen Alone?",
        "Date of latest review conference",
        "Child Protection Plan End Date",
        "Number of Previous Child Protection Plans",
        *ALLOCATED,
    ],
    "List 8": [
        *COMMON,
        "Does the Child have a Disability",
        "Date Started to be Looked After",
        "Child's Category of Need",
        "Start date of current legal status",
        "Child's Legal Status",
        "Date of Latest Statutory Review",
        "Date of Last Social Work Visit",
        "Start Date of Most Recent Placement",
        "Placement Type",
        "Placement Provider",
        "Placement postcode",
        "Number of Episodes the Child has been 'Missing' from their Placement in the last "
        "12 months",
        *ALLOCATED,
    ],
}
SOURCES = ["q) 6: Police", "e) 2A: Schools", "j) 3D: Health services", "s) 8: Other"]
CATEGORIES = ["Neglect", "Physical abuse", "Emotional abuse", "Sexual abuse"]
TEAMS = ["Locality 1 Unit 2", "Children in Care Team 1", "Safeguarding Unit 3"]


def generate(path: Path, children: int, seed: int) -> int:
    """Write the workbook; returns the number of data rows."""
    from openpyxl import Workbook

    rng = random.Random(seed)
    book = Workbook(write_only=True)
    sheets = {title: book.create_sheet(title) for title in HEADERS}
    for title, sheet in sheets.items():
        sheet.append(HEADERS[title])
    rows = 0
    for n in range(children):
        child = f"BENCH{n:07d}"
        dob = dt.datetime(2008, 1, 1) + dt.timedelta(days=rng.randrange(5000))
        common = [child, rng.choice(["a) Male", "b) Female"]), "a) WBRI", dob, 9.5]
        worker = [rng.choice(TEAMS), f"Worker\u00a0{n % 97}"]
        referral = dt.datetime(2022, 1, 1) + dt.timedelta(days=rng.randrange(600))
        day = dt.timedelta(days=1)
        for k in range(rng.choice((1, 2))):
            start = referral + 40 * k * day
            sheets["List 3"].append([*common, start, rng.choice(SOURCES), "No", k, *worker])
            sheets["List 4"].append(
                [*common, "b) No", start + 2 * day, "Yes", start + 30 * day, *worker]
            )
            rows += 2
        sheets["List 6"].append(
            [
                *common,
                "b) No",
                referral,
                "N1 - Abuse or Neglect",
                referral + 60 * day,
                None,
                None,
                "c) Child in need plan",
                *worker,
            ]
        )
        sheets["List 7"].append(
            [
                *common,
                "b) No",
                referral + 20 * day,
                rng.choice(CATEGORIES),
                rng.choice(CATEGORIES),
                referral + 50 * day,
                "a) Yes",
                referral + 110 * day,
                None,
                rng.randrange(3),
                *worker,
            ]
        )
        sheets["List 8"].append(
            [
                *common,
                "b) No",
                referral + 70 * day,
                "N1 - Abuse or Neglect",
                referral + 70 * day,
                "C2: FCO",
                referral + 150 * day,
                referral + 160 * day,
                referral + 90 * day,
                "f) U6: Foster placement - not FFA",
                "e) PR4 - Private provision",
                "ZZ99 9ZZ",
                rng.choice((0, 0, 0, 1, 3)),
                *worker,
            ]
        )
        rows += 3
    book.save(path)
    return rows


def measure_bare(path: Path) -> dict[str, Any]:
    """A bare openpyxl read-only pass over every row of every sheet."""
    from openpyxl import load_workbook

    started = time.perf_counter()
    book = load_workbook(path, read_only=True)
    rows = 0
    for sheet in book.worksheets:
        for _ in sheet.iter_rows(values_only=True):
            rows += 1
    book.close()
    return {"seconds": time.perf_counter() - started, "rows": rows}


def measure_convert(path: Path) -> dict[str, Any]:
    """The full conversion: every record built and checked."""
    from exchange.adapters import Source
    from exchange.adapters.annex_a import AnnexAAdapter

    adapter = AnnexAAdapter(source_authority="202")
    started = time.perf_counter()
    records = skipped = problems = 0
    for result in adapter.read(Source.from_path(path)):
        records += result.record is not None
        skipped += result.record is None
        problems += len(result.problems)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "records": records, "skipped": skipped, "problems": problems}


def run_fresh(kind: str, path: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter, so its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    """Generate, measure both passes, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--children", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--measure", choices=("bare", "convert"))
    parser.add_argument("path", nargs="?")
    args = parser.parse_args()
    if args.measure:
        measure = measure_bare if args.measure == "bare" else measure_convert
        found = measure(Path(args.path))
        found["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(found))
        return
    with tempfile.TemporaryDirectory(prefix="bench-annex-a-") as folder:
        path = Path(folder) / "annex_a_bench.xlsx"
        started = time.perf_counter()
        rows = generate(path, args.children, args.seed)
        print(
            f"workbook: {args.children} children, {rows} rows in lists 3, 4, 6, 7, 8, "
            f"{path.stat().st_size / 2**20:.1f} MiB, written in {time.perf_counter() - started:.1f} s"
        )
        bare = run_fresh("bare", path)
        convert = run_fresh("convert", path)
    assert convert["records"] == args.children, convert
    print(
        f"bare openpyxl read-only pass: {bare['seconds']:.2f} s, "
        f"{bare['rows'] / bare['seconds']:,.0f} rows/s, peak RSS {bare['peak_rss_mib']:.0f} MiB"
    )
    print(
        f"annex-a conversion:           {convert['seconds']:.2f} s, "
        f"{convert['records'] / convert['seconds']:,.0f} children/s, "
        f"peak RSS {convert['peak_rss_mib']:.0f} MiB, {convert['problems']} problems"
    )
    print(f"ratio conversion / bare read: {convert['seconds'] / bare['seconds']:.2f}x")


if __name__ == "__main__":
    main()

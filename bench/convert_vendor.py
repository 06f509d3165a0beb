"""Liquidlogic LCS -> canonical: children per second and peak memory, against a bare csv.reader pass.

Generates a synthetic LCS dump (``DIM_PERSON`` with the children and their parents, about one
parent in four shared by two siblings; ``DIM_PERSON_ADDRESS``, ``FACT_PERSON_RELATION`` from both
sides, ``FACT_REFERRALS``, ``FACT_CP_CONFERENCE``, ``FACT_CP_PLAN``, ``FACT_INVOLVEMENTS`` with a
pool of ``DIM_WORKER`` rows, a few ``FACT_WARNINGS`` with confidential addresses, and
``FACT_CASENOTES``; SQL Server date text) for 10,000 children (``--sizes`` for others) in a
temporary folder, then, for each size, in a fresh process so peak RSS figures do not mix:

- exchange: the liquidlogic-lcs adapter, every record built and validated (rules included), all
  results consumed;
- baseline: a bare ``csv.reader`` pass over the same files that only counts the rows.

Prints children/s, peak RSS (ru_maxrss) and the ratio exchange / bare pass. Usage:
    python bench/convert_vendor.py [--sizes 10000] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from exchange.canonical.identifiers import upn_check_letter

MEASURE = r"""
import csv, json, resource, sys, time
from pathlib import Path
mode, folder = sys.argv[1], sys.argv[2]
children = rows = 0
if mode == "exchange":
    from exchange.adapters import Source, get_adapter
    adapter = get_adapter("liquidlogic-lcs")(source_authority="202")  # loads the register once
    errors = 0
    started = time.perf_counter()
    for result in adapter.read(Source.from_path(folder)):
        children += result.record is not None
        errors += result.has_errors
else:
    started = time.perf_counter()
    for path in sorted(Path(folder).iterdir()):
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = next(reader)
            client = header.index("IS_CLIENT") if path.name == "DIM_PERSON.csv" else None
            for row in reader:
                rows += 1
                if client is not None and row[client] == "Y":
                    children += 1
seconds = time.perf_counter() - started
print(json.dumps({"children": children, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

START = dt.date(2010, 1, 1)
ETHNICITIES = ["WBRI", "WOTH", "MWBC", "AIND", "APKN", "BAFR", "BCRB", "CHNE", "OOTH", "NOBT"]
NEEDS = ["N1", "N1", "N2", "N3", "N4", "N5", "N6", "N8"]
SOURCES = ["1A", "2A", "3A", "3B", "5A", "6", "8"]
CATEGORIES = ["Neglect", "Emotional Abuse", "Physical Abuse", "Sexual Abuse", "MUL"]
STREETS = ["Nowhere Lane", "Imaginary Road", "Fable Street", "Pretend Close", "Mock Avenue"]
WORKERS = 200

HEADERS = {  # each table's columns, space-separated
    "DIM_PERSON": (
        "DIM_PERSON_ID LEGACY_ID UPN FORENAME SURNAME GENDER_MAIN_CODE ETHNICITY_MAIN_CODE "
        "BIRTH_DTTM DOB_ESTIMATED DEATH_DTTM NATNL_CODE IS_CLIENT DUPLICATED_DTTM"
    ),
    "DIM_PERSON_ADDRESS": (
        "DIM_PERSON_ADDRESS_ID DIM_PERSON_ID ADDSS_TYPE_CODE FLAT_NO HOUSE_NO STREET TOWN "
        "POSTCODE UPRN START_DTTM END_DTTM CONFIDENTIAL"
    ),
    "FACT_PERSON_RELATION": (
        "FACT_PERSON_RELATION_ID DIM_PERSON_ID DIM_RELATED_PERSON_ID DIM_LOOKUP_RELTN_TYPE_CODE "
        "DIM_RELATED_PERSON_DOB PARENTAL_RESP_FLAG LIVES_WITH_FLAG START_DTTM END_DTTM"
    ),
    "FACT_REFERRALS": (
        "FACT_REFERRAL_ID DIM_PERSON_ID REFRL_START_DTTM DIM_LOOKUP_CONT_SORC_ID "
        "DIM_LOOKUP_CATEGORY_OF_NEED_CODE OUTCOME_NFA_FLAG REFRL_END_DTTM "
        "DIM_LOOKUP_REFRL_ENDRSN_ID_CODE DIM_WORKER_ID_DESC"
    ),
    "FACT_CP_CONFERENCE": (
        "FACT_CP_CONFERENCE_ID FACT_REFERRAL_ID DIM_PERSON_ID TRANSFER_IN_FLAG DUE_DTTM "
        "ACTUAL_DTTM OUTCOME_CP_FLAG"
    ),
    "FACT_CP_PLAN": (
        "FACT_CP_PLAN_ID FACT_REFERRAL_ID FACT_INITIAL_CP_CONFERENCE_ID DIM_PERSON_ID START_DTTM "
        "END_DTTM IS_OLA INIT_CATEGORY_DESC CP_CATEGORY_DESC"
    ),
    "FACT_INVOLVEMENTS": (
        "FACT_INVOLVEMENTS_ID DIM_PERSON_ID DIM_WORKER_ID DIM_LOOKUP_INVOLVEMENT_TYPE_CODE "
        "IS_ALLOCATED_CW_FLAG START_DTTM END_DTTM FACT_WORKER_HISTORY_DEPARTMENT_DESC"
    ),
    "DIM_WORKER": "DIM_WORKER_ID STAFF_ID FORENAME SURNAME JOB_TITLE DEPARTMENT_NAME",
    "FACT_WARNINGS": (
        "FACT_WARNING_ID DIM_PERSON_ID DIM_LOOKUP_WARNING_TYPE_CODE WARNING_DESC START_DTTM "
        "DIM_RELATED_PERSON_ID"
    ),
    "FACT_CASENOTES": (
        "FACT_CASENOTE_ID DIM_PERSON_ID EVENT_DTTM DIM_LOOKUP_CASNT_TYPE_ID_CODE CASENOTE_TITLE "
        "CASENOTE_DESC"
    ),
}


def _day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat() + " 00:00:00.000"


def _upn(n: int) -> str:
    body = f"202{n:08d}1"
    return upn_check_letter(body) + body


class _Tables:
    """One csv.writer per table, opened on demand."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.handles: dict[str, Any] = {}
        self.writers: dict[str, Any] = {}
        self.rows = 0

    def write(self, table: str, row: list[str]) -> None:
        if table not in self.writers:
            handle = (self.folder / f"{table}.csv").open("w", newline="", encoding="utf-8")
            self.handles[table] = handle
            self.writers[table] = csv.writer(handle)
            self.writers[table].writerow(HEADERS[table].split())
        self.writers[table].writerow(row)
        self.rows += 1

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


def generate(children: int, folder: Path, seed: int) -> int:
    """Write a synthetic LCS dump of fictional children and parents; returns the data rows."""
    rng = random.Random(seed)
    out = _Tables(folder)
    for w in range(WORKERS):
        out.write("DIM_WORKER", [f"W{w}", f"S{w}", "Worker", f"Fictional{w}", "Social Worker",
                                 f"Team {w % 9}"])  # fmt: skip
    for n in range(children):
        pid, born = str(100000 + n), 2000 + rng.randrange(0, 3000)
        # Two children in four share their mother with a sibling.
        family = n - 1 if n % 4 == 1 else n
        mother, father = str(500000 + family), str(700000 + family)
        out.write("DIM_PERSON", [pid, "", _upn(n), "Testchild", f"Fictional{n}", rng.choice("MF"),
                                 rng.choice(ETHNICITIES), _day(born), "N", "", "", "Y", ""])  # fmt: skip
        if family == n:
            out.write("DIM_PERSON", [mother, "", "", "Parent", f"Fictional{n}", "F", "WBRI",
                                     _day(born - 9000), "N", "", "", "N", ""])  # fmt: skip
            out.write("DIM_PERSON_ADDRESS", [f"M{n}", mother, "HOME", "", str(rng.randrange(1, 200)),
                                             rng.choice(STREETS), "Faketown", "ZZ99 1AA", "",
                                             _day(born - 400), "", "N"])  # fmt: skip
            if family % 2 == 0:
                out.write("DIM_PERSON", [father, "", "", "Parent", f"Fictional{n}", "M", "WBRI",
                                         _day(born - 10000), "N", "", "", "N", ""])  # fmt: skip
        fathered = family % 2 == 0  # half the families have the father on record
        for kind, parent in (("MOT", mother), ("FAT", father) if fathered else ("", "")):
            if not kind:
                continue
            out.write("FACT_PERSON_RELATION", [f"R{n}{kind}", pid, parent, kind, "", "Y",
                                               "Y" if kind == "MOT" else "N", _day(born), ""])  # fmt: skip
            out.write("FACT_PERSON_RELATION", [f"R{n}{kind}C", parent, pid, "CHI", _day(born), "Y",
                                               "Y", _day(born), ""])  # fmt: skip
        confidential = fathered and rng.random() < 0.1
        for a in range(rng.choice((1, 1, 2))):
            postcode = f"ZZ99 {rng.randrange(10)}{rng.choice('ABDEFG')}{rng.choice('HJLNPQ')}"
            out.write("DIM_PERSON_ADDRESS", [f"A{n}-{a}", pid, "HOME", f"Flat {a}" if a else "",
                                             str(rng.randrange(1, 200)), rng.choice(STREETS),
                                             "Faketown", postcode, str(100000000000 + n),
                                             _day(born + a * 700), _day(born + 700) if a == 0 else "",
                                             "Y" if confidential and a else "N"])  # fmt: skip
        if confidential:
            out.write("FACT_WARNINGS", [f"WN{n}", pid, "DND", "Do not disclose the address.",
                                        _day(born + 700), father])  # fmt: skip
        worker = f"W{rng.randrange(WORKERS)}"
        for e in range(rng.choice((1, 1, 2))):
            referral, ref_id = born + 400 + e * 900, f"F{n}-{e}"
            closed = e == 0 and rng.random() < 0.6
            out.write("FACT_REFERRALS", [ref_id, pid, _day(referral), rng.choice(SOURCES),
                                         rng.choice(NEEDS), "N", _day(referral + 300) if closed else "",
                                         "RC8" if closed else "", "Worker"])  # fmt: skip
            if e == 0 and rng.random() < 0.3:
                out.write("FACT_CP_CONFERENCE", [f"C{n}", ref_id, pid, "N", _day(referral + 55),
                                                 _day(referral + 60), "Y"])  # fmt: skip
                out.write("FACT_CP_PLAN", [f"P{n}", ref_id, f"C{n}", pid, _day(referral + 60),
                                           _day(referral + 280) if closed else "", "N",
                                           rng.choice(CATEGORIES), rng.choice(CATEGORIES)])  # fmt: skip
            out.write("FACT_CASENOTES", [f"N{n}-{e}", pid, _day(referral + 2), "STVC", "Home visit",
                                         "Seen at home; the child was well."])  # fmt: skip
        out.write("FACT_INVOLVEMENTS", [f"I{n}", pid, worker, "CW", "Y", _day(born + 400), "",
                                        "Safeguarding Team"])  # fmt: skip
    out.close()
    return out.rows


def measure(mode: str, folder: Path) -> dict[str, float]:
    """Run one mode in a fresh interpreter and return its figures."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"{'children':>9} {'rows':>8} {'MB':>6} {'exchange/s':>11} {'bare/s':>10} {'ratio':>6} "
        f"{'exchange RSS MB':>16} {'bare RSS MB':>12}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-lcs-") as tmp:
            folder = Path(tmp)
            rows = generate(size, folder, args.seed)
            megabytes = sum(p.stat().st_size for p in folder.iterdir()) / 1e6
            ours = measure("exchange", folder)
            bare = measure("bare", folder)
            assert ours["children"] == bare["children"] == size, (ours, bare)
            print(
                f"{size:>9} {rows:>8} {megabytes:>6.1f} {size / ours['seconds']:>11,.0f} "
                f"{size / bare['seconds']:>10,.0f} {ours['seconds'] / bare['seconds']:>6.1f} "
                f"{ours['peak_rss_mb']:>16.1f} {bare['peak_rss_mb']:>12.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""SSD -> canonical: children per second and peak memory, against a bare csv.reader pass.

Generates a synthetic Standard Safeguarding Dataset export (ssd_person, ssd_address,
ssd_disability, ssd_cin_episodes, ssd_cin_assessments, ssd_assessment_factors, ssd_cp_plans,
ssd_cp_reviews, ssd_missing; about eight rows per child, factor and review rows reaching their
child only through another table) for 10,000 and 100,000 children in a temporary folder, then,
for each size, in a fresh process so peak RSS figures do not mix:

- exchange: the ssd adapter, every record built and validated (rules included), all results
  consumed;
- baseline: a bare ``csv.reader`` pass over the same files that only counts the rows.

Prints children/s, peak RSS (ru_maxrss) and the ratio exchange / bare pass. Usage:
    python bench/convert_ssd.py [--sizes 10000 100000] [--seed 7]
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

from exchange.canonical.identifiers import nhs_number_check_digit, upn_check_letter

MEASURE = r"""
import csv, json, resource, sys, time
from pathlib import Path
mode, folder = sys.argv[1], sys.argv[2]
children = rows = 0
if mode == "exchange":
    from exchange.adapters import Source, get_adapter
    adapter = get_adapter("ssd")(source_authority="202")  # loads the authority register once
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
            for row in reader:
                rows += 1
                if path.name == "ssd_person.csv":
                    children += 1
seconds = time.perf_counter() - started
print(json.dumps({"children": children, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

START = dt.date(2015, 1, 1)
ETHNICITIES = ["WBRI", "WOTH", "MWBC", "AIND", "APKN", "BAFR", "BCRB", "CHNE", "OOTH", "NOBT"]
NEEDS = ["N1", "N1", "N2", "N3", "N4", "N5", "N6", "N8"]
SOURCES = ["1A", "2A", "3A", "3B", "5A", "6", "8"]
CATEGORIES = ["Neglect", "Emotional abuse", "Physical abuse", "Sexual abuse", "MUL"]
FACTORS = ["1A", "2B", "3C", "4A", "5A", "6B", "7A", "8B", "11A", "16A", "18B", "22A"]
STREETS = ["Nowhere Lane", "Imaginary Road", "Fable Street", "Pretend Close", "Mock Avenue"]


def _day(offset: int) -> str:
    return (START + dt.timedelta(days=offset)).isoformat() + " 00:00:00.000"


def _nhs(rng: random.Random) -> str:
    while True:
        first = "".join(str(rng.randrange(10)) for _ in range(9))
        check = nhs_number_check_digit(first)
        if check is not None:
            return f"{first}{check}"


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

    def write(self, table: str, header: list[str], row: list[str]) -> None:
        if table not in self.writers:
            handle = (self.folder / f"{table}.csv").open("w", newline="", encoding="utf-8")
            self.handles[table] = handle
            self.writers[table] = csv.writer(handle)
            self.writers[table].writerow(header)
        self.writers[table].writerow(row)
        self.rows += 1

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


PERSON = "pers_person_id pers_legacy_id pers_upn pers_forename pers_surname pers_sex pers_gender "
PERSON += "pers_ethnicity pers_dob pers_common_child_id pers_upn_unknown pers_send_flag "
PERSON += "pers_expected_dob pers_death_date pers_is_mother pers_nationality"
HEADERS = {  # each table's columns, space-separated
    "ssd_person": PERSON,
    "ssd_address": (
        "addr_table_id addr_person_id addr_address_type addr_address_start_date "
        "addr_address_end_date addr_address_postcode addr_address_json"
    ),
    "ssd_disability": "disa_table_id disa_person_id disa_disability_code",
    "ssd_cin_episodes": (
        "cine_referral_id cine_person_id cine_referral_date cine_cin_primary_need_code "
        "cine_referral_source_code cine_referral_source_desc cine_referral_outcome_json "
        "cine_referral_nfa cine_close_reason cine_close_date cine_referral_team "
        "cine_referral_worker_id"
    ),
    "ssd_cin_assessments": (
        "cina_assessment_id cina_person_id cina_referral_id cina_assessment_start_date "
        "cina_assessment_child_seen cina_assessment_auth_date cina_assessment_outcome_json "
        "cina_assessment_outcome_nfa cina_assessment_team cina_assessment_worker_id"
    ),
    "ssd_assessment_factors": "cinf_table_id cinf_assessment_id cinf_assessment_factors_json",
    "ssd_cp_plans": (
        "cppl_cp_plan_id cppl_referral_id cppl_icpc_id cppl_person_id cppl_cp_plan_start_date "
        "cppl_cp_plan_end_date cppl_cp_plan_ola cppl_cp_plan_initial_category "
        "cppl_cp_plan_latest_category"
    ),
    "ssd_cp_reviews": (
        "cppr_cp_review_id cppr_person_id cppr_cp_plan_id cppr_cp_review_due cppr_cp_review_date "
        "cppr_cp_review_meeting_id cppr_cp_review_outcome_continue_cp cppr_cp_review_quorate "
        "cppr_cp_review_participation"
    ),
    "ssd_missing": (
        "miss_table_id miss_person_id miss_missing_episode_start_date miss_missing_episode_type "
        "miss_missing_episode_end_date miss_missing_rhi_offered miss_missing_rhi_accepted"
    ),
}


def generate(children: int, folder: Path, seed: int) -> int:
    """Write a synthetic SSD export of fictional children; returns the number of data rows."""
    rng = random.Random(seed)
    out = _Tables(folder)
    h = {table: columns.split() for table, columns in HEADERS.items()}
    for n in range(children):
        pid = f"{100000 + n}"
        born = rng.randrange(0, 3000)
        sex = rng.choice("MF")
        out.write(
            "ssd_person",
            h["ssd_person"],
            [pid, f"L{n}", _upn(n), "Testchild", f"Fictional{n}", sex, sex,
             rng.choice(ETHNICITIES), _day(born), _nhs(rng), "", "N", "", "", "", "British"],
        )  # fmt: skip
        for a in range(rng.choice((1, 1, 2))):
            parts = {
                "ROOM": "", "FLOOR": "", "FLAT": f"Flat {rng.randrange(1, 40)}" if a else "",
                "BUILDING": "", "HOUSE": str(rng.randrange(1, 200)),
                "STREET": rng.choice(STREETS), "TOWN": "Faketown",
                "UPRN": str(100000000000 + n), "EASTING": "", "NORTHING": "",
            }  # fmt: skip
            postcode = f"ZZ99{rng.randrange(10)}{rng.choice('ABDEFG')}{rng.choice('HJLNPQ')}"
            out.write(
                "ssd_address",
                h["ssd_address"],
                [f"AD{n}-{a}", pid, "Primary Address", _day(born + a * 700),
                 _day(born + 700) if a == 0 else "", postcode, json.dumps(parts)],
            )  # fmt: skip
        if rng.random() < 0.2:
            out.write(
                "ssd_disability",
                h["ssd_disability"],
                [f"D{n}", pid, rng.choice(["MOB", "LD", "AUT"])],
            )
        for e in range(rng.choice((1, 1, 2))):
            referral = born + 400 + e * 900
            ref_id = f"R{n}-{e}"
            closed = e == 0 and rng.random() < 0.6
            out.write(
                "ssd_cin_episodes",
                h["ssd_cin_episodes"],
                [ref_id, pid, _day(referral), rng.choice(NEEDS), rng.choice(SOURCES), "", "",
                 "N", "RC8" if closed else "", _day(referral + 300) if closed else "",
                 "Team North", "W1"],
            )  # fmt: skip
            assessment = f"A{n}-{e}"
            out.write(
                "ssd_cin_assessments",
                h["ssd_cin_assessments"],
                [assessment, pid, ref_id, _day(referral + 2), "Y", _day(referral + 40), "",
                 "N", "Team North", "W1"],
            )  # fmt: skip
            out.write(
                "ssd_assessment_factors",
                h["ssd_assessment_factors"],
                [f"F{n}-{e}", assessment, json.dumps(rng.sample(FACTORS, 2))],
            )
            if e == 0 and rng.random() < 0.3:
                plan = f"P{n}"
                out.write(
                    "ssd_cp_plans",
                    h["ssd_cp_plans"],
                    [plan, ref_id, "", pid, _day(referral + 60),
                     _day(referral + 280) if closed else "", "N", rng.choice(CATEGORIES),
                     rng.choice(CATEGORIES)],
                )  # fmt: skip
                for r in range(rng.choice((1, 2))):
                    out.write(
                        "ssd_cp_reviews",
                        h["ssd_cp_reviews"],
                        [
                            f"RV{n}-{r}",
                            "",
                            plan,
                            "",
                            _day(referral + 150 + r * 100),
                            "",
                            "Y",
                            "",
                            "",
                        ],
                    )
        if rng.random() < 0.1:
            start = born + 2000
            out.write(
                "ssd_missing",
                h["ssd_missing"],
                [f"M{n}", pid, _day(start), "Missing", _day(start + 1), "Y", "Y"],
            )
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
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"{'children':>9} {'rows':>8} {'MB':>6} {'exchange/s':>11} {'bare/s':>10} {'ratio':>6} "
        f"{'exchange RSS MB':>16} {'bare RSS MB':>12}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-ssd-") as tmp:
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

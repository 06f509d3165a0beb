"""CIN census -> canonical: children per second and peak memory, against a bare lxml pass.

Generates census files of 10,000 and 100,000 children (with ../shared/tools/gen_cin_census.py
when it is there, else the project's own generator below), then, for each size, in a fresh
process so peak RSS figures do not mix:

- exchange: the cin-census adapter, every record built and validated (rules included);
- baseline: a bare ``lxml.etree.iterparse`` pass that only visits the elements.

Prints children/s, peak RSS and the ratio exchange / bare parse. Usage:
    python bench/convert_cin.py [--sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_GENERATOR = ROOT.parent / "shared" / "tools" / "gen_cin_census.py"

MEASURE = r"""
import json, resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
count = 0
if mode == "exchange":
    from exchange.adapters import Source, get_adapter
    adapter = get_adapter("cin-census")()  # loads the authority register once
    errors = 0
    started = time.perf_counter()
    for result in adapter.read(Source.from_path(path)):
        count += 1
        errors += result.has_errors
else:
    from lxml import etree
    started = time.perf_counter()
    for _event, elem in etree.iterparse(path, events=("end",)):
        if elem.tag == "Child":
            count += 1
            elem.clear()
            while elem.getprevious() is not None:
                del elem.getparent()[0]
seconds = time.perf_counter() - started
print(json.dumps({"count": count, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(children: int, path: Path) -> None:
    """Write a synthetic census of ``children`` children."""
    if SHARED_GENERATOR.exists():
        subprocess.run(
            [
                sys.executable,
                str(SHARED_GENERATOR),
                "--children",
                str(children),
                "--seed",
                "7",
                "-o",
                str(path),
            ],
            check=True,
        )
        return
    _own_generator(children, path)


def _own_generator(children: int, path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write(
            "<Message><Header><CollectionDetails><Collection>CIN</Collection><Year>2025"
            "</Year><ReferenceDate>2025-03-31</ReferenceDate></CollectionDetails><Source>"
            "<SourceLevel>L</SourceLevel><LEA>202</LEA></Source></Header><Children>\n"
        )
        for n in range(children):
            out.write(
                f"<Child><ChildIdentifiers><LAchildID>C{n:08d}</LAchildID>"
                f"<PersonBirthDate>2015-0{1 + n % 9}-1{n % 10}</PersonBirthDate><Sex>{'MF'[n % 2]}"
                "</Sex></ChildIdentifiers><ChildCharacteristics><Ethnicity>WBRI</Ethnicity>"
                "</ChildCharacteristics><CINdetails><CINreferralDate>2024-06-01</CINreferralDate>"
                "<ReferralSource>6</ReferralSource><PrimaryNeedCode>N1</PrimaryNeedCode>"
                "<Assessments><AssessmentActualStartDate>2024-06-02</AssessmentActualStartDate>"
                "<AssessmentAuthorisationDate>2024-07-01</AssessmentAuthorisationDate>"
                "<FactorsIdentifiedAtAssessment><AssessmentFactors>3A</AssessmentFactors>"
                "</FactorsIdentifiedAtAssessment></Assessments><ReferralNFA>false</ReferralNFA>"
                "</CINdetails></Child>\n"
            )
        out.write("</Children></Message>\n")


def measure(mode: str, path: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(f"generator: {'shared gen_cin_census.py' if SHARED_GENERATOR.exists() else 'built-in'}")
    print(
        f"{'children':>9} {'MB':>7} {'exchange/s':>11} {'bare/s':>10} {'ratio':>6} "
        f"{'exchange RSS MB':>16} {'bare RSS MB':>12}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"cin_{size}.xml"
            started = time.perf_counter()
            generate(size, path)
            _ = time.perf_counter() - started
            ours = measure("exchange", path)
            bare = measure("bare", path)
            assert ours["count"] == bare["count"] == size, (ours, bare)
            print(
                f"{size:>9} {path.stat().st_size / 1e6:>7.1f} {size / ours['seconds']:>11,.0f} "
                f"{size / bare['seconds']:>10,.0f} {ours['seconds'] / bare['seconds']:>6.2f} "
                f"{ours['peak_rss_mb']:>16.1f} {bare['peak_rss_mb']:>12.1f}"
            )


if __name__ == "__main__":
    main()

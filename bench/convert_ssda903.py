"""SSDA903 -> canonical: children per second and peak memory, against a bare csv.reader pass.

Generates a synthetic 903 return (header, about two episodes per child, some missing episodes,
reviews) for 10,000 and 100,000 children in a temporary folder, then, for each size, in a fresh
process so peak RSS figures do not mix:

- exchange: the ssda903 adapter, every record built and validated (rules included), all results
  consumed;
- baseline: a bare ``csv.reader`` pass over the same files that only counts the rows.

Prints children/s, peak RSS (ru_maxrss) and the ratio exchange / bare pass. Usage:
    python bench/convert_ssda903.py [--sizes 10000 100000]
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

from exchange.canonical.identifiers import upn_check_letter

MEASURE = r"""
import csv, json, resource, sys, time
from pathlib import Path
mode, folder = sys.argv[1], sys.argv[2]
children = rows = 0
if mode == "exchange":
    from exchange.adapters import Source, get_adapter
    adapter = get_adapter("ssda903")(source_authority="202")  # loads the authority register once
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
                if path.name == "header.csv":
                    children += 1
seconds = time.perf_counter() - started
print(json.dumps({"children": children, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

START = dt.date(2019, 4, 1)


def _d(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def generate(children: int, folder: Path, seed: int = 7) -> int:
    """Write a synthetic 903 return of ``children`` children; returns the number of rows."""
    rng = random.Random(seed)
    rows = 0
    files = {
        name: (folder / f"{name}.csv").open("w", newline="", encoding="utf-8")
        for name in ("header", "episodes", "missing", "reviews")
    }
    try:
        out = {name: csv.writer(f) for name, f in files.items()}
        out["header"].writerow(["CHILD", "SEX", "DOB", "ETHNIC", "UPN", "MOTHER", "MC_DOB"])
        out["episodes"].writerow(
            [
                "CHILD",
                "DECOM",
                "RNE",
                "LS",
                "CIN",
                "PLACE",
                "PLACE_PROVIDER",
                "DEC",
                "REC",
                "REASON_PLACE_CHANGE",
                "HOME_POST",
                "PL_POST",
                "URN",
            ]
        )
        out["missing"].writerow(["CHILD", "DOB", "MISSING", "MIS_START", "MIS_END"])
        out["reviews"].writerow(["CHILD", "DOB", "REVIEW", "REVIEW_CODE"])
        for n in range(children):
            child = f"B{n:08d}"
            born = dt.date(2006, 1, 1) + dt.timedelta(days=rng.randrange(17 * 365))
            body = f"202{n:08d}{rng.randrange(10)}"
            out["header"].writerow(
                [
                    child,
                    rng.choice("MF"),
                    _d(born),
                    rng.choice(["WBRI", "MWBC", "BAFR", "AIND"]),
                    upn_check_letter(body) + body,
                    "",
                    "",
                ]
            )
            rows += 1
            day = START + dt.timedelta(days=rng.randrange(900))
            episodes = rng.choice([1, 2, 2, 3])
            for e in range(episodes):
                ends = day + dt.timedelta(days=rng.randrange(20, 300))
                last = e == episodes - 1
                out["episodes"].writerow(
                    [
                        child,
                        _d(day),
                        "S" if e == 0 else "P",
                        rng.choice(["C1", "C2", "V2"]),
                        "N1",
                        rng.choice(["U1", "U3", "K2"]),
                        "PR1",
                        "" if last else _d(ends),
                        "" if last else "X1",
                        "" if e == 0 else "CARPL",
                        "ZZ1 1AA",
                        f"ZZ{rng.randrange(1, 9)} {rng.randrange(10)}AB",
                        "SC900001",
                    ]
                )
                rows += 1
                day = ends
            if rng.random() < 0.2:
                for _ in range(rng.choice([1, 2])):
                    gone = START + dt.timedelta(days=rng.randrange(900))
                    out["missing"].writerow(
                        [
                            child,
                            _d(born),
                            rng.choice("MA"),
                            _d(gone),
                            _d(gone + dt.timedelta(days=rng.randrange(3))),
                        ]
                    )
                    rows += 1
            for r in range(rng.choice([1, 2, 3])):
                out["reviews"].writerow(
                    [child, _d(born), _d(START + dt.timedelta(days=120 * (r + 1))), "PN1"]
                )
                rows += 1
    finally:
        for f in files.values():
            f.close()
    return rows


def measure(mode: str, folder: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, mode, str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    print(
        f"{'children':>9} {'rows':>8} {'MB':>6} {'exchange/s':>11} {'bare/s':>10} {'ratio':>6} "
        f"{'exchange RSS MB':>16} {'bare RSS MB':>12}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench903-") as tmp:
            folder = Path(tmp)
            rows = generate(size, folder)
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

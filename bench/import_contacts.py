"""Benchmark: contact CSV import (rows/s and peak memory) on the configured database.

    python bench/import_contacts.py --rows 1000000                       # TEXTBANK_DATABASE_URL
    python bench/import_contacts.py --rows 100000 --database-url sqlite:///bench.db

Generates an N-row CSV (realistic North American numbers and zips, about 2% duplicates and 2% bad
cells), imports it into a fresh draft campaign with ``core.contacts_import.import_contacts``, prints the
summary, rows/s, the process's peak RSS, and a line to paste into docs/PERFORMANCE.md. The campaign is
deleted afterwards unless --keep is given.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import zipcodes  # noqa: E402

from core.campaigns import create_campaign  # noqa: E402
from core.contacts_import import import_contacts  # noqa: E402
from core.orgs import command_line_user, default_organization  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from storage.models import Campaign  # noqa: E402

FIRST = ["Ana", "Ben", "Chloé", "Dev", "Emma", "Farid", "Grace", "Hiro", "Inés", "Jamal", "Kim", "Luis"]
LAST = ["Garcia", "Smith", "Nguyen", "Johnson", "Okafor", "Brown", "Kowalski", "Lee", "Patel", "Davis"]
PLACES = ["Lincoln High Gym", "Fire Station 4", "Public Library", "St. Mark's Hall", "City Hall, Room 2"]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, rows: int, seed: int = 2026) -> None:
    """Write ``rows`` contacts to ``path``, streaming (nothing is held in memory)."""
    rnd = random.Random(seed)
    zips = [(z["zip_code"], z["area_codes"]) for z in zipcodes.filter_by() if z["area_codes"]]
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["first_name", "last_name", "cell", "zip", "pollingPlace"])
        for i in range(rows):
            zip_code, area_codes = rnd.choice(zips)
            roll = rnd.random()
            if roll < 0.02 and recent:
                cell = rnd.choice(recent)  # a duplicate
            elif roll < 0.04:
                cell = f"555-{rnd.randrange(1000, 9999)}"  # no area code: invalid
            else:
                number = f"{rnd.choice(area_codes)}{rnd.randrange(200, 1000)}{rnd.randrange(10000):04d}"
                shape = i % 4
                if shape == 0:
                    cell = number
                elif shape == 1:
                    cell = f"({number[:3]}) {number[3:6]}-{number[6:]}"
                elif shape == 2:
                    cell = f"+1{number}"
                else:
                    cell = f"1-{number[:3]}-{number[3:6]}-{number[6:]}"
                if len(recent) < 1000:
                    recent.append(cell)
                else:
                    recent[rnd.randrange(1000)] = cell
            zip_shown = "" if rnd.random() < 0.1 else zip_code
            out.writerow([rnd.choice(FIRST), rnd.choice(LAST), cell, zip_shown, rnd.choice(PLACES)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url", default=os.environ.get("TEXTBANK_DATABASE_URL", "sqlite:///textbank.db")
    )
    parser.add_argument("--csv", type=Path, help="reuse or keep the generated CSV at this path")
    parser.add_argument("--keep", action="store_true", help="keep the campaign and its contacts")
    parser.add_argument(
        "--staged",
        action="store_true",
        help="PostgreSQL: stage the whole file, then load it (import_contacts(overlap=False), as before)",
    )
    args = parser.parse_args()

    workdir = tempfile.TemporaryDirectory(prefix="textbank-bench-")
    path = args.csv or Path(workdir.name) / "contacts.csv"
    if not path.exists():
        started = time.perf_counter()
        generate(path, args.rows)
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in "
            f"{time.perf_counter() - started:.1f} s"
        )

    upgrade(args.database_url)
    db = Database(args.database_url)
    with db.session() as session:
        org = default_organization(session)
        campaign = create_campaign(
            session,
            org.id,
            actor=command_line_user(session, org, "bench"),
            title=f"bench import {datetime.now(UTC):%Y-%m-%d %H:%M:%S.%f}",
        )
        campaign_id = campaign.id

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    summary = import_contacts(db, campaign_id, path, overlap=not args.staged)
    elapsed = time.perf_counter() - started
    rss_peak = peak_rss_mb()

    if not args.keep:
        with db.session() as session:
            session.delete(session.get(Campaign, campaign_id))
    db.dispose()
    workdir.cleanup()

    engine = "PostgreSQL" if db.is_postgres else "SQLite"
    rate = summary.rows / elapsed
    print(
        f"engine: {engine}  rows read: {summary.rows:,}  imported: {summary.imported:,}  "
        f"skipped: {summary.skipped}"
    )
    print(
        f"time: {elapsed:.2f} s  rate: {rate:,.0f} rows/s  peak RSS: {rss_peak:.0f} MB "
        f"(before the import: {rss_before:.0f} MB)"
    )
    print(
        f"| contact import | {engine} | {summary.rows:,} rows | {elapsed:.1f} s | {rate:,.0f} rows/s | "
        f"peak RSS {rss_peak:.0f} MB | {os.cpu_count()} cores, Python {platform.python_version()} | "
        f"{datetime.now(UTC):%Y-%m-%d} |"
    )


if __name__ == "__main__":
    main()

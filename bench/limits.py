"""Benchmark: textbank's hot paths against plain SQL doing the same database work on the same tables.

Each path runs alternately with its reference in the same process and the same database, ``--rounds``
times each, on fresh rows every time; the report gives each side's rate and their ratio (textbank's rate
over the reference's, the median of the rounds):

- ``send``: a Send click as the chat layer's button makes it: ``core.sending.send_and_next`` (the send
  and the next card, the texter carried by the click), 64 clicks per transaction as ``DbWork.batched``
  groups them. Reference: the same guarded UPDATE, queued INSERT and next-card read as one statement per
  click on PostgreSQL (a data-modifying CTE; three statements on SQLite), through the driver alone, with
  the script held in memory. ``send_apart``: the calls the button made before (user loaded,
  ``send_initial``, campaign loaded, ``next_initial``), against the same reference, for an A/B.
- ``claim``: Request More as the chat layer makes it: ``core.assignment.request_initials_for`` (a batch
  of 200; the texter carried, the campaign read with the locked membership), one transaction per claim.
  Reference: the membership row locked, then one
  ``UPDATE ... WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED LIMIT 200))``. ``claim_apart``:
  the campaign and the user loaded, then ``request_initials``, as before.
- ``import``: ``core.contacts_import.import_contacts`` of a CSV. Reference: the same rows parsed with the
  csv module and loaded with one COPY into contacts (PostgreSQL), or one executemany (SQLite).
  ``import_apart``: ``import_contacts(..., overlap=False)``, the whole file parsed and staged before it
  is loaded, as before. ``import_rev``: ``core/contacts_import.py`` as it was at ``--import-rev`` (a git
  revision; the rest of the code as it is now), for an A/B of a change in one run.

Every round checks its work: each clicked contact messaged with exactly one queued row, each claim's
contacts assigned to its texter alone, each import's row count.

    python bench/limits.py                                       # PostgreSQL (the local test database)
    python bench/limits.py --url sqlite:// --paths send,claim    # SQLite, in a temporary file
    python bench/limits.py --paths send,send_apart,claim,claim_apart   # each path and the calls before
    python bench/limits.py --profile send                        # textbank's side under pyinstrument

PostgreSQL runs in a throw-away schema, dropped at the end.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _common import DEFAULT_URL, INITIAL, insert_contacts, launched_campaign, machine, throwaway_database  # noqa: E402

from core import assignment, contacts_import, sending  # noqa: E402
from core.orgs import get_user  # noqa: E402
from core.zones import zone_for_zip  # noqa: E402
from storage import Database  # noqa: E402
from storage.models import (  # noqa: E402
    Campaign,
    Contact,
    Message,
    User,
)
from storage.types import utcnow  # noqa: E402

CLICKS_PER_TRANSACTION = 64
CLAIM_BATCH = 200
serial = iter(range(1, 10**9))


@dataclass
class Round:
    side: str  # textbank | reference
    units: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.units / self.seconds


# --- fixtures ------------------------------------------------------------------------------------------


def campaign_with_texters(db: Database, texters: int) -> tuple[int, int, list[int]]:
    """A launched campaign texting at any hour, its script, and texters: (org, campaign, user ids)."""
    return launched_campaign(db, texters, hours_start=0, hours_end=0, initials_batch_size=CLAIM_BATCH)


def add_contacts(
    db: Database, campaign_id: int, owners: list[int | None], per_owner: int
) -> dict[Any, list[int]]:
    """``per_owner`` contacts for each of ``owners`` (None: unassigned); their ids by owner, oldest first."""
    return insert_contacts(db, campaign_id, [owner for owner in owners for _ in range(per_owner)])


def interleaved(by_user: dict[Any, list[int]]) -> list[tuple[int, int]]:
    """Clicks as texters make them side by side: each texter's first contact, then each one's second..."""
    lists = list(by_user.items())
    longest = max(len(ids) for _, ids in lists)
    return [(user, ids[i]) for i in range(longest) for user, ids in lists if i < len(ids)]


# --- send --------------------------------------------------------------------------------------------------


def texters_of(db: Database, clicks: list[tuple[int, int]]) -> dict[int, sending.Texter]:
    """The clicking texters as each click carries them (the chat layer's actor)."""
    with db.read() as session:
        users = session.execute(
            select(User.id, User.organization_id, User.name).where(User.id.in_({u for u, _ in clicks}))
        ).all()
    return {user_id: sending.Texter(user_id, org_id, name) for user_id, org_id, name in users}


def send_textbank(db: Database, campaign_id: int, clicks: list[tuple[int, int]]) -> int:
    """The clicks as the chat layer's Send makes them: one ``send_and_next`` call each."""
    texters = texters_of(db, clicks)
    sent = 0
    for start in range(0, len(clicks), CLICKS_PER_TRANSACTION):
        with db.session() as session:
            for user_id, contact_id in clicks[start : start + CLICKS_PER_TRANSACTION]:
                clicked = sending.send_and_next(session, texters[user_id], campaign_id, contact_id)
                sent += clicked.result.sent
    return sent


def send_apart(db: Database, campaign_id: int, clicks: list[tuple[int, int]]) -> int:
    """The clicks as the chat layer made them before ``send_and_next`` (for an A/B in one run): the user
    loaded, ``send_initial``, the campaign loaded, ``next_initial``."""
    sent = 0
    for start in range(0, len(clicks), CLICKS_PER_TRANSACTION):
        with db.session() as session:
            for user_id, contact_id in clicks[start : start + CLICKS_PER_TRANSACTION]:
                user = get_user(session, user_id)
                result = sending.send_initial(session, user, contact_id)
                campaign = session.get(Campaign, campaign_id)
                assert campaign is not None
                sending.next_initial(session, campaign, user)
                sent += result.sent
    return sent


PG_CLICK = """
WITH moved AS (
    UPDATE contacts SET status = 'messaged', last_message_at = %(now)s
    WHERE id = %(cid)s AND status = 'needs_message' AND assigned_user_id = %(uid)s AND NOT opted_out
      AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.organization_id = %(org)s AND o.cell = contacts.cell)
    RETURNING id, campaign_id, cell
), queued AS (
    INSERT INTO messages (contact_id, campaign_id, cell, direction, body, media, user_id, status, attempts,
                          created_at)
    SELECT id, campaign_id, cell, 'out', %(body)s, '[]', %(uid)s, 'queued', 0, %(now)s FROM moved
    RETURNING id
)
SELECT (SELECT id FROM queued), n.id, n.first_name, n.last_name, n.timezone,
       (SELECT count(*) FROM contacts r WHERE r.assigned_user_id = %(uid)s AND r.campaign_id = %(camp)s
          AND r.status = 'needs_message' AND r.id <> %(cid)s AND NOT r.opted_out)
FROM (SELECT 1) one LEFT JOIN LATERAL (
    SELECT id, first_name, last_name, timezone FROM contacts
    WHERE assigned_user_id = %(uid)s AND campaign_id = %(camp)s AND status = 'needs_message'
      AND id <> %(cid)s AND NOT opted_out
    ORDER BY id LIMIT 1
) n ON true
"""
SQLITE_SEND = (
    "UPDATE contacts SET status = 'messaged', last_message_at = :now WHERE id = :cid"
    " AND status = 'needs_message' AND assigned_user_id = :uid AND NOT opted_out"
    " AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.organization_id = :org AND o.cell = contacts.cell)"
)
SQLITE_QUEUE = (
    "INSERT INTO messages (contact_id, campaign_id, cell, direction, body, media, user_id, status, attempts,"
    " created_at) SELECT id, campaign_id, cell, 'out', :body, '[]', :uid, 'queued', 0, :now FROM contacts"
    " WHERE id = :cid"
)
SQLITE_NEXT = (
    "SELECT id, first_name, last_name, timezone, (SELECT count(*) FROM contacts r WHERE r.assigned_user_id"
    " = :uid AND r.campaign_id = :camp AND r.status = 'needs_message' AND NOT r.opted_out) FROM contacts"
    " WHERE assigned_user_id = :uid AND campaign_id = :camp AND status = 'needs_message' AND NOT opted_out"
    " ORDER BY id LIMIT 1"
)


def render(first: str, last: str, texter: str) -> str:
    return INITIAL.replace("{firstName}", first).replace("{lastName}", last).replace("{texterName}", texter)


def send_reference(db: Database, org_id: int, campaign_id: int, clicks: list[tuple[int, int]]) -> int:
    """The same clicks in plain SQL through the driver; the card's contact (name) is known from the last
    click's answer, as the texter's card carries it."""
    names = {}
    with db.engine.connect() as conn:
        texters = {user_id for user_id, _ in clicks}
        for user_id, name in conn.execute(select(User.id, User.name).where(User.id.in_(texters))):
            names[user_id] = name
        first = dict(
            conn.execute(
                select(Contact.id, Contact.first_name).where(Contact.campaign_id == campaign_id)
            ).all()
        )
    raw = db.engine.raw_connection()
    sent = 0
    try:
        cursor = raw.cursor()
        now = utcnow() if db.is_postgres else utcnow().isoformat(sep=" ")
        for start in range(0, len(clicks), CLICKS_PER_TRANSACTION):
            for user_id, contact_id in clicks[start : start + CLICKS_PER_TRANSACTION]:
                body = render(first[contact_id], "", names[user_id])
                params = {
                    "now": now,
                    "cid": contact_id,
                    "uid": user_id,
                    "org": org_id,
                    "body": body,
                    "camp": campaign_id,
                }
                if db.is_postgres:
                    cursor.execute(PG_CLICK, params)
                    message_id = cursor.fetchone()[0]
                else:
                    cursor.execute(SQLITE_SEND, params)
                    message_id = None
                    if cursor.rowcount == 1:
                        cursor.execute(SQLITE_QUEUE, params)
                        message_id = cursor.lastrowid
                    cursor.execute(SQLITE_NEXT, params)
                    cursor.fetchone()
                sent += message_id is not None
            raw.commit()
    finally:
        raw.close()
    return sent


def check_sent(db: Database, clicks: list[tuple[int, int]]) -> None:
    ids = [contact_id for _, contact_id in clicks]
    with db.read() as session:
        statuses = set(session.scalars(select(Contact.status).where(Contact.id.in_(ids))))
        rows = session.execute(
            select(Message.contact_id, func.count())
            .where(Message.contact_id.in_(ids))
            .group_by(Message.contact_id)
        ).all()
    assert statuses == {"messaged"}, statuses
    assert len(rows) == len(ids) and {n for _, n in rows} == {1}, "a contact without exactly one queued text"


def bench_send(
    db: Database, args: argparse.Namespace, ours: Callable[..., int] = send_textbank
) -> tuple[list[Round], str]:
    rounds = []
    for index in range(args.rounds * 2):
        side = "textbank" if index % 2 == 0 else "reference"
        org_id, campaign_id, users = campaign_with_texters(db, args.texters)
        clicks = interleaved(add_contacts(db, campaign_id, users, args.clicks // args.texters))
        started = time.perf_counter()
        if side == "textbank":
            sent = ours(db, campaign_id, clicks)
        else:
            sent = send_reference(db, org_id, campaign_id, clicks)
        rounds.append(Round(side, sent, time.perf_counter() - started))
        assert sent == len(clicks), (side, sent, len(clicks))
        check_sent(db, clicks)
    return rounds, "clicks/s (send + next card)"


def bench_send_apart(db: Database, args: argparse.Namespace) -> tuple[list[Round], str]:
    return bench_send(db, args, send_apart)


# --- claim -------------------------------------------------------------------------------------------------


def claim_textbank(db: Database, campaign_id: int, users: list[int]) -> dict[int, list[int]]:
    """The claims as the chat layer's Request More makes them: ``request_initials_for`` (the texter
    carried by the click, the campaign read with the locked membership), one transaction each."""
    texters = texters_of(db, [(user_id, 0) for user_id in users])
    claimed = {}
    for user_id in users:
        with db.session() as session:
            result = assignment.request_initials_for(session, texters[user_id], campaign_id).result
            claimed[user_id] = result.contact_ids
    return claimed


def claim_apart(db: Database, campaign_id: int, users: list[int]) -> dict[int, list[int]]:
    """The claims as the click made them before (for an A/B): campaign and user loaded, then
    ``request_initials``."""
    claimed = {}
    for user_id in users:
        with db.session() as session:
            campaign = session.get(Campaign, campaign_id)
            assert campaign is not None
            result = assignment.request_initials(session, campaign, get_user(session, user_id))
            claimed[user_id] = result.contact_ids
    return claimed


PG_LOCK_MEMBER = (
    "SELECT max_initials FROM campaign_texters WHERE campaign_id = %(camp)s AND user_id = %(uid)s FOR UPDATE"
)
PG_CLAIM = """
UPDATE contacts SET assigned_user_id = %(uid)s, assigned_at = now()
WHERE id = ANY(ARRAY(
    SELECT id FROM contacts c
    WHERE c.campaign_id = ANY(ARRAY[%(camp)s]::bigint[]) AND c.status = 'needs_message'
      AND c.assigned_user_id IS NULL AND NOT c.escalated AND NOT c.opted_out
      AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.organization_id = %(org)s AND o.cell = c.cell)
      AND coalesce(c.timezone, %(tz)s) = ANY(%(zones)s)
    ORDER BY c.campaign_id, c.id LIMIT %(n)s FOR UPDATE SKIP LOCKED
)) AND assigned_user_id IS NULL
RETURNING id
"""
SQLITE_LOCK_MEMBER = "SELECT max_initials FROM campaign_texters WHERE campaign_id = :camp AND user_id = :uid"
SQLITE_CLAIM = """
UPDATE contacts SET assigned_user_id = :uid, assigned_at = :now
WHERE id IN (
    SELECT id FROM contacts c
    WHERE c.campaign_id = :camp AND c.status = 'needs_message' AND c.assigned_user_id IS NULL
      AND NOT c.escalated AND NOT c.opted_out
      AND NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.organization_id = :org AND o.cell = c.cell)
      AND coalesce(c.timezone, :tz) IN (SELECT value FROM json_each(:zones))
    ORDER BY c.id LIMIT :n
) AND assigned_user_id IS NULL
RETURNING id
"""


def claim_reference(db: Database, org_id: int, campaign_id: int, users: list[int]) -> dict[int, list[int]]:
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        tz = campaign.timezone
        zones = assignment.open_zones(campaign, utcnow())  # the same filter: contacts inside their hours
    raw = db.engine.raw_connection()
    claimed = {}
    try:
        cursor = raw.cursor()
        if db.is_postgres:  # as textbank's claim: its commit need not wait for the WAL flush
            cursor.execute("SET synchronous_commit TO OFF")
            raw.commit()
        for user_id in users:
            params: dict[str, Any] = {"camp": campaign_id, "uid": user_id, "org": org_id, "n": CLAIM_BATCH}
            params.update(tz=tz, zones=zones if db.is_postgres else json.dumps(zones))
            if not db.is_postgres:
                params["now"] = utcnow().isoformat(sep=" ")
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(PG_LOCK_MEMBER if db.is_postgres else SQLITE_LOCK_MEMBER, params)
            cursor.fetchone()
            cursor.execute(PG_CLAIM if db.is_postgres else SQLITE_CLAIM, params)
            claimed[user_id] = [row[0] for row in cursor.fetchall()]
            raw.commit()
    finally:
        raw.close()
    return claimed


def check_claimed(db: Database, campaign_id: int, claimed: dict[int, list[int]]) -> None:
    with db.read() as session:
        held = session.execute(
            select(Contact.id, Contact.assigned_user_id).where(
                Contact.campaign_id == campaign_id, Contact.assigned_user_id.is_not(None)
            )
        ).all()
    expected = {contact_id: user_id for user_id, ids in claimed.items() for contact_id in ids}
    assert dict(held) == expected and len(expected) == sum(len(ids) for ids in claimed.values())
    assert all(len(ids) == CLAIM_BATCH for ids in claimed.values()), "a claim came back short"


def bench_claim(
    db: Database, args: argparse.Namespace, ours: Callable[..., dict[int, list[int]]] = claim_textbank
) -> tuple[list[Round], str]:
    rounds = []
    for index in range(args.rounds * 2):
        side = "textbank" if index % 2 == 0 else "reference"
        org_id, campaign_id, users = campaign_with_texters(db, args.claims)
        add_contacts(db, campaign_id, [None], args.claims * CLAIM_BATCH + CLAIM_BATCH)
        started = time.perf_counter()
        if side == "textbank":
            claimed = ours(db, campaign_id, users)
        else:
            claimed = claim_reference(db, org_id, campaign_id, users)
        rounds.append(Round(side, len(claimed), time.perf_counter() - started))
        check_claimed(db, campaign_id, claimed)
    return rounds, f"claims/s ({CLAIM_BATCH} contacts each)"


def bench_claim_apart(db: Database, args: argparse.Namespace) -> tuple[list[Round], str]:
    return bench_claim(db, args, claim_apart)


# --- import ------------------------------------------------------------------------------------------------


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["first name", "last name", "cell", "zip", "external id", "district"])
        base = next(serial) * 10_000_000 % 8_000_000
        for i in range(rows):
            writer.writerow(
                [f"First{i}", f"Last{i}", f"+1212{2000000 + (base + i) % 8000000:07d}", "10001", i, "NY-12"]
            )


COPY_COLUMNS = (
    "campaign_id, cell, first_name, last_name, zip, external_id, custom_fields, timezone, status, opted_out,"
    " escalated, created_at"
)


def import_reference(db: Database, campaign_id: int, path: Path) -> int:
    """The same rows loaded as they are: csv module, one COPY (PostgreSQL) or executemany (SQLite)."""
    raw = db.engine.raw_connection()
    now = utcnow() if db.is_postgres else utcnow().isoformat(sep=" ")
    count = 0
    try:
        cursor = raw.cursor()
        with path.open(newline="") as source:
            reader = csv.reader(source)
            next(reader)
            rows = (
                (campaign_id, cell, first, last, zip_code, external, json.dumps({"district": district}))
                + ("America/New_York", "needs_message", False, False, now)
                for first, last, cell, zip_code, external, district in reader
            )
            if db.is_postgres:
                with cursor.copy(f"COPY contacts ({COPY_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        count += 1
            else:
                listed = list(rows)
                cursor.executemany(
                    f"INSERT INTO contacts ({COPY_COLUMNS}) VALUES ({', '.join('?' * 12)})", listed
                )
                count = len(listed)
        raw.commit()
    finally:
        raw.close()
    return count


def bench_import(
    db: Database, args: argparse.Namespace, overlap: bool = True, module: Any = contacts_import
) -> tuple[list[Round], str]:
    rounds = []
    zone_for_zip("10001")  # the zip table is built once per process (a running textbank has it already)
    with tempfile.TemporaryDirectory(prefix="textbank-limits-") as temporary:
        for index in range(args.rounds * 2):
            rounds.append(_import_round(db, args, Path(temporary), index, overlap, module))
    return rounds, "rows/s"


def _import_round(
    db: Database, args: argparse.Namespace, folder: Path, index: int, overlap: bool, module: Any
) -> Round:
    side = "textbank" if index % 2 == 0 else "reference"
    _, campaign_id, _ = campaign_with_texters(db, 0)
    path = folder / f"contacts-{index}.csv"
    write_csv(path, args.rows)
    started = time.perf_counter()
    if side == "textbank":
        loaded = module.import_contacts(db, campaign_id, path, overlap=overlap).imported
    else:
        loaded = import_reference(db, campaign_id, path)
    elapsed = time.perf_counter() - started
    with db.read() as session:
        stored = session.scalar(select(func.count()).where(Contact.campaign_id == campaign_id))
    assert loaded == stored == args.rows, (side, loaded, stored, args.rows)
    path.unlink()
    return Round(side, loaded, elapsed)


def bench_import_apart(db: Database, args: argparse.Namespace) -> tuple[list[Round], str]:
    return bench_import(db, args, overlap=False)


def bench_import_rev(db: Database, args: argparse.Namespace) -> tuple[list[Round], str]:
    source = subprocess.run(
        ["git", "show", f"{args.import_rev}:core/contacts_import.py"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.TemporaryDirectory(prefix="textbank-import-rev-") as temporary:
        file = Path(temporary) / "contacts_import_rev.py"
        file.write_text(source)
        spec = importlib.util.spec_from_file_location("contacts_import_rev", file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)  # loaded: the file is no longer needed
    return bench_import(db, args, module=module)


# --- the run -----------------------------------------------------------------------------------------------

PATHS: dict[str, Callable[[Database, argparse.Namespace], tuple[list[Round], str]]] = {
    "send": bench_send,
    "claim": bench_claim,
    "import": bench_import,
    "send_apart": bench_send_apart,
    "claim_apart": bench_claim_apart,
    "import_apart": bench_import_apart,
    "import_rev": bench_import_rev,
}


def report(path: str, rounds: list[Round], unit: str) -> None:
    ours = [r.rate for r in rounds if r.side == "textbank"]
    ref = [r.rate for r in rounds if r.side == "reference"]
    ratios = [a / b for a, b in zip(ours, ref, strict=True)]
    each = ", ".join(f"{x:,.0f}" for x in ours)
    print(
        f"{path}: textbank {statistics.median(ours):,.0f} {unit} (rounds {each}); "
        f"reference {statistics.median(ref):,.0f} (rounds {', '.join(f'{x:,.0f}' for x in ref)}); "
        f"ratio {statistics.median(ratios):.2f} (rounds {', '.join(f'{x:.2f}' for x in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url", default=DEFAULT_URL, help="PostgreSQL URL, or sqlite:// for a temporary file"
    )
    parser.add_argument(
        "--paths",
        default="send,claim,import",
        help="which of send, claim, import; send_apart, claim_apart, import_apart: the calls before (an A/B)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each side, alternating")
    parser.add_argument("--clicks", type=int, default=6400, help="Send clicks per round")
    parser.add_argument("--texters", type=int, default=100, help="texters clicking side by side")
    parser.add_argument("--claims", type=int, default=200, help="claims per round")
    parser.add_argument("--rows", type=int, default=100_000, help="CSV rows per import round")
    parser.add_argument(
        "--import-rev",
        default="main",
        help="the git revision of core/contacts_import.py that import_rev runs",
    )
    parser.add_argument(
        "--profile", choices=sorted(PATHS), help="run textbank's side of one path under pyinstrument"
    )
    args = parser.parse_args()
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(paths) - set(PATHS)
    if unknown:
        parser.error(f"unknown path(s) {', '.join(sorted(unknown))}: use {', '.join(PATHS)}")

    print(machine())
    with throwaway_database(args.url, "limits") as url:
        db = Database(url)
        print(f"database: {db.dialect}")
        if args.profile:
            profile(db, args)
        for path in paths:
            rounds, unit = PATHS[path](db, args)
            report(path, rounds, unit)
        db.dispose()
    print(machine())


def profile(db: Database, args: argparse.Namespace) -> None:
    """One round of each side of ``--profile`` under pyinstrument (pip install pyinstrument), printed."""
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    PATHS[args.profile](db, argparse.Namespace(**{**vars(args), "rounds": 1}))
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))


if __name__ == "__main__":
    main()

"""Inbound texts stored as a batch: the same outcome as each text on its own, in fewer statements."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from core.inbound import (
    InboundResult,
    InboundText,
    cell_of,
    receive_inbound,
    receive_inbound_batch,
    receive_text,
)
from core.orgs import default_organization
from core.phones import normalize
from core.sending import send_initial
from storage import Database
from storage.models import Base, Campaign, Contact, Message, Notice, OptOut, PlatformIdentity, User
from tests.core.factories import (
    add_contacts,
    at,
    make_admin,
    make_launched_campaign,
    make_script,
    make_texter,
    race_desk,
)

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")
LATER = NOON_NY + timedelta(minutes=5)
OUR_NUMBER = "+12125550100"


def build_world(db: Database) -> dict[str, str]:
    """Every kind of conversation a text can land in; returns the cells by name."""
    with db.session() as s:
        org = default_organization(s)
        org.optout_phrases = ["Remove me"]
        org.optout_confirmation = "You will get no more texts from us."
        tess = make_texter(s, org, "Tess")
        dana = make_texter(s, org, "Dana")
        s.add(
            PlatformIdentity(
                user_id=dana.id,
                platform="discord",
                workspace_id="G1",
                platform_user_id="D1",
                display_name="Dana",
            )
        )
        cli = make_texter(s, org, "Cli", platform=None)
        make_admin(s, org, "Ada")
        campaign = make_launched_campaign(s, org, 0, texters=[tess, dana, cli], title="main")
        own = make_launched_campaign(s, org, 0, texters=[tess], title="own sender", sender="MGaaa")
        for c in (campaign, own):
            make_script(s, c)
        names = [
            "plain",
            "media",
            "twice",
            "stop",
            "phrase",
            "please",
            "me_route",
            "unassigned",
            "escalated",
            "out",
        ]
        contacts = dict(
            zip(
                names,
                add_contacts(
                    s,
                    campaign,
                    len(names),
                    assigned_to=tess,
                    cells=[f"+1212555{1000 + i:04d}" for i in range(len(names))],
                ),
                strict=True,
            )
        )
        [dana_contact] = add_contacts(s, campaign, 1, cells=["+12125552000"], assigned_to=dana)
        [cli_contact] = add_contacts(s, campaign, 1, cells=["+12125553000"], assigned_to=cli)
        [own_contact] = add_contacts(s, own, 1, cells=[contacts["plain"].cell], assigned_to=dana)
        for contact in [*contacts.values(), dana_contact, cli_contact]:
            assert send_initial(s, s.get(User, contact.assigned_user_id), contact.id, now=NOON_NY).sent
        assert send_initial(s, dana, own_contact.id, now=NOON_NY + timedelta(minutes=1)).sent
        contacts["me_route"].assigned_user_id = None
        contacts["me_route"].reply_route = "me"
        contacts["unassigned"].assigned_user_id = None
        contacts["escalated"].assigned_user_id = None
        contacts["escalated"].escalated = True
        contacts["out"].opted_out = True
        cells = {name: contact.cell for name, contact in contacts.items()}
        cells["dana"] = dana_contact.cell
        cells["cli"] = cli_contact.cell
    with db.session() as s:
        receive_inbound(s, from_cell=cells["plain"], to=OUR_NUMBER, body="earlier", provider_sid="SMearlier")
    return cells


def texts_for(cells: dict[str, str]) -> list[InboundText]:
    def text(cell: str, body: str, sid: str, **kwargs: object) -> InboundText:
        return InboundText(from_cell=cell, to=OUR_NUMBER, body=body, provider_sid=sid, **kwargs)  # type: ignore[arg-type]

    return [
        text(cells["plain"], "Yes", "SM01"),
        text(cells["media"], "see this", "SM02", media=["https://m/1.jpg"]),
        text(cells["twice"], "one", "SM03"),
        text(cells["stop"], "STOP", "SM04"),
        text(cells["twice"], "two", "SM05"),
        text(cells["phrase"], "remove me!", "SM06"),
        text(cells["please"], "STOP please", "SM07"),
        text(cells["me_route"], "hello again", "SM08"),
        text(cells["unassigned"], "anyone there?", "SM09"),
        text(cells["escalated"], "I want a manager", "SM10"),
        text(cells["out"], "why?", "SM11"),
        text(cells["dana"], "for Dana", "SM12"),
        text(cells["cli"], "for Cli", "SM13"),
        text("+13125550001", "who is this?", "SM14"),
        text(cells["plain"], "to the other campaign", "SM15", messaging_service_sid="MGaaa"),
        text(cells["media"], "see this", "SM02", media=["https://m/1.jpg"]),  # a retry in the same batch
        text(cells["plain"], "earlier", "SMearlier"),  # a retry of a text stored before
    ]


def snapshot(db: Database, results: list[InboundResult]) -> dict[str, object]:
    """What the texts changed, by names and numbers (row ids differ between two builds of the world)."""
    with db.read() as s:
        contact_of = {
            c.id: (c.cell, s.get(Campaign, c.campaign_id).title) for c in s.scalars(select(Contact))
        }
        user_of = {u.id: u.name for u in s.scalars(select(User))}
        sid_of = {m.id: m.provider_sid for m in s.scalars(select(Message))}
        return {
            "results": [
                (
                    r.stored,
                    r.opted_out,
                    r.unclaimed,
                    r.campaign_title,
                    r.campaign_kind,
                    contact_of[r.contact_id],
                )
                + (sid_of[r.message_id],)
                for r in results
            ],
            "messages": sorted(
                (m.direction, m.provider_sid or "", m.body, m.media, m.cell, m.sender or "", m.status)
                + contact_of[m.contact_id]
                for m in s.scalars(select(Message))
            ),
            "contacts": sorted(
                (
                    c.cell,
                    c.status,
                    c.opted_out,
                    user_of.get(c.assigned_user_id or 0, ""),
                    str(c.last_inbound_at),
                )
                for c in s.scalars(select(Contact))
            ),
            "notices": sorted(
                (n.platform, user_of[n.user_id or 0], n.kind, sid_of.get(n.message_id or 0) or "")
                + (contact_of[n.contact_id or 0], _payload(s, n.payload))
                for n in s.scalars(select(Notice))
            ),
            "optouts": sorted((o.cell, o.source, o.reason) for o in s.scalars(select(OptOut))),
        }


def _payload(session: Session, payload: dict[str, object]) -> str:
    # A campaign's id differs between two builds of the world: its title does not.
    named = {**payload}
    if "campaign_id" in named:
        named["campaign_id"] = session.get(Campaign, named["campaign_id"]).title
    return json.dumps(named, sort_keys=True)


def wipe(db: Database) -> None:
    with db.session() as s:
        for table in reversed(Base.metadata.sorted_tables):
            s.execute(table.delete())


def test_a_batch_ends_as_each_text_on_its_own_would(db):
    cells = build_world(db)
    texts = texts_for(cells)
    with db.session() as s:
        one_by_one = [receive_text(s, t, now=LATER) for t in texts]
    expected = snapshot(db, one_by_one)
    wipe(db)
    cells = build_world(db)
    with db.session() as s:
        together = receive_inbound_batch(s, texts_for(cells), now=LATER)
    got = snapshot(db, together)
    for part, rows in expected.items():
        assert got[part] == rows, part
    # The world covered what it should: notices on two platforms and the CLI, a keyword, a retry.
    assert {n[0] for n in expected["notices"]} == {"slack", "discord", "cli"}  # type: ignore[attr-defined]
    assert [r[0] for r in expected["results"]][-2:] == [False, False]  # type: ignore[index]
    assert expected["optouts"] and len(expected["results"]) == len(texts)  # type: ignore[arg-type]


def _statements(db: Database, texts: list[InboundText]) -> int:
    count = 0

    def counted(*_args: object) -> None:
        nonlocal count
        count += 1

    event.listen(db.engine, "before_cursor_execute", counted)
    try:
        with db.session() as s:
            results = receive_inbound_batch(s, texts, now=LATER)
    finally:
        event.remove(db.engine, "before_cursor_execute", counted)
    assert all(r.stored for r in results)
    return count


def test_plain_replies_take_the_same_statements_for_one_text_or_twenty(db):
    with db.session() as s:
        org = default_organization(s)
        tess = make_texter(s, org, "Tess")
        campaign = make_launched_campaign(s, org, 0, texters=[tess])
        make_script(s, campaign)
        contacts = add_contacts(s, campaign, 21, assigned_to=tess)
        for contact in contacts:
            assert send_initial(s, tess, contact.id, now=NOON_NY).sent
    one = _statements(db, [InboundText(contacts[0].cell, OUR_NUMBER, "hi", "SM0")])
    twenty = _statements(
        db, [InboundText(c.cell, OUR_NUMBER, "hi", f"SM{i + 1}") for i, c in enumerate(contacts[1:])]
    )
    assert twenty == one
    with db.read() as s:
        assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply")) == 21
        assert s.scalar(select(func.count(Contact.id)).where(Contact.status == "needs_response")) == 21


def test_racing_batches_of_the_same_texts_store_each_once(db_url):
    threads = 4
    db, _, _, contacts = race_desk(db_url, 12, threads, sent_at=NOON_NY)
    texts = [InboundText(c.cell, OUR_NUMBER, f"reply {i}", f"SM{i}") for i, c in enumerate(contacts)]
    barrier = threading.Barrier(threads)

    def deliver(i: int) -> list[InboundResult]:
        # Each batch holds the same texts in another order: the contacts are locked in one order all the same.
        mine = texts[i:] + texts[:i]
        barrier.wait()
        with db.session() as s:
            return receive_inbound_batch(s, mine)

    try:
        with ThreadPoolExecutor(threads) as pool:
            batches = list(pool.map(deliver, range(threads)))
        assert sum(r.stored for batch in batches for r in batch) == len(texts)
        assert all(len(batch) == len(texts) for batch in batches)
        with db.read() as s:
            assert s.scalar(select(func.count()).where(Message.direction == "in")) == len(texts)
            assert s.scalar(select(func.count(Notice.id)).where(Notice.kind == "reply")) == len(texts)
    finally:
        db.dispose()


def test_a_sender_number_is_read_as_phonenumbers_reads_it():
    rng = random.Random(12)
    numbers = ["+1" + "".join(rng.choice("0123456789") for _ in range(10)) for _ in range(2000)]
    numbers += ["+12125550123", " +12125550123 ", "(212) 555-0123", "212-555-0123", "+442071838750"]
    numbers += ["+4402071838750", "+1212555012", "+121255501234", "12125550123", "short", ""]
    for raw in numbers:
        assert cell_of(raw) == (normalize(raw) or raw.strip()), raw

"""Where a campaign's conversation threads open (``core.thread_channels``), and the ``finished`` notices
that close a conversation's threads when it is closed, opted out or released (``core.notices``)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import conversations, notices, optouts, releases, thread_channels
from core.errors import Refused
from storage import Database
from storage.models import Campaign, ChatThread, Contact, Notice, PlatformIdentity, User, WorkspaceLink
from tests.core.factories import add_contacts, make_admin, make_campaign, make_org, make_texter

SERVER, OTHER = "G1", "G2"


def _world(db: Database) -> dict[str, int | str]:
    with db.session() as s:
        org = make_org(s)
        s.add_all(
            [
                WorkspaceLink(organization_id=org.id, platform="discord", workspace_id=SERVER),
                WorkspaceLink(organization_id=org.id, platform="discord", workspace_id=OTHER),
            ]
        )
        admin = make_admin(s, org, platform="discord", workspace_id=SERVER)
        texter = make_texter(s, org, platform="discord", workspace_id=SERVER)
        drive = make_campaign(s, org, title="Drive")
        walk = make_campaign(s, org, title="Walk")
        discord_id = s.scalar(
            select(PlatformIdentity.platform_user_id).where(PlatformIdentity.user_id == texter.id)
        )
        assert discord_id is not None
        return {"admin": admin.id, "texter": texter.id, "drive": drive.id, "walk": walk.id, "who": discord_id}


def test_a_campaigns_own_channel_wins_over_the_servers_and_only_admins_choose(db: Database) -> None:
    w = _world(db)
    with db.session() as s:
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["drive"])) is None
        with pytest.raises(Refused, match="only an admin"):
            thread_channels.choose(s, int(w["texter"]), "discord", SERVER, "C-drive", "Drive")
        assert thread_channels.choose(s, int(w["admin"]), "discord", SERVER, "C-all") is None
        assert thread_channels.choose(s, int(w["admin"]), "discord", SERVER, "C-drive", "Drive") == "Drive"
        # Another server's choice for Walk is not where this texter's threads go (they are not there).
        thread_channels.choose(s, int(w["admin"]), "discord", OTHER, "C-walk-elsewhere", "Walk")
    with db.read() as s:
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["drive"])) == "C-drive"
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["walk"])) == "C-all"
    with db.session() as s:  # chosen again: the one row changes
        thread_channels.choose(s, int(w["admin"]), "discord", SERVER, "C-drive-2", str(w["drive"]))
    with db.read() as s:
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["drive"])) == "C-drive-2"


def _thread(db: Database, user_id: int, contact_id: int, *, closed: bool = False) -> None:
    with db.session() as s:
        s.add(
            ChatThread(
                platform="discord",
                contact_id=contact_id,
                user_id=user_id,
                channel_id="T",
                thread_id=f"T{contact_id}",
                last_message_id=0,
                closed=closed,
            )
        )


def _finished(db: Database) -> list[tuple[int | None, int | None]]:
    with db.read() as s:
        rows = s.execute(select(Notice.user_id, Notice.contact_id).where(Notice.kind == notices.FINISHED))
        return sorted((r[0], r[1]) for r in rows)


def test_closing_opting_out_and_releasing_queue_the_threads_closing(db: Database) -> None:
    w = _world(db)
    texter = int(w["texter"])
    with db.session() as s:
        campaign = s.get(Campaign, int(w["drive"]))
        ids = [c.id for c in add_contacts(s, campaign, 4)]
        for contact_id in ids:
            contact = s.get(Contact, contact_id)
            assert contact is not None
            contact.assigned_user_id, contact.status = texter, "needs_response"
    for contact_id in ids[:3]:
        _thread(db, texter, contact_id)
    _thread(db, texter, ids[3], closed=True)  # already closed: nothing more to do

    with db.session() as s:
        user = s.get(User, texter)
        conversations.close(s, user, ids[0])
    assert _finished(db) == [(texter, ids[0])]

    with db.session() as s:
        org_id = s.get(Campaign, int(w["drive"])).organization_id
        cell = s.get(Contact, ids[1]).cell
        optouts.opt_out(s, org_id, cell, source="keyword", announced=[ids[1]])
    assert _finished(db) == [(texter, ids[0])]  # the keyword's own notice closes that thread
    with db.session() as s:
        optouts.opt_out(s, org_id, cell, source="carrier")
    assert _finished(db) == [(texter, ids[0]), (texter, ids[1])]

    with db.session() as s:
        user = s.get(User, texter)
        released = releases.done_for_the_day(s, None, user)
    assert released.replies == 2  # ids[2] and ids[3] (ids[3]'s thread is closed already)
    assert _finished(db) == [(texter, ids[0]), (texter, ids[1]), (texter, ids[2])]


def test_another_organizations_server_is_never_where_a_campaigns_threads_open(db: Database) -> None:
    w = _world(db)
    with db.session() as s:
        elsewhere = make_org(s)
        s.add(
            WorkspaceLink(
                organization_id=elsewhere.id, platform="discord", workspace_id="G3", thread_channel_id="C-3"
            )
        )
        # The same Discord member, newest in the other organization's server (which chose a channel).
        other = make_texter(s, elsewhere, platform=None)
        s.add(
            PlatformIdentity(
                user_id=other.id, platform="discord", workspace_id="G3", platform_user_id=str(w["who"])
            )
        )
    with db.read() as s:
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["drive"])) is None
    with db.session() as s:
        thread_channels.choose(s, int(w["admin"]), "discord", SERVER, "C-all")
    with db.read() as s:
        assert thread_channels.for_thread(s, "discord", str(w["who"]), int(w["drive"])) == "C-all"

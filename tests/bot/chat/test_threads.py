"""Thread bookkeeping over any Surface: an in-memory surface stands in for a platform, so the protocol
(each text once, in order, the control message at the bottom, failures handed back) is tested alone."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bot.chat.relay import RelayWorker
from bot.chat.surface import Failure, MessageRef, Place, Surface, ThreadFor
from bot.chat.threads import Threads
from bot.chat.views import Message
from bot.dbwork import DbWork
from core.inbound import receive_inbound
from core.orgs import enter_workspace_user
from core.sending import send_initial
from storage import Database
from tests.core.factories import add_contacts, add_texter, at, make_campaign, make_script

NOON_NY = at(2024, 7, 15, 12, 0, "America/New_York")


class Refusal(Exception):
    pass


class MemorySurface:
    """A platform in memory: channels are lists of (message id, thread id, message)."""

    platform = (
        "discord"  # a platform core knows (notices go to CHAT_PLATFORMS); threads are channels, as there
    )

    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.posted: dict[str, tuple[Place, Message]] = {}
        self.deleted: set[str] = set()
        self.refuse: set[str] = set()  # summaries to refuse once
        self.closed: list[str] = []  # threads closed, in order
        self.reopened: list[str] = []

    def render(self, message: Message) -> Message:
        return message

    async def post(self, place: Place, message: Message) -> MessageRef:
        if message.summary in self.refuse:
            self.refuse.discard(message.summary)
            raise Refusal(message.summary)
        ref = MessageRef(place.channel_id, str(next(self.ids)))
        self.posted[ref.message_id] = (place, message)
        return ref

    async def update(self, ref: MessageRef, message: Message) -> None:
        place, _ = self.posted[ref.message_id]
        self.posted[ref.message_id] = (place, message)

    async def delete(self, ref: MessageRef) -> None:
        self.deleted.add(ref.message_id)

    async def open_dm(self, platform_user_id: str) -> Place:
        return Place("dm-" + platform_user_id)

    async def open_thread(
        self, platform_user_id: str, parent: Message, conversation: ThreadFor
    ) -> tuple[Place, MessageRef]:
        ref = await self.post(Place("threads"), parent)
        return Place("thread-" + ref.message_id), ref

    async def close_thread(self, thread: Place) -> None:
        self.closed.append(thread.channel_id)

    async def reopen_thread(self, thread: Place) -> None:
        self.reopened.append(thread.channel_id)

    def failure(self, exc: BaseException) -> Failure:
        return Failure(isinstance(exc, Refusal), None, str(exc))

    def thread(self, channel: str) -> list[tuple[str, str]]:
        """What a thread shows, oldest first: (kind, summary), deleted messages left out."""
        return [
            (m.kind, m.summary)
            for mid, (place, m) in sorted(self.posted.items(), key=lambda kv: int(kv[0]))
            if place.channel_id == channel and mid not in self.deleted
        ]


@pytest.fixture
def replied(db: Database) -> tuple[int, int]:
    with db.session() as s:
        tess = enter_workspace_user(
            s,
            platform="discord",
            workspace_id="W",
            platform_user_id="tess",
            name="Tess",
            platform_admin=False,
        )
        campaign = make_campaign(s, tess.organization_id, status="launched")
        make_script(s, campaign)
        add_texter(s, campaign, tess)
        [contact] = add_contacts(s, campaign, 1, assigned_to=tess)
        assert send_initial(s, tess, contact.id, now=NOON_NY).sent
        receive_inbound(s, from_cell=contact.cell, to="+1", body="hello?", provider_sid="SMm1", now=NOON_NY)
        return tess.id, contact.id


async def test_the_relay_posts_each_text_once_in_order_with_the_controls_at_the_bottom(
    db: Database, replied: tuple[int, int]
) -> None:
    tess_id, contact_id = replied
    surface = MemorySurface()
    assert isinstance(surface, Surface)
    threads = Threads(surface, DbWork(db))
    assert await RelayWorker(threads).run_once() == (1, 0)
    [channel] = {p.channel_id for p, _ in surface.posted.values() if p.channel_id.startswith("thread-")}
    shown = surface.thread(channel)
    assert [k for k, _ in shown] == ["thread_line", "thread_line", "control"]
    assert shown[1][1].endswith("hello?")
    # Nothing new: a second sync posts no text again, only the controls anew (the old ones deleted).
    assert await threads.sync("tess", tess_id, contact_id)
    assert [k for k, _ in surface.thread(channel)] == ["thread_line", "thread_line", "control"]
    # A refused post is handed back and posted by the next sync, still in order.
    with db.session() as s:
        receive_inbound(s, from_cell=_cell(db, contact_id), to="+1", body="still there?", provider_sid="SMm2")
    surface.refuse.add(next(m.summary for m in _lines(db, tess_id, contact_id) if "still there" in m.summary))
    with pytest.raises(Refusal):
        await threads.sync("tess", tess_id, contact_id)
    assert await threads.sync("tess", tess_id, contact_id)
    final = surface.thread(channel)
    assert [k for k, _ in final] == ["thread_line", "thread_line", "thread_line", "control"]
    assert final[2][1].endswith("still there?")


def _cell(db: Database, contact_id: int) -> str:
    from storage.models import Contact

    with db.read() as s:
        contact = s.get(Contact, contact_id)
        assert contact is not None
        return contact.cell


def _lines(db: Database, user_id: int, contact_id: int) -> list[Message]:
    from bot.chat import texts
    from bot.chat.threads import snapshot

    with db.read() as s:
        snap = snapshot(s, user_id, contact_id)
    return [texts.thread_line(m, snap.view.contact_name, user_id) for m in snap.view.messages]


async def test_a_finished_notice_closes_the_thread_once_and_a_reply_after_it_reopens_the_thread(
    db: Database, replied: tuple[int, int]
) -> None:
    from core import conversations
    from core.orgs import get_user

    tess_id, contact_id = replied
    surface = MemorySurface()
    threads = Threads(surface, DbWork(db))
    relay = RelayWorker(threads)
    assert await relay.run_once() == (1, 0)
    [channel] = {p.channel_id for p, _ in surface.posted.values() if p.channel_id.startswith("thread-")}

    with db.session() as s:  # the texter closes it: core queues the thread's closing with the change
        conversations.close(s, get_user(s, tess_id), contact_id)
    assert await relay.run_once() == (1, 0)
    assert surface.closed == [channel] and surface.reopened == []
    assert not await threads.finish(tess_id, contact_id)  # closed already: nothing more goes out
    assert surface.closed == [channel]

    with db.session() as s:  # the contact writes again: the same thread is reopened before the text
        receive_inbound(
            s, from_cell=_cell(db, contact_id), to="+1", body="one more thing", provider_sid="SMm3"
        )
    assert await relay.run_once() == (1, 0)
    assert surface.reopened == [channel] and surface.closed == [channel]
    shown = surface.thread(channel)
    assert shown[-2][1].endswith("one more thing") and shown[-1][0] == "control"
    assert not await threads.finish(tess_id, contact_id)  # back to life: its thread stays open


class GatedSurface(MemorySurface):
    """A platform that holds its next post until ``gate`` opens (a slow Slack, a long 429)."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()
        self.gate = asyncio.Event()

    async def post(self, place: Place, message: Message) -> MessageRef:
        if not self.gate.is_set():
            self.waiting.set()
            await self.gate.wait()
        return await super().post(place, message)


async def test_a_sync_renews_its_lease_while_it_posts_so_no_other_process_posts_in_between(
    db: Database, replied: tuple[int, int]
) -> None:
    from storage import chat_threads
    from storage.models import ChatThread

    tess_id, contact_id = replied
    surface = GatedSurface()
    threads = Threads(surface, DbWork(db), owner="one")
    threads.renew_every = 0.01  # renewals come often; the database clock is moved by hand below

    def lease_until() -> datetime | None:
        with db.read() as s:
            until = s.scalars(select(ChatThread.lease_until).where(ChatThread.contact_id == contact_id)).one()
            return until.replace(tzinfo=UTC) if until and until.tzinfo is None else until

    def other_process_claims() -> bool:
        with db.session() as s:
            ref, _ = chat_threads.claim(s, "discord", contact_id, tess_id, "dm-tess", "two")
            return ref is not None

    with time_machine.travel(datetime.now(UTC), tick=True) as clock:
        syncing = asyncio.create_task(threads.sync("tess", tess_id, contact_id))
        await asyncio.wait_for(surface.waiting.wait(), 60)  # the thread is leased; its first post hangs
        clock.shift(chat_threads.LEASE - timedelta(seconds=10))
        shifted = datetime.now(UTC)
        for _ in range(6000):  # until a renewal made after the shift is in the row
            until = lease_until()
            if until is not None and until >= shifted + chat_threads.LEASE:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"the lease was not renewed while posting: {lease_until()}")
        clock.shift(timedelta(seconds=20))  # past the lease the claim took
        assert not other_process_claims()
        surface.gate.set()
        assert await asyncio.wait_for(syncing, 60)
        assert other_process_claims()  # let go once the control message is recorded

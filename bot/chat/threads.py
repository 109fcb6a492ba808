"""Conversation threads on any platform: each text posted exactly once, in order, controls at the bottom.

A thread's parent names the contact and campaign; the contact's texts and the texter's sent texts are
posted in order (each exactly once: ``storage.chat_threads.advance`` claims them before posting); the
control message at the bottom holds the state, the current question as a select, the draft reply with
**Send** and **Edit**, and a menu. After any change the control message is posted anew at the bottom and
the old one deleted, so it always sits under the newest text.

Order across processes: a sync takes the thread's lease with its claim (one process at a time posts into
a thread), renews it while it posts (a slow platform or a 429's wait can outlast it) and lets go when it
records the control message; inside a process one sync at a time runs per
conversation. A burst of replies brings many threads up to date at once: their database work is batched
(``bot.dbwork.Batches``), so a hundred syncs cost a few transactions instead of four hundred.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.chat import texts
from bot.chat.surface import MessageRef, Place, Surface, ThreadFor
from bot.chat.views import Message
from bot.dbwork import DbWork
from core import campaigns, conversations, drafts, orgs
from core.errors import Refused
from storage import chat_threads

log = logging.getLogger("textbank.chat.threads")


@dataclass(frozen=True)
class Snapshot:
    view: conversations.ConversationView
    adhoc: bool
    draft: str

    def control(self, note: str = "") -> Message:
        return texts.control_message(self.view, self.draft, note, self.adhoc)


# How often a sync that is posting renews its thread's lease (a third of the lease: two renewals may fail).
RENEW_EVERY = chat_threads.LEASE.total_seconds() / 3


class ThreadBusy(Exception):
    """Another worker is posting into this thread right now: try the notice again shortly."""


@dataclass(frozen=True)
class Plan:
    snap: Snapshot
    ref: chat_threads.ThreadRef
    created: bool
    # The messages this call claimed for posting (chat_threads.advance), oldest first.
    new: list[conversations.MessageView]


def snapshot(session: Session, user_id: int, contact_id: int) -> Snapshot:
    """The conversation as the texter sees it now, with their draft (Refused when no longer theirs)."""
    view = conversations.conversation_view(session, orgs.get_user(session, user_id), contact_id)
    adhoc = campaigns.campaign_kind(session, view.campaign_id) == "adhoc"
    return Snapshot(view, adhoc, drafts.get_draft(session, user_id, contact_id))


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Threads:
    """Posting into conversation threads over one platform's ``Surface``."""

    def __init__(self, surface: Surface, work: DbWork, owner: str | None = None) -> None:
        self.surface = surface
        self.platform = surface.platform
        self.work = work
        # The lease owner: this process and this keeper (two keepers in one process are two owners).
        self.owner = owner or f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.reads = work.batches(write=False, soft=(Refused,), keep_loaded=True, max_batch=50)
        self.writes = work.batches(write=True, soft=(ThreadBusy,), max_batch=50)
        self._held: dict[tuple[int, int], _Held] = {}
        self.renew_every = RENEW_EVERY

    @asynccontextmanager
    async def hold(self, user_id: int, contact_id: int) -> AsyncIterator[None]:
        """One sync at a time per conversation (clicks and relay alike); dropped when nobody holds it.

        A click that changes the conversation and then redraws its controls holds it too, so the relay
        does not close the thread under the redraw (Discord refuses edits in an archived thread).
        """
        key = (user_id, contact_id)
        held = self._held.setdefault(key, _Held())
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if held.users == 0:
                del self._held[key]

    @asynccontextmanager
    async def _leased(self, thread_id: int) -> AsyncIterator[None]:
        """Keep this owner's lease on the thread while the block posts into it."""

        async def keep() -> None:
            while True:
                await asyncio.sleep(self.renew_every)
                if not await self.work.write(lambda s: chat_threads.renew(s, thread_id, self.owner)):
                    log.warning("lost the lease on thread %s: another process may post into it", thread_id)
                    return

        keeper = asyncio.create_task(keep())
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    def _claim(self, session: Session, snap: Snapshot, user_id: int, channel: str) -> Plan:
        """One short write transaction: the thread leased, and its new messages claimed for posting."""
        contact_id = snap.view.contact_id
        ref, created = chat_threads.claim(session, self.platform, contact_id, user_id, channel, self.owner)
        if ref is None:
            raise ThreadBusy(f"another process is posting into the thread of contact {contact_id}")
        if not created and not ref.ready:
            chat_threads.let_go(session, ref.id, self.owner)
            raise ThreadBusy(f"the thread of contact {contact_id} is being created")
        new = [m for m in snap.view.messages if m.id > ref.last_message_id]
        if new and not chat_threads.advance(session, ref.id, ref.last_message_id, new[-1].id):
            new = []  # another worker posts these
        return Plan(snap, ref, created, new)

    def _unwind(
        self, session: Session, plan: Plan, started: tuple[str, str] | None, upto: int, hand_back: bool
    ) -> None:
        """After a failed post: keep the parent that was posted, hand back the texts that were not."""
        if started is not None:
            chat_threads.set_parent(session, plan.ref.id, started)
        if hand_back and plan.new and upto < plan.new[-1].id:
            chat_threads.advance(session, plan.ref.id, plan.new[-1].id, upto)
        chat_threads.let_go(session, plan.ref.id, self.owner)

    def _record(
        self, session: Session, ref: chat_threads.ThreadRef, control: str, started: tuple[str, str] | None
    ) -> str | None:
        old = chat_threads.record(session, ref.id, control, seen_control=ref.control_id, started=started)
        if ref.closed:
            chat_threads.set_closed(session, ref.id, False)
        chat_threads.let_go(session, ref.id, self.owner)
        return old

    async def sync(self, platform_user_id: str, user_id: int, contact_id: int, *, note: str = "") -> bool:
        """Bring the thread up to date: new texts posted in order, the control message anew at the bottom.

        Returns False when the conversation is no longer the user's (nothing is posted then). Raises when
        a post failed; the texts the platform refused are handed back, so the next sync posts them.
        """
        async with self.hold(user_id, contact_id):
            dm = await self.surface.open_dm(platform_user_id)
            try:  # read outside the write lock (SQLite serializes writers)
                snap = await self.reads.run(lambda s: snapshot(s, user_id, contact_id))
            except Refused:
                return False
            plan = await self.writes.run(lambda s: self._claim(s, snap, user_id, dm.channel_id))
            ref = plan.ref
            async with self._leased(ref.id):
                started: tuple[str, str] | None = None  # (channel, thread) this sync started
                if plan.created:
                    try:
                        place, _parent = await self.surface.open_thread(
                            platform_user_id, texts.thread_parent(snap.view), _thread_for(snap)
                        )
                    except BaseException:
                        await self.writes.run(lambda s: chat_threads.forget(s, ref.id))
                        raise
                    started = (place.channel_id, place.thread_id or place.channel_id)
                    ref = chat_threads.ThreadRef(ref.id, *started, None, ref.last_message_id)
                where = _place(ref)
                upto = ref.last_message_id
                try:
                    if ref.closed:  # a finished conversation's thread, open again before anything goes in
                        await self.surface.reopen_thread(where)
                    for message in plan.new:
                        await self.surface.post(
                            where, texts.thread_line(message, snap.view.contact_name, user_id)
                        )
                        upto = message.id
                    posted = await self.surface.post(where, snap.control(note))
                except BaseException as exc:
                    back = isinstance(exc, Exception) and self.surface.failure(exc).not_posted
                    await self.writes.run(lambda s: self._unwind(s, plan, started, upto, back))
                    raise
            old = await self.writes.run(lambda s: self._record(s, ref, posted.message_id, started))
            if old and old != posted.message_id:
                try:
                    await self.surface.delete(MessageRef(ref.channel_id, old))
                except Exception as exc:  # already gone: nothing to tidy
                    log.info("could not delete an old control message: %s", self.surface.failure(exc).reason)
            if snap.view.status == "closed":  # opted out or closed while this was posted: put it away
                await self._close(ref.id, where)
            return True

    async def _close(self, thread_id: int, where: Place) -> None:
        await self.surface.close_thread(where)
        await self.work.write(lambda s: chat_threads.set_closed(s, thread_id, True))

    async def finish(self, user_id: int, contact_id: int) -> bool:
        """Close the thread of a conversation finished for the user (closed, opted out, released).

        A released conversation's controls say so first. Nothing happens when the conversation has no
        open thread or came back to life since; returns whether a thread was closed.
        """
        async with self.hold(user_id, contact_id):
            found = await self.work.read(
                lambda s: chat_threads.finished(s, self.platform, user_id, contact_id)
            )
            if found is None:
                return False
            ref = found.thread
            if found.released and ref.control_id is not None:
                await self.surface.update(
                    MessageRef(ref.channel_id, ref.control_id), texts.released_controls(found.campaign_title)
                )
                await self._drop_control(user_id, contact_id)
            await self._close(ref.id, _place(ref))
            return True

    async def redraw(self, user_id: int, contact_id: int, clicked: MessageRef, *, note: str = "") -> None:
        """Redraw the clicked control message in place (a choice that sends nothing)."""
        try:
            snap = await self.reads.run(lambda s: snapshot(s, user_id, contact_id))
        except (
            Refused
        ) as exc:  # no longer theirs (escalated, released): the note, or why, replaces the controls
            await self.surface.update(clicked, texts.conversation_gone(exc.reason, note))
            await self._drop_control(user_id, contact_id)
            return
        await self.surface.update(clicked, snap.control(note))

    async def _drop_control(self, user_id: int, contact_id: int) -> None:
        await self.work.write(lambda s: chat_threads.drop_control(s, self.platform, user_id, contact_id))

    async def mark_released(self, user_id: int, campaign_id: int | None, title: str) -> int:
        """Say so on the old controls of the user's conversations that were released; returns how many."""
        placed = await self.work.read(lambda s: chat_threads.released(s, self.platform, user_id, campaign_id))
        marked = [await self._mark_released(user_id, item.contact_id, title) for item in placed]
        return sum(marked)

    async def _mark_released(self, user_id: int, contact_id: int, title: str) -> bool:
        async with self.hold(user_id, contact_id):  # the relay may be closing the thread meanwhile
            ref = await self.work.read(lambda s: chat_threads.find(s, self.platform, contact_id, user_id))
            if ref is None or ref.control_id is None or ref.closed:
                return False
            released = texts.released_controls(title)
            await self.surface.update(MessageRef(ref.channel_id, ref.control_id), released)
            await self._drop_control(user_id, contact_id)
            return True


def _thread_for(snap: Snapshot) -> ThreadFor:
    return ThreadFor(snap.view.campaign_id, snap.view.campaign_title)


def _place(ref: chat_threads.ThreadRef) -> Place:
    """Where a thread's messages go: Slack's thread under its parent; a Discord thread is its own channel."""
    if ref.thread_id == ref.channel_id:
        return Place(ref.channel_id)
    return Place(ref.channel_id, ref.thread_id)

"""Conversation threads in the texter's DM with the bot, and the clicks on their control message.

A thread's parent names the contact and campaign; the contact's texts and the texter's sent texts are
posted in order (each exactly once: see ``threads.advance``); the control message at the bottom holds
the current question as a select, the reply to send with **Send** and **Edit**, and a menu (canned
responses, tags, escalate, opt out, close). After any change the control message is posted anew at the
bottom and the old one deleted, so it always sits under the newest text.

A burst of replies brings many threads up to date at once (the relay posts each conversation's notices
side by side). Their database work is batched: each sync's read and writes wait for the next transaction
of ``Batched``, which takes every request waiting, so a hundred syncs cost a few transactions instead of
four hundred, and never more than one write transaction at a time from here.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import ClientConnectorError
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from sqlalchemy import event
from sqlalchemy.orm import Session

from bot.slack import blocks, threads
from bot.slack.app import SlackDeps
from bot.slack.context import Actor, in_read, in_session
from bot.slack.modals import load_value
from core import adhoc, assignment, campaigns, conversations, orgs, stats
from core.errors import Refused
from storage.engine import Database

log = logging.getLogger("textbank.slack")
MAX_THREADS_PER_CLICK = 25
# Requests one batched transaction takes at most: the first results come back sooner than with one huge one.
MAX_BATCH = 50
# Failures after which Slack certainly did not post the message, so the texts claimed for it can be handed
# back and posted by a later try. A timeout is not one of them: the post may have gone through.
NOT_POSTED = (SlackApiError, ClientConnectorError)
T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    view: conversations.ConversationView
    adhoc: bool


class ThreadBusy(Exception):
    """Another worker is creating this thread right now: try the notice again shortly."""


@dataclass(frozen=True)
class Plan:
    snap: Snapshot
    ref: threads.ThreadRef
    created: bool
    # The messages this call claimed for posting (threads.advance), oldest first.
    new: list[conversations.MessageView]


def _claim(session: Session, snap: Snapshot, user_id: int, channel: str) -> Plan:
    """In one short write transaction: the conversation's thread, and its new messages claimed for posting."""
    contact_id = snap.view.contact_id
    ref, created = threads.claim(session, contact_id, user_id, channel)
    if not created and not ref.ready:
        raise ThreadBusy(f"the thread of contact {contact_id} is being created")
    new = [m for m in snap.view.messages if m.id > ref.last_message_id]
    if new and not threads.advance(session, ref.id, ref.last_message_id, new[-1].id):
        new = []  # another worker posts these
    return Plan(snap, ref, created, new)


def _snapshot(session: Session, user_id: int, contact_id: int) -> Snapshot:
    view = conversations.conversation_view(session, orgs.get_user(session, user_id), contact_id)
    return Snapshot(view, campaigns.campaign_kind(session, view.campaign_id) == "adhoc")


def _unwind(session: Session, plan: Plan, thread_ts: str | None, posted_upto: int, hand_back: bool) -> None:
    """After a failed post: keep the parent message that was posted, and hand back the texts that were not.

    Handing back (``advance`` from the claimed end back to the last text posted) is a compare-and-set: when
    someone else advanced the thread meanwhile, their claim stands.
    """
    if thread_ts is not None:
        threads.set_parent(session, plan.ref.id, thread_ts)
    if hand_back and plan.new and posted_upto < plan.new[-1].id:
        threads.advance(session, plan.ref.id, plan.new[-1].id, posted_upto)


class Batched:
    """Database work from many coroutines, run together: one transaction takes every request waiting.

    Nothing waits on purpose: a lone request runs at once, and requests arriving while a transaction runs
    make up the next one; one transaction at a time. ``soft`` exceptions (raised before a request wrote
    anything) fail only their own request; any other failure rolls the transaction back, and each of its
    requests runs again alone so the others are not lost with it.
    """

    def __init__(
        self,
        db: Database,
        *,
        write: bool,
        soft: tuple[type[Exception], ...] = (),
        keep_loaded: bool = False,
    ) -> None:
        self.db = db
        self.write = write
        self.soft = soft
        self.keep_loaded = keep_loaded
        self._waiting: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Session], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._waiting.append((work, future))
        if self._drainer is None:
            self._drainer = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        jobs: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        try:
            while self._waiting:
                jobs, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                outcomes = await self._together([work for work, _ in jobs])
                for (_, future), (ok, value) in zip(jobs, outcomes, strict=True):
                    if future.done():  # its caller gave up waiting
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
                jobs = []
        finally:
            self._drainer = None
            for _, future in [*jobs, *self._waiting]:  # only when cancelled: nobody is left waiting forever
                future.cancel()
            self._waiting = []

    async def _together(self, jobs: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        run = in_session if self.write else in_read

        def each(session: Session) -> list[tuple[bool, Any]]:
            out: list[tuple[bool, Any]] = []
            kept: list[Any] = []
            if self.keep_loaded:
                # The session's identity map holds objects weakly: without this, each conversation would
                # load its texter and campaign again, though the one before loaded the same ones.
                keep = lambda _session, instance: kept.append(instance)  # noqa: E731
                event.listen(session, "loaded_as_persistent", keep)
            try:
                for work in jobs:
                    try:
                        out.append((True, work(session)))
                    except self.soft as exc:
                        out.append((False, exc))
            finally:
                if self.keep_loaded:
                    event.remove(session, "loaded_as_persistent", keep)
            return out

        try:
            return await run(self.db, each)
        except Exception as exc:
            if len(jobs) == 1:
                return [(False, exc)]
        out: list[tuple[bool, Any]] = []
        for work in jobs:
            try:
                out.append((True, await run(self.db, work)))
            except Exception as exc:
                out.append((False, exc))
        return out


class _Held:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Threads:
    """Posting into conversation threads for one Slack workspace connection."""

    def __init__(self, deps: SlackDeps) -> None:
        self.deps = deps
        self.reads = Batched(deps.db, write=False, soft=(Refused,), keep_loaded=True)
        self.writes = Batched(deps.db, write=True, soft=(ThreadBusy,))
        self._held: dict[tuple[int, int], _Held] = {}
        self._opening: dict[str, asyncio.Future[str]] = {}

    @asynccontextmanager
    async def _conversation(self, user_id: int, contact_id: int) -> AsyncIterator[None]:
        """One sync at a time per conversation (clicks and relay alike); dropped when nobody holds it."""
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

    async def channel(self, slack_user_id: str) -> str:
        """The DM channel, opened once even when many of the user's conversations ask at the same moment."""
        known = self.deps.dm_channels.get(slack_user_id)
        if known is not None:
            return known
        opening = self._opening.get(slack_user_id)
        if opening is None:
            opening = asyncio.ensure_future(self.deps.dm_channel(slack_user_id))
            self._opening[slack_user_id] = opening
            opening.add_done_callback(lambda _: self._opening.pop(slack_user_id, None))
        return await asyncio.shield(opening)

    async def sync(
        self, slack_user_id: str, user_id: int, contact_id: int, *, draft: str = "", note: str = ""
    ) -> bool:
        """Bring the thread up to date: new texts posted in order, the control message anew at the bottom.

        Returns False when the conversation is no longer the user's (nothing is posted then). Raises when
        a post failed; the texts Slack refused are handed back, so the next sync posts them.
        """
        async with self._conversation(user_id, contact_id):
            channel = await self.channel(slack_user_id)
            try:  # read outside the write lock (SQLite serializes writers)
                snap = await self.reads.run(lambda s: _snapshot(s, user_id, contact_id))
            except Refused:
                return False
            plan = await self.writes.run(lambda s: _claim(s, snap, user_id, channel))
            ref = plan.ref
            started: str | None = None  # the parent message this sync posted
            if plan.created:
                text, parent = blocks.thread_parent(plan.snap.view)
                try:
                    posted = await self.deps.client.chat_postMessage(
                        channel=channel, text=text, blocks=parent
                    )
                except Exception:
                    await self.writes.run(lambda s: threads.forget(s, ref.id))
                    raise
                started = str(posted["ts"])
                ref = threads.ThreadRef(ref.id, channel, started, None, ref.last_message_id)
            upto = ref.last_message_id
            try:
                for message in plan.new:
                    line = blocks.thread_line(message, plan.snap.view.contact_name, user_id)
                    await self.deps.client.chat_postMessage(
                        channel=ref.channel_id,
                        thread_ts=ref.thread_ts,
                        text=line,
                        blocks=[blocks.section(line)],
                    )
                    upto = message.id
                control = blocks.control_message(plan.snap.view, draft, note, plan.snap.adhoc)
                posted = await self.deps.client.chat_postMessage(
                    channel=ref.channel_id, thread_ts=ref.thread_ts, text="Reply controls", blocks=control
                )
            except Exception as exc:
                back = isinstance(exc, NOT_POSTED)
                await self.writes.run(lambda s: _unwind(s, plan, started, upto, back))
                raise
            control_ts = str(posted["ts"])
            old = await self.writes.run(
                lambda s: threads.record(
                    s, ref.id, control_ts, seen_control=ref.control_ts, thread_ts=started
                )
            )
            if old and old != control_ts:
                try:
                    await self.deps.client.chat_delete(channel=ref.channel_id, ts=old)
                except SlackApiError as exc:  # already gone: nothing to tidy
                    log.info("could not delete old control message: %s", exc.response.get("error"))
            return True

    async def update_control(
        self, actor: Actor, contact_id: int, channel: str, ts: str, *, draft: str = "", note: str = ""
    ) -> None:
        """Redraw the clicked control message in place (a choice that sends nothing)."""
        try:
            snap = await self.reads.run(lambda s: _snapshot(s, actor.user_id, contact_id))
        except (
            Refused
        ) as exc:  # no longer theirs (escalated, released): the note, or why, replaces the controls
            shown = [blocks.section(note)] if note else blocks.refusal(exc.reason)
            await self.deps.client.chat_update(channel=channel, ts=ts, text=note or exc.reason, blocks=shown)
            return
        control = blocks.control_message(snap.view, draft, note, snap.adhoc)
        await self.deps.client.chat_update(channel=channel, ts=ts, text="Reply controls", blocks=control)


def threads_of(deps: SlackDeps) -> Threads:
    """The one ``Threads`` of this app, so its per-conversation locks cover clicks and the relay alike."""
    if deps.threads is None:
        deps.threads = Threads(deps)
    return deps.threads


def _replies_to_show(session: Session, actor: Actor, campaign_id: int) -> tuple[list[int], str | None]:
    """Claim more replies when dynamic assignment allows, and list the texter's unhandled replies."""
    user = orgs.get_user(session, actor.user_id)
    campaign = campaigns.get_campaign(session, actor.org_id, str(campaign_id))
    claimed = assignment.request_replies(session, campaign, user)
    mine = session.scalars(stats.filtered_contacts(session, campaign, status="needs_response", texter=user))
    ids = sorted(set(mine) | set(claimed.contact_ids))
    return ids, (None if claimed.contact_ids or ids else claimed.reason)


async def request_replies(deps: SlackDeps, actor: Actor, campaign_id: int) -> None:
    """Send Replies: open a thread for each of the texter's unhandled replies (claiming more if allowed)."""
    try:
        ids, reason = await in_session(deps.db, lambda s: _replies_to_show(s, actor, campaign_id))
    except Refused as exc:
        await deps.dm(actor.slack_user_id, exc.reason, blocks.refusal(exc.reason))
        return
    if not ids:
        text = f"No replies waiting for you: {reason}" if reason else "No replies waiting for you right now."
        await deps.dm(actor.slack_user_id, text)
        return
    worker = threads_of(deps)
    for contact_id in ids[:MAX_THREADS_PER_CLICK]:
        await worker.sync(actor.slack_user_id, actor.user_id, contact_id)
    more = (
        f" ({len(ids) - MAX_THREADS_PER_CLICK} more after these)" if len(ids) > MAX_THREADS_PER_CLICK else ""
    )
    await deps.dm(
        actor.slack_user_id, f"{min(len(ids), MAX_THREADS_PER_CLICK)} conversations to answer{more}."
    )


def _menu_action(session: Session, actor: Actor, data: dict[str, Any]) -> tuple[str, str]:
    """Run the menu choice in core; returns (draft, note)."""
    user = orgs.get_user(session, actor.user_id)
    contact_id = int(data["c"])
    what = data.get("x")
    if what == "canned":
        for item in conversations.canned_responses(session, user, contact_id):
            if item.id == int(data.get("i", 0)):
                return item.text, f"Canned response: {blocks.escape(item.title)}"
        raise Refused("that canned response no longer exists: pick another")
    if what == "tag":
        conversations.add_tag(session, user, contact_id, int(data["i"]))
        return "", ":label: Tagged."
    if what == "escalate":
        conversations.escalate(session, user, contact_id)
        return "", ":rotating_light: Escalated: an admin takes this conversation from here."
    if what == "optout":
        result = conversations.opt_out_contact(session, user, contact_id)
        return "", ":no_bell: Opted out: this number is never texted again." + (
            f" {blocks.escape(result.note)}" if result.note else ""
        )
    if what == "close":
        snap = _snapshot(session, actor.user_id, contact_id)
        if snap.adhoc:
            adhoc.complete(session, user, contact_id)
            return "", ":white_check_mark: Chat completed."
        conversations.close(session, user, contact_id)
        return "", ":white_check_mark: Closed."
    raise Refused(f"unknown menu choice {what!r}: reload the conversation")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    worker = threads_of(deps)

    def where(body: dict[str, Any]) -> tuple[str, str]:
        container = body.get("container") or {}
        return str(container.get("channel_id", "")), str(container.get("message_ts", ""))

    @app.action("tb_start_replies")
    async def start_replies(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        await request_replies(deps, actor, int(load_value(action).get("k", 0)))

    @app.action("tb_answer")
    async def answer(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        data = json.loads(action["selected_option"]["value"])
        contact_id = int(data["c"])
        channel, ts = where(body)
        try:
            draft = await in_session(
                deps.db,
                lambda s: conversations.choose_answer(
                    s, orgs.get_user(s, actor.user_id), contact_id, int(data["q"]), int(data["a"])
                ),
            )
            note = ""
        except Refused as exc:
            draft, note = "", f":warning: {blocks.escape(exc.reason)}"
        await worker.update_control(actor, contact_id, channel, ts, draft=draft, note=note)

    @app.action("tb_reply_send")
    async def send(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        data = load_value(action)
        contact_id = int(data["c"])
        channel, ts = where(body)

        def reply(session: Session) -> Any:
            return conversations.send_reply(
                session,
                orgs.get_user(session, actor.user_id),
                contact_id,
                str(data.get("b") or ""),
                str(data.get("s") or ""),
                last_seen_message_id=int(data["m"]) if data.get("m") else None,
            )

        try:
            result = await in_session(deps.db, reply)
        except Refused as exc:
            await worker.update_control(
                actor,
                contact_id,
                channel,
                ts,
                draft=str(data.get("b") or ""),
                note=f":warning: {blocks.escape(exc.reason)}",
            )
            return
        if result.sent:
            await worker.sync(actor.slack_user_id, actor.user_id, contact_id, note=":white_check_mark: Sent.")
        else:
            await worker.update_control(
                actor,
                contact_id,
                channel,
                ts,
                note=f":warning: Not sent: {blocks.escape(result.reason or '')}",
            )

    @app.action("tb_reply_edit")
    async def edit(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        data = load_value(action)
        channel, ts = where(body)
        meta = json.dumps({"c": int(data["c"]), "ch": channel, "ts": ts})
        await deps.client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.edit_modal(int(data["c"]), str(data.get("b") or ""), meta),
        )

    @app.view("tb_reply_edit")
    async def edited(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        meta = json.loads(view.get("private_metadata") or "{}")
        text = (view["state"]["values"].get("body", {}).get("v", {}).get("value") or "").strip()
        await worker.update_control(actor, int(meta["c"]), str(meta["ch"]), str(meta["ts"]), draft=text)

    @app.action("tb_menu")
    async def menu(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        actor = await deps.actor(body["team"]["id"], body["user"]["id"])
        data = json.loads(action["selected_option"]["value"])
        contact_id = int(data["c"])
        channel, ts = where(body)
        try:
            draft, note = await in_session(deps.db, lambda s: _menu_action(s, actor, data))
        except Refused as exc:
            draft, note = "", f":warning: {blocks.escape(exc.reason)}"
        await worker.update_control(actor, contact_id, channel, ts, draft=draft, note=note)

"""A local stand-in for Discord: the REST API subset textbank uses (``/api/v10``) and the gateway websocket.

One aiohttp server on 127.0.0.1 (port 0) serves both: ``GET /api/v10/gateway/bot`` names its own
``/gateway`` websocket, so a bot pointed at ``base_url`` (``DISCORD_API_URL``) needs nothing else. Every
REST call is recorded with its method, path (no query string) and whole JSON body (``payload_json`` and
the file parts of a multipart upload too). JSON is answered with the header exactly
``content-type: application/json`` (discord.py treats anything else as text).

The gateway answers HELLO, heartbeat ACKs, and IDENTIFY with READY and one GUILD_CREATE; tests then
``dispatch`` events (``INTERACTION_CREATE`` built by ``slash``/``click``/``submit``/``autocomplete``,
``MESSAGE_CREATE`` by ``typed``) to every connected bot. ``rate_limit(path, times, retry_after)`` answers
the next calls on a path with 429 and ``retry_after`` (discord.py waits and retries). ``ratelimits`` (a
``tests.bot.discord.ratelimits.RateLimits``) models Discord's own limits instead: headers on every answer,
the global 50 requests a second, and per-route buckets. A message whose components break Discord's rules
(``component_problems``) is answered 400, as Discord answers it. A thread archived with
``PATCH /channels/ID`` refuses posts, edits and deletes of its messages (400, code 50083) until it is
unarchived, as Discord's does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from bot.web import WebServer
from tests.bot.discord.ratelimits import RateLimits

BOT_TOKEN = "discord-test-token"
APP_ID = 900000000000000001
BOT_ID = 900000000000000002
GUILD_ID = 900000000000000003
CHANNEL_ID = 900000000000000004  # #general
OWNER_ID = 900000000000000010
ADMIN_ROLE_ID = 900000000000000020  # a role with Manage Server
ALL_PERMISSIONS = str((1 << 50) - 1)
MEMBER_PERMISSIONS = str(0x400 | 0x800 | 0x4000000000)  # view, send, send in threads
MANAGE_GUILD = 0x20

COMMANDS = {1: "command", 2: "component", 4: "autocomplete", 5: "modal"}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name.lower().replace(" ", "."),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
    }


@dataclass
class Call:
    def __repr__(self) -> str:
        return f"<{self.method} {self.path} {self.text[:300]}>"

    method: str
    path: str
    body: Any
    query: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)
    response: Any = None  # what the stand-in answered
    at: float = field(default_factory=time.perf_counter)

    @property
    def text(self) -> str:
        """Everything a person would read in this call (content, embeds, components), for assertions."""
        return json.dumps(self.body, ensure_ascii=False)

    def data(self) -> dict[str, Any]:
        """The message of an interaction callback (its ``data``) or the body of any other call."""
        body = self.body if isinstance(self.body, dict) else {}
        return body.get("data") or {} if "type" in body and "data" in body else body

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for row in self.data().get("components") or [] for c in row["components"]]


@dataclass
class Member:
    user_id: int
    name: str
    roles: list[int] = field(default_factory=list)
    permissions: str = MEMBER_PERMISSIONS

    def payload(self) -> dict[str, Any]:
        return {
            "user": user_payload(self.user_id, self.name),
            "roles": [str(r) for r in self.roles],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "nick": None,
            "avatar": None,
            "pending": False,
            "permissions": self.permissions,
        }


@dataclass(repr=False)
class DiscordStandIn:
    calls: list[Call] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    attachments: dict[str, bytes] = field(default_factory=dict)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    limits: dict[str, list[float]] = field(default_factory=dict)
    ratelimits: RateLimits | None = None  # Discord's limits modelled (None: no rate-limit headers)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    identified: int = 0
    # What the server lets a bot upload (an interaction's attachment_size_limit), and files downloaded.
    upload_limit: int = 25 * 1024 * 1024
    downloaded: list[str] = field(default_factory=list)
    base_url: str = ""
    root: str = ""
    _server: WebServer | None = None
    _ids: itertools.count = field(default_factory=lambda: itertools.count(910000000000000000))
    _seq: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _originals: dict[str, dict[str, Any]] = field(default_factory=dict)  # an interaction's @original
    _interaction_channel: dict[str, int] = field(default_factory=dict)

    # --- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> DiscordStandIn:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{name}", self._attachment)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._server = WebServer(app, "127.0.0.1", 0)
        await self._server.start()
        self.root = self._server.url
        self.base_url = f"{self.root}/api/v10"
        self.add_member(OWNER_ID, "Olive Owner")
        self.channels[CHANNEL_ID] = self._text_channel(CHANNEL_ID, "general")
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._server is not None:
            await self._server.stop()

    def new_id(self) -> int:
        return next(self._ids)

    def add_member(self, user_id: int, name: str, *, admin: bool = False) -> Member:
        """A guild member; ``admin`` gives them a role with Manage Server (and those permissions)."""
        perms = str(int(MEMBER_PERMISSIONS) | MANAGE_GUILD) if admin else MEMBER_PERMISSIONS
        member = Member(user_id, name, [ADMIN_ROLE_ID] if admin else [], perms)
        if user_id == OWNER_ID:
            member.permissions = ALL_PERMISSIONS
        self.members[user_id] = member
        return member

    def add_attachment(self, name: str, data: bytes) -> dict[str, Any]:
        """A file a user attached to a command: served at ``/attachments/NAME``; returns its payload."""
        self.attachments[name] = data
        return {
            "id": str(self.new_id()),
            "filename": name,
            "size": len(data),
            "url": f"{self.root}/attachments/{name}",
            "proxy_url": f"{self.root}/attachments/{name}",
            "content_type": "text/plain",
        }

    def rate_limit(self, path: str, times: int = 1, retry_after: float = 0.05) -> None:
        """Answer the next ``times`` calls whose path matches ``path`` (a regex) with 429."""
        self.limits[path] = [retry_after] * times

    # --- REST --------------------------------------------------------------------------------------------

    @staticmethod
    def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(
            status=status,
            body=json.dumps(data).encode(),
            headers={"content-type": "application/json", **(headers or {})},
        )

    async def _read_body(self, request: web.Request) -> tuple[Any, dict[str, bytes]]:
        if request.content_type.startswith("multipart/"):
            body: Any = {}
            files: dict[str, bytes] = {}
            reader = await request.multipart()
            async for part in reader:
                data = await part.read()  # type: ignore[union-attr]
                if part.name == "payload_json":
                    body = json.loads(data)
                else:
                    files[part.filename or part.name or "file"] = bytes(data)
            return body, files
        raw = await request.read()
        return (json.loads(raw) if raw else None), {}

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body, files = await self._read_body(request)
        for pattern, waits in self.limits.items():
            if waits and re.fullmatch(pattern, path):
                wait = waits.pop(0)
                self._record(Call(request.method, path, body, dict(request.query), files))
                self.calls[-1].method = "429 " + request.method
                # discord.py takes a 429 without Via for a Cloudflare ban and gives up: Discord's carry it.
                headers = {
                    "Via": "1.1 google",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset-After": str(wait),
                }
                headers.update(
                    {"X-RateLimit-Limit": "5", "X-RateLimit-Bucket": "b-" + path, "X-RateLimit-Scope": "user"}
                )
                body = {"message": "You are being rate limited.", "retry_after": wait, "global": False}
                return self._json(body, status=429, headers=headers)
        call = Call(request.method, path, body, dict(request.query), files)
        headers: dict[str, str] = {}
        if self.ratelimits is not None:
            verdict = self.ratelimits.check(request.method, path)
            headers = verdict.headers
            if verdict.refused is not None:
                call.method = "429 " + request.method
                self._record(call)
                return self._json(verdict.refused, status=429, headers={"Via": "1.1 google", **headers})
        self._record(call)
        if request.headers.get("Authorization") != f"Bot {BOT_TOKEN}" and not path.startswith(
            ("/interactions/", "/webhooks/")
        ):
            return self._json({"message": "401: Unauthorized", "code": 0}, status=401)
        invalid = component_problems(call.data() if isinstance(call.body, dict) else {})
        if invalid:  # what Discord answers a message whose components break its rules
            errors = {
                "components": {"_errors": [{"code": "COMPONENT_INVALID", "message": m} for m in invalid]}
            }
            call.response = {"message": "Invalid Form Body", "code": 50035, "errors": errors}
            return self._json(call.response, status=400)
        archived = self._archived_thread(path)
        if archived is not None:  # Discord refuses posts, edits and deletes in an archived thread
            body = {"message": "Thread is archived", "code": 50083}
            call.response = body
            return self._json(body, status=400)
        for method, pattern, handler in self._routes():
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                result = call.response = handler(call, *match.groups())
                return (
                    web.Response(status=204, headers=headers)
                    if result is None
                    else self._json(result, headers=headers)
                )
        return self._json({"message": f"stand-in has no {request.method} {path}", "code": 0}, status=404)

    def _archived_thread(self, path: str) -> int | None:
        match = re.fullmatch(r"/channels/(\d+)/messages(/\d+)?", path)
        channel = self.channels.get(int(match.group(1))) if match else None
        if channel is not None and (channel.get("thread_metadata") or {}).get("archived"):
            return int(channel["id"])
        return None

    def archived(self, thread_id: int | str) -> bool:
        """Whether the thread is archived now."""
        return bool(self.channels[int(thread_id)]["thread_metadata"]["archived"])

    def _routes(self) -> list[tuple[str, str, Callable[..., Any]]]:
        return [
            ("GET", r"/users/@me", lambda c: user_payload(BOT_ID, "textbank", bot=True)),
            ("GET", r"/oauth2/applications/@me", lambda c: self._application()),
            ("GET", r"/gateway/bot", lambda c: self._gateway_bot()),
            ("PUT", r"/applications/(\d+)/commands", self._commands),
            ("PUT", r"/applications/(\d+)/guilds/(\d+)/commands", lambda c, a, g: self._commands(c, a)),
            ("POST", r"/channels/(\d+)/messages", self._post_message),
            ("PATCH", r"/channels/(\d+)/messages/(\d+)", self._edit_message),
            ("DELETE", r"/channels/(\d+)/messages/(\d+)", lambda c, ch, m: None),
            ("POST", r"/users/@me/channels", self._open_dm),
            ("POST", r"/channels/(\d+)/threads", self._create_thread),
            ("PUT", r"/channels/(\d+)/thread-members/(\d+)", lambda c, t, u: None),
            ("PATCH", r"/channels/(\d+)", self._edit_channel),
            ("POST", r"/interactions/(\d+)/([^/]+)/callback", self._callback),
            ("POST", r"/webhooks/(\d+)/([^/]+)", self._followup),
            ("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._edit_webhook_message),
            ("GET", r"/webhooks/(\d+)/([^/]+)/messages/(@original|\d+)", self._get_webhook_message),
        ]

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "textbank",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(OWNER_ID, "Olive Owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
        }

    def _gateway_bot(self) -> dict[str, Any]:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return {
            "url": self.root.replace("http", "ws", 1) + "/gateway",
            "shards": 1,
            "session_start_limit": limit,
        }

    def _commands(self, call: Call, app_id: str) -> list[dict[str, Any]]:
        return [
            {**command, "id": str(self.new_id()), "application_id": app_id, "version": "1"}
            for command in call.body or []
        ]

    def message_payload(
        self, channel_id: int, body: dict[str, Any], *, author: int = BOT_ID
    ) -> dict[str, Any]:
        channel = self.channels.get(channel_id, {})
        name = "textbank" if author == BOT_ID else self.members[author].name
        message = {
            "id": str(self.new_id()),
            "channel_id": str(channel_id),
            "author": user_payload(author, name, bot=author == BOT_ID),
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": 0,
            "flags": body.get("flags") or 0,
        }
        if channel.get("guild_id"):
            message["guild_id"] = channel["guild_id"]
        self.messages[int(message["id"])] = message
        return message

    def _post_message(self, call: Call, channel_id: str) -> dict[str, Any]:
        return self.message_payload(int(channel_id), call.body or {})

    def _edit_message(self, call: Call, channel_id: str, message_id: str) -> dict[str, Any]:
        message = self.messages.get(int(message_id)) or self.message_payload(int(channel_id), {})
        message.update(
            {k: v for k, v in (call.body or {}).items() if k in ("content", "embeds", "components")}
        )
        message["edited_timestamp"] = _now()
        return message

    def _open_dm(self, call: Call) -> dict[str, Any]:
        return self.dm_channel(int(call.body["recipient_id"]))

    def dm_channel(self, user_id: int) -> dict[str, Any]:
        """The bot's DM channel with a member (one per member, the same each time)."""
        channel_id = user_id + 1
        member = self.members[user_id]
        self.channels[channel_id] = {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "recipients": [user_payload(user_id, member.name)],
        }
        return self.channels[channel_id]

    def _text_channel(self, channel_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(GUILD_ID),
            "name": name,
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
        }

    def _create_thread(self, call: Call, parent_id: str) -> dict[str, Any]:
        thread_id = self.new_id()
        body = call.body or {}
        self.channels[thread_id] = {
            "id": str(thread_id),
            "type": body.get("type", 12),
            "guild_id": str(GUILD_ID),
            "parent_id": parent_id,
            "owner_id": str(BOT_ID),
            "name": body.get("name", "thread"),
            "member_count": 1,
            "message_count": 0,
            "rate_limit_per_user": 0,
            "last_message_id": None,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": body.get("auto_archive_duration", 10080),
                "archive_timestamp": _now(),
                "locked": False,
                "invitable": body.get("invitable", False),
            },
        }
        return self.channels[thread_id]

    def _edit_channel(self, call: Call, channel_id: str) -> dict[str, Any]:
        channel = self.channels[int(channel_id)]
        body = call.body or {}
        if "archived" in body:
            channel["thread_metadata"]["archived"] = body["archived"]
            channel["thread_metadata"]["archive_timestamp"] = _now()
        return channel

    def _callback(self, call: Call, interaction_id: str, token: str) -> dict[str, Any]:
        """Types 4/5 answer with a new message; 6/7 (a component's) edit the clicked one; 8 autocompletes."""
        body = call.body or {}
        kind, data = body.get("type"), body.get("data") or {}
        if kind in (4, 5):
            self._originals[token] = self.message_payload(
                self._interaction_channel.get(token, CHANNEL_ID), data
            )
        elif kind == 7:
            self._originals[token].update(
                {k: v for k, v in data.items() if k in ("content", "embeds", "components")}
            )
        message = self._originals.get(token)
        response: dict[str, Any] = {"interaction": {"id": interaction_id, "type": 2}}
        if message is not None:
            response["interaction"]["response_message_id"] = message["id"]
            response["resource"] = {"type": kind, "message": message}
        return response

    def _followup(self, call: Call, app_id: str, token: str) -> dict[str, Any]:
        return self.message_payload(self._interaction_channel.get(token, CHANNEL_ID), call.body or {})

    def _edit_webhook_message(self, call: Call, app_id: str, token: str, which: str) -> dict[str, Any]:
        original = self._originals.get(token) if which == "@original" else self.messages.get(int(which))
        if original is None:
            original = self.message_payload(self._interaction_channel.get(token, CHANNEL_ID), {})
        original.update(
            {k: v for k, v in (call.body or {}).items() if k in ("content", "embeds", "components")}
        )
        return original

    def _get_webhook_message(self, call: Call, app_id: str, token: str, which: str) -> dict[str, Any]:
        return self._originals.get(token) or self.message_payload(CHANNEL_ID, {})

    async def _attachment(self, request: web.Request) -> web.Response:
        data = self.attachments.get(request.match_info["name"])
        self.downloaded.append(request.match_info["name"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._changed.set()

    # --- the record ----------------------------------------------------------------------------------------

    def find(self, method: str, path: str = r".*") -> list[Call]:
        return [c for c in self.calls if c.method == method and re.fullmatch(path, c.path)]

    async def wait_for(self, predicate: Callable[[DiscordStandIn], Any], timeout: float = 30.0) -> Any:
        """Wait until ``predicate(self)`` is truthy (re-checked on each new call) and return its value."""
        async with asyncio.timeout(timeout):
            while True:
                result = predicate(self)
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

    async def wait_call(self, method: str, path: str, after: int = 0, timeout: float = 30.0) -> Call:
        """The first ``method path`` call recorded at or after index ``after``."""

        def found(s: DiscordStandIn) -> Call | None:
            return next(
                (c for c in s.calls[after:] if c.method == method and re.fullmatch(path, c.path)), None
            )

        return await self.wait_for(found, timeout)

    async def answer(self, token: str, after: int = 0, timeout: float = 30.0, containing: str = "") -> Call:
        """The interaction's answer: its first follow-up, edit of @original or message callback after
        ``after`` (the first holding ``containing``, when given: a progress edit comes before the result)."""
        pattern = rf"/webhooks/{APP_ID}/{re.escape(token)}(/messages/@original)?"

        def is_answer(c: Call) -> bool:
            if re.fullmatch(pattern, c.path) and c.method in ("POST", "PATCH"):
                return containing in c.text
            return c.path.endswith(f"/{token}/callback") and (c.body or {}).get("type") in (4, 7, 8, 9)

        return await self.wait_for(
            lambda s: next((c for c in s.calls[after:] if is_answer(c)), None), timeout
        )

    # --- gateway ---------------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)
                if data["op"] == 1:
                    await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
                elif data["op"] == 2:
                    await self._identify(ws)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
            self._changed.set()
        return ws

    async def _identify(self, ws: web.WebSocketResponse) -> None:
        session = f"session-{self.new_id()}"
        await self._send(
            ws,
            "READY",
            {
                "v": 10,
                "user": user_payload(BOT_ID, "textbank", bot=True),
                "guilds": [{"id": str(GUILD_ID), "unavailable": True}],
                "session_id": session,
                "resume_gateway_url": self.root.replace("http", "ws", 1) + "/gateway",
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
                "shard": [0, 1],
            },
        )
        await self._send(ws, "GUILD_CREATE", self.guild_payload())
        self.sockets.append(ws)
        self.identified += 1
        self._changed.set()

    def guild_payload(self) -> dict[str, Any]:
        roles = [
            {"id": str(GUILD_ID), "name": "@everyone", "permissions": MEMBER_PERMISSIONS, "position": 0},
            {"id": str(ADMIN_ROLE_ID), "name": "organizers", "permissions": str(MANAGE_GUILD), "position": 1},
        ]
        for role in roles:
            role.update({"color": 0, "hoist": False, "managed": False, "mentionable": False, "flags": 0})
        return {
            "id": str(GUILD_ID),
            "name": "Campaign HQ",
            "owner_id": str(OWNER_ID),
            "icon": None,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": roles,
            "channels": [c for c in self.channels.values() if c.get("type") == 0],
            "threads": [],
            "members": [m.payload() for m in self.members.values()],
            "member_count": len(self.members),
            "large": False,
            "unavailable": False,
            "voice_states": [],
            "presences": [],
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "joined_at": "2026-01-01T00:00:00+00:00",
        }

    async def _send(self, ws: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        await ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def connected(self, count: int = 1, timeout: float = 30.0) -> None:
        """Wait until ``count`` bots have identified and hold a connection."""
        await self.wait_for(lambda s: len(s.sockets) >= count, timeout)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        if not self.sockets:
            raise AssertionError("no bot is connected to the gateway stand-in")
        for ws in list(self.sockets):
            await self._send(ws, event, data)

    # --- interactions --------------------------------------------------------------------------------------

    async def interact(
        self,
        kind: int,
        user_id: int,
        data: dict[str, Any],
        *,
        channel_id: int = CHANNEL_ID,
        message: Any = None,
    ) -> str:
        """Dispatch an INTERACTION_CREATE of ``kind`` from ``user_id``; returns its token."""
        token = f"tok-{self.new_id()}"
        self._interaction_channel[token] = channel_id
        channel = self.channels.get(channel_id) or {"id": str(channel_id), "type": 1}
        payload: dict[str, Any] = {
            "id": str(self.new_id()),
            "application_id": str(APP_ID),
            "type": kind,
            "token": token,
            "version": 1,
            "data": data,
            "channel_id": str(channel_id),
            "channel": channel,
            "locale": "en-US",
            "app_permissions": ALL_PERMISSIONS,
            "attachment_size_limit": self.upload_limit,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0 if channel.get("guild_id") else 1,
        }
        member = self.members[user_id]
        if channel.get("guild_id"):
            payload.update(guild_id=str(GUILD_ID), guild_locale="en-US", member=member.payload())
            payload["guild"] = {"id": str(GUILD_ID), "locale": "en-US", "features": []}
        else:
            payload["user"] = user_payload(user_id, member.name)
        if message is not None:
            payload["message"] = message
            self._originals[token] = self.messages.setdefault(int(message["id"]), message)
        await self.dispatch("INTERACTION_CREATE", payload)
        return token

    async def slash(
        self,
        user_id: int,
        *path: str,
        options: dict[str, Any] | None = None,
        attachments: dict[str, dict[str, Any]] | None = None,
        members: dict[str, int] | None = None,
        channel_id: int = CHANNEL_ID,
    ) -> str:
        """``/textbank PATH... option:value``; ``attachments``: option -> ``add_attachment``'s payload."""
        leaf: list[dict[str, Any]] = [_option(k, v) for k, v in (options or {}).items()]
        resolved: dict[str, Any] = {}
        for name, attachment in (attachments or {}).items():
            leaf.append({"name": name, "type": 11, "value": attachment["id"]})
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
        for name, named in (members or {}).items():  # a member option: the member comes resolved
            leaf.append({"name": name, "type": 6, "value": str(named)})
            member = self.members[named].payload()
            resolved.setdefault("users", {})[str(named)] = member.pop("user")
            resolved.setdefault("members", {})[str(named)] = member
        for depth, name in enumerate(reversed(path)):
            leaf = [{"name": name, "type": 1 if depth == 0 else 2, "options": leaf}]
        data = {"id": str(self.new_id()), "name": "textbank", "type": 1, "options": leaf}
        if resolved:
            data["resolved"] = resolved
        return await self.interact(2, user_id, data, channel_id=channel_id)

    async def autocomplete(self, user_id: int, *path: str, option: str, typed: str) -> str:
        leaf: list[dict[str, Any]] = [{"name": option, "type": 3, "value": typed, "focused": True}]
        for depth, name in enumerate(reversed(path)):
            leaf = [{"name": name, "type": 1 if depth == 0 else 2, "options": leaf}]
        data = {"id": str(self.new_id()), "name": "textbank", "type": 1, "options": leaf}
        return await self.interact(4, user_id, data)

    async def click(
        self, user_id: int, message: dict[str, Any], custom_id: str, values: list[str] | None = None
    ) -> str:
        """A button (or, with ``values``, a select) in a posted ``message``."""
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
        if values is not None:
            data["values"] = values
        return await self.interact(3, user_id, data, channel_id=int(message["channel_id"]), message=message)

    async def submit(
        self,
        user_id: int,
        custom_id: str,
        fields: dict[str, str],
        channel_id: int = CHANNEL_ID,
        message: dict[str, Any] | None = None,
    ) -> str:
        """A submitted modal; ``message``: the one whose button opened it (Discord sends it along)."""
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]} for k, v in fields.items()
        ]
        if message is not None:
            channel_id = int(message["channel_id"])
        data = {"custom_id": custom_id, "components": rows}
        return await self.interact(5, user_id, data, channel_id=channel_id, message=message)

    async def typed(self, user_id: int, channel_id: int, content: str) -> dict[str, Any]:
        """A member types ``content`` into a channel (a thread): MESSAGE_CREATE."""
        message = self.message_payload(channel_id, {"content": content}, author=user_id)
        message["member"] = {k: v for k, v in self.members[user_id].payload().items() if k != "user"}
        await self.dispatch("MESSAGE_CREATE", message)
        return message

    def message(self, call: Call) -> dict[str, Any]:
        """The message a recorded post or edit made, as it stands now (to click its buttons)."""
        answered = call.response or {}
        message_id = answered.get("id") or (answered.get("resource") or {}).get("message", {}).get("id")
        if message_id is None:
            raise AssertionError(f"{call.method} {call.path} made no message")
        return self.messages[int(message_id)]


def component_problems(message: dict[str, Any]) -> list[str]:
    """Discord's rules for a message's components: at most 5 rows of at most 5 (a select alone in its
    row), a ``custom_id`` of at most 100 characters and unique in the message, at most 25 options."""
    rows = message.get("components") or []
    problems = [f"{len(rows)} rows"] if len(rows) > 5 else []
    seen: set[str] = set()
    for row in rows:
        items = row.get("components") or []
        if len(items) > 5 or (len(items) > 1 and any(c.get("type") != 2 for c in items)):
            problems.append(f"a row of {[c.get('type') for c in items]}")
        for item in items:
            custom_id = item.get("custom_id")
            if custom_id is None:
                continue
            if custom_id in seen or len(custom_id) > 100:
                problems.append(f"custom_id {custom_id!r} repeated or too long")
            seen.add(custom_id)
            if len(item.get("options") or []) > 25:
                problems.append(f"{len(item['options'])} options in {custom_id!r}")
    return problems


def _option(name: str, value: Any) -> dict[str, Any]:
    kind = {bool: 5, int: 4, float: 10}.get(type(value), 3)
    return {"name": name, "type": kind, "value": value}

"""A local stand-in for Slack's Web API, plus helpers that build and sign requests the way Slack does.

The stand-in is an aiohttp server on 127.0.0.1 (port 0). It records every call with its method and whole
body (form or JSON), matches on the path without the query string (Bolt calls ``/auth.test?team_id=...``),
answers like Slack for the methods textbank uses, and can be told to answer 429 with ``Retry-After``.
``response_url`` posts land on ``/respond/...`` and are recorded under the method name ``respond``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0TEAM"
BOT_USER_ID = "U0BOT"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"

Handler = Callable[["Call"], dict[str, Any]]


@dataclass
class Call:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    query: dict[str, str]
    raw: bytes = b""
    path: str = ""
    at: float = field(default_factory=time.perf_counter)  # when the stand-in received it

    def json_field(self, name: str) -> Any:
        """A field that slack_sdk may send as JSON text (form bodies) or as a structure (JSON bodies)."""
        value = self.body.get(name)
        if isinstance(value, str) and value[:1] in "[{":
            return json.loads(value)
        return value

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.json_field("blocks") or []

    @property
    def view(self) -> dict[str, Any]:
        return self.json_field("view") or {}

    def text_dump(self) -> str:
        """Everything a person would read in this call (text and blocks), for assertions."""
        return json.dumps({"text": self.body.get("text"), "blocks": self.blocks, "view": self.view})


@dataclass
class RateLimit:
    remaining: int
    retry_after: int


@dataclass
class SlackStandIn:
    calls: list[Call] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    overrides: dict[str, Handler] = field(default_factory=dict)
    limits: dict[str, RateLimit] = field(default_factory=dict)
    base_url: str = ""
    _runner: web.AppRunner | None = None
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Event | None = None

    # --- life cycle --------------------------------------------------------------------------------------

    async def start(self) -> SlackStandIn:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/respond/{name}", self._respond)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root}/api/"
        self._changed = asyncio.Event()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- configuration -----------------------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, is_admin: bool = False, is_owner: bool = False) -> None:
        self.users[user_id] = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name.lower(),
            "real_name": name,
            "is_admin": is_admin,
            "is_owner": is_owner,
            "is_bot": False,
            "profile": {"real_name": name, "display_name": name},
        }

    def add_file(self, name: str, content: bytes) -> dict[str, Any]:
        """Serve ``content`` as a file a user uploaded; returns the file object Slack puts in payloads."""
        self.files[name] = content
        url = f"{self.root}/files/{name}"
        return {"id": f"F{name}", "name": name, "url_private": url, "url_private_download": url}

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self.limits[method] = RateLimit(times, retry_after)

    def response_url(self, name: str = "r") -> str:
        return f"{self.root}/respond/{name}"

    # --- reading the record ------------------------------------------------------------------------------

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, method: str, predicate: Callable[[Call], bool] = lambda c: True, timeout: float = 60.0
    ) -> Call:
        """The first recorded ``method`` call matching ``predicate``, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.of(method):
                if predicate(call):
                    return call
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"no matching {method} call within {timeout}s; calls: {seen}")
            assert self._changed is not None
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))
            except TimeoutError:
                pass

    async def wait_count(self, method: str, count: int, timeout: float = 60.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.of(method)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.of(method))} {method} calls, expected {count}")
            await asyncio.sleep(0.02)
        return self.of(method)

    # --- HTTP ----------------------------------------------------------------------------------------------

    async def _record(self, method: str, request: web.Request) -> Call:
        raw = await request.read()
        ctype = request.headers.get("Content-Type", "")
        body: dict[str, Any]
        if "json" in ctype:
            body = json.loads(raw or b"{}")
        elif "form" in ctype:
            body = dict((await request.post()).items())
        else:
            body = {}
        # slack_sdk sends ``params=`` arguments in the query string: they belong to the call all the same.
        body = {**dict(request.query), **body}
        call = Call(method, body, dict(request.headers), dict(request.query), raw, request.path)
        self.calls.append(call)
        if self._changed is not None:
            self._changed.set()
        return call

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = await self._record(method, request)
        limit = self.limits.get(method)
        if limit is not None and limit.remaining > 0:
            limit.remaining -= 1
            call.method = f"{method}#429"
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(limit.retry_after)},
            )
        handler = self.overrides.get(method) or getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": True})
        return web.json_response(handler(call))

    async def _upload(self, request: web.Request) -> web.Response:
        call = await self._record("upload", request)
        self.uploads[request.match_info["file_id"]] = call.raw
        return web.Response(text=f"OK - {len(call.raw)}")

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self.files:
            return web.Response(status=404)
        self.calls.append(Call("file_download", {"name": name}, dict(request.headers), {}))
        return web.Response(body=self.files[name])

    async def _respond(self, request: web.Request) -> web.Response:
        await self._record("respond", request)
        return web.Response(text="ok")

    # --- Web API methods -----------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    def _m_auth_test(self, call: Call) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": "Test",
            "user": "textbank",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": "B0BOT",
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, call: Call) -> dict[str, Any]:
        ts = self._next_ts()
        channel = call.body.get("channel")
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "message": {"text": call.body.get("text"), "ts": ts},
        }

    def _m_chat_update(self, call: Call) -> dict[str, Any]:
        return {"ok": True, "channel": call.body.get("channel"), "ts": call.body.get("ts")}

    def _m_chat_postEphemeral(self, call: Call) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_conversations_open(self, call: Call) -> dict[str, Any]:
        users = str(call.body.get("users", ""))
        return {"ok": True, "channel": {"id": "D" + users.replace(",", "")}}

    def _view(self, call: Call) -> dict[str, Any]:
        view = dict(call.view)
        view.setdefault("id", f"V{next(self._ts)}")
        return {"ok": True, "view": view}

    _m_views_open = _view
    _m_views_update = _view
    _m_views_push = _view
    _m_views_publish = _view

    def _m_chat_getPermalink(self, call: Call) -> dict[str, Any]:
        channel, ts = call.body.get("channel"), str(call.body.get("message_ts", ""))
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"https://test.slack.com/archives/{channel}/p{ts}",
        }

    def _m_users_info(self, call: Call) -> dict[str, Any]:
        user_id = str(call.body.get("user") or call.query.get("user", ""))
        user = self.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _m_files_getUploadURLExternal(self, call: Call) -> dict[str, Any]:
        file_id = f"F{next(self._ts):06d}"
        return {"ok": True, "upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, call: Call) -> dict[str, Any]:
        files = call.json_field("files") or []
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}


# --- requests as Slack sends them ----------------------------------------------------------------------


def signed_headers(
    body: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    content_type: str = "application/x-www-form-urlencoded",
    retry_num: int | None = None,
) -> dict[str, str]:
    """The headers Slack sends with ``body``: timestamp and ``v0=`` HMAC signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def slash_body(
    text: str,
    *,
    user_id: str,
    channel_id: str = "C0CHAN",
    response_url: str = "",
    team_id: str = TEAM_ID,
    trigger_id: str = "T.trigger",
    user_name: str = "",
) -> str:
    return urlencode(
        {
            "token": "legacy",
            "team_id": team_id,
            "team_domain": "test",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_name or user_id.lower(),
            "command": "/textbank",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )


def block_actions_body(
    action: dict[str, Any],
    *,
    user_id: str,
    channel_id: str = "C0CHAN",
    message_ts: str | None = None,
    response_url: str = "",
    team_id: str = TEAM_ID,
    view: dict[str, Any] | None = None,
    thread_ts: str | None = None,
) -> str:
    """A ``block_actions`` payload for one clicked element (``action`` has action_id, value, ...)."""
    action = {"block_id": action.get("block_id", "b"), "type": "button", "action_ts": "1.1", **action}
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "test"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0APP",
        "token": "legacy",
        "trigger_id": "T.trigger",
        "actions": [action],
    }
    if view is not None:
        payload["view"] = view
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
    else:
        payload["channel"] = {"id": channel_id, "name": "directmessage"}
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts or "1.0",
            "channel_id": channel_id,
        }
        message: dict[str, Any] = {"ts": message_ts or "1.0", "type": "message", "user": BOT_USER_ID}
        if thread_ts:
            message["thread_ts"] = thread_ts
        payload["message"] = message
        if response_url:
            payload["response_url"] = response_url
    return urlencode({"payload": json.dumps(payload)})


def view_submission_body(
    view: dict[str, Any],
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    user_id: str,
    team_id: str = TEAM_ID,
) -> str:
    """A ``view_submission`` of ``view`` (as the app opened it) with the user's ``state.values``."""
    submitted = {
        "id": view.get("id", "V1"),
        "team_id": team_id,
        "type": "modal",
        "callback_id": view["callback_id"],
        "private_metadata": view.get("private_metadata", ""),
        "blocks": view.get("blocks", []),
        "state": {"values": values},
        "hash": "h",
    }
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "test"},
        "user": {"id": user_id, "username": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0APP",
        "token": "legacy",
        "trigger_id": "T.trigger",
        "view": submitted,
    }
    return urlencode({"payload": json.dumps(payload)})


def event_body(event: dict[str, Any], *, team_id: str = TEAM_ID) -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": team_id,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1000)}",
            "event_time": int(time.time()),
            "event": event,
        }
    )

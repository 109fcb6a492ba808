"""The aiohttp server: health, route hooks, and client mistakes answered with 4xx."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.web import WebServer, create_app, settings_key
from storage import Database


async def get(server: WebServer, path: str) -> tuple[int, dict | str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + path) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body


async def test_healthz_reports_the_database(db: Database) -> None:
    server = WebServer(create_app(Settings(), db), "127.0.0.1", 0)
    await server.start()
    try:
        assert await get(server, "/healthz") == (200, {"ok": True, "database": "ok"})
        assert server.port != 0 and "GET /healthz" in server.description
        assert "POST /twilio/sms" in server.description and "POST /twilio/status" in server.description
    finally:
        await server.stop()


async def test_healthz_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    unreachable = Database("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    server = WebServer(create_app(Settings(), unreachable), "127.0.0.1", 0)
    await server.start()
    try:
        status, body = await get(server, "/healthz")
        assert status == 503 and body["ok"] is False and "unreachable" in body["database"]
    finally:
        await server.stop()
        unreachable.dispose()


async def test_hooks_add_routes_and_unknown_paths_are_404(db: Database) -> None:
    def slack_like(app: web.Application) -> None:
        async def events(request: web.Request) -> web.Response:
            return web.json_response({"public": request.app[settings_key].public_url})

        app.router.add_post("/slack/events", events)

    server = WebServer(
        create_app(Settings(public_url="https://x.example"), db, hooks=[slack_like]), "127.0.0.1", 0
    )
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(server.url + "/slack/events") as response:
                assert (response.status, await response.json()) == (200, {"public": "https://x.example"})
            async with session.post(server.url + "/twilio/sms") as response:
                assert response.status == 404  # hooks replace the default Twilio routes
            async with session.get(server.url + "/healthz") as response:
                assert response.status == 200
            async with session.get(server.url + "/nowhere") as response:
                assert response.status == 404
            async with session.get(server.url + "/slack/events") as response:
                assert response.status == 405
    finally:
        await server.stop()

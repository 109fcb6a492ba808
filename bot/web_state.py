"""What the web app's handlers share: its keys (settings, database, threads) and database work on its threads.

Kept apart from ``bot.web`` (which builds the app from route hooks such as the Twilio webhooks), so the
hooks can use these without importing the module that imports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from aiohttp import web
from sqlalchemy.orm import Session

from bot.config import Settings
from storage import Database

T = TypeVar("T")

settings_key = web.AppKey("settings", Settings)
db_key = web.AppKey("db", Database)
executor_key = web.AppKey("db_executor", ThreadPoolExecutor)
db_threads_key = web.AppKey("db_threads", int)


async def in_session(app: web.Application, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a write transaction on the app's database threads."""
    db = app[db_key]

    def run() -> T:
        with db.session() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(app[executor_key], run)


async def in_read(app: web.Application, work: Callable[[Session], T]) -> T:
    """Run ``work`` in a read-only transaction on the app's database threads."""
    db = app[db_key]

    def run() -> T:
        with db.read() as session:
            return work(session)

    return await asyncio.get_running_loop().run_in_executor(app[executor_key], run)

"""What the web app's handlers share: its settings, its database, and database work on its own threads
(``app[work_key]``, a ``bot.dbwork.DbWork``).

Kept apart from ``bot.web`` (which builds the app from route hooks such as the Twilio webhooks), so the
hooks can use these without importing the module that imports them.
"""

from __future__ import annotations

from aiohttp import web

from bot.config import Settings
from bot.dbwork import DbWork
from storage import Database

settings_key = web.AppKey("settings", Settings)
db_key = web.AppKey("db", Database)
work_key = web.AppKey("db_work", DbWork)
db_threads_key = web.AppKey("db_threads", int)

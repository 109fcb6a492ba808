"""``textbank run``: the web server, the SMS sender and the scheduler in one process."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.cli.common import fail, open_database, settings
from bot.runtime import build_runtime
from bot.twilio.sender import SenderConfigError, sender_options

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Upgrade the database, then serve everything configured until SIGINT/SIGTERM.

    Starts the web server (TEXTBANK_HOST:TEXTBANK_PORT: Twilio webhooks, /healthz), the outbox sender
    (Twilio, or the console when TEXTBANK_SMS=console) and the scheduled jobs.
    """
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        fail(f"--log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # One line per component at start; the libraries' own chatter (every request, every job run) is not it.
    for noisy in ("twilio.http_client", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    cfg = settings()
    try:
        options = sender_options(cfg)
    except SenderConfigError as exc:
        fail(str(exc))
    db = open_database()
    try:
        runtime = build_runtime(cfg, db, options=options)
        try:
            asyncio.run(runtime.run())
        except OSError as exc:  # the port is taken, or the host is not ours
            fail(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}; change TEXTBANK_HOST/PORT")
    finally:
        db.dispose()

"""``textbank run``: the web server, the SMS sender, the scheduler and the chat adapters in one process."""

from __future__ import annotations

import asyncio
import logging

import typer

from bot.cli.common import fail, open_database, refusals, settings
from bot.discord.component import runtime_parts as discord_parts
from bot.runtime import Component, build_runtime
from bot.slack.app import runtime_parts
from bot.twilio.sender import sender_options

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def run(
    log_level: str = typer.Option("INFO", "--log-level", help="DEBUG, INFO, WARNING or ERROR."),
) -> None:
    """Upgrade the database, then serve everything configured until SIGINT/SIGTERM.

    Starts the web server (TEXTBANK_HOST:TEXTBANK_PORT: Twilio webhooks, /healthz, and /slack/events in
    Slack's HTTP mode), the outbox sender (Twilio, or the console when TEXTBANK_SMS=console), the scheduled
    jobs, the Slack app when SLACK_BOT_TOKEN is set (Socket Mode when SLACK_APP_TOKEN is set), and the
    Discord bot when DISCORD_TOKEN is set.
    """
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        fail(f"--log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    logging.basicConfig(level=level, format=LOG_FORMAT)
    # One line per component at start; the libraries' own chatter (every request, every job run) is not it.
    for noisy in ("twilio.http_client", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    cfg = settings()
    options = sender_options(cfg)
    db = open_database()
    try:
        with refusals():
            slack_hooks, slack_components = runtime_parts(db, cfg)
        components: list[Component] = [*slack_components, *discord_parts(db, cfg)]
        runtime = build_runtime(cfg, db, options=options, web_hooks=slack_hooks, extra_components=components)
        try:
            with refusals():  # e.g. Slack refused SLACK_APP_TOKEN at start
                asyncio.run(runtime.run())
        except OSError as exc:  # the port is taken, or the host is not ours
            fail(f"cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}; change TEXTBANK_HOST/PORT")
    finally:
        db.dispose()

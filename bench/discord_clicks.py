"""Benchmark: texters clicking Send on their Discord DM cards, all at once, through the gateway.

One process runs the Discord bot as ``textbank run`` builds it (``DiscordComponent``: login, gateway from
``GET /gateway/bot``, ``/textbank`` synced) against the REST + gateway stand-in of the tests. An admin has
given each of N texters K contacts. Every texter opens their card, clicks Send, waits for the card to come
back with the next contact and clicks again, all texters at once, until every initial is sent.

Each click is an ``INTERACTION_CREATE`` the stand-in writes to the gateway websocket. Reported:
click-to-acknowledge (from writing the click to the stand-in receiving the deferral, which Discord wants
within 3 s) p50/p99, click-to-card (to the edited card) p50/p99, and sends/s (wall time).

    .venv/bin/python bench/discord_clicks.py --texters 20 --per-texter 10

A throw-away SQLite file (the bot's database work is the same code on PostgreSQL; the claim and send
figures for PostgreSQL are bench/assign.py's and bench/send.py's).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.chat import actions as A  # noqa: E402
from bot.chat.actions import act  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.discord.component import DiscordComponent  # noqa: E402
from core import assignment, campaign_yaml, campaigns, contacts_import, orgs  # noqa: E402
from storage import Database, upgrade  # noqa: E402
from tests.bot.discord.standin import BOT_TOKEN, GUILD_ID, DiscordStandIn  # noqa: E402

CAMPAIGN = """\
title: Discord bench
timezone: America/New_York
hours: {start: "00:00", end: "00:00"}
assignment: {dynamic_initials: false}
script:
  initial: "Hi {firstName}, it's {texterName}. Will you vote?"
"""
FIRST_TEXTER = 800000000000000000


def prepare(db: Database, folder: Path, texters: int, per_texter: int) -> int:
    """The campaign, N x K contacts, and each texter holding K of them; returns the campaign id."""
    csv = folder / "contacts.csv"
    rows = (f"Voter{i},+1212{5550000 + i:07d}" for i in range(texters * per_texter))
    csv.write_text("first name,cell\n" + "\n".join(rows) + "\n")
    with db.session() as session:
        org = orgs.default_organization(session)
        campaign, _ = campaign_yaml.apply_campaign_yaml(
            session, org.id, CAMPAIGN, actor=orgs.command_line_user(session, org, "bench")
        )
        campaign_id = campaign.id
    contacts_import.import_contacts(db, campaign_id, csv)
    with db.session() as session:
        org = orgs.default_organization(session)
        admin = orgs.command_line_user(session, org, "bench")
        campaign = campaigns.launch_campaign(
            session, campaigns.get_campaign(session, org.id, str(campaign_id)), actor=admin
        )
        for n in range(texters):
            texter = orgs.enter_workspace_user(
                session,
                platform="discord",
                workspace_id=str(GUILD_ID),
                platform_user_id=str(FIRST_TEXTER + n),
                name=f"Texter {n}",
                platform_admin=False,
            )
            assignment.assign_initials(session, admin, campaign, texter, per_texter)
    return campaign_id


def button(message: dict[str, Any], label: str) -> str | None:
    found = [c for row in message["components"] for c in row["components"] if c.get("label") == label]
    return found[0]["custom_id"] if found else None


async def texter(
    api: DiscordStandIn, user_id: int, campaign_id: int, acks: list[float], cards: list[float]
) -> int:
    """Open the card, then click Send until no Send is left; returns the texts sent."""
    start = {
        "type": 2,
        "style": 1,
        "label": "Start",
        "custom_id": act(A.START_INITIALS, k=campaign_id).encode(),
    }
    message = api.message_payload(
        int(api.dm_channel(user_id)["id"]), {"components": [{"type": 1, "components": [start]}]}
    )
    label, sent = "Start", 0
    while (wanted := button(message, label)) is not None:
        before = len(api.calls)
        clicked = time.perf_counter()
        token = await api.click(user_id, message, wanted)
        ack = await api.wait_call("POST", rf"/interactions/\d+/{token}/callback", before, timeout=120)
        answer = await api.answer(token, before, timeout=120)
        acks.append(ack.at - clicked)
        cards.append(answer.at - clicked)
        sent += label == "Send"
        label, message = "Send", api.message(answer)
    return sent


def percentile(values: list[float], p: float) -> float:
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]
    )


async def main(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="textbank-bench-"))
    url = f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    campaign_id = prepare(db, folder, args.texters, args.per_texter)
    api = await DiscordStandIn().start()
    for n in range(args.texters):
        api.add_member(FIRST_TEXTER + n, f"Texter {n}")
    bot = DiscordComponent(
        db, Settings(database_url=url, discord_token=BOT_TOKEN, discord_api_url=api.base_url)
    )
    await bot.start()
    acks: list[float] = []
    cards: list[float] = []
    try:
        began = time.perf_counter()
        sent = await asyncio.gather(
            *(texter(api, FIRST_TEXTER + n, campaign_id, acks, cards) for n in range(args.texters))
        )
        wall = time.perf_counter() - began
    finally:
        await bot.stop()
        await api.stop()
        db.dispose()
    ms = 1000.0
    print(f"{args.texters} texters x {args.per_texter} contacts on SQLite: {sum(sent)} sent in {wall:.1f} s")
    print(f"  click-to-ack  p50 {percentile(acks, 50) * ms:.0f} ms  p99 {percentile(acks, 99) * ms:.0f} ms")
    print(f"  click-to-card p50 {percentile(cards, 50) * ms:.0f} ms  p99 {percentile(cards, 99) * ms:.0f} ms")
    print(f"  {sum(sent) / wall:.1f} sends/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texters", type=int, default=20)
    parser.add_argument("--per-texter", type=int, default=10)
    asyncio.run(main(parser.parse_args()))

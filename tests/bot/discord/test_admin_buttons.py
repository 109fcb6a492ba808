"""The admin's buttons on Discord: Manage… on each texter of ``/textbank texters`` (assign, maximum,
release, each through its modal or confirmation) and review's Unassign, asked first; a texter's click on
them refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.discord.component import DiscordComponent
from storage import Database
from storage.models import CampaignTexter, Contact, PlatformIdentity
from tests.bot.discord.conftest import TEXTER, TEXTER2
from tests.bot.discord.standin import CHANNEL_ID, OWNER_ID, Call, DiscordStandIn
from tests.bot.discord.test_end_to_end import button
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask, click

CAMPAIGN = {"campaign": "Test Drive"}


def user_id(db: Database, discord_id: int) -> int:
    with db.read() as session:
        found = session.scalar(
            select(PlatformIdentity.user_id).where(PlatformIdentity.platform_user_id == str(discord_id))
        )
    assert found is not None
    return found


def held(db: Database) -> dict[str, int | None]:
    with db.read() as session:
        return {
            cell: holder for cell, holder in session.execute(select(Contact.cell, Contact.assigned_user_id))
        }


async def two_texters(db: Database, api: DiscordStandIn, tmp_path: Path) -> None:
    """Tess joins and holds both contacts; Theo joins after her, with nothing left to hold."""
    await launched(db, api, tmp_path)
    await ask(api, OWNER_ID, "link", "initials", options=CAMPAIGN)
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    for texter in (TEXTER, TEXTER2):
        await click(api, texter, join, "Join")


async def manage(api: DiscordStandIn, user: int, listing: Call, whose: int, choice: str) -> Call:
    """Pick ``choice`` in the Manage… select of the texter ``whose`` (a textbank user id)."""
    message = api.message(listing)
    for row in message["components"]:
        for select_menu in row["components"]:
            options = {o["label"]: o for o in select_menu.get("options") or []}
            if choice in options and json.loads(options[choice]["value"].partition("|")[2])["u"] == whose:
                before = len(api.calls)
                token = await api.click(user, message, select_menu["custom_id"], [options[choice]["value"]])
                return await api.answer(token, before)
    raise AssertionError(f"no {choice!r} for user {whose} in {message['components']}")


async def submit_form(api: DiscordStandIn, user: int, form: Call, value: str) -> Call:
    assert form.body["type"] == 9 and len(form.body["data"]["title"]) <= 45
    (row,) = form.body["data"]["components"]
    (field,) = row["components"]
    before = len(api.calls)
    token = await api.submit(user, form.body["data"]["custom_id"], {field["custom_id"]: value})
    return await api.answer(token, before)


async def test_manage_a_texter_release_assign_and_maximum_from_the_texters_list(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    await two_texters(db, api, tmp_path)
    tess, theo = user_id(db, TEXTER), user_id(db, TEXTER2)
    listing = await ask(api, OWNER_ID, "texters", options=CAMPAIGN)
    assert "**Tess Texter**: 2 unsent" in listing.text and "**Theo Texter**: 0 unsent" in listing.text
    assert len([r for r in api.message(listing)["components"]]) == 2  # a Manage… select for each

    # A texter's click on the list is refused (a forged one: the list is the admin's, ephemeral).
    refused = await manage(api, TEXTER2, listing, tess, "Release unsent…")
    assert "only an admin" in refused.text and refused.body["data"]["flags"] == 64

    # Release asks first; the confirmation's button releases Tess's unsent first texts.
    confirm = await manage(api, OWNER_ID, listing, tess, "Release unsent…")
    assert confirm.body["type"] == 4 and confirm.body["data"]["flags"] == 64
    assert "2 unsent first texts go back to the pool" in confirm.text
    assert set(held(db).values()) == {tess}  # asking released nothing
    released = await click(api, OWNER_ID, api.message(confirm), "Release")
    assert "Released 2 unsent first texts of Tess Texter" in released.text
    assert set(held(db).values()) == {None}

    # Assign (dynamic assignment off) and the maximum, each through its modal.
    await ask(api, OWNER_ID, "settings", options={**CAMPAIGN, "dynamic_initials": False})
    listing = await ask(api, OWNER_ID, "texters", options=CAMPAIGN)
    form = await manage(api, OWNER_ID, listing, theo, "Assign first texts…")
    bad = await submit_form(api, OWNER_ID, form, "lots")
    assert "'lots' is not a whole number" in bad.text
    assert set(held(db).values()) == {None}
    given = await submit_form(api, OWNER_ID, form, "1")
    assert "Gave 1 first text to Theo Texter" in given.text
    assert sorted(held(db).values(), key=str) == [theo, None]

    form = await manage(api, OWNER_ID, listing, theo, "Set maximum…")
    saved = await submit_form(api, OWNER_ID, form, "7")
    assert "Theo Texter's maximum in **Test Drive** is now 7" in saved.text
    with db.read() as session:
        own = session.scalar(select(CampaignTexter.max_initials).where(CampaignTexter.user_id == theo))
    assert own == 7
    # A texter forging the form's submission is refused, and nothing changes.
    forged = await submit_form(api, TEXTER, form, "500")
    assert "only an admin" in forged.text
    with db.read() as session:
        assert session.scalar(select(CampaignTexter.max_initials).where(CampaignTexter.user_id == theo)) == 7


async def test_review_unassigns_what_matches_and_a_texter_cannot(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    await two_texters(db, api, tmp_path)
    tess = user_id(db, TEXTER)
    review = await ask(
        api,
        OWNER_ID,
        "review",
        options={**CAMPAIGN, "status": "needs-first-message"},
        members={"texter": TEXTER},
    )
    assert "+12125550101" in review.text and "+12125550102" in review.text  # admins see whole numbers
    message: dict[str, Any] = api.message(review)
    assert button(message, "Unassign all matching")["style"] == 4  # danger

    refused = await click(api, TEXTER, message, "Unassign all matching")
    assert "only an admin" in refused.text
    # Discord's buttons cannot ask first: the question comes as an ephemeral message with its own button.
    asked = await click(api, OWNER_ID, message, "Unassign all matching")
    assert "Unassign?" in asked.text and "goes back to the pool" in asked.text
    assert set(held(db).values()) == {tess}
    question = api.message(asked)
    assert button(question, "Unassign")["style"] == 4
    forged = await click(api, TEXTER, question, "Unassign")  # the confirmed button, clicked by a texter
    assert "only an admin" in forged.text
    assert set(held(db).values()) == {tess}
    unassigned = await click(api, OWNER_ID, question, "Unassign")
    assert "Unassigned 2 contacts" in unassigned.text
    assert set(held(db).values()) == {None}


async def test_a_long_texters_list_keeps_manage_for_every_texter_within_five_rows(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    api = discord_api
    await two_texters(db, api, tmp_path)
    join = api.message(api.find("POST", rf"/channels/{CHANNEL_ID}/messages")[-1])
    extra = [900000000000000100 + n for n in range(6)]
    for n, member in enumerate(extra):
        api.add_member(member, f"Vol {n}")
        await click(api, member, join, "Join")
    listing = await ask(api, OWNER_ID, "texters", options=CAMPAIGN)  # 8 texters: 8 selects would be 8 rows
    message = api.message(listing)
    assert 1 <= len(message["components"]) <= 5
    described = {
        o["description"].split(":")[0]
        for row in message["components"]
        for s in row["components"]
        for o in s["options"]
    }
    assert described == {"Tess Texter", "Theo Texter", *(f"Vol {n}" for n in range(6))}
    last = user_id(db, extra[-1])
    form = await manage(api, OWNER_ID, listing, last, "Set maximum…")
    saved = await submit_form(api, OWNER_ID, form, "4")
    assert "Vol 5's maximum in **Test Drive** is now 4" in saved.text

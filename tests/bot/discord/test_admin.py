"""Admin commands over the gateway: each answers with what core did, in Discord's own components."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import discord
from sqlalchemy import select

from bot.discord.component import DiscordComponent
from storage import Database
from storage.models import OptOut, User
from tests.bot.discord.conftest import ADMIN, TEXTER
from tests.bot.discord.standin import OWNER_ID, DiscordStandIn
from tests.bot.discord.test_limits import launched
from tests.bot.discord.test_texting import ask


async def test_admin_commands(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path
) -> None:
    await launched(db, discord_api, tmp_path)
    api = discord_api
    campaign = {"campaign": "Test Drive"}

    stats = await ask(api, OWNER_ID, "stats", options=campaign)
    assert "0% (0 of 2 textable" in stats.text and "Contacts: **2**" in stats.text

    refused = await ask(api, OWNER_ID, "assign", options={**campaign, "count": 1}, members={"texter": TEXTER})
    assert "dynamic assignment for initials is on" in refused.text
    saved = await ask(
        api,
        OWNER_ID,
        "settings",
        options={**campaign, "dynamic_initials": False, "max_initials_per_texter": 0},
    )
    assert "Saved assignment settings" in saved.text and "dynamic initials: **False**" in saved.text
    assigned = await ask(
        api, OWNER_ID, "assign", options={**campaign, "count": 5}, members={"texter": TEXTER}
    )
    assert "Gave 2 first texts to Tess Texter in **Test Drive**" in assigned.text
    capped = await ask(api, OWNER_ID, "max", options={**campaign, "maximum": 1}, members={"texter": TEXTER})
    assert "Tess Texter's maximum in **Test Drive** is now 1" in capped.text

    texters = await ask(api, OWNER_ID, "texters", options=campaign)
    assert "**Tess Texter**: 2 unsent, 0 unhandled replies, 2 assigned, maximum 1" in texters.text
    review = await ask(
        api,
        OWNER_ID,
        "review",
        options={**campaign, "status": "needs-first-message"},
        members={"texter": TEXTER},
    )
    assert "+12125550101" in review.text and "Tess Texter" in review.text  # admins see whole numbers

    exported = await ask(api, OWNER_ID, "export", options=campaign)
    ((name, data),) = exported.files.items()
    assert name == "test-drive-contacts.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert len(rows) == 2

    added = await ask(api, OWNER_ID, "optout", "add", options={"number": "(212) 555-0199"})
    assert "+12125550199 is now on the opt-out list" in added.text
    listed = await ask(api, OWNER_ID, "optout", "list")
    assert "+12125550199" in listed.text

    made = await ask(api, OWNER_ID, "admin", "add", members={"member": ADMIN})
    assert "Ada Admin is now an admin" in made.text
    with db.read() as session:
        assert session.scalar(select(User.role).where(User.name == "Ada Admin")) == "admin"
        assert session.scalar(select(OptOut.cell)) == "+12125550199"

    done = await ask(api, TEXTER, "done")
    assert "2 unsent first texts and 0 unhandled replies went back to the pool" in done.text


async def test_campaign_new_opens_a_form_for_admins_and_its_submission_creates_the_draft(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    api = discord_api
    before = len(api.calls)
    await api.slash(OWNER_ID, "campaign", "new")
    form = await api.wait_call("POST", r"/interactions/\d+/.+/callback", before)
    assert form.body["type"] == 9 and len(form.body["data"]["title"]) <= 45
    fields = {c["components"][0]["custom_id"]: c for c in form.body["data"]["components"]}
    assert len(fields) == 5  # Discord's most: the optional description is left out
    typed = ["GOTV", "Hi {firstName}!", "10:00", "20:00", "America/Chicago"]
    values = dict(zip(fields, typed, strict=True))
    before = len(api.calls)
    token = await api.submit(OWNER_ID, form.body["data"]["custom_id"], values)
    created = await api.answer(token, before)
    assert "Draft campaign **GOTV**" in created.text

    before = len(api.calls)
    refused = await api.answer(await api.slash(TEXTER, "campaign", "new"), before)  # no form for a texter
    assert refused.body["type"] == 4 and "only an admin" in refused.text


async def test_a_command_that_fails_unexpectedly_still_answers(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path, monkeypatch, caplog
) -> None:
    await launched(db, discord_api, tmp_path)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("core.stats.campaign_stats", broken)
    answer = await ask(discord_api, OWNER_ID, "stats", options={"campaign": "Test Drive"})
    assert "textbank could not do that" in answer.text  # not a "thinking..." left for 15 minutes
    assert "the database went away" not in answer.text
    assert any("stats failed" in r.getMessage() for r in caplog.records)


async def test_an_answer_discord_refuses_is_replaced_by_the_failure_line(
    bot: DiscordComponent, discord_api: DiscordStandIn, db: Database, tmp_path: Path, monkeypatch, caplog
) -> None:
    await launched(db, discord_api, tmp_path)
    real = discord.Interaction.edit_original_response
    refused: list[dict[str, object]] = []

    async def refused_once(self: discord.Interaction, **kwargs: object) -> object:
        if not refused:  # as Discord answers a message that breaks its rules (50035 Invalid Form Body)
            refused.append(kwargs)
            response = SimpleNamespace(status=400, reason="Bad Request")
            raise discord.HTTPException(response, "Invalid Form Body")
        return await real(self, **kwargs)

    monkeypatch.setattr(discord.Interaction, "edit_original_response", refused_once)
    answer = await ask(discord_api, OWNER_ID, "stats", options={"campaign": "Test Drive"})
    embeds = [e.to_dict() for e in refused[0]["embeds"]]  # type: ignore[attr-defined]
    assert "Test Drive" in str(embeds)  # the stats were what Discord refused
    assert "textbank could not do that" in answer.text  # not a "thinking..." left for 15 minutes
    assert any("answer to /textbank was refused" in r.getMessage() for r in caplog.records)

"""``/textbank connect`` in Slack: a one-time code a Discord server's admin enters to join the same
organization (the chat layer's connect, shared with Discord)."""

from __future__ import annotations

import re

from core import connect, orgs
from storage.models import Organization, WorkspaceLink
from tests.bot.slack.conftest import ADMIN, TEXTER, Driver
from tests.bot.slack.test_admin import setup_admin


async def test_a_slack_code_joins_a_discord_server_to_the_organization(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(ADMIN, "connect")
    issued = driver.slack.of("respond")[-1].text_dump()
    assert "Connect code for" in issued and "single use" in issued
    code = re.search(r"([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", issued)
    assert code is not None, issued

    await driver.command(TEXTER, "connect")
    assert "only an admin" in driver.slack.of("respond")[-1].text_dump()  # a texter gets no code
    await driver.command(ADMIN, "connect AAAA-BBBB-CCCC")
    assert "that connect code is wrong" in driver.slack.of("respond")[-1].text_dump()

    # A Discord server with an organization of its own, still empty: its owner enters the code (as on
    # Discord), and the server joins the Slack workspace's organization.
    with driver.db.session() as session:
        other = Organization(name="Discord club")
        session.add(other)
        session.flush()
        orgs.link_workspace(session, other, "discord", "700")
        owner = orgs.ensure_user(
            session,
            other,
            platform="discord",
            workspace_id="700",
            platform_user_id="701",
            name="Dana",
            role="owner",
        )
        done = connect.redeem_connect_code(
            session, owner, code.group(1), platform="discord", workspace_id="700"
        )
        assert "Discord" in done.message or "discord" in done.message, done.message
    with driver.db.read() as session:
        links = {
            (link.platform, link.workspace_id): link.organization_id for link in session.query(WorkspaceLink)
        }
    assert links[("discord", "700")] == links[("slack", "T0TEAM")]

"""Who a click is from: a known texter is not looked up on Slack (``users.info``) by every process on
their first click there; their profile is read again once the recheck is due, by whichever process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from bot.chat.people import ADMIN_RECHECK_SECONDS
from bot.slack.app import build_app, make_client
from storage.models import PlatformIdentity, User
from tests.bot.slack.conftest import ADMIN, TEXTER, Driver
from tests.bot.slack.standin import BOT_TOKEN
from tests.bot.slack.test_admin import setup_admin


def _looked_up(driver: Driver, user: str) -> int:
    return sum(1 for c in driver.slack.of("users.info") if c.body.get("user") == user)


def _other_process(driver: Driver) -> Driver:
    """Another ``textbank run`` process on the same database and workspace (its own app and memory)."""
    settings = driver.app.textbank_deps.settings  # type: ignore[attr-defined]
    client = make_client(BOT_TOKEN, driver.slack.base_url)
    app = build_app(driver.db, settings, client=client, process_before_response=True)
    return Driver(app, driver.slack, driver.db)


def _identity(driver: Driver, user: str) -> PlatformIdentity:
    with driver.db.read() as session:
        identity = session.scalars(
            select(PlatformIdentity).where(PlatformIdentity.platform_user_id == user)
        ).one()
        session.expunge(identity)
        return identity


async def test_a_known_texter_is_not_looked_up_again_by_another_process(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "help")  # a newcomer: looked up once, and entered
    assert _looked_up(driver, TEXTER) == 1
    assert _identity(driver, TEXTER).profile_checked_at is not None
    other = _other_process(driver)
    await other.command(TEXTER, "help")
    await driver.command(TEXTER, "help")
    assert _looked_up(driver, TEXTER) == 1
    assert len(driver.responses(TEXTER)) == 3  # each process answered


async def test_the_profile_is_read_again_once_due_and_the_new_name_kept(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "help")
    first = _identity(driver, TEXTER).profile_checked_at
    assert first is not None
    driver.slack.users[TEXTER]["profile"] = {"display_name": "Tess T."}
    later = datetime.now(UTC) + timedelta(seconds=ADMIN_RECHECK_SECONDS + 60)
    with time_machine.travel(later, tick=True):
        await _other_process(driver).command(TEXTER, "help")  # due: looked up, by whichever process
        assert _looked_up(driver, TEXTER) == 2
        identity = _identity(driver, TEXTER)
        assert identity.display_name == "Tess T."
        assert identity.profile_checked_at is not None and identity.profile_checked_at > first
        await driver.command(TEXTER, "help")  # checked just now: not again
    assert _looked_up(driver, TEXTER) == 2
    with driver.db.read() as session:  # still a texter: a name change promotes nobody
        assert session.scalar(select(User.role).where(User.id == identity.user_id)) == "texter"


async def test_a_failed_look_up_renames_nobody_and_is_not_repeated_on_every_click(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "help")
    later = datetime.now(UTC) + timedelta(seconds=ADMIN_RECHECK_SECONDS + 60)
    del driver.slack.users[TEXTER]  # users.info now fails (user_not_found)
    with time_machine.travel(later, tick=True):
        await driver.command(TEXTER, "help")
        await driver.command(TEXTER, "help")
    assert _looked_up(driver, TEXTER) == 2
    assert _identity(driver, TEXTER).display_name == "Tess Texter"


async def test_the_admin_is_answered_from_the_database(driver: Driver) -> None:
    await setup_admin(driver)
    await _other_process(driver).command(ADMIN, "help")
    assert _looked_up(driver, ADMIN) == 1

"""Admin commands through signed requests, asserting on the Web API calls the app made."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from storage.models import Campaign, Contact, JoinToken, OptOut, User, WorkspaceLink
from tests.bot.slack.conftest import ADMIN, TEXTER, Driver
from tests.bot.slack.standin import signed_headers, slash_body

CAMPAIGN_YAML = """\
title: Test Drive
timezone: America/New_York
hours:
  start: "00:00"
  end: "00:00"
assignment:
  dynamic_initials: true
  initials_batch_size: 2
script:
  initial: "Hi {firstName}, it's {texterName}. Will you vote?"
  question: Will they vote?
  answers:
    - answer: "Yes"
      response: "Great, thanks {firstName}!"
    - answer: "No"
      response: "Thanks for letting me know."
"""

CONTACTS_CSV = """first name,last name,cell,zip
Ann,One,+12125550101,10001
Bob,Two,+12125550102,10001
Cat,Three,+12125550103,10001
Dan,Four,not-a-phone,10001
"""


async def setup_admin(driver: Driver) -> None:
    """The first user of the workspace is its owner (they installed the app)."""
    await driver.command(ADMIN, "help")


async def apply_campaign(driver: Driver, text: str = CAMPAIGN_YAML) -> None:
    await driver.command(ADMIN, "campaign apply")
    view = (await driver.slack.wait_for("views.open")).view
    file = driver.slack.add_file("campaign.yaml", text.encode())
    response = await driver.submit(ADMIN, view, {"file": {"v": {"type": "file_input", "files": [file]}}})
    assert response.status == 200


async def upload_contacts(driver: Driver, campaign: str = "Test Drive", text: str = CONTACTS_CSV) -> None:
    before = len(driver.slack.of("views.open"))
    await driver.command(ADMIN, f'contacts "{campaign}"')
    calls = await driver.slack.wait_count("views.open", before + 1)
    view = calls[-1].view
    file = driver.slack.add_file("contacts.csv", text.encode())
    await driver.submit(ADMIN, view, {"file": {"v": {"type": "file_input", "files": [file]}}})
    # The first import of a process loads the zip-code tables: slow on a busy machine.
    await driver.slack.wait_for(
        "chat.update", lambda c: "Imported" in c.text_dump() or "not imported" in c.text_dump(), timeout=60.0
    )


async def test_first_user_owns_the_workspace_and_help_lists_admin_commands(driver: Driver) -> None:
    await driver.command(ADMIN, "help")
    await driver.command(TEXTER, "help")
    with driver.db.read() as session:
        roles = dict(session.execute(select(User.name, User.role)).all())
        links = list(session.scalars(select(WorkspaceLink.workspace_id)))
    assert roles == {"Ada Admin": "owner", "Tess Texter": "texter"}
    assert links == ["T0TEAM"]
    assert "campaign new" in driver.responses(ADMIN)[0]
    assert "campaign new" not in driver.responses(TEXTER)[0]


async def test_workspace_admins_in_slack_come_in_as_admins(driver: Driver) -> None:
    await setup_admin(driver)
    driver.slack.add_user("U0BOSS", "Sam Slackadmin", is_admin=True)
    await driver.command("U0BOSS", "help")
    with driver.db.read() as session:
        assert session.scalar(select(User.role).where(User.name == "Sam Slackadmin")) == "admin"


async def test_a_texter_made_workspace_admin_in_slack_is_promoted_on_the_next_look_up(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(TEXTER, "help")
    await driver.command(TEXTER, "help")
    looked_up = [c for c in driver.slack.of("users.info") if c.body.get("user") == TEXTER]
    assert len(looked_up) == 1  # a known texter is not looked up on every command
    driver.slack.users[TEXTER]["is_admin"] = True
    driver.app.textbank_deps.admin_checks.every = 0  # type: ignore[attr-defined]
    await driver.command(TEXTER, "help")
    with driver.db.read() as session:
        assert session.scalar(select(User.role).where(User.name == "Tess Texter")) == "admin"
    assert "campaign new" in driver.responses(TEXTER)[-1]
    driver.slack.users[TEXTER]["is_admin"] = False
    await driver.command(TEXTER, "help")
    with driver.db.read() as session:  # never demoted automatically
        assert session.scalar(select(User.role).where(User.name == "Tess Texter")) == "admin"


async def test_first_user_in_slack_is_owner_only_when_no_admin_exists(driver: Driver) -> None:
    driver.slack.add_user("U0BOSS", "Sam Slackadmin", is_admin=True)
    await driver.command(TEXTER, "help")  # a non-admin arrives first: owner, as nobody else can be
    await driver.command("U0BOSS", "help")
    with driver.db.read() as session:
        roles = dict(session.execute(select(User.name, User.role)).all())
    assert roles == {"Tess Texter": "owner", "Sam Slackadmin": "admin"}


async def test_bad_signature_is_refused_and_changes_nothing(driver: Driver) -> None:
    body = slash_body("help", user_id=ADMIN)
    headers = signed_headers(body, secret="not-the-secret")
    from slack_bolt.request.async_request import AsyncBoltRequest

    response = await driver.app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
    assert response.status == 401
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 0


async def test_texter_cannot_run_admin_commands(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    for text in (
        "campaign new",
        'launch "Test Drive"',
        'stats "Test Drive"',
        "optout 2125550199",
        'link initials "Test Drive"',
        'settings "Test Drive"',
        "admin add <@U0ADMIN>",
    ):
        await driver.command(TEXTER, text)
    answers = driver.responses(TEXTER)
    assert len(answers) == 7
    assert all("only an admin can do that" in a for a in answers), answers
    assert len(driver.slack.of("views.open")) == 1  # the admin's apply modal only
    with driver.db.read() as session:
        assert session.scalar(select(Campaign.status)) == "draft"
        assert session.scalar(select(func.count()).select_from(OptOut)) == 0
        assert session.scalar(select(func.count()).select_from(JoinToken)) == 0


async def test_campaign_new_modal_creates_a_draft_and_keeps_bad_input_in_the_modal(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(ADMIN, "campaign new")
    view = (await driver.slack.wait_for("views.open")).view
    assert view["callback_id"] == "tb_campaign_new"

    def values(start: str) -> dict:
        return {
            "title": {"v": {"type": "plain_text_input", "value": "Phone Bank"}},
            "description": {"v": {"type": "plain_text_input", "value": None}},
            "initial": {"v": {"type": "plain_text_input", "value": "Hi {firstName}! {nope}"}},
            "hours_start": {"v": {"type": "plain_text_input", "value": start}},
            "hours_end": {"v": {"type": "plain_text_input", "value": "20:00"}},
            "timezone": {"v": {"type": "plain_text_input", "value": "America/Chicago"}},
        }

    bad_hours = await driver.submit(ADMIN, view, values("9am"))
    errors = json.loads(bad_hours.body)
    assert errors["response_action"] == "errors" and "hours_start" in errors["errors"]
    bad_script = json.loads((await driver.submit(ADMIN, view, values("08:00"))).body)
    assert "nope" in bad_script["errors"]["initial"]
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
    good = values("08:00")
    good["initial"]["v"]["value"] = "Hi {firstName}, it's {texterName}."
    ok = await driver.submit(ADMIN, view, good)
    assert ok.status == 200 and not ok.body
    with driver.db.read() as session:
        campaign = session.execute(
            select(Campaign.title, Campaign.status, Campaign.hours_start, Campaign.timezone)
        ).one()
    assert tuple(campaign) == (
        "Phone Bank",
        "draft",
        480,
        "America/Chicago",
    )
    dm = await driver.slack.wait_for("chat.postMessage", lambda c: "Phone Bank" in c.text_dump())
    assert dm.body["channel"] == "D" + ADMIN


async def test_apply_yaml_reports_every_problem_in_the_modal(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(ADMIN, "campaign apply")
    view = (await driver.slack.wait_for("views.open")).view
    file = driver.slack.add_file("bad.yaml", b"title: X\nhours:\n  start: nine\n")
    response = await driver.submit(ADMIN, view, {"file": {"v": {"type": "file_input", "files": [file]}}})
    errors = json.loads(response.body)["errors"]["file"]
    assert "line 3" in errors or "hours.start" in errors
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Campaign)) == 0
    # the download carried the bot token
    download = [c for c in driver.slack.calls if c.method == "file_download"][0]
    assert download.headers["Authorization"] == "Bearer xoxb-test-token"


async def test_contacts_upload_imports_and_posts_the_summary(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await upload_contacts(driver)
    summary = [c for c in driver.slack.of("chat.update") if "Imported" in c.text_dump()][-1]
    assert "Imported *3*" in summary.text_dump() and "1 invalid cell" in summary.text_dump()
    with driver.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Contact)) == 3


async def test_launch_link_stats_texters_and_optout(driver: Driver) -> None:
    await setup_admin(driver)
    await apply_campaign(driver)
    await upload_contacts(driver)
    await driver.command(ADMIN, 'launch "Test Drive"')
    await driver.command(ADMIN, 'link initials "Test Drive" Night Owls', channel_id="C0VOLUNTEERS")
    join = await driver.slack.wait_for("chat.postMessage", lambda c: c.body.get("channel") == "C0VOLUNTEERS")
    button = join.blocks[1]["elements"][0]
    assert button["action_id"] == "tb_join"
    with driver.db.read() as session:
        token = session.scalars(select(JoinToken.token)).one()
    assert json.loads(button["value"])["t"] == token
    await driver.command(ADMIN, 'stats "Test Drive"')
    await driver.command(ADMIN, "optout (212) 555-0103")
    answers = driver.responses(ADMIN)[1:]  # after the first help
    assert "is launched" in answers[0]
    assert "0% sent" in answers[2] and "Contacts: *3*" in answers[2]
    assert "+12125550103 is now on the opt-out list" in answers[3]
    with driver.db.read() as session:
        assert session.scalar(select(Contact.status).where(Contact.cell == "+12125550103")) == "closed"


async def test_refusals_name_the_problem(driver: Driver) -> None:
    await setup_admin(driver)
    await driver.command(ADMIN, "launch Nowhere")
    await driver.command(ADMIN, "frobnicate")
    answers = driver.responses(ADMIN)
    assert "no campaign 'Nowhere'" in answers[1]
    assert "unknown command 'frobnicate'" in answers[2]

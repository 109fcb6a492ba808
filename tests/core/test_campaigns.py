from __future__ import annotations

import pytest

from core.campaigns import (
    ASSIGNMENT_DEFAULTS,
    CannedSpec,
    TagSpec,
    archive_campaign,
    campaign_kind,
    campaign_tags,
    canned_responses,
    create_campaign,
    get_campaign,
    launch_campaign,
    list_campaigns,
    set_canned_responses,
    set_script,
    set_tags,
    titles_for_member,
    update_assignment_settings,
    update_campaign,
)
from core.errors import NotFound, Refused
from core.orgs import enter_workspace_user
from core.scripts import StepSpec, load_tree
from storage import Database
from storage.models import Campaign, Tag, Team, User
from tests.core.factories import add_contacts, make_campaign, make_org, org_admin


def _get(db: Database, campaign_id: int) -> Campaign:
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        session.expunge(campaign)  # keep its loaded values past the read transaction's rollback
        return campaign


def _draft(db: Database, org_id: int, title: str = "GOTV", **kwargs) -> Campaign:
    with db.session() as session:
        return create_campaign(session, org_id, actor=org_admin(session, org_id), title=title, **kwargs)


def test_create_campaign_defaults_and_initial_script(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id, "  GOTV  ", initial_script="Hi {firstName}")
    assert campaign.title == "GOTV" and campaign.status == "draft" and campaign.kind == "campaign"
    assert (campaign.hours_start, campaign.hours_end, campaign.timezone) == (540, 1260, "America/New_York")
    assert {name: getattr(campaign, name) for name in ASSIGNMENT_DEFAULTS} == ASSIGNMENT_DEFAULTS
    with db.read() as session:
        assert load_tree(session, campaign.id) == StepSpec(script="Hi {firstName}")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"title": " "}, "the title is empty"),
        ({"title": "x" * 201}, "longer than 200"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"hours_start": 2000}, "texting hours start must be minutes after midnight"),
        ({"hours_end": -1}, "texting hours end"),
        ({"initial_script": "Hi {frstName}"}, "did you mean {firstName}"),
        ({"custom_fields": ["firstName"]}, "is a built-in placeholder"),
        ({"custom_fields": ["a{b"]}, "placeholders cannot hold"),
    ],
)
def test_create_campaign_refusals_write_nothing(db: Database, org_id: int, kwargs, expected: str) -> None:
    args = {"title": "GOTV", **kwargs}
    with pytest.raises(Refused) as info:
        with db.session() as session:
            create_campaign(session, org_id, actor=org_admin(session, org_id), **args)
    assert expected in info.value.reason
    with db.read() as session:
        assert list_campaigns(session, org_id, actor=org_admin(session, org_id)) == []


def test_titles_are_unique_among_live_campaigns_only(db: Database, org_id: int) -> None:
    first = _draft(db, org_id)
    with pytest.raises(Refused, match="a campaign titled 'GOTV' already exists .* archive that one first"):
        _draft(db, org_id)
    with db.session() as session:
        archive_campaign(session, session.merge(first), actor=org_admin(session, org_id))
    second = _draft(db, org_id)
    # Another organization may use the same title.
    with db.session() as session:
        other = make_org(session)
        create_campaign(session, other.id, actor=org_admin(session, other.id), title="GOTV")
    # The live one is meant by its title; the archived one stays reachable by id.
    with db.read() as session:
        assert get_campaign(session, org_id, "GOTV").id == second.id
        assert get_campaign(session, org_id, str(first.id)).status == "archived"
    # Renaming onto a live title is refused too.
    third = _draft(db, org_id, "Other")
    with pytest.raises(Refused, match="already exists"):
        with db.session() as session:
            update_campaign(session, session.merge(third), actor=org_admin(session, org_id), title="GOTV")


def test_get_campaign_by_id_or_title_and_refusals(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id, "Spring canvass")
    with db.session() as session:
        numeric = create_campaign(session, org_id, actor=org_admin(session, org_id), title="2024")
        adhoc = make_campaign(session, org_id, title="ad-hoc texts", kind="adhoc")
        archived = [make_campaign(session, org_id, title="Old", status="archived") for _ in range(2)]
    with db.read() as session:
        assert get_campaign(session, org_id, str(campaign.id)).id == campaign.id
        assert get_campaign(session, org_id, "Spring canvass").id == campaign.id
        assert get_campaign(session, org_id, "2024").id == numeric.id  # no campaign with id 2024: a title
        with pytest.raises(NotFound, match="did you mean 'Spring canvass'"):
            get_campaign(session, org_id, "Spring canvas")
        with pytest.raises(NotFound, match="see `textbank campaign list`"):
            get_campaign(session, org_id, "nothing like it")
        # The ad-hoc texts are found by id and by their title, as `campaign list` shows them.
        assert get_campaign(session, org_id, str(adhoc.id)).id == adhoc.id
        assert get_campaign(session, org_id, "ad-hoc texts").id == adhoc.id
        ids = ", ".join(str(c.id) for c in archived)
        with pytest.raises(Refused, match=f"2 campaigns are titled 'Old' \\(ids {ids}\\): name the one"):
            get_campaign(session, org_id, "Old")


def test_list_campaigns_counts_contacts_and_shows_the_adhoc_texts(db: Database, org_id: int) -> None:
    with db.session() as session:
        a = create_campaign(session, org_id, actor=org_admin(session, org_id), title="A")
        b = create_campaign(session, org_id, actor=org_admin(session, org_id), title="B")
        make_campaign(session, org_id, title="ad-hoc texts", kind="adhoc")
        add_contacts(session, a, 3)
        add_contacts(session, a, 2, status="closed", opted_out=True, first=10)
        add_contacts(session, b, 1, status="needs_response")
    with db.read() as session:
        summaries = list_campaigns(session, org_id, actor=org_admin(session, org_id))
        assert [(s.campaign.title, s.campaign.kind) for s in summaries] == [
            ("A", "campaign"),
            ("B", "campaign"),
            ("ad-hoc texts", "adhoc"),
        ]
    assert summaries[0].contacts == 5 and summaries[0].opted_out == 2
    assert summaries[0].by_status == {"needs_message": 3, "closed": 2}
    assert summaries[1].by_status == {"needs_response": 1}


def test_draft_is_edited_freely(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id)
    with db.session() as session:
        update_campaign(
            session,
            session.merge(campaign),
            actor=org_admin(session, org_id),
            title="GOTV 2",
            description="d",
            timezone="America/Phoenix",
            hours_start=600,
            hours_end=1200,
            custom_fields=["ward"],
            initials_batch_size=50,
        )
    campaign = _get(db, campaign.id)
    assert (campaign.title, campaign.timezone, campaign.hours_start, campaign.custom_fields) == (
        "GOTV 2",
        "America/Phoenix",
        600,
        ["ward"],
    )
    assert campaign.initials_batch_size == 50


def test_dropping_a_custom_field_a_script_uses_is_refused(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id, custom_fields=["ward"], initial_script="Hi {firstName} of ward {ward}")
    with pytest.raises(Refused, match=r"unknown placeholder \{ward\}"):
        with db.session() as session:
            update_campaign(
                session, session.merge(campaign), actor=org_admin(session, org_id), custom_fields=[]
            )
    assert _get(db, campaign.id).custom_fields == ["ward"]


def _launched(db: Database, org_id: int) -> Campaign:
    with db.session() as session:
        campaign = create_campaign(
            session, org_id, actor=org_admin(session, org_id), title="Live", initial_script="Hi {firstName}"
        )
        add_contacts(session, campaign, 2)
        return launch_campaign(session, campaign, actor=org_admin(session, org_id))


def test_launched_campaign_changes_only_what_is_allowed(db: Database, org_id: int) -> None:
    campaign = _launched(db, org_id)
    with db.session() as session:
        live = session.merge(campaign)
        update_campaign(
            session,
            live,
            actor=org_admin(session, org_id),
            description="new",
            hours_start=480,
            dynamic_replies=True,
        )
        update_assignment_settings(session, live, actor=org_admin(session, org_id), replies_batch_size=10)
        set_canned_responses(session, live, [CannedSpec("Hi", "Hello {firstName}")])
        set_tags(session, live, [TagSpec("moved")])
        # An unchanged fixed field is not a change.
        update_campaign(session, live, actor=org_admin(session, org_id), title="Live")
    campaign = _get(db, campaign.id)
    assert (campaign.description, campaign.hours_start, campaign.dynamic_replies) == ("new", 480, True)
    assert campaign.replies_batch_size == 10
    for field, value, reason in [
        ("title", "Renamed", "texters and join messages know the campaign by its title"),
        ("timezone", "America/Chicago", "derived from it"),
        ("custom_fields", ["ward"], "its script is fixed"),
    ]:
        with pytest.raises(Refused) as info:
            with db.session() as session:
                update_campaign(
                    session, session.merge(campaign), actor=org_admin(session, org_id), **{field: value}
                )
        assert "is launched, so its" in info.value.reason and reason in info.value.reason
        assert "may change its description, hours" in info.value.reason
    with pytest.raises(Refused, match="its script cannot change"):
        with db.session() as session:
            set_script(session, session.merge(campaign), StepSpec(script="Other"))
    assert _get(db, campaign.id).title == "Live"


def test_unknown_setting_is_refused(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id)
    with pytest.raises(Refused, match="unknown campaign setting 'colour'"):
        with db.session() as session:
            update_campaign(session, session.merge(campaign), actor=org_admin(session, org_id), colour="red")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"initials_batch_size": 0}, "initials_batch_size must be a whole number from 1 to 1,000,000"),
        (
            {"initials_batch_size": 99999999999999999999999},
            "from 1 to 1,000,000 (got 99999999999999999999999)",
        ),
        ({"max_initials_per_texter": 2**31}, "from 1 to 1,000,000, or null for no limit (got 2147483648)"),
        ({"release_unhandled_after_minutes": 10**40}, "(got a number of more than 40 digits)"),
        ({"replies_batch_size": None}, "replies_batch_size must be a whole number"),
        ({"replies_batch_size": True}, "replies_batch_size must be a whole number"),
        ({"max_initials_per_texter": 0}, "or null for no limit"),
        ({"release_unhandled_after_minutes": -5}, "release_unhandled_after_minutes must be"),
        ({"dynamic_initials": "yes"}, "dynamic_initials must be true or false"),
        ({"batch": 3}, "unknown assignment setting 'batch'"),
    ],
)
def test_assignment_settings_are_validated_all_or_nothing(
    db: Database, org_id: int, settings, expected: str
) -> None:
    campaign = _launched(db, org_id)
    with pytest.raises(Refused) as info:
        with db.session() as session:
            update_assignment_settings(
                session,
                session.merge(campaign),
                actor=org_admin(session, org_id),
                **{"replies_batch_size": 7, **settings},
            )
    assert expected in info.value.reason
    assert _get(db, campaign.id).replies_batch_size == 200


def test_assignment_settings_accept_none_for_no_limit(db: Database, org_id: int) -> None:
    campaign = _launched(db, org_id)
    with db.session() as session:
        live = session.merge(campaign)
        update_assignment_settings(
            session,
            live,
            actor=org_admin(session, org_id),
            max_initials_per_texter=5,
            release_unhandled_after_minutes=30,
        )
        update_assignment_settings(
            session, live, actor=org_admin(session, org_id), max_initials_per_texter=None
        )
    campaign = _get(db, campaign.id)
    assert campaign.max_initials_per_texter is None and campaign.release_unhandled_after_minutes == 30


def test_launch_refuses_and_names_every_problem(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id)
    with pytest.raises(Refused) as info:
        with db.session() as session:
            launch_campaign(session, session.merge(campaign), actor=org_admin(session, org_id))
    assert "cannot launch 'GOTV'" in info.value.reason
    assert "it has no contacts: import some with `textbank contacts import" in info.value.reason
    assert "it has no initial script" in info.value.reason
    assert _get(db, campaign.id).status == "draft"


def test_launch_refuses_an_unknown_placeholder_in_any_step(db: Database, org_id: int) -> None:
    with db.session() as session:
        # Written straight into storage: a tree that slipped past the save-time check (e.g. an old row).
        campaign = make_campaign(session, org_id, title="Bad", status="draft")
        set_script(
            session, campaign, StepSpec(script="Hi", question="Q?", answers=[StepSpec("ok", answer="A")])
        )
        from storage.models import InteractionStep

        step = session.query(InteractionStep).filter_by(campaign_id=campaign.id, answer_option="A").one()
        step.script = "See you at {pollingPlace}"
        add_contacts(session, campaign, 1)
    with pytest.raises(Refused) as info:
        with db.session() as session:
            launch_campaign(session, session.merge(campaign), actor=org_admin(session, org_id))
    assert r"script.answers[0].response: unknown placeholder {pollingPlace}" in info.value.reason
    assert _get(db, campaign.id).status == "draft"


def test_launch_then_archive(db: Database, org_id: int) -> None:
    campaign = _launched(db, org_id)
    campaign = _get(db, campaign.id)
    assert campaign.status == "launched" and campaign.launched_at is not None
    with pytest.raises(Refused, match="is already launched"):
        with db.session() as session:
            launch_campaign(session, session.merge(campaign), actor=org_admin(session, org_id))
    with db.session() as session:
        archive_campaign(session, session.merge(campaign), actor=org_admin(session, org_id))
    campaign = _get(db, campaign.id)
    assert campaign.status == "archived" and campaign.archived_at is not None
    for action in (
        lambda s, c: launch_campaign(s, c, actor=org_admin(s, org_id)),
        lambda s, c: archive_campaign(s, c, actor=org_admin(s, org_id)),
        lambda s, c: update_campaign(s, c, actor=org_admin(s, org_id), description="x"),
        lambda s, c: update_assignment_settings(s, c, actor=org_admin(s, org_id), initials_batch_size=5),
        lambda s, c: set_canned_responses(s, c, []),
        lambda s, c: set_tags(s, c, []),
    ):
        with pytest.raises(Refused, match="archived"):
            with db.session() as session:
                action(session, session.merge(campaign))


def test_canned_responses_are_replaced_in_order_and_validated(db: Database, org_id: int) -> None:
    campaign = _draft(db, org_id)
    with db.session() as session:
        draft = session.merge(campaign)
        set_canned_responses(session, draft, [CannedSpec("A", "a"), CannedSpec("B", "b")])
        set_canned_responses(session, draft, [CannedSpec("C", "c {firstName}"), CannedSpec("A", "a")])
    with db.read() as session:
        assert [(r.title, r.text) for r in canned_responses(session, campaign.id)] == [
            ("C", "c {firstName}"),
            ("A", "a"),
        ]
    for items, expected in [
        ([CannedSpec("", "x")], "canned_responses[0].title: the title is empty"),
        ([CannedSpec("A", "x"), CannedSpec("a", "y")], "canned_responses[1].title: 'a' is used twice"),
        ([CannedSpec("A", " ")], "canned_responses[0].text: the text is empty"),
        ([CannedSpec("A", "{nope}")], "canned_responses[0].text: unknown placeholder {nope}"),
    ]:
        with pytest.raises(Refused) as info:
            with db.session() as session:
                set_canned_responses(session, session.merge(campaign), items)
        assert expected in info.value.reason
    with db.read() as session:
        assert len(canned_responses(session, campaign.id)) == 2


def test_tags_are_organization_wide_and_teams_created_by_name(db: Database, org_id: int) -> None:
    a = _draft(db, org_id, "A")
    b = _draft(db, org_id, "B")
    with db.session() as session:
        set_tags(
            session,
            session.merge(a),
            [TagSpec("legal", "needs a lawyer", escalate=True, team="Voter Protection"), TagSpec("ride")],
        )
        set_tags(session, session.merge(b), [TagSpec("ride", "wants a ride")])
    with db.read() as session:
        tags_a = [
            (t.name, t.description, t.is_escalation, team.name if team else None)
            for t, team in campaign_tags(session, a.id)
        ]
        assert tags_a == [
            ("legal", "needs a lawyer", True, "Voter Protection"),
            ("ride", "wants a ride", False, None),
        ]
        assert session.query(Tag).filter_by(organization_id=org_id).count() == 2
        assert session.query(Team).filter_by(organization_id=org_id, name="Voter Protection").count() == 1
    for items, expected in [
        ([TagSpec(" ")], "tags[0].name: the tag name is empty"),
        ([TagSpec("x"), TagSpec("x")], "tags[1].name: tag 'x' is listed twice"),
        ([TagSpec("x", team="T")], "tags[0].team: only an escalation tag hands conversations to a team"),
    ]:
        with pytest.raises(Refused) as info:
            with db.session() as session:
                set_tags(session, session.merge(a), items)
        assert expected in info.value.reason
    with db.read() as session:
        assert len(campaign_tags(session, a.id)) == 2


def test_concurrent_creates_of_one_title_make_one_campaign(db: Database, org_id: int) -> None:
    import threading

    barrier = threading.Barrier(4)
    outcomes: list[str] = []
    with db.session() as session:  # the admin exists before the race, as a chat user does
        admin_id = org_admin(session, org_id).id

    def create() -> None:
        barrier.wait()
        try:
            with db.session() as session:
                create_campaign(session, org_id, actor=session.get_one(User, admin_id), title="Same")
            outcomes.append("created")
        except Refused as exc:
            outcomes.append(exc.reason)
        except Exception as exc:  # a deadlock or any other failure is an outcome the test must see
            outcomes.append(f"failed: {exc!r}")

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("created") == 1, outcomes
    assert all(o == "created" or "already exists" in o for o in outcomes)
    with db.read() as session:
        assert len(list_campaigns(session, org_id, actor=org_admin(session, org_id))) == 1


def test_campaign_kind_tells_adhoc_conversations_from_campaigns(db: Database) -> None:
    from core.adhoc import adhoc_campaign

    with db.session() as session:
        org = make_org(session)
        campaign_id = make_campaign(session, org).id
        adhoc_id = adhoc_campaign(session, org.id).id
    with db.read() as session:
        assert campaign_kind(session, campaign_id) == "campaign"
        assert campaign_kind(session, adhoc_id) == "adhoc"
        with pytest.raises(NotFound):
            campaign_kind(session, adhoc_id + campaign_id + 1000)


def test_campaign_titles_for_autocomplete_go_to_the_workspaces_admins_only(db: Database) -> None:
    with db.session() as s:
        admin = enter_workspace_user(
            s, platform="discord", workspace_id="G1", platform_user_id="a", name="Ada", platform_admin=True
        )
        enter_workspace_user(
            s, platform="discord", workspace_id="G1", platform_user_id="t", name="Tess", platform_admin=False
        )
        drive = make_campaign(s, admin.organization_id, title="Test Drive", status="launched")
        make_campaign(s, admin.organization_id, title="Old Drive", status="archived")
        make_campaign(s, admin.organization_id, title="Phone Bank")
        assert titles_for_member(s, "discord", "G1", "a", "drive") == [(drive.id, "Test Drive")]
        assert len(titles_for_member(s, "discord", "G1", "a", "")) == 2  # the archived one left out
        assert titles_for_member(s, "discord", "G1", "t", "drive") == []  # a texter: nothing to choose
        assert titles_for_member(s, "discord", "G2", "a", "drive") == []  # another server: not theirs
        assert titles_for_member(s, "discord", "G1", "stranger", "") == []

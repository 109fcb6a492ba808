from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from core.campaign_yaml import (
    CampaignYamlError,
    apply_campaign_yaml,
    campaign_document,
    dump_document,
    export_campaign_yaml,
    parse_campaign_yaml,
)
from core.campaigns import get_campaign, launch_campaign
from core.scripts import StepSpec, load_tree
from storage import Database
from storage.models import Campaign, CampaignTag, CannedResponse, InteractionStep, Tag, Team
from tests.core.factories import add_contacts, org_admin

EXAMPLE = (Path(__file__).resolve().parents[2] / "examples" / "campaign.yaml").read_text(encoding="utf-8")

MINIMAL = """\
title: Small
script:
  initial: Hi {firstName}
"""


def _apply(db: Database, org_id: int, text: str, source: str = "campaign.yaml") -> tuple[int, bool]:
    with db.session() as session:
        campaign, created = apply_campaign_yaml(
            session, org_id, text, source, actor=org_admin(session, org_id)
        )
        return campaign.id, created


def _export(db: Database, campaign_id: int) -> str:
    with db.read() as session:
        return export_campaign_yaml(session, session.get(Campaign, campaign_id))


def _row_counts(db: Database) -> dict[str, int]:
    with db.read() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Campaign, InteractionStep, CannedResponse, Tag, CampaignTag, Team)
        }


def test_example_round_trip_is_lossless(db: Database, org_id: int) -> None:
    campaign_id, created = _apply(db, org_id, EXAMPLE)
    assert created
    first = _export(db, campaign_id)
    with db.read() as session:
        document = campaign_document(session, session.get(Campaign, campaign_id))
    again_id, created_again = _apply(db, org_id, first, "exported.yaml")
    assert (again_id, created_again) == (campaign_id, False)
    second = _export(db, campaign_id)
    assert second == first
    with db.read() as session:
        assert campaign_document(session, session.get(Campaign, campaign_id)) == document
    # What the example says arrives in the tables.
    assert document["hours"] == {"start": "09:00", "end": "21:00"}
    assert document["assignment"]["initials_batch_size"] == 100
    answers = document["script"]["answers"]
    assert [a["answer"] for a in answers] == ["Yes", "No", "Maybe"]
    assert [a["answer"] for a in answers[0]["answers"]] == ["Yes", "No"]
    assert len(document["canned_responses"]) == 3
    assert {t["name"]: (t["escalate"], t["team"]) for t in document["tags"]}["voter-protection"] == (
        True,
        "Voter Protection",
    )
    counts = _row_counts(db)
    assert counts["campaigns"] == 1 and counts["interaction_steps"] == 6 and counts["teams"] == 1


def test_export_applies_to_a_fresh_database_identically(db: Database, org_id: int, tmp_path) -> None:
    from core.orgs import default_organization
    from storage import upgrade

    campaign_id, _ = _apply(db, org_id, EXAMPLE)
    text = _export(db, campaign_id)
    url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(url)
    other = Database(url)
    try:
        with other.session() as session:
            other_org = default_organization(session).id
        other_id, created = _apply(other, other_org, text)
        assert created and _export(other, other_id) == text
    finally:
        other.dispose()


def test_yaml_one_point_one_surprises_are_read_as_written(db: Database, org_id: int) -> None:
    text = """\
title: 2024
hours: {start: 9:30, end: 21:00}
script:
  initial: Hi
  question: Vote?
  answers:
    - {answer: No, response: off}
    - {answer: yes, response: 0x10}
    - {answer: 1.50, response: ~ok}
"""
    campaign_id, _ = _apply(db, org_id, text)
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.title, campaign.hours_start, campaign.hours_end) == ("2024", 570, 1260)
        tree = load_tree(session, campaign_id)
    assert [(a.answer, a.script) for a in tree.answers] == [("No", "off"), ("yes", "0x10"), ("1.50", "~ok")]
    exported = _export(db, campaign_id)
    assert _apply(db, org_id, exported) == (campaign_id, False)
    assert _export(db, campaign_id) == exported


def test_multiline_and_special_texts_round_trip(db: Database, org_id: int) -> None:
    text = """\
title: "Quotes: 'and' \\"colons\\""
description: "Line one\\nLine two with trailing spaces   \\n"
script:
  initial: |-
    Hi {firstName},
      indented {{braces}} & ünïcödé 🎉
    # not a comment
canned_responses:
  - title: "- dash"
    text: "tab\\there"
"""
    campaign_id, _ = _apply(db, org_id, text)
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.title == "Quotes: 'and' \"colons\""
        assert campaign.description == "Line one\nLine two with trailing spaces   \n"
        assert load_tree(session, campaign_id).script == (
            "Hi {firstName},\n  indented {{braces}} & ünïcödé 🎉\n# not a comment"
        )
    exported = _export(db, campaign_id)
    assert _apply(db, org_id, exported) == (campaign_id, False)
    assert _export(db, campaign_id) == exported


_TEXT = st.lists(
    st.one_of(
        st.text(st.characters(blacklist_characters="{}", blacklist_categories=("Cs",)), max_size=20),
        st.sampled_from(
            [
                "{firstName}",
                "{{",
                "}}",
                "\n",
                "  ",
                ": ",
                "# ",
                "'",
                '"',
                "- ",
                "\t",
                "\r\n",
                "\x85",
                "\u2028",
            ]
        ),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(initial=_TEXT.filter(lambda t: t.strip() != ""), description=_TEXT, answer=_TEXT, response=_TEXT)
def test_any_text_survives_export_and_parse(
    initial: str, description: str, answer: str, response: str
) -> None:
    answer = answer.strip() or "Yes"
    response = response if response.strip() else "ok"
    doc = {
        "title": "T",
        "description": description,
        "script": {
            "initial": initial,
            "question": "Q?",
            "answers": [{"answer": answer, "response": response}],
        },
    }
    spec = parse_campaign_yaml(dump_document(doc), "t.yaml")
    assert spec.description == description
    assert spec.script == StepSpec(
        script=initial, question="Q?", answers=[StepSpec(script=response, answer=answer)]
    )


def test_applying_a_changed_file_updates_a_draft(db: Database, org_id: int) -> None:
    campaign_id, _ = _apply(db, org_id, EXAMPLE)
    changed = EXAMPLE.replace("initials_batch_size: 100", "initials_batch_size: 5").replace(
        "    - answer: Maybe\n", "    - answer: Later\n"
    )
    changed = changed.replace("  - name: needs-ride\n", "  - name: needs-a-ride\n")
    assert _apply(db, org_id, changed) == (campaign_id, False)
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.initials_batch_size == 5
        assert [a.answer for a in load_tree(session, campaign_id).answers] == ["Yes", "No", "Later"]
        doc = campaign_document(session, campaign)
    assert [t["name"] for t in doc["tags"]] == ["wrong-number", "needs-a-ride", "voter-protection"]
    assert _row_counts(db)["interaction_steps"] == 6  # replaced, not added to


def test_a_launched_campaign_takes_allowed_changes_and_refuses_the_rest(db: Database, org_id: int) -> None:
    campaign_id, _ = _apply(db, org_id, EXAMPLE)
    with db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        add_contacts(session, campaign, 2)
        launch_campaign(session, campaign, actor=org_admin(session, org_id))
        step_ids = sorted(session.scalars(select(InteractionStep.id)))
    # Applying the same file again is fine, and keeps the steps contacts' answers point at.
    assert _apply(db, org_id, EXAMPLE) == (campaign_id, False)
    allowed = EXAMPLE.replace('end: "21:00"', 'end: "20:00"').replace(
        "replies_batch_size: 25", "replies_batch_size: 9"
    )
    allowed = allowed.replace("title: Who is this?", "title: Who are you?")
    assert _apply(db, org_id, allowed) == (campaign_id, False)
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert (campaign.hours_end, campaign.replies_batch_size) == (1200, 9)
        assert sorted(session.scalars(select(InteractionStep.id))) == step_ids

    refused = allowed.replace("timezone: America/New_York", "timezone: America/Chicago").replace(
        "Will they vote?", "Are you voting?"
    )
    with pytest.raises(CampaignYamlError) as info:
        _apply(db, org_id, refused)
    errors = info.value.errors
    assert len(errors) == 2
    assert errors[0].startswith("campaign.yaml line 6, timezone: campaign 'GOTV November' is launched")
    script_line = EXAMPLE.splitlines().index("script:") + 1
    assert errors[1].startswith(f"campaign.yaml line {script_line}, script: ")
    assert "its script cannot change" in errors[1]
    assert "new campaign with another title" in errors[1]
    with db.read() as session:
        assert session.get(Campaign, campaign_id).timezone == "America/New_York"


def test_custom_fields_learnt_from_an_import_stay(db: Database, org_id: int) -> None:
    campaign_id, _ = _apply(db, org_id, MINIMAL)
    with db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        add_contacts(session, campaign, 1)
        campaign.custom_fields = ["ward"]  # as the contact import records its extra columns
    uses_ward = MINIMAL.replace("Hi {firstName}", "Hi {firstName} of ward {ward}")
    _apply(db, org_id, uses_ward)
    with db.read() as session:
        assert session.get(Campaign, campaign_id).custom_fields == ["ward"]
    exported = _export(db, campaign_id)
    assert "custom_fields:\n  - ward\n" in exported
    _apply(db, org_id, exported)
    assert _export(db, campaign_id) == exported


def test_an_archived_title_is_free_for_a_new_campaign(db: Database, org_id: int) -> None:
    from core.campaigns import archive_campaign

    first_id, _ = _apply(db, org_id, MINIMAL)
    with db.session() as session:
        archive_campaign(session, session.get(Campaign, first_id), actor=org_admin(session, org_id))
    second_id, created = _apply(db, org_id, MINIMAL)
    assert created and second_id != first_id
    with db.read() as session:
        assert get_campaign(session, org_id, "Small").id == second_id


BAD = [
    ("", "campaign.yaml line 1: the file is empty"),
    ("- a\n- b\n", "campaign.yaml line 1, : must be a mapping"),
    ("title: [x\n", "campaign.yaml line 2: not valid YAML"),
    ("title: a\n  b: c\n", "campaign.yaml line 2: not valid YAML (mapping values are not allowed here)"),
    ("description: x\n", "campaign.yaml line 1, title: this key is required"),
    ("title: ''\n", "campaign.yaml line 1, title: is empty"),
    ("title: T\ntitel: U\n", "campaign.yaml line 2, titel: unknown key: did you mean title?"),
    ("title: T\ntitle: U\n", "campaign.yaml line 2, title: this key appears twice"),
    ("title: T\ntimezone: Mars/Base\n", "campaign.yaml line 2, timezone: unknown time zone 'Mars/Base'"),
    ("title: T\nhours:\n  start: 9am\n", "campaign.yaml line 3, hours.start: bad time '9am'"),
    ("title: T\nhours:\n  begin: '09:00'\n", "campaign.yaml line 3, hours.begin: unknown key"),
    ("title: T\nhours: 9-5\n", "campaign.yaml line 2, hours: must be a mapping"),
    ("title: T\ncustom_fields: ward\n", "campaign.yaml line 2, custom_fields: must be a list"),
    (
        "title: T\ncustom_fields: [a, a]\n",
        "campaign.yaml line 2, custom_fields: custom field 'a' is listed twice",
    ),
    (
        "title: T\nassignment:\n  initials_batch_size: 0\n",
        "campaign.yaml line 3, assignment.initials_batch_size: initials_batch_size must be a whole number",
    ),
    (
        "title: T\nassignment:\n  initials_batch_size: lots\n",
        "campaign.yaml line 3, assignment.initials_batch_size: must be a whole number, not 'lots'",
    ),
    (
        "title: T\nassignment:\n  dynamic_initials: 'true'\n",
        "campaign.yaml line 3, assignment.dynamic_initials: must be true or false",
    ),
    ("title: T\nscript:\n  question: Q?\n", "campaign.yaml line 3, script.initial: this key is required"),
    ("title: T\nscript:\n  initial: ' '\n", "campaign.yaml line 3, script.initial: is empty"),
    (
        "title: T\nscript:\n  initial: Hi {frstName}\n",
        "campaign.yaml line 3, script.initial: unknown placeholder {frstName}: did you mean {firstName}?",
    ),
    (
        "title: T\nscript:\n  initial: Hi {firstName\n",
        "campaign.yaml line 3, script.initial: unbalanced brace",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  answers:\n    - {answer: A, response: a}\n",
        "campaign.yaml line 5, script.answers: answers without a question",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - {answer: '', response: a}\n",
        "campaign.yaml line 6, script.answers[0].answer: is empty",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - {response: a}\n",
        "campaign.yaml line 6, script.answers[0].answer: this key is required",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - {answer: Yes, response: a}\n"
        "    - {answer: 'yes', response: b}\n",
        "campaign.yaml line 7, script.answers[1].answer: 'yes' appears twice on one question",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - answer: A\n      response: a\n"
        "    - answer: B\n      response: See you at {place}\n",
        "campaign.yaml line 9, script.answers[1].response: unknown placeholder {place}",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - answer: A\n      response: a\n"
        "      answers:\n        - {answer: B, response: b}\n",
        "campaign.yaml line 9, script.answers[0].answers: answers without a question",
    ),
    (
        "title: T\nscript:\n  initial: Hi\n  question: Q?\n  answers:\n    - answer: A\n      reponse: a\n",
        "campaign.yaml line 7, script.answers[0].reponse: unknown key: did you mean response?",
    ),
    (
        "title: T\ncanned_responses:\n  - {title: A, text: '{x}'}\n",
        "campaign.yaml line 3, canned_responses[0].text: unknown placeholder {x}",
    ),
    (
        "title: T\ncanned_responses:\n  - {title: A, text: a}\n  - {title: A, text: b}\n",
        "campaign.yaml line 4, canned_responses[1].title: 'A' is used twice",
    ),
    (
        "title: T\ncanned_responses:\n  - {title: A}\n",
        "campaign.yaml line 3, canned_responses[0].text: this key is required",
    ),
    (
        "title: T\ntags:\n  - {name: x, escalate: maybe}\n",
        "campaign.yaml line 3, tags[0].escalate: must be true or false",
    ),
    (
        "title: T\ntags:\n  - {name: x, team: Legal}\n",
        "campaign.yaml line 3, tags[0].team: only an escalation tag hands conversations to a team",
    ),
    ("title: T\ntags:\n  - x\n", "campaign.yaml line 3, tags[0]: must be a mapping"),
    # Hostile or broken files: a refusal with its line, never a RecursionError or an OverflowError.
    (
        "title: T\ndescription:\n" + "".join("  " * depth + "a:\n" for depth in range(1, 600)) + "  b\n",
        "campaign.yaml line 65: the file is nested more than 64 levels deep",
    ),
    ("title: T\ndescription: " + "[" * 5000 + "\n", "campaign.yaml line 2: the file is nested more than 64"),
    ("title: T\ntags: " + "[" * 5000 + "]" * 5000 + "\n", "campaign.yaml line 2: the file is nested more"),
    (
        "title: T\nassignment:\n  initials_batch_size: 99999999999999999999999\n",
        "campaign.yaml line 3, assignment.initials_batch_size: initials_batch_size must be a whole number "
        "from 1 to 1,000,000 (got 99999999999999999999999)",
    ),
    (
        "title: T\nassignment:\n  replies_batch_size: " + "9" * 5000 + "\n",
        "campaign.yaml line 3, assignment.replies_batch_size: must be a whole number, not one of 5000 digits",
    ),
    (
        "title: T\nassignment:\n  release_unhandled_after_minutes: 0x7fffffffffffffff\n",
        "campaign.yaml line 3, assignment.release_unhandled_after_minutes: release_unhandled_after_minutes "
        "must be a whole number from 1 to 527,040, or null for no limit",
    ),
    (
        "title: T\nscript: &s\n  initial: Hi\n  question: Q?\n  answers: [*s]\n",
        "campaign.yaml line 5: the file uses an alias (*name): write the value out where it is needed",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_files_are_refused_with_line_and_key_and_nothing_is_written(
    db: Database, org_id: int, text: str, expected: str
) -> None:
    before = _row_counts(db)
    with pytest.raises(CampaignYamlError) as info:
        _apply(db, org_id, text)
    assert any(error.startswith(expected) for error in info.value.errors), info.value.errors
    assert _row_counts(db) == before


def test_every_problem_is_reported_at_once(db: Database, org_id: int) -> None:
    text = "title: T\ntimezone: Nowhere\nhours: {start: 25:00}\nscript:\n  initial: '{nope}'\n"
    with pytest.raises(CampaignYamlError) as info:
        _apply(db, org_id, text)
    errors = info.value.errors
    assert [e.split(":")[0] for e in errors] == [
        "campaign.yaml line 2, timezone",
        "campaign.yaml line 3, hours.start",
        "campaign.yaml line 5, script.initial",
    ]
    assert info.value.reason.endswith("(and 2 more problems)")


def test_a_bad_file_leaves_an_existing_campaign_untouched(db: Database, org_id: int) -> None:
    campaign_id, _ = _apply(db, org_id, EXAMPLE)
    before = _export(db, campaign_id)
    broken = EXAMPLE.replace("initials_batch_size: 100", "initials_batch_size: 1").replace(
        "{pollingPlace}, open", "{pollingplace}, open"
    )
    with pytest.raises(CampaignYamlError, match=r"did you mean \{pollingPlace\}"):
        _apply(db, org_id, broken)
    assert _export(db, campaign_id) == before


def test_a_draft_may_drop_a_custom_field_together_with_its_uses(db: Database, org_id: int) -> None:
    with_ward = (
        "title: Wards\ncustom_fields: [ward]\nscript:\n  initial: Hi {firstName} of ward {ward}\n"
        "canned_responses:\n  - {title: Ward, text: 'Ward {ward}'}\n"
    )
    campaign_id, _ = _apply(db, org_id, with_ward)
    assert _apply(db, org_id, MINIMAL.replace("Small", "Wards")) == (campaign_id, False)
    with db.read() as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign.custom_fields == []
        assert load_tree(session, campaign_id) == StepSpec(script="Hi {firstName}")
        assert session.query(CannedResponse).count() == 0
    # Still refused when the file keeps using the field it drops.
    with pytest.raises(CampaignYamlError, match=r"unknown placeholder \{ward\}"):
        _apply(db, org_id, with_ward.replace("custom_fields: [ward]\n", ""))

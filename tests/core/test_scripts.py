from __future__ import annotations

import pytest

from core.campaigns import create_campaign, launch_campaign
from core.errors import Refused
from core.scripts import (
    STANDARD_PLACEHOLDERS,
    StepSpec,
    child_steps,
    load_tree,
    placeholders,
    render,
    render_for_contact,
    replace_tree,
    root_step,
    unknown_placeholders,
    validate_script,
    validate_tree,
)
from storage import Database
from storage.models import Contact, InteractionStep
from tests.core.factories import add_contacts, org_admin


def test_placeholders_are_read_and_double_braces_are_literal() -> None:
    assert STANDARD_PLACEHOLDERS == {"firstName", "lastName", "texterName"}
    assert placeholders("Hi {firstName}, {{not a placeholder}} from {texterName}") == {
        "firstName",
        "texterName",
    }
    assert unknown_placeholders("Hi {firstName} at {pollingPlace} in {ward}", ["pollingPlace"]) == {"ward"}
    assert unknown_placeholders("{zip} {externalId} {lastName}", []) == set()


def test_render_fills_standard_custom_and_contact_fields() -> None:
    text = "Hi {firstName} {lastName}, it's {texterName}. Vote at {pollingPlace} ({zip}) {{ok}}"
    out = render(
        text,
        first_name="Ana",
        last_name="Lopez",
        texter_name="Sam",
        custom_fields={"pollingPlace": "Main St Library"},
        zip="10001",
    )
    assert out == "Hi Ana Lopez, it's Sam. Vote at Main St Library (10001) {ok}"


def test_render_leaves_a_field_the_contact_lacks_empty() -> None:
    assert render("at {ward}.", first_name="", last_name="", texter_name="", custom_fields={}) == "at ."


def test_render_for_contact_uses_its_columns() -> None:
    contact = Contact(
        first_name="Bo", last_name="Li", zip="85001", external_id="V9", custom_fields={"ward": "7"}
    )
    assert render_for_contact(
        "{firstName}/{lastName}/{zip}/{externalId}/{ward}/{texterName}", contact, "Kim"
    ) == ("Bo/Li/85001/V9/7/Kim")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi {firstNme}", "unknown placeholder {firstNme}: did you mean {firstName}?"),
        ("Hi {FirstName}", "did you mean {firstName}?"),
        ("Hi {ward}", "declare 'ward' under custom_fields"),
        ("Hi {firstName", "unbalanced brace"),
        ("Hi firstName}", "unbalanced brace"),
        ("Hi {}", "empty placeholder {}"),
        ("Hi {firstName!r}", "unknown placeholder {firstName!r}"),
    ],
)
def test_validate_script_names_the_problem_the_place_and_the_fix(text: str, expected: str) -> None:
    with pytest.raises(Refused) as info:
        validate_script(text, ["pollingPlace"], "script.answers[2].response")
    assert info.value.reason.startswith("script.answers[2].response: ")
    assert expected in info.value.reason


def test_validate_script_accepts_known_names_and_literal_braces() -> None:
    validate_script("Hi {firstName} {{literal}} at {pollingPlace}", ["pollingPlace"], "script.initial")


def _tree() -> StepSpec:
    return StepSpec(
        script="Hi {firstName}, will you vote?",
        question="Will they vote?",
        answers=[
            StepSpec(
                answer="Yes",
                script="Great!",
                question="Volunteer?",
                answers=[StepSpec(answer="Yes", script="Thanks!"), StepSpec(answer="No", script="OK")],
            ),
            StepSpec(answer="No", script="Sorry to hear."),
            StepSpec(answer="Maybe", script="Let me know."),
        ],
    )


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda t: setattr(t, "script", "  "), "script.initial: the initial message is empty"),
        (lambda t: setattr(t.answers[1], "answer", ""), "script.answers[1].answer: the answer is empty"),
        (lambda t: setattr(t.answers[2], "answer", "yes"), "'yes' appears twice on one question"),
        (lambda t: setattr(t.answers[0], "question", ""), "script.answers[0]: answers without a question"),
        (
            lambda t: setattr(t.answers[0].answers[1], "script", "{bogus}"),
            "script.answers[0].answers[1].response",
        ),
        (lambda t: setattr(t.answers[1], "answer", "x" * 201), "longer than 200"),
    ],
)
def test_validate_tree_refuses_bad_trees(mutate, expected: str) -> None:
    tree = _tree()
    mutate(tree)
    with pytest.raises(Refused) as info:
        validate_tree(tree, [])
    assert expected in info.value.reason


def test_replace_tree_writes_the_tree_and_reads_it_back(db: Database, org_id: int) -> None:
    with db.session() as session:
        campaign = create_campaign(session, org_id, actor=org_admin(session, org_id), title="Tree")
        replace_tree(session, campaign, _tree())
        root = root_step(session, campaign.id)
        assert root is not None and root.parent_id is None
        assert root.script == "Hi {firstName}, will you vote?" and root.question == "Will they vote?"
        children = child_steps(session, root.id)
        assert [c.answer_option for c in children] == ["Yes", "No", "Maybe"]
        assert [c.answer_option for c in child_steps(session, children[0].id)] == ["Yes", "No"]
        assert child_steps(session, children[1].id) == []
        assert load_tree(session, campaign.id) == _tree()
        campaign_id = campaign.id

    # Replacing rewrites it entirely; None removes it.
    with db.session() as session:
        from storage.models import Campaign

        campaign = session.get(Campaign, campaign_id)
        replace_tree(session, campaign, StepSpec(script="Just hi"))
        assert load_tree(session, campaign_id) == StepSpec(script="Just hi")
        replace_tree(session, campaign, None)
        assert root_step(session, campaign_id) is None
        assert session.query(InteractionStep).filter_by(campaign_id=campaign_id).count() == 0


def test_replace_tree_refuses_a_launched_campaign_and_writes_nothing(db: Database, org_id: int) -> None:
    with db.session() as session:
        campaign = create_campaign(
            session, org_id, actor=org_admin(session, org_id), title="Live", initial_script="Hi {firstName}"
        )
        add_contacts(session, campaign, 1)
        launch_campaign(session, campaign, actor=org_admin(session, org_id))
    with pytest.raises(Refused, match="is launched: its script cannot change"):
        with db.session() as session:
            replace_tree(session, session.merge(campaign), _tree())
    with db.read() as session:
        assert load_tree(session, campaign.id) == StepSpec(script="Hi {firstName}")


def test_replace_tree_refuses_an_unknown_placeholder_before_writing(db: Database, org_id: int) -> None:
    with db.session() as session:
        campaign = create_campaign(
            session, org_id, actor=org_admin(session, org_id), title="Draft", initial_script="Hi {firstName}"
        )
    with pytest.raises(Refused, match=r"unknown placeholder \{ward\}"):
        with db.session() as session:
            replace_tree(session, session.merge(campaign), StepSpec(script="Hi {ward}"))
    with db.read() as session:
        assert load_tree(session, campaign.id) == StepSpec(script="Hi {firstName}")

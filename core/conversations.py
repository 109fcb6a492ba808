"""A texter's reply flow (seed 000 "Send Replies"): the conversation, survey answers, the reply itself, and
the thread's menu (canned responses, tags, escalate, opt out, close).

Every call checks that the contact is the caller's: assigned to them, or escalated to them (an admin for
an escalation with no team, a member of the team it went to). A refusal says which.

A reply is idempotent by construction: the reply button carries the status the texter saw
(``expected_status``) and the id of the newest message on their screen (``last_seen_message_id``). The
contact row is locked (``FOR UPDATE`` on PostgreSQL; SQLite write transactions are serial) before both are
compared, so a double click or a retried request finds the first click's own message newer than what it
saw, and sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    Integer,
    Row,
    String,
    bindparam,
    cast,
    delete,
    event,
    exists,
    literal,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session, SessionTransaction

from core.campaigns import campaign_tags
from core.campaigns import canned_responses as campaign_canned_responses
from core.errors import Forbidden, NotFound, Refused
from core.escalation import holders
from core.messages import check_sms_body, contact_zone, queue_outbound, sms_body_problem
from core.notices import add_finished, add_notice
from core.optouts import opt_out
from core.orgs import is_admin
from core.phones import mask
from core.scripts import render_for_contact
from core.sending import SendResult, is_listed, no, not_launched, outside_hours
from storage.models import (
    Campaign,
    CampaignTag,
    CannedResponse,
    Contact,
    ContactTag,
    InteractionStep,
    Message,
    OptOut,
    QuestionResponse,
    Tag,
    Team,
    TeamMember,
    User,
)
from storage.types import utcnow

REPLYABLE = ("needs_response", "convo")


@dataclass(frozen=True)
class MessageView:
    """One message of the thread, detached from the session (safe to render after it closes)."""

    id: int
    direction: str  # in | out
    body: str
    media: list[str]
    status: str
    created_at: datetime
    user_id: int | None
    error_message: str | None

    @classmethod
    def of_row(cls, row: Any) -> MessageView:
        """From a row of ``_CONTACT_AND_MESSAGES`` (the message's columns are prefixed ``m_``)."""
        return cls(
            id=row.m_id,
            direction=row.m_direction,
            body=row.m_body,
            media=[str(url) for url in (row.m_media or [])],
            status=row.m_status,
            created_at=row.m_created_at,
            user_id=row.m_user_id,
            error_message=row.m_error_message,
        )


@dataclass(frozen=True)
class AnswerOption:
    step_id: int  # the child step the answer leads to (pass it to choose_answer as answer_step_id)
    answer: str
    response: str  # the prepared response, rendered for this contact and texter


@dataclass(frozen=True)
class QuestionView:
    step_id: int
    question: str
    options: list[AnswerOption]
    chosen_step_id: int | None


@dataclass(frozen=True)
class TagView:
    id: int
    name: str
    is_escalation: bool
    applied: bool


@dataclass(frozen=True)
class CannedReply:
    id: int
    title: str
    text: str  # rendered for this contact and texter


@dataclass(frozen=True)
class ConversationView:
    contact_id: int
    campaign_id: int
    campaign_title: str
    contact_name: str
    # Masked for texters (last four digits); whole for admins.
    cell: str
    status: str
    opted_out: bool
    escalated: bool
    messages: list[MessageView]
    question: QuestionView | None
    # The questions answered so far on the current path, as (question, answer).
    answers: list[tuple[str, str]]
    tags: list[TagView]
    canned_responses: list[CannedReply]
    # Pass these back to send_reply.
    last_message_id: int | None
    can_reply: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OptOutResult:
    message_id: int | None
    # Why a goodbye text given was not queued (None when it was, or when none was given).
    note: str | None = None


# --- who may act --------------------------------------------------------------------------------------------


def _in_team(session: Session, user: User, team_id: int) -> bool:
    return bool(
        session.scalar(select(exists().where(TeamMember.team_id == team_id, TeamMember.user_id == user.id)))
    )


def _refusal(session: Session, user: User, contact: Any) -> str | None:
    # ``contact``: a Contact, or a row with its assigned_user_id, escalated and escalated_team_id.
    if contact.assigned_user_id == user.id:
        return None
    if contact.escalated:
        if contact.escalated_team_id is None and is_admin(user):
            return None
        if contact.escalated_team_id is not None and (
            is_admin(user) or _in_team(session, user, contact.escalated_team_id)
        ):
            return None
        return "this conversation is escalated to another team or to the admins: they handle it now"
    if contact.assigned_user_id is None:
        return "this conversation is not assigned to anyone now: request replies to take it on"
    return "this conversation is assigned to another texter: you can only act on your own conversations"


def _load(session: Session, user: User, contact_id: int, *, lock: bool = False) -> Contact:
    query = select(Contact).where(Contact.id == contact_id).execution_options(populate_existing=True)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    contact = session.scalars(query).first()
    campaign = session.get(Campaign, contact.campaign_id) if contact is not None else None
    if contact is None or campaign is None or campaign.organization_id != user.organization_id:
        raise NotFound(f"there is no conversation {contact_id} in your organization: check the link or id")
    return contact


def owned_contact(session: Session, user: User, contact_id: int, *, lock: bool = False) -> Contact:
    """The contact, if ``user`` may act on it; Forbidden (naming why) otherwise."""
    contact = _load(session, user, contact_id, lock=lock)
    reason = _refusal(session, user, contact)
    if reason is not None:
        raise Forbidden(reason)
    return contact


def _campaign(session: Session, contact: Contact) -> Campaign:
    campaign = session.get(Campaign, contact.campaign_id)
    assert campaign is not None  # a contact's campaign is a foreign key, checked by _load
    return campaign


# --- the survey -----------------------------------------------------------------------------------------


class _Tree:
    """A campaign's script steps (rows or objects with id, parent_id, question, answer_option, script, in
    position order) and one contact's recorded answers (step id -> value)."""

    def __init__(self, steps: Sequence[Any], answers: dict[int, str]) -> None:
        self.by_id = {step.id: step for step in steps}
        self.children: dict[int | None, list[Any]] = {}
        for step in steps:
            self.children.setdefault(step.parent_id, []).append(step)
        roots = self.children.get(None, [])
        self.root = min(roots, key=lambda s: s.id) if roots else None
        self.answers = answers

    @classmethod
    def load(cls, session: Session, campaign_id: int, contact_id: int) -> _Tree:
        """Two queries: the steps and the contact's answers."""
        steps = session.execute(_STEPS, {"campaign_id": campaign_id}).all()
        answers = session.execute(_ANSWERS, {"contact_id": contact_id}).all()
        return cls(steps, {step_id: value for step_id, value in answers})

    def asks(self, step: Any) -> bool:
        return bool(step.question.strip()) and bool(self.children.get(step.id))

    def chosen(self, step: Any) -> Any | None:
        value = self.answers.get(step.id)
        if value is None:
            return None
        return next((c for c in self.children.get(step.id, []) if c.answer_option == value), None)

    def path(self) -> list[Any]:
        """The steps reached from the root by the recorded answers, root first."""
        out: list[Any] = []
        node = self.root
        while node is not None:
            out.append(node)
            node = self.chosen(node)
        return out

    def current(self) -> Any | None:
        """The question to show: the deepest step of the path that asks one (the root's first)."""
        asking = [step for step in self.path() if self.asks(step)]
        return asking[-1] if asking else None

    def below(self, step_id: int) -> set[int]:
        out: set[int] = set()
        stack = [step_id]
        while stack:
            for child in self.children.get(stack.pop(), []):
                out.add(child.id)
                stack.append(child.id)
        return out


def _render(text: str, contact: Any, user: User) -> str:
    # ``contact``: a Contact, or a row with the fields render_for_contact reads.
    return render_for_contact(text, contact, user.name)


# conversation_view runs for every reply the Slack relay posts and every click in a thread, so its statements
# are built once (Core: SQLAlchemy's compiled cache serves them with no ORM bookkeeping per row).
_contacts = Contact.__table__
_messages = Message.__table__
_steps = InteractionStep.__table__
_responses = QuestionResponse.__table__
_tags = Tag.__table__
_campaign_tags = CampaignTag.__table__
_contact_tags = ContactTag.__table__
_canned_table = CannedResponse.__table__
_optouts = OptOut.__table__

# The contact with its messages, oldest first (one row with no message when there are none), and whether
# its number is on the organization's opt-out list (the organization is the viewer's: any other is refused).
_CONTACT_AND_MESSAGES = (
    select(
        _contacts.c.id,
        _contacts.c.campaign_id,
        _contacts.c.first_name,
        _contacts.c.last_name,
        _contacts.c.cell,
        _contacts.c.zip,
        _contacts.c.external_id,
        _contacts.c.custom_fields,
        _contacts.c.status,
        _contacts.c.opted_out,
        _contacts.c.escalated,
        _contacts.c.escalated_team_id,
        _contacts.c.assigned_user_id,
        exists()
        .where(_optouts.c.organization_id == bindparam("org_id"), _optouts.c.cell == _contacts.c.cell)
        .label("listed"),
        _messages.c.id.label("m_id"),
        _messages.c.direction.label("m_direction"),
        _messages.c.body.label("m_body"),
        _messages.c.media.label("m_media"),
        _messages.c.status.label("m_status"),
        _messages.c.created_at.label("m_created_at"),
        _messages.c.user_id.label("m_user_id"),
        _messages.c.error_message.label("m_error_message"),
    )
    .select_from(_contacts.outerjoin(_messages, _messages.c.contact_id == _contacts.c.id))
    .where(_contacts.c.id == bindparam("contact_id"))
    .order_by(_messages.c.id)
)

# The tags the campaign offers (kind 0, with their position), the contact's tags (kind 1) and the contact's
# recorded answers (kind 2: the step id and the answer), in one round trip.
_TAGS_AND_ANSWERS = union_all(
    select(
        literal(0, Integer).label("kind"),
        _tags.c.id,
        _tags.c.name,
        _tags.c.is_escalation,
        _campaign_tags.c.position,
    )
    .join(_campaign_tags, _campaign_tags.c.tag_id == _tags.c.id)
    .where(_campaign_tags.c.campaign_id == bindparam("campaign_id")),
    select(
        literal(1, Integer),
        _tags.c.id,
        _tags.c.name,
        _tags.c.is_escalation,
        cast(null(), Integer),
    )
    .join(_contact_tags, _contact_tags.c.tag_id == _tags.c.id)
    .where(_contact_tags.c.contact_id == bindparam("contact_id")),
    select(
        literal(2, Integer),
        _responses.c.interaction_step_id,
        cast(_responses.c.value, String),
        cast(null(), Boolean),
        cast(null(), Integer),
    ).where(_responses.c.contact_id == bindparam("contact_id")),
)

_STEPS = (
    select(
        _steps.c.id,
        _steps.c.parent_id,
        _steps.c.question,
        _steps.c.answer_option,
        _steps.c.script,
    )
    .where(_steps.c.campaign_id == bindparam("campaign_id"))
    .order_by(_steps.c.position, _steps.c.id)
)
_ANSWERS = select(_responses.c.interaction_step_id, _responses.c.value).where(
    _responses.c.contact_id == bindparam("contact_id")
)
_CANNED = (
    select(_canned_table.c.id, _canned_table.c.title, _canned_table.c.text)
    .where(_canned_table.c.campaign_id == bindparam("campaign_id"))
    .order_by(_canned_table.c.position, _canned_table.c.id)
)

_SCRIPTS = "core.conversations.scripts"


def _forget_scripts(session: Session, *_args: Any) -> None:
    session.info.pop(_SCRIPTS, None)


def _forget_on_write(orm_execute_state: Any) -> None:
    if not orm_execute_state.is_select:
        _forget_scripts(orm_execute_state.session)


if TYPE_CHECKING:  # Row's parameters are the columns' types since SQLAlchemy 2.1
    # (steps: id, parent_id, question, answer_option, script; canned responses: id, title, text; campaign)
    _Scripts = tuple[Sequence[Row[Any, Any, Any, Any, Any]], Sequence[Row[Any, Any, Any]], Campaign]


def _scripts(session: Session, campaign: Campaign) -> _Scripts:
    """A campaign's script steps and canned responses, loaded once per transaction.

    The Slack relay renders many conversations of the same campaigns in one transaction. What is kept
    (with the campaign itself, so the identity map, which holds objects weakly, still has it for the next
    view) is dropped when the transaction ends and on any write through the session (a flush, which runs
    in a subtransaction of its own, or an insert, update or delete statement), so a view after a change in
    the same transaction sees it; nothing writes these tables around the session.
    """
    transaction = session.get_transaction()
    kept: tuple[SessionTransaction | None, dict[int, _Scripts]] | None = session.info.get(_SCRIPTS)
    if kept is None or kept[0] is not transaction:
        if not session.info.get(_SCRIPTS + ".listening"):
            event.listen(session, "after_transaction_end", _forget_scripts)
            event.listen(session, "do_orm_execute", _forget_on_write)
            session.info[_SCRIPTS + ".listening"] = True
        kept = (transaction, {})
        session.info[_SCRIPTS] = kept
    scripts = kept[1].get(campaign.id)
    if scripts is None:
        params = {"campaign_id": campaign.id}
        steps = session.execute(_STEPS, params).all()
        scripts = (steps, session.execute(_CANNED, params).all(), campaign)
        kept[1][campaign.id] = scripts
    return scripts


def conversation_view(session: Session, user: User, contact_id: int) -> ConversationView:
    """Everything a conversation's thread shows."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()  # the statements below see the session's pending changes, as ORM queries would
    rows = session.execute(
        _CONTACT_AND_MESSAGES, {"contact_id": contact_id, "org_id": user.organization_id}
    ).all()
    contact = rows[0] if rows else None
    # The campaign comes from the identity map when this transaction loaded it already.
    campaign = session.get(Campaign, contact.campaign_id) if contact is not None else None
    if contact is None or campaign is None or campaign.organization_id != user.organization_id:
        raise NotFound(f"there is no conversation {contact_id} in your organization: check the link or id")
    reason = _refusal(session, user, contact)
    if reason is not None:
        raise Forbidden(reason)
    steps, canned, _campaign_kept = _scripts(session, campaign)
    offered: list[Row[Any]] = []
    applied: dict[int, Row[Any]] = {}
    answered: dict[int, str] = {}
    for row in session.execute(_TAGS_AND_ANSWERS, {"campaign_id": campaign.id, "contact_id": contact.id}):
        if row.kind == 0:
            offered.append(row)
        elif row.kind == 1:
            applied[row.id] = row
        else:
            answered[row.id] = row.name
    tree = _Tree(steps, answered)
    current = tree.current()
    question = None
    if current is not None:
        chosen = tree.chosen(current)
        question = QuestionView(
            step_id=current.id,
            question=_render(current.question, contact, user),
            options=[
                AnswerOption(child.id, child.answer_option, _render(child.script, contact, user))
                for child in tree.children.get(current.id, [])
            ],
            chosen_step_id=chosen.id if chosen else None,
        )
    answers = []
    for step in tree.path():
        chosen = tree.chosen(step)
        if chosen is not None:
            answers.append((_render(step.question, contact, user), chosen.answer_option))
    offered.sort(key=lambda t: (t.position, t.id))
    offered_ids = {t.id for t in offered}
    extra = sorted((t for t in applied.values() if t.id not in offered_ids), key=lambda t: t.id)
    tags = [TagView(t.id, t.name, t.is_escalation, t.id in applied) for t in [*offered, *extra]]
    messages = [MessageView.of_row(row) for row in rows if row.m_id is not None]
    listed = bool(contact.opted_out or contact.listed)
    notes = []
    if listed:
        notes.append("this number opted out: it is never texted again")
    if campaign.status != "launched":
        notes.append(f"the campaign is {campaign.status}: no texts can be sent")
    return ConversationView(
        contact_id=contact.id,
        campaign_id=campaign.id,
        campaign_title=campaign.title,
        contact_name=f"{contact.first_name} {contact.last_name}".strip(),
        cell=contact.cell if is_admin(user) else mask(contact.cell),
        status=contact.status,
        opted_out=listed,
        escalated=contact.escalated,
        messages=messages,
        question=question,
        answers=answers,
        tags=tags,
        canned_responses=[CannedReply(c.id, c.title, _render(c.text, contact, user)) for c in canned],
        last_message_id=messages[-1].id if messages else None,
        can_reply=contact.status in REPLYABLE and not listed and campaign.status == "launched",
        notes=notes,
    )


def choose_answer(session: Session, user: User, contact_id: int, step_id: int, answer_step_id: int) -> str:
    """Record the contact's answer to ``step_id``'s question; returns the prepared response, rendered.

    A new answer to a question replaces the old one and drops the answers recorded below it (they
    followed from the old answer). Only a question on the conversation's current path can be answered.
    """
    contact = owned_contact(session, user, contact_id, lock=True)
    tree = _Tree.load(session, contact.campaign_id, contact.id)
    step = tree.by_id.get(step_id)
    answer = tree.by_id.get(answer_step_id)
    if step is None or not tree.asks(step):
        raise Refused(f"step {step_id} is not a question of this campaign's script: reload the conversation")
    if answer is None or answer.parent_id != step.id:
        raise Refused(
            f"step {answer_step_id} is not an answer to the question {step.question!r}: "
            "pick one of its options"
        )
    if step.id not in {s.id for s in tree.path()}:
        raise Refused(
            f"the question {step.question!r} does not follow from the answers given so far: "
            "answer the earlier question first, or reload the conversation"
        )
    session.execute(
        delete(QuestionResponse).where(
            QuestionResponse.contact_id == contact.id,
            QuestionResponse.interaction_step_id.in_({step.id} | tree.below(step.id)),
        )
    )
    session.add(
        QuestionResponse(
            contact_id=contact.id, interaction_step_id=step.id, value=answer.answer_option, user_id=user.id
        )
    )
    session.flush()
    return _render(answer.script, contact, user)


# --- replying -------------------------------------------------------------------------------------------


def send_reply(
    session: Session,
    user: User,
    contact_id: int,
    body: str,
    expected_status: str,
    now: datetime | None = None,
    *,
    last_seen_message_id: int | None = None,
) -> SendResult:
    """Queue the texter's reply and move the contact to ``convo``.

    ``expected_status`` is the status the texter's screen showed (needs_response or convo);
    ``last_seen_message_id`` the newest message on it (``ConversationView.last_message_id``). When the
    contact moved on or a newer message exists (the first of a double click, or a new text from the
    contact) nothing is sent and the result says why. Refused outright: an empty body, a status no reply
    goes from. Outside texting hours nothing is sent and the result says when the window opens.
    """
    body = (body or "").strip()
    if not body:
        raise Refused("the reply is empty: pick an answer, a canned response, or write the text")
    check_sms_body(body, "the reply")
    if expected_status not in REPLYABLE:
        raise Refused(
            f"a reply goes to a conversation that needs a response or is ongoing, not {expected_status!r}: "
            "send the first text from your initials card"
        )
    now = now or utcnow()
    contact = _load(session, user, contact_id, lock=True)
    reason = _refusal(session, user, contact)
    if reason is not None:
        return no("not_yours", f"{reason}: nothing was sent")
    campaign = _campaign(session, contact)
    if contact.opted_out or is_listed(session, campaign.organization_id, contact.cell):
        return no("opted_out", "this number opted out: it is never texted again")
    if last_seen_message_id is not None:
        newer = session.scalars(
            select(Message)
            .where(Message.contact_id == contact.id, Message.id > last_seen_message_id)
            .order_by(Message.id)
        ).all()
        if any(m.direction == "out" and m.user_id == user.id and m.body == body for m in newer):
            return no("already_sent", "this reply was already sent: nothing sent twice")
        if newer:
            return no(
                "stale",
                "the conversation has newer messages than the ones you saw: nothing was sent; read them "
                "and send again if still needed",
            )
    if contact.status != expected_status:
        if contact.status not in REPLYABLE:
            return no(
                "not_replyable",
                f"this conversation is {contact.status.replace('_', ' ')}: there is nothing to reply to",
            )
        return no(
            "stale",
            f"this conversation moved on (it is now {contact.status.replace('_', ' ')}): nothing was sent; "
            "look at the latest messages and send again if still needed",
        )
    refusal = not_launched(campaign) or outside_hours(campaign, contact_zone(contact, campaign), now)
    if refusal is not None:
        return refusal
    message = queue_outbound(session, contact, body, user_id=user.id, campaign=campaign, now=now)
    contact.status = "convo"
    session.flush()
    if contact.escalated:
        _tell_other_holders(session, user, contact, campaign)
    return SendResult(True, None, message.id)


def _tell_other_holders(session: Session, user: User, contact: Contact, campaign: Campaign) -> None:
    """An escalated conversation has several holders (the admins, or a team), each with a thread of it,
    perhaps on different platforms: one's answer is an ``answered`` notice to the others, so their threads
    show it (and redraw their controls) before any of them sends the same answer again."""
    others = set(holders(session, campaign.organization_id, contact.escalated_team_id).user_ids) - {user.id}
    for recipient in sorted(others):
        add_notice(
            session,
            user_id=recipient,
            kind="answered",
            contact_id=contact.id,
            campaign_id=campaign.id,
            payload={"by": user.name},
        )


def _canned(session: Session, campaign: Campaign, contact: Contact, user: User) -> list[CannedReply]:
    return [
        CannedReply(item.id, item.title, _render(item.text, contact, user))
        for item in campaign_canned_responses(session, campaign.id)
    ]


def canned_responses(session: Session, user: User, contact_id: int) -> list[CannedReply]:
    """The campaign's canned responses, rendered for this contact and texter."""
    contact = owned_contact(session, user, contact_id)
    return _canned(session, _campaign(session, contact), contact, user)


# --- the thread's menu ----------------------------------------------------------------------------------


def _escalate(session: Session, user: User, contact: Contact, team_id: int | None, why: str) -> None:
    campaign = _campaign(session, contact)
    team = None
    if team_id is not None:
        team = session.get(Team, team_id)
        if team is None or team.organization_id != campaign.organization_id:
            raise NotFound(f"there is no team {team_id} in your organization: pick one of its teams")
    contact.escalated = True
    contact.escalated_team_id = team_id
    contact.assigned_user_id = None
    contact.assigned_at = None
    recipients = holders(session, campaign.organization_id, team_id).user_ids
    payload = {
        "campaign_title": campaign.title,
        "contact_name": f"{contact.first_name} {contact.last_name}".strip(),
        "masked_cell": mask(contact.cell),
        "by": user.name,
        "team": team.name if team else None,
        "why": why,
    }
    for recipient in sorted(set(recipients)):
        add_notice(
            session,
            user_id=recipient,
            kind="escalated",
            contact_id=contact.id,
            campaign_id=campaign.id,
            payload=payload,
        )
    session.flush()


def escalate(session: Session, user: User, contact_id: int, team_id: int | None = None) -> None:
    """Take the conversation out of the pools and out of the texter's hands, to ``team_id`` or the admins."""
    contact = owned_contact(session, user, contact_id, lock=True)
    _escalate(session, user, contact, team_id, "escalated")


def _tag(session: Session, user: User, contact: Contact, tag_id: int) -> Tag:
    campaign = _campaign(session, contact)
    tag = session.get(Tag, tag_id)
    if tag is None or tag.organization_id != campaign.organization_id:
        raise NotFound(f"there is no tag {tag_id} in your organization: pick one of the campaign's tags")
    return tag


def add_tag(session: Session, user: User, contact_id: int, tag_id: int) -> bool:
    """Tag the conversation; an escalation tag escalates it too. Returns True when it escalated."""
    contact = owned_contact(session, user, contact_id, lock=True)
    tag = _tag(session, user, contact, tag_id)
    offered = {t.id for t, _team in campaign_tags(session, contact.campaign_id)}
    if offered and tag.id not in offered:
        raise Refused(f"the tag {tag.name!r} is not offered in this campaign: pick one of its tags")
    if session.get(ContactTag, (contact.id, tag.id)) is None:
        session.add(ContactTag(contact_id=contact.id, tag_id=tag.id, user_id=user.id))
        session.flush()
    if tag.is_escalation:
        _escalate(session, user, contact, tag.team_id, f"tagged {tag.name}")
        return True
    return False


def remove_tag(session: Session, user: User, contact_id: int, tag_id: int) -> None:
    """Untag the conversation. Removing its last escalation tag puts it back in the unassigned pool."""
    contact = owned_contact(session, user, contact_id, lock=True)
    tag = _tag(session, user, contact, tag_id)
    link = session.get(ContactTag, (contact.id, tag.id))
    if link is None:
        return
    session.delete(link)
    session.flush()
    if tag.is_escalation and contact.escalated:
        still = session.scalar(
            select(
                exists().where(
                    ContactTag.contact_id == contact.id,
                    ContactTag.tag_id == Tag.id,
                    Tag.is_escalation.is_(True),
                )
            )
        )
        if not still:
            contact.escalated = False
            contact.escalated_team_id = None
            session.flush()


def opt_out_contact(
    session: Session, user: User, contact_id: int, message: str | None = None, now: datetime | None = None
) -> OptOutResult:
    """Opt the number out org-wide and close it; ``message`` (a goodbye) is queued first when it may go.

    The goodbye is skipped, with a note, when the number is already on the opt-out list (a text would
    only draw the carrier's "unsubscribed" error), outside texting hours, or the campaign is not launched.
    The opt-out itself always happens.
    """
    now = now or utcnow()
    contact = owned_contact(session, user, contact_id, lock=True)
    campaign = _campaign(session, contact)
    message_id = None
    note = None
    if message is not None and message.strip():
        refusal = None
        if contact.opted_out or is_listed(session, campaign.organization_id, contact.cell):
            refusal = no("opted_out", "the number had already opted out, so the message was not sent")
        too_long = sms_body_problem(message.strip(), "the message")
        if refusal is None and too_long is not None:
            refusal = no("too_long", too_long)
        refusal = (
            refusal or not_launched(campaign) or outside_hours(campaign, contact_zone(contact, campaign), now)
        )
        if refusal is None:
            message_id = queue_outbound(
                session, contact, message.strip(), user_id=user.id, campaign=campaign, now=now
            ).id
        else:
            note = f"opted out without the message: {refusal.reason}"
    opt_out(
        session,
        campaign.organization_id,
        contact.cell,
        source="texter",
        reason="opted out by the texter",
        actor=user,
        spare_message_ids=[message_id] if message_id is not None else (),
    )
    session.refresh(contact)
    return OptOutResult(message_id, note)


def close(session: Session, user: User, contact_id: int) -> None:
    """Close (skip) the conversation; a new text from the contact reopens it."""
    contact = owned_contact(session, user, contact_id, lock=True)
    contact.status = "closed"
    session.flush()
    add_finished(session, [contact_id])

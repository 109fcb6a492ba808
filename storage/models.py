"""SQLAlchemy 2 typed models: every table textbank keeps.

The schema is created and evolved only by the Alembic migrations in ``storage/migrations``;
these classes are the typed view of it. Enumerated values are plain strings checked in core,
so a new status never needs a database type change.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime, utcnow

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BigInteger ids on PostgreSQL; SQLite needs INTEGER for its rowid alias to autoincrement.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}
    if TYPE_CHECKING:
        # Every model here is declared with __tablename__, so its __table__ is a Table (DeclarativeBase
        # types it as any FromClause, which insert() and update() do not take).
        __table__: ClassVar[Table]


class Organization(Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Extra whole-message phrases that opt a contact out, beside the standard keywords.
    optout_phrases: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Confirmation texted after an opt-out; None = send none (the carrier already confirms STOP).
    optout_confirmation: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WorkspaceLink(Base):
    """A Slack workspace or Discord guild linked to an organization."""

    __tablename__ = "workspace_links"
    __table_args__ = (UniqueConstraint("platform", "workspace_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str] = mapped_column(String(64))
    # Discord: the server's channel for conversation threads (private threads) of a campaign that has
    # none of its own in this server (``CampaignThreadChannel``), chosen by an admin.
    thread_channel_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectCode(Base):
    """A one-time code linking another workspace or guild to an organization (``core.connect``).

    Only the code's SHA-256 is kept; the code itself is shown once, to the admin who asked for it.
    """

    __tablename__ = "connect_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20))  # where it was asked for
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    used_platform: Mapped[str | None] = mapped_column(String(20))
    used_workspace_id: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="texter")  # owner | admin | texter
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    identities: Mapped[list[PlatformIdentity]] = relationship(back_populates="user")


class PlatformIdentity(Base):
    __tablename__ = "platform_identities"
    __table_args__ = (UniqueConstraint("platform", "workspace_id", "platform_user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))  # slack | discord | cli
    workspace_id: Mapped[str] = mapped_column(String(64))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Where the bot talks to this person privately (Slack DM channel id, Discord DM channel id).
    dm_channel_id: Mapped[str | None] = mapped_column(String(64))
    # When the name and admin flag were last read from the platform's profile (None: never).
    profile_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(back_populates="identities")


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index(None, "organization_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # campaign | adhoc (the organization's hidden home for texts sent with no campaign task, seed 001)
    kind: Mapped[str] = mapped_column(String(20), default="campaign")
    status: Mapped[str] = mapped_column(String(20), default="draft")  # draft | launched | archived
    # Texting window, minutes after local midnight in the contact's own zone: [start, end).
    hours_start: Mapped[int] = mapped_column(Integer, default=9 * 60)
    hours_end: Mapped[int] = mapped_column(Integer, default=21 * 60)
    timezone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    # Our sending identity for this campaign (a Messaging Service SID or an E.164 number); None = config.
    sender: Mapped[str | None] = mapped_column(String(64))
    # Custom-field placeholder names scripts may use (declared in YAML or learnt from a contact import).
    custom_fields: Mapped[list[Any]] = mapped_column(JSON, default=list)

    # Assignment settings (seed 002/003), changeable at any time.
    dynamic_initials: Mapped[bool] = mapped_column(Boolean, default=True)
    initials_batch_size: Mapped[int] = mapped_column(Integer, default=200)
    replies_before_initials: Mapped[bool] = mapped_column(Boolean, default=False)
    max_initials_per_texter: Mapped[int | None] = mapped_column(Integer)
    dynamic_replies: Mapped[bool] = mapped_column(Boolean, default=False)
    replies_batch_size: Mapped[int] = mapped_column(Integer, default=200)
    release_unhandled_after_minutes: Mapped[int | None] = mapped_column(Integer)
    # A texter holding replies unanswered this long gets a reminder (before the release above); 0 = off.
    reply_reminder_minutes: Mapped[int] = mapped_column(Integer, default=10)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CampaignTexter(Base):
    """A texter's membership in a campaign, with their personal cap on initials."""

    __tablename__ = "campaign_texters"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    max_initials: Mapped[int | None] = mapped_column(Integer)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyReminder(Base):
    """When a texter was last reminded of the replies they hold in a campaign (``core.reminders``)."""

    __tablename__ = "reply_reminders"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    reminded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class JoinToken(Base):
    __tablename__ = "join_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # initials | replies
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("campaign_id", "cell"),
        # The claim: unassigned contacts of a campaign in a status, oldest first.
        Index(None, "campaign_id", "status", "assigned_user_id", "id"),
        # The claim's pick in id order: an IS NULL condition does not let PostgreSQL read the index
        # above in id order, so a partial index holds just the unassigned rows of each pool.
        Index(
            "ix_contacts_unassigned_pool",
            "campaign_id",
            "status",
            "id",
            postgresql_where=text("assigned_user_id IS NULL"),
            sqlite_where=text("assigned_user_id IS NULL"),
        ),
        # A texter's own work in a campaign.
        Index(None, "assigned_user_id", "campaign_id", "status"),
        # Inbound routing and org-wide opt-outs find a contact by its cell.
        Index(None, "cell"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    cell: Mapped[str] = mapped_column(String(20))
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    zip: Mapped[str] = mapped_column(String(20), default="")
    external_id: Mapped[str] = mapped_column(String(200), default="")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    # needs_message | messaged | needs_response | convo | closed
    status: Mapped[str] = mapped_column(String(20), default="needs_message")
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    # Ad-hoc conversations (seed 001): None | me | anyone, and whether the texter ended the chat.
    reply_route: Mapped[str | None] = mapped_column(String(20))
    failed_reason: Mapped[str | None] = mapped_column(Text)
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index(None, "contact_id", "id"),
        # The outbox: queued rows oldest first; the sweep: rows stuck in sending.
        Index(None, "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(10))  # in | out
    body: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cell: Mapped[str] = mapped_column(String(20))  # the contact's number
    sender: Mapped[str | None] = mapped_column(String(64))  # our number or Messaging Service SID
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # queued | sending | sent | delivered | failed | undelivered | received | unknown
    status: Mapped[str] = mapped_column(String(20))
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A retry after a transient error waits until then; a text not sent by send_before is not sent.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InteractionStep(Base):
    """A node of the script tree.

    The root (parent_id None) holds the initial message in ``script`` and the first question.
    A child is reached by choosing ``answer_option`` on its parent's question; its ``script`` is the
    prepared response and its ``question`` the next question, if any.
    """

    __tablename__ = "interaction_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("interaction_steps.id", ondelete="CASCADE"), index=True
    )
    answer_option: Mapped[str] = mapped_column(String(200), default="")
    script: Mapped[str] = mapped_column(Text, default="")
    question: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class QuestionResponse(Base):
    __tablename__ = "question_responses"
    __table_args__ = (UniqueConstraint("contact_id", "interaction_step_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The step whose question was answered.
    interaction_step_id: Mapped[int] = mapped_column(ForeignKey("interaction_steps.id", ondelete="CASCADE"))
    value: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CannedResponse(Base):
    __tablename__ = "canned_responses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    # An escalation tag takes the conversation out of the pools and hands it to admins or team_id.
    is_escalation: Mapped[bool] = mapped_column(Boolean, default=False)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))


class CampaignTag(Base):
    """Which of the organization's tags a campaign offers its texters."""

    __tablename__ = "campaign_tags"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ContactTag(Base):
    __tablename__ = "contact_tags"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OptOut(Base):
    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("organization_id", "cell"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    cell: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))  # texter | keyword | carrier | import | admin
    reason: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notice(Base):
    """Something a texter must see, waiting for its platform's relay worker to post it."""

    __tablename__ = "notices"
    __table_args__ = (Index(None, "platform", "status", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(20))  # slack | discord | cli
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    # reply | failed | released | assigned | escalated | optout | ...
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | posting | posted | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a relay last claimed it: requeue_stuck judges a claim by this, not by the notice's age.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ChatThread(Base):
    """Where a conversation lives on a chat platform: its thread and the control message at its bottom.

    Kept by the chat layer's thread bookkeeping (``bot.chat.threads``) for every platform. ``thread_id``
    is Slack's parent ``thread_ts`` or a Discord thread's channel id ("" while the thread is being
    started). ``last_message_id`` is the newest message of the conversation already posted into the
    thread: it is advanced (compare-and-set) before posting, so a message is never posted twice.
    ``lease_owner``/``lease_until``: the process posting into the thread right now (renewed while it holds
    a notice), so several processes keep the thread's order.
    """

    __tablename__ = "chat_threads"
    __table_args__ = (UniqueConstraint("platform", "contact_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[str] = mapped_column(String(64))
    control_id: Mapped[str | None] = mapped_column(String(64))
    last_message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The platform's thread is closed (a Discord thread archived) because its conversation finished for
    # this texter; the next post into it reopens it first.
    closed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CampaignThreadChannel(Base):
    """The channel a campaign's conversation threads open in, on one platform's workspace (a Discord server).

    Chosen by an admin (``core.thread_channels``); a campaign without one in a server falls back to the
    server's own choice (``WorkspaceLink.thread_channel_id``).
    """

    __tablename__ = "campaign_thread_channels"
    __table_args__ = (UniqueConstraint("campaign_id", "platform", "workspace_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    workspace_id: Mapped[str] = mapped_column(String(64))
    channel_id: Mapped[str] = mapped_column(String(64))
    chosen_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    chosen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplyDraft(Base):
    """The text a texter is about to send: a prepared reply, an edit, a typed text, or an ad-hoc text.

    One per conversation and texter (``contact_id``); an ad-hoc text before it has a contact keeps its
    number in ``cell`` with no contact. Buttons carry only the draft's conversation (or id), never its text.
    """

    __tablename__ = "reply_drafts"
    __table_args__ = (UniqueConstraint("user_id", "contact_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    cell: Mapped[str | None] = mapped_column(String(32))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EarlyStatusCallback(Base):
    """A provider status callback that arrived before its text's SID was recorded.

    The sender records ``mark_sent`` (with the SID) only after the provider answered, and the provider may
    call back first; such a callback waits here until ``mark_sent`` applies it, or is purged after a day.
    """

    __tablename__ = "early_status_callbacks"
    __table_args__ = (UniqueConstraint("provider_sid", "status"), Index(None, "received_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))  # sent | delivered | failed | undelivered
    error_code: Mapped[int | None] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

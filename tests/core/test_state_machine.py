"""The contact state machine under random sequences of everything texters, contacts and jobs do.

A hypothesis ``RuleBasedStateMachine`` drives the real core calls (claims, initial sends, inbound texts,
replies and retried clicks, Done for the Day, texter opt-outs, STOP, close) against a real database, one
transaction per action as the adapters run them, on SQLite and, when configured, PostgreSQL. After every
step it checks the invariants: no opted-out number is texted after it opted out, no contact is handed to
a second texter or sent to by someone it is not assigned to, status counts add up, every successful send
has exactly one outbound row (and no other outbound row exists), and each provider SID is stored once.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from core import conversations as conv
from core.assignment import request_initials, request_replies
from core.errors import Forbidden
from core.inbound import receive_inbound
from core.releases import done_for_the_day
from core.sending import send_initial
from storage import Database
from storage.models import Campaign, Contact, Message, OptOut, User
from tests.core.factories import (
    add_contacts,
    at,
    make_launched_campaign,
    make_org,
    make_script,
    make_texter,
)

START = at(2024, 7, 15, 10, 0, "America/New_York")
CONTACTS = 6
TEXTERS = 3
STATUSES = {"needs_message", "messaged", "needs_response", "convo", "closed"}
BODIES = ["Yes", "who is this?", "STOP", " stop ", "STOP please", "Quit"]
OUR_NUMBER = "+12125550100"

texter_index = st.integers(0, TEXTERS - 1)
contact_index = st.integers(0, CONTACTS - 1)


def machine_for(db: Database) -> type[RuleBasedStateMachine]:
    class ContactStates(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.db = db
            self.step = 0
            with db.session() as s:
                org = make_org(s)
                self.org_id = org.id
                self.texters = [make_texter(s, org, f"T{i}").id for i in range(TEXTERS)]
                campaign = make_launched_campaign(
                    s,
                    org,
                    0,
                    texters=[s.get(User, t) for t in self.texters],
                    initials_batch_size=2,
                    dynamic_replies=True,
                    replies_batch_size=2,
                    # Examples share the database: their own sender keeps each one's texts apart.
                    sender=f"MG{org.id}",
                )
                make_script(s, campaign)
                self.campaign_id = campaign.id
                cells = [f"+1212{2000000 + org.id * 10 + i}" for i in range(CONTACTS)]
                contacts = add_contacts(s, campaign, CONTACTS, cells=cells)
                self.contacts = [c.id for c in contacts]
                self.cells = {c.id: c.cell for c in contacts}
            # What the model knows happened.
            self.sends: dict[int, int] = {}  # message id -> contact id, every outbound row a call reported
            self.sids: dict[str, tuple[int, str]] = {}  # provider SID -> (contact index, body) first sent
            self.optout_watermark: dict[str, int] = {}  # cell -> newest message id when it opted out
            self.last_reply: tuple[int, int, str, str, int | None] | None = None

        # --- helpers ---------------------------------------------------------------------------------------

        def now(self):
            return START + timedelta(minutes=self.step)

        def owners(self, s) -> dict[int, int | None]:
            return dict(
                s.execute(
                    select(Contact.id, Contact.assigned_user_id).where(
                        Contact.campaign_id == self.campaign_id
                    )
                ).all()
            )

        def record_send(self, result, contact_id: int) -> None:
            if result.sent:
                assert result.message_id not in self.sends
                self.sends[result.message_id] = contact_id

        # --- rules -----------------------------------------------------------------------------------------

        @initialize()
        def everyone_claims(self) -> None:
            for t in range(TEXTERS):
                self.claim(t, "initials")

        @rule(t=texter_index, kind=st.sampled_from(["initials", "replies"]))
        def claim(self, t: int, kind: str) -> None:
            self.step += 1
            with self.db.session() as s:
                before = self.owners(s)
                call = request_initials if kind == "initials" else request_replies
                result = call(
                    s, s.get(Campaign, self.campaign_id), s.get(User, self.texters[t]), now=self.now()
                )
            assert len(result.contact_ids) <= 2
            for cid in result.contact_ids:
                assert before[cid] is None, f"contact {cid} handed to a second texter"

        def pick(self, t: int, c: int, own: bool, statuses: tuple[str, ...]) -> int:
            """Mostly one of the texter's own contacts in ``statuses`` (what their screen offers); else any
            contact (a stale button, someone else's conversation)."""
            if own:
                with self.db.read() as s:
                    mine = list(
                        s.scalars(
                            select(Contact.id)
                            .where(
                                Contact.campaign_id == self.campaign_id,
                                Contact.assigned_user_id == self.texters[t],
                                Contact.status.in_(statuses),
                            )
                            .order_by(Contact.id)
                        )
                    )
                if mine:
                    return mine[c % len(mine)]
            return self.contacts[c]

        @rule(t=texter_index, c=contact_index, own=st.booleans(), twice=st.booleans())
        def send_first_text(self, t: int, c: int, own: bool, twice: bool) -> None:
            self.step += 1
            cid = self.pick(t, c, own, ("needs_message",))
            for attempt in range(2 if twice else 1):
                with self.db.session() as s:
                    owner = self.owners(s)[cid]
                    result = send_initial(s, s.get(User, self.texters[t]), cid, now=self.now())
                if result.sent:
                    assert attempt == 0, "a repeated click sent twice"
                    assert owner == self.texters[t]
                self.record_send(result, cid)

        @rule(c=contact_index, body=st.sampled_from(BODIES), sid=st.integers(0, 11))
        def contact_texts(self, c: int, body: str, sid: int) -> None:
            self.step += 1
            key = f"SM{self.org_id}-{sid}"
            c, body = self.sids.setdefault(key, (c, body))  # a retried webhook repeats the same text
            with self.db.session() as s:
                receive_inbound(
                    s,
                    from_cell=self.cells[self.contacts[c]],
                    to=OUR_NUMBER,
                    messaging_service_sid=f"MG{self.org_id}",
                    body=body,
                    provider_sid=key,
                    now=self.now(),
                )

        @rule(t=texter_index, c=contact_index, own=st.booleans(), retry=st.booleans())
        def reply(self, t: int, c: int, own: bool, retry: bool) -> None:
            self.step += 1
            cid = self.pick(t, c, own, ("needs_response", "convo"))
            with self.db.session() as s:
                user = s.get(User, self.texters[t])
                try:
                    view = conv.conversation_view(s, user, cid)
                    expected = view.status if view.status in conv.REPLYABLE else "needs_response"
                    seen = view.last_message_id
                except Forbidden:  # a stale thread of a conversation that is no longer theirs
                    expected, seen = "needs_response", None
                result = conv.send_reply(
                    s, user, cid, "Thanks!", expected, self.now(), last_seen_message_id=seen
                )
            self.record_send(result, cid)
            if result.sent and retry:
                with self.db.session() as s:
                    again = conv.send_reply(
                        s,
                        s.get(User, self.texters[t]),
                        cid,
                        "Thanks!",
                        expected,
                        self.now(),
                        last_seen_message_id=seen,
                    )
                assert not again.sent, "a retried reply sent twice"

        @rule(t=texter_index)
        def done_for_the_day(self, t: int) -> None:
            self.step += 1
            with self.db.session() as s:
                done_for_the_day(s, s.get(Campaign, self.campaign_id), s.get(User, self.texters[t]))

        @rule(t=texter_index, c=contact_index, own=st.booleans(), goodbye=st.booleans())
        def texter_opts_out(self, t: int, c: int, own: bool, goodbye: bool) -> None:
            self.step += 1
            cid = self.pick(t, c, own, ("needs_response", "convo"))
            try:
                with self.db.session() as s:
                    result = conv.opt_out_contact(
                        s,
                        s.get(User, self.texters[t]),
                        cid,
                        "Sorry to bother you" if goodbye else None,
                        self.now(),
                    )
            except Forbidden:
                return
            if result.message_id is not None:
                self.sends[result.message_id] = cid

        @rule(t=texter_index, c=contact_index, own=st.booleans())
        def close(self, t: int, c: int, own: bool) -> None:
            self.step += 1
            cid = self.pick(t, c, own, ("messaged", "needs_response", "convo"))
            try:
                with self.db.session() as s:
                    conv.close(s, s.get(User, self.texters[t]), cid)
            except Forbidden:
                return

        # --- invariants ------------------------------------------------------------------------------------

        @invariant()
        def invariants(self) -> None:
            with self.db.read() as s:
                newest = s.scalar(select(func.max(Message.id))) or 0
                listed = set(s.scalars(select(OptOut.cell).where(OptOut.organization_id == self.org_id)))
                for cell in listed - set(self.optout_watermark):
                    self.optout_watermark[cell] = newest
                outbound = s.execute(
                    select(Message.id, Message.contact_id, Message.cell)
                    .join(Campaign, Campaign.id == Message.campaign_id)
                    .where(Message.direction == "out", Campaign.organization_id == self.org_id)
                ).all()
                # An opted-out number is never texted after it opted out.
                for mid, _cid, cell in outbound:
                    if cell in self.optout_watermark:
                        assert mid <= self.optout_watermark[cell], f"message {mid} went to opted-out {cell}"
                # Every successful send has exactly one outbound row, and there is no other.
                assert {mid: cid for mid, cid, _cell in outbound} == self.sends
                contacts = s.execute(
                    select(Contact.id, Contact.status, Contact.opted_out, Contact.cell).where(
                        Contact.campaign_id == self.campaign_id
                    )
                ).all()
                by_status = Counter(row.status for row in contacts)
                assert set(by_status) <= STATUSES
                assert sum(by_status.values()) == len(contacts) == CONTACTS
                sent_to = Counter(cid for cid in self.sends.values())
                for row in contacts:
                    if row.opted_out or row.cell in listed:
                        assert row.status == "closed"
                    if row.status == "needs_message":
                        assert sent_to[row.id] == 0
                    if row.status in ("messaged", "convo"):
                        assert sent_to[row.id] >= 1
                # Each provider SID is stored once.
                stored = Counter(
                    s.scalars(
                        select(Message.provider_sid)
                        .join(Campaign, Campaign.id == Message.campaign_id)
                        .where(Message.direction == "in", Campaign.organization_id == self.org_id)
                    )
                )
                assert set(stored) == set(self.sids)
                assert all(n == 1 for n in stored.values())

    return ContactStates


def test_contact_state_machine(db_url: str) -> None:
    database = Database(db_url)
    try:
        run_state_machine_as_test(
            machine_for(database),
            settings=settings(
                max_examples=50,
                stateful_step_count=40,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow],
            ),
        )
    finally:
        database.dispose()

"""core.outbox: claiming, outcomes, error rules, the stale sweep and status callbacks, on both engines."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from core import outbox
from storage import Database
from storage.models import Contact, EarlyStatusCallback, Message, Notice, OptOut
from tests.core.factories import add_contacts, at, make_campaign, make_launched_campaign, make_texter

NOW = at(2026, 3, 10, 15, 0)


def _world(db: Database, org_id: int, n: int = 3, **campaign_settings):
    with db.session() as session:
        texter = make_texter(session, org_id)
        campaign = make_launched_campaign(session, org_id, n, texters=[texter], **campaign_settings)
        contacts = list(session.scalars(select(Contact).where(Contact.campaign_id == campaign.id)))
        return texter.id, campaign.id, [c.id for c in contacts]


def _queue(db: Database, contact_id: int, user_id: int | None, body: str = "hello", **fields) -> int:
    with db.session() as session:
        contact = session.get(Contact, contact_id)
        message = Message(
            contact_id=contact.id,
            campaign_id=contact.campaign_id,
            direction=fields.pop("direction", "out"),
            body=body,
            media=[],
            cell=contact.cell,
            user_id=user_id,
            status=fields.pop("status", "queued"),
            attempts=fields.pop("attempts", 0),
            **fields,
        )
        session.add(message)
        session.flush()
        return message.id


def _message(db: Database, message_id: int) -> Message:
    with db.read() as session:
        row = session.get(Message, message_id)
        session.expunge(row)
        return row


def _notices(db: Database, message_id: int) -> list[Notice]:
    with db.read() as session:
        rows = list(session.scalars(select(Notice).where(Notice.message_id == message_id)))
        session.expunge_all()
        return rows


def test_claim_marks_sending_oldest_first_and_never_twice(db: Database, org_id: int) -> None:
    user_id, campaign_id, contacts = _world(db, org_id)
    ids = [_queue(db, c, user_id, body=f"text {i}") for i, c in enumerate(contacts)]
    with db.session() as session:
        first = outbox.claim_queued(session, 2, NOW)
    assert [job.message_id for job in first] == ids[:2]
    assert [job.body for job in first] == ["text 0", "text 1"]
    assert all(job.attempts == 1 and job.campaign_id == campaign_id for job in first)
    row = _message(db, ids[0])
    assert row.status == "sending" and row.attempts == 1 and row.sending_started_at is not None
    with db.session() as session:
        second = outbox.claim_queued(session, 10, NOW)
        third = outbox.claim_queued(session, 10, NOW)
    assert [job.message_id for job in second] == ids[2:]
    assert third == []


def test_claim_skips_inbound_and_rows_waiting_for_a_retry(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2)
    waiting = _queue(db, contacts[0], user_id, next_attempt_at=NOW + timedelta(seconds=30))
    _queue(db, contacts[1], None, status="received", direction="in")
    with db.session() as session:
        assert outbox.claim_queued(session, 10, NOW) == []
    with db.session() as session:
        jobs = outbox.claim_queued(session, 10, NOW + timedelta(seconds=31))
    assert [job.message_id for job in jobs] == [waiting]


def test_text_past_its_window_fails_with_a_notice_instead_of_going_out(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2)
    late = _queue(db, contacts[0], user_id, send_before=NOW - timedelta(minutes=1))
    on_time = _queue(db, contacts[1], user_id, send_before=NOW + timedelta(hours=1))
    with db.session() as session:
        jobs = outbox.claim_queued(session, 10, NOW)
    assert [job.message_id for job in jobs] == [on_time]
    assert jobs[0].send_before is not None
    row = _message(db, late)
    assert row.status == "failed" and row.error_message == outbox.WINDOW_CLOSED
    notices = _notices(db, late)
    assert [(n.kind, n.user_id, n.payload["reason"]) for n in notices] == [
        ("failed", user_id, outbox.WINDOW_CLOSED)
    ]


def test_sender_comes_from_the_message_else_its_campaign(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2, sender="MG" + "1" * 32)
    own = _queue(db, contacts[0], user_id, sender="+12125550100")
    inherited = _queue(db, contacts[1], user_id)
    with db.session() as session:
        jobs = {job.message_id: job for job in outbox.claim_queued(session, 10, NOW)}
    assert jobs[own].sender == "+12125550100"
    assert jobs[inherited].sender == "MG" + "1" * 32


def test_mark_sent_records_the_sid(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 1)
    message_id = _queue(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, NOW)
        assert outbox.mark_sent(session, message_id, "SM123", NOW)
        assert not outbox.mark_sent(session, message_id, "SM999", NOW)
    row = _message(db, message_id)
    assert (row.status, row.provider_sid) == ("sent", "SM123")
    assert row.sent_at is not None


def test_retry_requeues_until_the_attempts_run_out(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 1)
    message_id = _queue(db, contacts[0], user_id)
    clock = NOW
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        with db.session() as session:
            jobs = outbox.claim_queued(session, 1, clock)
            assert [job.attempts for job in jobs] == [attempt]
            requeued = outbox.mark_retry(
                session, message_id, timedelta(seconds=5), clock, code=503, reason="busy"
            )
        if attempt < outbox.MAX_ATTEMPTS:
            assert requeued
            with db.session() as session:
                assert outbox.claim_queued(session, 1, clock + timedelta(seconds=4)) == []
            row = _message(db, message_id)
            assert (row.status, row.error_code) == ("queued", 503)
        else:
            assert not requeued
        clock += timedelta(seconds=5)
    row = _message(db, message_id)
    assert row.status == "failed" and "gave up" in row.error_message and "busy" in row.error_message
    assert [n.kind for n in _notices(db, message_id)] == ["failed"]


def test_release_claimed_puts_an_unsent_text_back(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 1)
    message_id = _queue(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, NOW)
        assert outbox.release_claimed(session, message_id, NOW)
    row = _message(db, message_id)
    assert (row.status, row.attempts) == ("queued", 0)


def test_unsubscribed_error_opts_the_number_out_of_every_campaign(db: Database, org_id: int) -> None:
    user_id, campaign_id, contacts = _world(db, org_id, 1)
    with db.session() as session:
        cell = session.get(Contact, contacts[0]).cell
        other = make_campaign(session, org_id)
        twin = add_contacts(session, other, 1, cells=[cell])[0].id
    message_id = _queue(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, NOW)
        assert outbox.mark_failed(
            session, message_id, 21610, "Attempt to send to unsubscribed recipient", NOW
        )
    with db.read() as session:
        optout = session.scalars(select(OptOut).where(OptOut.cell == cell)).one()
        assert (optout.organization_id, optout.source) == (org_id, "carrier")
        for contact_id in (contacts[0], twin):
            contact = session.get(Contact, contact_id)
            assert contact.opted_out and contact.status == "closed"
    row = _message(db, message_id)
    assert (row.status, row.error_code) == ("failed", 21610)
    notices = _notices(db, message_id)
    assert [n.kind for n in notices] == ["failed"] and "opt-out" in notices[0].payload["reason"]


def test_invalid_or_landline_number_fails_the_contact_with_a_reason(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2)
    invalid = _queue(db, contacts[0], user_id)
    landline = _queue(db, contacts[1], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 2, NOW)
        outbox.mark_failed(session, invalid, 21211, "Invalid 'To' Phone Number", NOW)
        outbox.mark_failed(session, landline, 21614, "'To' number is not a valid mobile number", NOW)
    with db.read() as session:
        first, second = session.get(Contact, contacts[0]), session.get(Contact, contacts[1])
        assert first.status == "closed" and "not a valid phone number" in first.failed_reason
        assert second.status == "closed" and "not a mobile number" in second.failed_reason
        assert not first.opted_out and session.scalars(select(OptOut)).first() is None
    assert [n.kind for n in _notices(db, invalid)] == ["failed"]


def test_other_errors_fail_only_the_message(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 1)
    message_id = _queue(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, NOW)
        outbox.mark_failed(session, message_id, 21606, "The From phone number is not valid", NOW)
    with db.read() as session:
        contact = session.get(Contact, contacts[0])
        assert contact.status == "needs_message" and contact.failed_reason is None
    row = _message(db, message_id)
    assert row.status == "failed" and "21606" in row.error_message
    assert "21606" in _notices(db, message_id)[0].payload["reason"]


def test_sweep_turns_stale_sending_into_unknown_which_is_never_claimed(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2)
    stale = _queue(db, contacts[0], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 1, NOW)
    fresh = _queue(db, contacts[1], user_id)
    later = NOW + timedelta(minutes=10)
    with db.session() as session:
        outbox.claim_queued(session, 1, later)
        assert outbox.sweep_stale_sending(session, timedelta(minutes=5), later + timedelta(seconds=1)) == 1
    assert _message(db, stale).status == "unknown"
    assert _message(db, fresh).status == "sending"
    with db.session() as session:
        assert outbox.claim_queued(session, 10, later + timedelta(hours=1)) == []
        assert not outbox.mark_retry(session, stale, timedelta(0), later)
        assert [m.id for m in outbox.unknown_sends(session, org_id)] == [stale]
    # A reply that arrives after all settles it.
    with db.session() as session:
        assert outbox.mark_sent(session, stale, "SMlate", later)
    assert _message(db, stale).status == "sent"


def test_status_callbacks_move_forward_only(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 2)
    first = _queue(db, contacts[0], user_id)
    second = _queue(db, contacts[1], user_id)
    with db.session() as session:
        outbox.claim_queued(session, 2, NOW)
        outbox.mark_sent(session, first, "SMfirst", NOW)
        outbox.mark_sent(session, second, "SMsecond", NOW)
    with db.session() as session:
        assert outbox.apply_status_callback(session, "SMfirst", "delivered", None, NOW)
        assert not outbox.apply_status_callback(session, "SMfirst", "sent", None, NOW)
        assert not outbox.apply_status_callback(session, "SMfirst", "undelivered", 30003, NOW)
        assert not outbox.apply_status_callback(session, "SMnobody", "delivered", None, NOW)
        assert not outbox.apply_status_callback(session, "SMsecond", "sending", None, NOW)
    assert _message(db, first).status == "delivered"
    assert _notices(db, first) == []
    with db.session() as session:
        assert outbox.apply_status_callback(session, "SMsecond", "undelivered", 30006, NOW)
        assert not outbox.apply_status_callback(session, "SMsecond", "sent", None, NOW)
    row = _message(db, second)
    assert (row.status, row.error_code) == ("undelivered", 30006)
    assert [n.kind for n in _notices(db, second)] == ["failed"]
    with db.read() as session:
        assert session.get(Contact, contacts[1]).failed_reason == outbox.UNTEXTABLE[30006]


def test_concurrent_claims_never_share_a_row(db: Database, org_id: int) -> None:
    user_id, _, contacts = _world(db, org_id, 60)
    ids = {_queue(db, c, user_id) for c in contacts}
    claimed: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def worker(slot: int) -> None:
        barrier.wait()
        while True:
            with db.session() as session:
                jobs = outbox.claim_queued(session, 3, NOW)
            if not jobs:
                return
            claimed[slot].extend(job.message_id for job in jobs)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flat = [message_id for part in claimed for message_id in part]
    assert len(flat) == len(set(flat)) == len(ids)
    assert set(flat) == ids


# --- status callbacks that beat mark_sent ------------------------------------------------------------------


def _early(db: Database) -> list[tuple[str, str, int | None]]:
    with db.read() as session:
        rows = session.execute(
            select(
                EarlyStatusCallback.provider_sid, EarlyStatusCallback.status, EarlyStatusCallback.error_code
            ).order_by(EarlyStatusCallback.id)
        ).all()
        return [tuple(row) for row in rows]


def _claimed(db: Database, org_id: int, n: int = 1) -> tuple[int, list[int], list[int]]:
    """``n`` texts claimed by a sender (``sending``, no SID yet): (texter id, message ids, contact ids)."""
    user_id, _, contacts = _world(db, org_id, n)
    ids = [_queue(db, c, user_id) for c in contacts]
    with db.session() as session:
        assert len(outbox.claim_queued(session, n, NOW)) == n
    return user_id, ids, contacts


def test_a_callback_before_mark_sent_is_kept_and_applied_when_the_sid_lands(
    db: Database, org_id: int
) -> None:
    _, [message_id], _ = _claimed(db, org_id)
    with db.session() as session:
        assert not outbox.apply_status_callback(session, "SMearly", "sent", None, NOW)
        assert not outbox.apply_status_callback(session, "SMearly", "delivered", None, NOW)
    with db.session() as session:  # Twilio retries the same report: harmless
        assert not outbox.apply_status_callback(session, "SMearly", "delivered", None, NOW)
        assert not outbox.apply_status_callback(session, "SMearly", "queued", None, NOW)  # ignored
    row = _message(db, message_id)
    assert (row.status, row.provider_sid) == ("sending", None)
    assert _early(db) == [("SMearly", "sent", None), ("SMearly", "delivered", None)]
    with db.session() as session:
        assert outbox.mark_sent(session, message_id, "SMearly", NOW)
    row = _message(db, message_id)
    assert (row.status, row.provider_sid) == ("delivered", "SMearly")
    assert _early(db) == []
    assert _notices(db, message_id) == []
    with db.session() as session:  # a late duplicate changes nothing and is not kept
        assert not outbox.apply_status_callback(session, "SMearly", "delivered", None, NOW)
    assert _message(db, message_id).status == "delivered" and _early(db) == []


def test_early_reports_out_of_order_still_move_forward_only(db: Database, org_id: int) -> None:
    _, [message_id], _ = _claimed(db, org_id)
    with db.session() as session:
        outbox.apply_status_callback(session, "SMooo", "delivered", None, NOW)
        outbox.apply_status_callback(session, "SMooo", "sent", None, NOW)
        outbox.apply_status_callback(session, "SMooo", "undelivered", 30003, NOW)
    with db.session() as session:
        outbox.mark_sent(session, message_id, "SMooo", NOW)
    row = _message(db, message_id)
    assert (row.status, row.error_code) == ("delivered", None)
    assert _notices(db, message_id) == []


def test_an_early_failure_has_the_consequences_of_one_on_time(db: Database, org_id: int) -> None:
    user_id, [unsubscribed, landline], contacts = _claimed(db, org_id, 2)
    with db.session() as session:
        outbox.apply_status_callback(session, "SMstop", "failed", outbox.UNSUBSCRIBED, NOW)
        outbox.apply_status_callback(session, "SMland", "undelivered", 30006, NOW)
        outbox.apply_status_callback(session, "SMland", "delivered", None, NOW)  # too late: ranks equal
    assert _message(db, unsubscribed).status == "sending" and _notices(db, unsubscribed) == []
    with db.session() as session:
        assert outbox.mark_sent(session, unsubscribed, "SMstop", NOW)
        assert outbox.mark_sent(session, landline, "SMland", NOW)
    row = _message(db, unsubscribed)
    assert (row.status, row.error_code, row.provider_sid) == ("failed", outbox.UNSUBSCRIBED, "SMstop")
    row = _message(db, landline)
    assert (row.status, row.error_code) == ("undelivered", 30006)
    for message_id in (unsubscribed, landline):
        assert [(n.kind, n.user_id) for n in _notices(db, message_id)] == [("failed", user_id)]
    with db.read() as session:
        cell = session.get(Contact, contacts[0]).cell
        assert session.scalar(select(OptOut.source).where(OptOut.cell == cell)) == "carrier"
        assert session.get(Contact, contacts[0]).opted_out
        assert session.get(Contact, contacts[1]).failed_reason == outbox.UNTEXTABLE[30006]
    assert _early(db) == []


def test_a_callback_for_a_sid_that_never_appears_is_purged_after_a_day(db: Database, org_id: int) -> None:
    _, [message_id], _ = _claimed(db, org_id)
    with db.session() as session:
        outbox.apply_status_callback(session, "SMnever", "delivered", None, NOW)
        outbox.apply_status_callback(session, "SMmine", "delivered", None, NOW + timedelta(hours=20))
    with db.session() as session:
        assert outbox.purge_early_callbacks(session, now=NOW + timedelta(hours=23)) == 0
    with db.session() as session:
        assert (
            outbox.purge_early_callbacks(
                session, now=NOW + outbox.EARLY_CALLBACKS_KEPT + timedelta(minutes=1)
            )
            == 1
        )
    assert _early(db) == [("SMmine", "delivered", None)]
    with db.session() as session:
        outbox.mark_sent(session, message_id, "SMmine", NOW + timedelta(hours=25))
    assert _message(db, message_id).status == "delivered"


@pytest.mark.parametrize("first", ["mark_sent", "callback"])
def test_a_callback_racing_mark_sent_is_never_lost(db: Database, org_id: int, first: str) -> None:
    """One side has done its work but not committed when the other looks for it."""
    _, [message_id], _ = _claimed(db, org_id)
    done, release = threading.Event(), threading.Event()
    ended = {name: threading.Event() for name in ("mark_sent", "callback")}
    errors: list[BaseException] = []

    def run(name: str) -> None:
        try:
            with db.session() as session:
                if name == "mark_sent":
                    outbox.mark_sent(session, message_id, "SMrace", NOW)
                else:
                    outbox.apply_status_callback(session, "SMrace", "delivered", None, NOW)
                if name == first:
                    done.set()
                    assert release.wait(30)
        except BaseException as exc:
            errors.append(exc)
            done.set()
        finally:
            ended[name].set()

    second = "callback" if first == "mark_sent" else "mark_sent"
    threads = [threading.Thread(target=run, args=(first,))]
    threads[0].start()
    assert done.wait(30)
    threads.append(threading.Thread(target=run, args=(second,)))
    threads[1].start()
    # Let the second side run as far as it can while the first is uncommitted: to its end, or a lock wait.
    for _ in range(100):
        if ended[second].is_set() or _waiting_for_a_lock(db):
            break
        ended[second].wait(0.02)
    release.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert _message(db, message_id).status == "delivered"
    assert _early(db) == []


def _waiting_for_a_lock(db: Database) -> bool:
    if not db.is_postgres:
        return False  # SQLite: the callback's BEGIN IMMEDIATE waits for the sender's commit
    with db.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar())

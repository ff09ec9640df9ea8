"""The delivery ledger of docs/design.md section 4, on SQLite and PostgreSQL, with the memory transport.

Time is a FixedClock that only the runner's (fake) sleep moves, so a day of retries runs in milliseconds
and every wait can be checked exactly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from outreach.audience import (
    Consent,
    ConsentMethod,
    SuppressionReason,
    is_mailable,
    is_suppressed,
    transaction,
    unsubscribe,
)
from outreach.audience.schema import Subscriber, SubscriberStatus, Suppression
from outreach.audience.suppression import suppress
from outreach.delivery import campaigns, ledger
from outreach.delivery.campaigns import plan
from outreach.delivery.recovery import recover
from outreach.delivery.schema import Campaign, CampaignEvent, Delivery, DeliveryState
from outreach.errors import DeliveryError
from outreach.models import Audience
from outreach.render import CompiledIssue
from outreach.tokens import message_id, read_message_id
from outreach.transports.base import Outcome, OutgoingMessage, SendResult
from tests.delivery.conftest import SECRET, TOPIC, Bench, TimedMemory

TERMINAL = {"sent", "failed", "skipped", "unknown"}
LEASE = timedelta(minutes=10)


def result(outcome: Outcome, code: str = "", detail: str = "", **extra: object) -> SendResult:
    return SendResult("", outcome, code, detail, **extra)  # type: ignore[arg-type]


def not_attempted(detail: str = "421 earlier in the batch", retry_after: float | None = None) -> SendResult:
    return result(Outcome.RETRY, "421", f"not attempted: {detail}", retry_after=retry_after, attempted=False)


def other_issue(compiled: CompiledIssue, slug: str = "2027-01-another-issue") -> CompiledIssue:
    return replace(compiled, issue=replace(compiled.issue, slug=slug))


def events(bench: Bench, campaign_id: int) -> list[tuple[str, str]]:
    with transaction(bench.engine) as session:
        return [(e.kind, e.detail) for e in campaigns.history(session, campaign_id)]


# -- every recipient ends in exactly one state -------------------------------------------------------------


def test_every_recipient_ends_in_exactly_one_state(bench: Bench) -> None:
    people = bench.people(12)
    campaign = bench.campaign()
    script = [
        Outcome.SENT,
        result(Outcome.RETRY, "451 4.3.0", "try later"),  # retried once, then sent
        result(Outcome.BOUNCED, "550 5.1.1", "user unknown"),
        result(Outcome.REJECTED, "552 5.3.4", "too big"),
        result(Outcome.RETRY, "disconnected", "lost after DATA", uncertain=True),
        Outcome.SENT,
    ]
    memory = TimedMemory(bench.clock, script)
    progress = bench.run(campaign, memory)

    rows = bench.rows(campaign)
    assert sorted(rows) == sorted(people)
    assert {row.state for row in rows.values()} <= TERMINAL
    counts = bench.counts(campaign)
    assert sum(counts.values()) == len(people)
    assert counts == {"pending": 0, "sending": 0, "sent": 9, "failed": 2, "skipped": 0, "unknown": 1}
    assert rows[people[1]].state == "sent" and rows[people[1]].attempts == 2
    assert rows[people[2]].reason.startswith("bounced: 550 5.1.1")
    assert rows[people[3]].reason.startswith("rejected: 552 5.3.4")
    assert rows[people[4]].state == "unknown" and "uncertain" in rows[people[4]].reason

    # nobody got it twice, and exactly the sent rows are in the outbox
    delivered = Counter(message.recipient for message in memory.outbox)
    assert max(delivered.values()) == 1
    assert set(delivered) == {email for email, row in rows.items() if row.state == "sent"}
    assert progress.sent == 9
    assert bench.status(campaign)[0] == "done"
    assert events(bench, campaign)[-1][0] == "finished"


def test_sent_rows_record_the_provider_id_and_their_message_id(bench: Bench) -> None:
    people = bench.people(3)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock, [result(Outcome.SENT, "250", "ok", provider_id="esp-abc-123")])
    bench.run(campaign, memory)
    rows = bench.rows(campaign)
    assert rows[people[0]].provider_id == "esp-abc-123"
    assert {rows[p].provider_id for p in people[1:]} == {"memory-1", "memory-2"}
    by_recipient = {m.recipient: m for m in memory.outbox}
    for email, row in rows.items():
        assert row.state == "sent" and row.attempts == 1 and row.reason == ""
        message = by_recipient[email]
        assert row.message_id == message.message_id
        assert row.message_id is not None and row.message_id.endswith("@vaimh.example>")
        assert f"Message-ID: {row.message_id}\r\n".encode() in message.raw
    assert len({row.message_id for row in rows.values()}) == 3


# -- transient failures ------------------------------------------------------------------------------------


def test_retry_waits_with_growing_backoff_then_fails_as_exhausted(bench: Bench) -> None:
    (address,) = bench.people(1)
    campaign = bench.campaign()
    script = [result(Outcome.RETRY, "451 4.3.0", f"busy {n}") for n in range(5)]
    memory = TimedMemory(bench.clock, script)

    bench.run(campaign, memory, wait=False, max_attempts=5)
    row = bench.rows(campaign)[address]
    now = bench.clock.now()
    assert row.state == "pending" and row.attempts == 1
    assert row.reason == "will retry: 451 4.3.0 busy 0"
    assert row.next_attempt_at is not None
    assert now + timedelta(seconds=15) <= row.next_attempt_at <= now + timedelta(seconds=30)
    assert bench.status(campaign)[0] == "sending"  # waiting for a retry is not finished

    bench.run(campaign, memory, max_attempts=5)
    row = bench.rows(campaign)[address]
    assert row.state == "failed"
    assert row.reason == "retry exhausted after 5 attempts: 451 4.3.0 busy 4"
    assert row.attempts == 5
    times = [when for when, _ in memory.times]
    assert len(times) == 5
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    for attempt, gap in enumerate(gaps, start=1):  # full jitter in [ceiling/2, ceiling], base 30 s
        ceiling = 30 * 2 ** (attempt - 1)
        assert ceiling / 2 <= gap <= ceiling + 0.1, (attempt, gaps)
    # every attempt carries the row's one keyed Message-ID, so a resend is recognisably the same mail
    assert {m.message_id for m in memory.attempts} == {message_id(SECRET, campaign, row.id, "vaimh.example")}
    assert bench.status(campaign)[0] == "done"


def test_retry_after_from_the_transport_is_respected(bench: Bench) -> None:
    (address,) = bench.people(1)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock, [result(Outcome.RETRY, "HTTP 429", "slow down", retry_after=900.0)])
    bench.run(campaign, memory, wait=False)
    row = bench.rows(campaign)[address]
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= bench.clock.now() + timedelta(seconds=900)
    bench.run(campaign, memory)
    assert bench.rows(campaign)[address].state == "sent"
    first, second = (when for when, _ in memory.times)
    assert (second - first).total_seconds() >= 900


# -- permanent failures ------------------------------------------------------------------------------------


def test_a_bounce_fails_the_row_and_suppresses_the_address(bench: Bench) -> None:
    people = bench.people(3)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock, [Outcome.SENT, result(Outcome.BOUNCED, "550 5.1.1", "no such user")])
    bench.run(campaign, memory)
    rows = bench.rows(campaign)
    bounced = rows[people[1]]
    assert (bounced.state, bounced.reason) == ("failed", "bounced: 550 5.1.1 no such user")
    with transaction(bench.engine) as session:
        assert not is_mailable(session, bounced.subscriber_id)
        assert is_suppressed(session, people[1])
        entry = session.scalars(sa.select(Suppression)).one()
        assert entry.reason is SuppressionReason.BOUNCED
        status = session.scalar(sa.select(Subscriber.status).where(Subscriber.id == bounced.subscriber_id))
        assert status is SubscriberStatus.BOUNCED
        planned = plan(session, Audience(topics=(TOPIC,)), {}, bench.clock.now().date(), "2027-01-next")
    assert planned.recipients == 2 and planned.excluded == {"bounced": 1}

    # a later campaign (another issue) leaves the bounced address out
    later = bench.campaign(compiled=other_issue(bench.compiled))
    assert set(bench.rows(later)) == {people[0], people[2]}
    # and retry-failed never requeues a bounce
    with transaction(bench.engine) as session:
        assert campaigns.retry_failed(session, campaign, bench.clock) == 0


def test_a_rejection_fails_the_row_but_keeps_the_address(bench: Bench) -> None:
    people = bench.people(2)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock, [result(Outcome.REJECTED, "552 5.3.4", "message too big")])
    bench.run(campaign, memory)
    row = bench.rows(campaign)[people[0]]
    assert (row.state, row.reason) == ("failed", "rejected: 552 5.3.4 message too big")
    with transaction(bench.engine) as session:
        assert is_mailable(session, row.subscriber_id)
        assert not is_suppressed(session, people[0])
        assert campaigns.retry_failed(session, campaign, bench.clock) == 0
    # a failed row is not "already has it": a second campaign of the same issue may try again
    again = bench.campaign()
    assert set(bench.rows(again)) == {people[0]}


# -- blocked, consecutive errors, attempted=False --------------------------------------------------------


def test_blocked_pauses_the_campaign_and_costs_no_attempt(bench: Bench) -> None:
    people = bench.people(4)
    campaign = bench.campaign()
    block = result(Outcome.BLOCKED, "554 5.7.1", "Client host blocked using zen.spamhaus.org")
    memory = TimedMemory(bench.clock, [Outcome.SENT, block, not_attempted(), not_attempted()])
    progress = bench.run(campaign, memory)

    status, reason = bench.status(campaign)
    assert status == "paused"
    assert "554 5.7.1" in reason and "spamhaus" in reason
    assert "fix the sender's authentication or account" in reason
    assert f"outreach campaigns resume {campaign}" in reason
    assert progress.message == reason
    assert ("paused", reason) in events(bench, campaign)
    rows = bench.rows(campaign)
    assert rows[people[0]].state == "sent"
    for email in people[1:]:
        assert (rows[email].state, rows[email].attempts) == ("pending", 0), rows[email]
    assert rows[people[1]].reason == "554 5.7.1 Client host blocked using zen.spamhaus.org"

    # the operator fixes the account and resumes: the rest go out, each on its first attempt
    with transaction(bench.engine) as session:
        campaigns.resume(session, campaign, bench.clock)
    bench.run(campaign, memory)
    rows = bench.rows(campaign)
    assert {row.state for row in rows.values()} == {"sent"}
    assert [rows[email].attempts for email in people] == [1, 1, 1, 1]
    assert bench.status(campaign) == ("done", "")


def test_consecutive_errors_pause_the_campaign(bench: Bench) -> None:
    people = bench.people(8)
    campaign = bench.campaign()
    script = [
        Outcome.SENT,
        result(Outcome.REJECTED, "554", "no"),
        result(Outcome.RETRY, "451", "later"),
        result(Outcome.REJECTED, "554", "still no"),
    ]
    memory = TimedMemory(bench.clock, script)
    bench.run(campaign, memory, batch_size=1, max_consecutive_errors=3)
    status, reason = bench.status(campaign)
    assert status == "paused"
    assert reason.startswith("3 errors in a row (last: 554 still no)")
    assert f"outreach campaigns resume {campaign}" in reason
    states = bench.states(campaign)
    assert [states[p] for p in people[:4]] == ["sent", "failed", "pending", "failed"]
    assert {states[p] for p in people[4:]} == {"pending"}
    assert len(memory.attempts) == 4  # nothing more was burned against a failing transport


def test_a_success_resets_the_error_count(bench: Bench) -> None:
    bench.people(7)
    campaign = bench.campaign()
    no = result(Outcome.REJECTED, "554", "no")
    memory = TimedMemory(bench.clock, [no, no, Outcome.SENT, no, no, Outcome.SENT, no])
    bench.run(campaign, memory, batch_size=1, max_consecutive_errors=3)
    assert bench.status(campaign)[0] == "done"
    assert bench.counts(campaign)["failed"] == 5


def test_unattempted_results_cost_no_attempt_and_are_not_errors(bench: Bench) -> None:
    people = bench.people(4)
    campaign = bench.campaign()
    no = result(Outcome.REJECTED, "554", "no")
    memory = TimedMemory(
        bench.clock, [no, not_attempted(retry_after=60.0), not_attempted(retry_after=30.0), no]
    )
    bench.run(campaign, memory, wait=False, max_consecutive_errors=3)
    assert bench.status(campaign)[0] == "sending"  # 2 errors, not 4
    rows = bench.rows(campaign)
    for email in people[1:3]:
        assert rows[email].state == "pending" and rows[email].attempts == 0
        assert rows[email].reason.startswith("421 not attempted")
    assert rows[people[1]].next_attempt_at == bench.clock.now() + timedelta(seconds=60)

    # many rounds of "not attempted" never exhaust a row's attempts
    memory = TimedMemory(bench.clock, [not_attempted(retry_after=5.0)] * 12)
    bench.run(campaign, memory, max_attempts=2, max_consecutive_errors=3)
    rows = bench.rows(campaign)
    assert rows[people[1]].state == rows[people[2]].state == "sent"
    assert rows[people[1]].attempts == rows[people[2]].attempts == 1
    assert bench.status(campaign)[0] == "done"


# -- uncertain, recover, resend-unknown --------------------------------------------------------------------


def test_uncertain_results_become_unknown_and_are_resent_only_on_request(bench: Bench) -> None:
    people = bench.people(2)
    campaign = bench.campaign()
    lost = result(Outcome.RETRY, "disconnected", "connection lost after DATA", uncertain=True)
    memory = TimedMemory(bench.clock, [lost])
    bench.run(campaign, memory)
    rows = bench.rows(campaign)
    assert rows[people[0]].state == "unknown"
    assert rows[people[0]].reason == "uncertain: disconnected connection lost after DATA"
    first_id = rows[people[0]].message_id
    assert bench.status(campaign)[0] == "done"

    bench.run(campaign, memory)  # running again sends nothing
    assert len(memory.attempts) == 2
    with transaction(bench.engine) as session:
        assert campaigns.resend_unknown(session, campaign, bench.clock) == 1
    assert bench.status(campaign)[0] == "sending"
    bench.run(campaign, memory)
    rows = bench.rows(campaign)
    # the same keyed Message-ID: a receiving system that did get the first one sees a duplicate of it
    assert rows[people[0]].state == "sent" and rows[people[0]].message_id == first_id
    assert [m.recipient for m in memory.attempts] == [people[0], people[1], people[0]]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _mark_sending(bench: Bench, row_id: int, claimer: str, age: timedelta) -> None:
    with transaction(bench.engine) as session:
        session.execute(
            sa.update(Delivery)
            .where(Delivery.id == row_id)
            .values(
                state=DeliveryState.SENDING,
                claimed_by=claimer,
                attempts=1,
                message_id=f"<stale.{row_id}@vaimh.example>",
                updated_at=bench.clock.now() - age,
            )
        )


def test_recover_turns_rows_of_dead_claimers_into_unknown_never_pending(bench: Bench) -> None:
    people = bench.people(5)
    campaign = bench.campaign()
    rows = bench.rows(campaign)
    host = socket.gethostname()
    # claimers that kept no journal here: a dead process, another host, a live process
    _mark_sending(bench, rows[people[0]].id, f"{host}:{_dead_pid()}:a1", timedelta(seconds=5))
    _mark_sending(bench, rows[people[1]].id, "far-away-host:4242:b2", LEASE + timedelta(minutes=1))
    _mark_sending(bench, rows[people[2]].id, "far-away-host:4243:c3", timedelta(minutes=1))  # lease holds
    _mark_sending(bench, rows[people[3]].id, f"{host}:{os.getpid()}:d4", timedelta(days=1))  # alive here

    with transaction(bench.engine) as session:
        assert recover(session, campaign, bench.clock, LEASE, bench.journals).unknown == 2
    after = bench.rows(campaign)
    assert [after[p].state for p in people] == ["unknown", "unknown", "sending", "sending", "pending"]
    assert "resend-unknown" in after[people[0]].reason
    with transaction(bench.engine) as session:
        assert recover(session, campaign, bench.clock, LEASE, bench.journals).settled == 0  # idempotent

    # a runner starting later recovers the same way and never resends them
    _mark_sending(bench, rows[people[2]].id, "far-away-host:4243:c3", LEASE * 2)
    memory = TimedMemory(bench.clock)
    bench.run(campaign, memory, wait=False)
    assert [m.recipient for m in memory.outbox] == [people[4]]
    final = bench.states(campaign)
    assert [final[p] for p in people] == ["unknown", "unknown", "unknown", "sending", "sent"]


# -- the audience changes during a campaign --------------------------------------------------------------


def test_an_unsubscribe_during_the_campaign_skips_the_row_at_claim_time(bench: Bench) -> None:
    people = bench.people(4)
    campaign = bench.campaign()
    leaving = bench.rows(campaign)[people[2]].subscriber_id

    def unsubscribe_on_first_send(messages: Sequence[OutgoingMessage]) -> None:
        if messages[0].recipient == people[0]:
            with transaction(bench.engine) as session:
                unsubscribe(
                    session,
                    leaving,
                    consent=Consent(ConsentMethod.ONE_CLICK, source="web"),
                    clock=bench.clock,
                )

    memory = TimedMemory(bench.clock, before=unsubscribe_on_first_send)
    bench.run(campaign, memory, batch_size=1)
    rows = bench.rows(campaign)
    assert rows[people[2]].state == "skipped"
    assert rows[people[2]].reason in ("suppressed", "subscriber is unsubscribed")
    assert rows[people[2]].attempts == 0
    assert [m.recipient for m in memory.attempts] == [people[0], people[1], people[3]]
    assert bench.counts(campaign)["sent"] == 3


def test_cancel_skips_the_pending_rows(bench: Bench) -> None:
    people = bench.people(6)
    campaign = bench.campaign()

    skipped: list[int] = []

    def cancel_during_first_batch(messages: Sequence[OutgoingMessage]) -> None:
        if messages[0].recipient == people[0]:
            with transaction(bench.engine) as session:
                skipped.append(campaigns.cancel(session, campaign, bench.clock))

    memory = TimedMemory(bench.clock, before=cancel_during_first_batch)
    bench.run(campaign, memory, batch_size=2)
    states = bench.states(campaign)
    # the rows already in hand (at most batch_size) finish; every other one is skipped
    in_hand = 6 - skipped[0]
    assert skipped[0] in (4, 5)
    assert [states[p] for p in people] == ["sent"] * in_hand + ["skipped"] * skipped[0]
    assert {bench.rows(campaign)[p].reason for p in people[in_hand:]} == {"campaign cancelled"}
    assert bench.status(campaign)[0] == "cancelled"
    bench.run(campaign, memory)  # a cancelled campaign sends nothing more
    assert len(memory.attempts) == in_hand
    with transaction(bench.engine) as session, pytest.raises(DeliveryError, match="cannot be resumed"):
        campaigns.resume(session, campaign, bench.clock)


def test_a_finished_campaign_cannot_be_cancelled(bench: Bench) -> None:
    bench.people(1)
    campaign = bench.campaign()
    bench.run(campaign, TimedMemory(bench.clock))
    with transaction(bench.engine) as session, pytest.raises(DeliveryError, match="has finished"):
        campaigns.cancel(session, campaign, bench.clock)


def test_retry_failed_requeues_only_transient_failures(bench: Bench) -> None:
    people = bench.people(4)
    campaign = bench.campaign()
    script = [
        result(Outcome.RETRY, "451", "busy"),
        result(Outcome.BOUNCED, "550 5.1.1", "unknown user"),
        result(Outcome.REJECTED, "554 5.6.0", "content refused"),
        Outcome.SENT,
    ]
    memory = TimedMemory(bench.clock, script)
    bench.run(campaign, memory, max_attempts=1)
    rows = bench.rows(campaign)
    assert [rows[p].state for p in people] == ["failed", "failed", "failed", "sent"]
    assert rows[people[0]].reason == "retry exhausted after 1 attempts: 451 busy"
    assert bench.status(campaign)[0] == "done"

    with transaction(bench.engine) as session:
        assert campaigns.retry_failed(session, campaign, bench.clock) == 1
    assert bench.status(campaign)[0] == "sending"
    assert bench.rows(campaign)[people[0]].state == "pending"
    bench.run(campaign, memory, max_attempts=1)
    rows = bench.rows(campaign)
    assert [rows[p].state for p in people] == ["sent", "failed", "failed", "sent"]
    assert [m.recipient for m in memory.attempts].count(people[1]) == 1  # the bounce was never retried
    assert bench.status(campaign)[0] == "done"


# -- planning and creating -------------------------------------------------------------------------------


def test_plan_counts_recipients_and_exclusions_by_reason(bench: Bench) -> None:
    early = bench.people(2, prefix="early")
    first = bench.campaign()
    bench.run(first, TimedMemory(bench.clock))
    active = bench.people(4, prefix="active")
    leaving, bouncing, listed = bench.people(3, prefix="gone")
    bench.add("other-topic@example.org", topics=("trainings-events",))
    consent = Consent(ConsentMethod.ADMIN, source="test")
    with transaction(bench.engine) as session:
        leaver = session.scalar(sa.select(Subscriber.id).where(Subscriber.email == leaving))
        assert leaver is not None
        unsubscribe(session, leaver, consent=consent, clock=bench.clock)
        suppress(session, bouncing, SuppressionReason.BOUNCED, consent=consent, clock=bench.clock)
        # an address put on the list by hash only (e.g. an old suppression list): still active, suppressed
        hashed = session.scalar(sa.select(Subscriber.email_hash).where(Subscriber.email == listed))
        session.add(
            Suppression(
                email_hash=hashed, email=None, reason=SuppressionReason.MANUAL, created_at=bench.clock.now()
            )
        )

    audience = Audience(topics=(TOPIC,))
    slug = bench.compiled.issue.slug
    today = bench.clock.now().date()
    with transaction(bench.engine) as session:
        planned = plan(session, audience, {}, today, slug)
        limited = plan(session, audience, {}, today, slug, limit=3)
        other = plan(session, audience, {}, today, "2027-01-another-issue")
    assert planned.recipients == 4
    assert planned.excluded == {
        "already sent this issue": 2,
        "unsubscribed": 1,
        "bounced": 1,
        "suppressed": 1,
    }
    assert limited.recipients == 3 and limited.excluded == planned.excluded
    assert other.recipients == 6 and "already sent this issue" not in other.excluded

    second = bench.campaign()
    assert sorted(bench.rows(second)) == sorted(active)
    assert not set(early) & set(bench.rows(second))


def test_one_row_per_subscriber_even_in_several_topics(bench: Bench) -> None:
    bench.add("both@example.org", topics=(TOPIC, "trainings-events"))
    bench.add("one@example.org", topics=("trainings-events",))
    campaign = bench.campaign(topics=(TOPIC, "trainings-events"))
    rows = bench.rows(campaign)
    assert sorted(rows) == ["both@example.org", "one@example.org"]
    with pytest.raises(IntegrityError), transaction(bench.engine) as session:
        session.add(
            Delivery(
                campaign_id=campaign,
                subscriber_id=rows["both@example.org"].subscriber_id,
                state=DeliveryState.PENDING,
                reason="",
                provider_id="",
                attempts=0,
                claimed_by="",
            )
        )
    assert len(bench.rows(campaign)) == 2


def test_a_second_campaign_of_the_same_issue_excludes_who_has_it(bench: Bench) -> None:
    people = bench.people(5)
    first = bench.campaign()
    script = [
        Outcome.SENT,
        result(Outcome.RETRY, "lost", "after DATA", uncertain=True),  # unknown: may have it
        result(Outcome.REJECTED, "554", "no"),  # failed: does not have it
        result(Outcome.RETRY, "451", "busy"),  # pending (waiting for a retry): will get it
    ]
    bench.run(first, TimedMemory(bench.clock, script), wait=False)
    assert [bench.states(first)[p] for p in people] == ["sent", "unknown", "failed", "pending", "sent"]
    newcomer = bench.people(1, prefix="new")
    # the first campaign still waits for its retry: a second one of the issue is refused, queueing nobody
    with pytest.raises(DeliveryError, match=f"campaign {first} of {bench.compiled.issue.slug} is already"):
        bench.campaign()
    with transaction(bench.engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
    bench.run(first, TimedMemory(bench.clock))  # the retry goes out; the campaign is done
    assert bench.status(first)[0] == "done"
    second = bench.campaign()
    assert sorted(bench.rows(second)) == sorted([people[2], *newcomer])
    # another issue goes to everyone mailable
    third = bench.campaign(compiled=other_issue(bench.compiled))
    assert len(bench.rows(third)) == 6


def test_limit_sends_to_at_most_n_and_the_rest_can_follow(bench: Bench) -> None:
    people = bench.people(5)
    with transaction(bench.engine) as session:
        planned = plan(session, Audience(topics=(TOPIC,)), {}, bench.clock.now().date(), "x", limit=3)
    assert planned.recipients == 3
    first = bench.campaign(limit=3)
    assert list(bench.rows(first)) == people[:3]
    memory = TimedMemory(bench.clock)
    bench.run(first, memory)
    assert [m.recipient for m in memory.outbox] == people[:3]
    second = bench.campaign(limit=3)
    assert list(bench.rows(second)) == people[3:]
    with transaction(bench.engine) as session:
        detail = session.scalar(
            sa.select(CampaignEvent.detail).where(
                CampaignEvent.campaign_id == second, CampaignEvent.kind == "created"
            )
        )
        assert detail == "2 recipients via memory"
        assert session.get(Campaign, second) is not None


# -- several workers (PostgreSQL) -----------------------------------------------------------------------


def test_two_claims_in_flight_never_share_a_row(bench: Bench, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED claims are a PostgreSQL feature; SQLite runs one worker per database")
    bench.people(10)
    campaign = bench.campaign()
    with transaction(bench.engine) as first:
        mine = ledger.claim(first, campaign, 4, bench.clock, "host-a:1:x", "vaimh.example", SECRET)
        with transaction(bench.engine) as second:
            theirs = ledger.claim(second, campaign, 100, bench.clock, "host-b:2:y", "vaimh.example", SECRET)
    assert len(mine) == 4 and len(theirs) == 6
    assert not {c.delivery_id for c in mine} & {c.delivery_id for c in theirs}


def test_runners_in_parallel_send_everyone_exactly_once(bench: Bench, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several workers share a campaign on PostgreSQL only")
    people = bench.people(60)
    campaign = bench.campaign()
    memory = TimedMemory(bench.clock)
    runners = [bench.runner(campaign, memory, batch_size=4, concurrency=2) for _ in range(3)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            runners[index].run(wait_for_retries=False)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sorted(m.recipient for m in memory.attempts) == sorted(people)
    assert bench.counts(campaign)["sent"] == 60


# -- Message-IDs, editions ----------------------------------------------------------------------------------


def test_each_claimed_row_gets_its_own_keyed_message_id(bench: Bench) -> None:
    bench.people(3)
    campaign = bench.campaign()
    with transaction(bench.engine) as session:
        claimed = ledger.claim(session, campaign, 10, bench.clock, "host:1:x", "vaimh.example", SECRET)
    stored = {row.id: row.message_id for row in bench.rows(campaign).values()}
    for row in claimed:
        assert row.message_id == message_id(SECRET, campaign, row.delivery_id, "vaimh.example")
        assert stored[row.delivery_id] == row.message_id
        assert read_message_id(SECRET, row.message_id) == (campaign, row.delivery_id)
    # a reader who knows their own Message-ID cannot write a neighbour's: the MAC is per row
    mine, theirs = claimed[0], claimed[1]
    guessed = mine.message_id.replace(f".{mine.delivery_id}.", f".{theirs.delivery_id}.")
    assert read_message_id(SECRET, guessed) is None
    assert len({row.message_id.split(".")[2] for row in claimed}) == 3


def test_campaigns_and_rows_record_their_language_edition(bench: Bench) -> None:
    bench.people(2)
    spanish = replace(bench.compiled, issue=replace(bench.compiled.issue, language="es"))
    es = bench.campaign(compiled=spanish, limit=1)
    with transaction(bench.engine) as session:
        languages = dict(session.execute(sa.select(Campaign.id, Campaign.language)).all())
        rows = session.execute(sa.select(Delivery.campaign_id, Delivery.language)).all()
    assert languages == {es: "es"}
    assert sorted(rows) == [(es, "es")]  # one edition: everyone gets it, whatever their language
    # one active campaign per issue, whatever the language of its default edition
    with pytest.raises(DeliveryError, match=f"campaign {es} of .* is already sending"):
        bench.campaign()
    with pytest.raises(DeliveryError, match=f"campaign {es} of .* is already sending"):
        bench.campaign(compiled=spanish)


def test_a_campaign_that_would_reach_nobody_is_not_created(bench: Bench) -> None:
    bench.people(2)
    bench.run(bench.campaign(), TimedMemory(bench.clock))
    with pytest.raises(DeliveryError, match=r"nobody to send .* already has it"):
        bench.campaign()  # e.g. the loser of a race that started after the winner had finished
    with transaction(bench.engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1

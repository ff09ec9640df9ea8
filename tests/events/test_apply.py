"""Applying events: suppression, the ledger, campaign figures, matching, replays (both databases).

Most events here come "from a provider" (``Trust.PROVIDER``: a signed webhook's own references are
believed); tests/events/test_forged_reports.py covers what a mailed report must prove.
"""

from __future__ import annotations

import pytest

from outreach.audience import SubscriberStatus, transaction
from outreach.delivery.schema import DeliveryState
from outreach.events import Event, EventKind, Outcome, Trust, apply_events, campaign_figures, sendgrid
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import NOW, payload_text


def _event(kind: EventKind, sent: Sent | None, event_id: str, **fields: str) -> Event:
    values: dict[str, str] = {"outreach_key": str(sent.delivery_id), "recipient": sent.email} if sent else {}
    values.update(fields)
    return Event(kind=kind, provider="test", provider_event_id=event_id, occurred_at=NOW, **values)


def _apply(ledger: Ledger, *events: Event, trust: Trust = Trust.PROVIDER) -> list[Outcome]:
    with transaction(ledger.engine) as session:
        return [a.outcome for a in apply_events(session, events, ledger.clock, keys=KEYS, trust=trust)]


def _figures(ledger: Ledger, campaign_id: int) -> dict[str, int]:
    with transaction(ledger.engine) as session:
        return campaign_figures(session, campaign_id)


def test_hard_bounce_suppresses_at_once_and_fails_the_row(ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "ana@example.org")
    with transaction(ledger.engine) as session:
        events = sendgrid.parse(payload_text("sendgrid_bounce.json", **sent.values).encode())
        applied = apply_events(session, events, ledger.clock, keys=KEYS, trust=Trust.PROVIDER)
    assert [(a.outcome, a.suppressed, a.delivery_id) for a in applied] == [
        (Outcome.APPLIED, True, sent.delivery_id)
    ]
    assert ledger.status(sent.email) is SubscriberStatus.BOUNCED
    assert ledger.suppressed(sent.email)
    state, reason = ledger.delivery(sent.delivery_id)
    assert state is DeliveryState.FAILED and "5.1.1" in reason
    assert _figures(ledger, sent.campaign_id)["bounced_hard"] == 1


def test_complaint_suppresses_at_once(ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "ben@example.org")
    _apply(ledger, _event(EventKind.COMPLAINED, sent, "c1"))
    assert ledger.status(sent.email) is SubscriberStatus.COMPLAINED
    assert ledger.suppressed(sent.email)
    assert ledger.delivery(sent.delivery_id)[0] is DeliveryState.SENT


def test_soft_bounces_are_recorded_and_never_suppress(ledger: Ledger) -> None:
    """Three soft bounces on three messages used to suppress a member; now nothing does but a hard
    bounce, a complaint or the person's own wish."""
    rows = [ledger.send(ledger.campaign(), "cam@example.org") for _ in range(5)]
    outcomes = _apply(ledger, *(_event(EventKind.BOUNCED_SOFT, row, f"s{n}") for n, row in enumerate(rows)))
    assert outcomes == [Outcome.APPLIED] * 5
    assert ledger.status("cam@example.org") is SubscriberStatus.ACTIVE
    assert not ledger.suppressed("cam@example.org")
    assert ledger.delivery(rows[2].delivery_id)[0] is DeliveryState.SENT  # a soft bounce fails no row
    assert _figures(ledger, rows[0].campaign_id)["bounced_soft"] == 1  # recorded and shown


def test_delivered_changes_nothing_but_the_event_row(ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "fay@example.org")
    consents = ledger.consent_count()
    assert _apply(ledger, _event(EventKind.DELIVERED, sent, "d1")) == [Outcome.APPLIED]
    assert ledger.status(sent.email) is SubscriberStatus.ACTIVE
    assert not ledger.suppressed(sent.email)
    assert ledger.delivery(sent.delivery_id) == (DeliveryState.SENT, "")
    assert ledger.consent_count() == consents
    assert ledger.event_count() == 1
    assert _figures(ledger, sent.campaign_id)["delivered"] == 1


def test_an_event_proves_an_unknown_row_was_sent(ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "gus@example.org", state=DeliveryState.UNKNOWN)
    _apply(ledger, _event(EventKind.DELIVERED, sent, "d1"))
    state, reason = ledger.delivery(sent.delivery_id)
    assert state is DeliveryState.SENT and "confirmed" in reason


def test_unsubscribed_is_honoured(ledger: Ledger) -> None:
    sent = ledger.send(ledger.campaign(), "hal@example.org")
    _apply(ledger, _event(EventKind.UNSUBSCRIBED, sent, "u1"))
    assert ledger.status(sent.email) is SubscriberStatus.UNSUBSCRIBED
    assert ledger.suppressed(sent.email)


def test_replaying_the_same_events_changes_nothing(ledger: Ledger) -> None:
    campaign = ledger.campaign()
    hard, soft = ledger.send(campaign, "ivy@example.org"), ledger.send(campaign, "jon@example.org")
    events = [
        _event(EventKind.BOUNCED_HARD, hard, "h1"),
        _event(EventKind.BOUNCED_SOFT, soft, "s1"),
        _event(EventKind.CLICKED, soft, "k1"),
    ]
    assert _apply(ledger, *events) == [Outcome.APPLIED] * 3
    before = (
        ledger.event_count(),
        ledger.consent_count(),
        _figures(ledger, campaign),
        ledger.delivery(hard.delivery_id),
    )
    for _ in range(2):
        assert _apply(ledger, *events) == [Outcome.DUPLICATE] * 3
    after = (
        ledger.event_count(),
        ledger.consent_count(),
        _figures(ledger, campaign),
        ledger.delivery(hard.delivery_id),
    )
    assert after == before


@pytest.mark.parametrize("by", ["outreach_key", "message_id", "provider_message_id", "recipient"])
def test_provider_events_find_their_row_by_key_message_id_or_provider_id_never_by_address(
    ledger: Ledger, by: str
) -> None:
    campaign = ledger.campaign()
    sent = ledger.send(campaign, "kit@example.org")
    reference = {
        "outreach_key": str(sent.delivery_id),
        "message_id": sent.message_id,
        "provider_message_id": sent.provider_id,
        "recipient": sent.email,
    }[by]
    event = Event(EventKind.BOUNCED_HARD, "test", "k1", NOW, **{by: reference})
    with transaction(ledger.engine) as session:
        (applied,) = apply_events(session, [event], ledger.clock, keys=KEYS, trust=Trust.PROVIDER)
    if by == "recipient":  # an address names nobody's message: recorded, changes nobody
        assert applied.outcome is Outcome.UNMATCHED and applied.subscriber_id is None
        assert ledger.status(sent.email) is SubscriberStatus.ACTIVE
        return
    assert applied.outcome is Outcome.APPLIED
    assert (applied.subscriber_id, applied.delivery_id) == (sent.subscriber_id, sent.delivery_id)
    assert _figures(ledger, campaign)["bounced_hard"] == 1


def test_a_keyed_message_id_wins_over_the_ledger_key(ledger: Ledger) -> None:
    """Our keyed Message-ID cannot name the wrong row; a ledger key in metadata could (a bug)."""
    campaign = ledger.campaign()
    first, second = ledger.send(campaign, "lou@example.org"), ledger.send(campaign, "max@example.org")
    event = Event(
        EventKind.BOUNCED_HARD,
        "test",
        "h1",
        NOW,
        outreach_key=str(second.delivery_id),
        message_id=first.message_id,
    )
    _apply(ledger, event)
    assert ledger.status(first.email) is SubscriberStatus.BOUNCED
    assert ledger.status(second.email) is SubscriberStatus.ACTIVE


def test_an_event_nobody_matches_is_recorded_and_changes_nothing(ledger: Ledger) -> None:
    stranger = Event(
        EventKind.BOUNCED_HARD,
        "test",
        "h1",
        NOW,
        recipient="nobody@example.net",
        outreach_key="999999",
        message_id="<nope@vaimh.example>",
    )
    garbage = Event(EventKind.COMPLAINED, "test", "c1", NOW, recipient="not an address", outreach_key="x")
    assert _apply(ledger, stranger, garbage) == [Outcome.UNMATCHED, Outcome.UNMATCHED]
    assert _apply(ledger, stranger) == [Outcome.DUPLICATE]
    assert ledger.event_count() == 2


def test_figures_count_each_kind_per_campaign(ledger: Ledger) -> None:
    one, two = ledger.campaign(), ledger.campaign()
    a, b = ledger.send(one, "ned@example.org"), ledger.send(two, "ned@example.org")
    _apply(
        ledger,
        _event(EventKind.DELIVERED, a, "d1"),
        _event(EventKind.CLICKED, a, "k1"),
        _event(EventKind.CLICKED, a, "k2"),
        _event(EventKind.DELIVERED, b, "d2"),
    )
    assert _figures(ledger, one) == {
        "delivered": 1,
        "bounced_hard": 0,
        "bounced_soft": 0,
        "complained": 0,
        "unsubscribed": 0,
        "clicked": 2,
    }
    assert _figures(ledger, two)["delivered"] == 1 and _figures(ledger, two)["clicked"] == 0


def test_erasure_scrubs_the_events_of_that_person(ledger: Ledger) -> None:
    from outreach.audience import Consent, ConsentMethod, erase, find_by_email
    from outreach.events.erasure import scrub_subscriber
    from outreach.events.schema import EventRecord

    sent = ledger.send(ledger.campaign(), "erin@example.org")
    other = ledger.send(ledger.campaign(), "olga@example.org")
    _apply(ledger, _event(EventKind.DELIVERED, sent, "d-erin"), _event(EventKind.DELIVERED, other, "d-olga"))
    with transaction(ledger.engine) as session:
        person = find_by_email(session, sent.email)
        assert person is not None
        erase(session, sent.email, consent=Consent(ConsentMethod.ADMIN, source="request"), clock=ledger.clock)
        assert scrub_subscriber(session, person.id) == 1
    with transaction(ledger.engine) as session:
        rows = {r.provider_event_id: r for r in session.query(EventRecord)}
    assert rows["d-erin"].raw == {} and rows["d-erin"].detail == "erased"
    assert rows["d-olga"].detail != "erased"  # nobody else's events are touched

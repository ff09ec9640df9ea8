"""What staff change about people, from the admin app or the command line, each change logged.

Profile edits and suppressions go to the audit log (by subscriber id, never the address, so an
erasure leaves the log free of the person); topic changes go to the consent log (through
``add_topic``/``remove_topic``) and the audit log. Erasure reaches the events too (their payloads
hold the address), which is why it lives here, above both stages. Bulk suppress and release take a
pasted list: every line is answered (done, nothing to do, or refused and why), all in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from outreach.audience.addresses import InvalidAddress, email_hash, normalise_email
from outreach.audience.audit import record
from outreach.audience.choices import ProfileChoices
from outreach.audience.consent import Consent
from outreach.audience.free_text import clean_text
from outreach.audience.gdpr import erase, export_person
from outreach.audience.schema import ConsentMethod, Suppression, SuppressionReason
from outreach.audience.subscribers import add_topic, find_by_email, get_subscriber, remove_topic
from outreach.audience.suppression import suppress, unsuppress
from outreach.clock import Clock
from outreach.errors import AudienceError
from outreach.events.erasure import scrub_subscriber
from outreach.models import Actor

# The profile fields staff may change here; the address is the person's identity and is not edited.
EDITABLE = ("first_name", "last_name", "organisation", "role", "region", "language")
MAX_LINES = 10_000


def staff_consent(actor: Actor, source: str) -> Consent:
    """The consent record of a change staff make: who, through what, why."""
    return Consent(ConsentMethod.ADMIN, source=source, actor=f"{actor.name} ({actor.via})", ip=None)


def _target(subscriber_id: int) -> str:
    return f"subscriber {subscriber_id}"


def edit_profile(
    session: Session,
    subscriber_id: int,
    changes: Mapping[str, str],
    choices: ProfileChoices,
    actor: Actor,
    clock: Clock,
) -> list[str]:
    """Change profile fields; returns the names of the fields that changed (audited, values not logged).

    A role or language must be one of the site's keys (or stay what it was: a value stored before
    the lists existed is kept until someone picks a key). Unknown field names are refused.
    """
    subscriber = get_subscriber(session, subscriber_id)
    if subscriber.email is None:
        raise AudienceError(f"subscriber {subscriber_id} was erased; there is nothing to edit")
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise AudienceError(f"these fields cannot be changed here: {', '.join(unknown)}")
    changed: list[str] = []
    for name in EDITABLE:
        if name not in changes:
            continue
        value = clean_text(changes[name])
        current = getattr(subscriber, name)
        if value == current:
            continue
        listed = {"role": choices.roles, "language": choices.languages}.get(name)
        if listed is not None and value:
            key = listed.resolve(value)
            if key is None:
                raise AudienceError(f"{name.replace('_', ' ')}: {listed.unknown(value)}")
            value = key
        if name == "language" and not value:
            raise AudienceError(f"language: choose one; valid: {choices.languages.described()}")
        if value != current:
            setattr(subscriber, name, value)
            changed.append(name)
    if changed:
        subscriber.updated_at = clock.now()
        record(session, actor, "subscriber.edit", _target(subscriber_id), clock, {"fields": changed})
        session.flush()
    return changed


def set_topics(
    session: Session, subscriber_id: int, wanted: Iterable[str], actor: Actor, clock: Clock
) -> tuple[list[str], list[str]]:
    """Make the subscriber's topics exactly ``wanted``; returns (added, removed). Each change is a
    consent event (method admin, naming the staff member) and the whole change one audit entry."""
    subscriber = get_subscriber(session, subscriber_id)
    have = {t.topic_key for t in subscriber.topics}
    target = set(wanted)
    consent = staff_consent(actor, "admin: topics changed by staff")
    added = sorted(target - have)
    removed = sorted(have - target)
    for topic in added:
        add_topic(session, subscriber_id, topic, consent=consent, clock=clock)
    for topic in removed:
        remove_topic(session, subscriber_id, topic, consent=consent, clock=clock)
    if added or removed:
        record(
            session,
            actor,
            "subscriber.topics",
            _target(subscriber_id),
            clock,
            {"added": added, "removed": removed},
        )
    return added, removed


def suppress_subscriber(session: Session, subscriber_id: int, note: str, actor: Actor, clock: Clock) -> bool:
    """Put one subscriber's address on the suppression list; False if it was already there."""
    subscriber = get_subscriber(session, subscriber_id)
    if subscriber.email is None:
        raise AudienceError(f"subscriber {subscriber_id} was erased; their hash is suppressed already")
    already = session.get(Suppression, subscriber.email_hash) is not None
    note = clean_text(note)
    suppress(
        session,
        subscriber.email,
        SuppressionReason.MANUAL,
        consent=staff_consent(actor, note or "admin: suppressed by staff"),
        clock=clock,
        note=note,
    )
    record(session, actor, "subscriber.suppress", _target(subscriber_id), clock, {"already": already})
    return not already


def export_for(session: Session, address: str, actor: Actor, clock: Clock) -> dict[str, Any]:
    """Everything held about a person (``gdpr.export_person``), the export itself audited."""
    data = export_person(session, address)
    subscriber = find_by_email(session, address)
    target = _target(subscriber.id) if subscriber else f"hash {email_hash(normalise_email(address))[:16]}"
    record(session, actor, "subscriber.export", target, clock)
    return data


def erase_person(session: Session, address: str, actor: Actor, clock: Clock) -> str:
    """Erase a person everywhere (profile, consent log personal data, event payloads); returns the hash
    kept on the suppression list. ``NothingHeld`` when nothing is held about the address."""
    person = find_by_email(session, address)
    hashed = erase(session, address, consent=staff_consent(actor, "erasure request"), clock=clock)
    if person is not None:
        scrub_subscriber(session, person.id)
    target = _target(person.id) if person is not None else f"hash {hashed[:16]}"
    record(session, actor, "subscriber.erase", target, clock)
    return hashed


# --- pasted lists ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineResult:
    """What became of one pasted line: ``done``, ``unchanged`` (nothing to do) or ``refused``."""

    line: int
    given: str
    outcome: str
    message: str


@dataclass(frozen=True)
class BulkReport:
    lines: list[LineResult]

    def count(self, outcome: str) -> int:
        return sum(1 for line in self.lines if line.outcome == outcome)


def _pasted(text: str) -> list[tuple[int, str]]:
    """Non-blank lines with their numbers; a line may be ``address`` or ``address, anything``."""
    found = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            found.append((number, line.split(",")[0].split(";")[0].strip()))
    if len(found) > MAX_LINES:
        raise AudienceError(f"{len(found)} lines is too many at once; paste at most {MAX_LINES:,}")
    return found


def bulk_suppress(session: Session, text: str, note: str, actor: Actor, clock: Clock) -> BulkReport:
    """Suppress every valid address pasted; each line answered, one audit entry with the counts."""
    results: list[LineResult] = []
    seen: dict[str, int] = {}
    note = clean_text(note)
    consent = staff_consent(actor, note or "admin: bulk suppression")
    for number, given in _pasted(text):
        try:
            normal = normalise_email(given)
        except InvalidAddress as err:
            results.append(LineResult(number, given, "refused", str(err)))
            continue
        if normal in seen:
            results.append(LineResult(number, given, "unchanged", f"the same address as line {seen[normal]}"))
            continue
        seen[normal] = number
        if session.get(Suppression, email_hash(normal)) is not None:
            results.append(LineResult(number, given, "unchanged", "already on the suppression list"))
            continue
        suppress(session, normal, SuppressionReason.MANUAL, consent=consent, clock=clock, note=note)
        results.append(LineResult(number, given, "done", "suppressed"))
    report = BulkReport(results)
    _audit_bulk(session, "suppression.add", report, actor, clock)
    return report


def bulk_release(session: Session, text: str, actor: Actor, clock: Clock) -> BulkReport:
    """Take every valid pasted address off the suppression list (erased ones stay; people stay
    unsubscribed: releasing is not re-subscribing)."""
    results: list[LineResult] = []
    seen: dict[str, int] = {}
    consent = staff_consent(actor, "admin: released from the suppression list")
    for number, given in _pasted(text):
        try:
            normal = normalise_email(given)
        except InvalidAddress as err:
            results.append(LineResult(number, given, "refused", str(err)))
            continue
        if normal in seen:
            results.append(LineResult(number, given, "unchanged", f"the same address as line {seen[normal]}"))
            continue
        seen[normal] = number
        entry = session.get(Suppression, email_hash(normal))
        if entry is None:
            results.append(LineResult(number, given, "unchanged", "not on the suppression list"))
            continue
        if entry.reason is SuppressionReason.ERASED:
            results.append(
                LineResult(number, given, "refused", "erased at the person's request; the entry stays")
            )
            continue
        unsuppress(session, normal, consent=consent, clock=clock)
        results.append(
            LineResult(number, given, "done", f"released (was {entry.reason.value}); still not subscribed")
        )
    report = BulkReport(results)
    _audit_bulk(session, "suppression.release", report, actor, clock)
    return report


def _audit_bulk(session: Session, action: str, report: BulkReport, actor: Actor, clock: Clock) -> None:
    if report.lines:
        counts = {o: report.count(o) for o in ("done", "unchanged", "refused")}
        record(session, actor, action, "suppression list", clock, counts)

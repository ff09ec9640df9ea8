"""Sign-up with double opt-in, confirmation, and re-subscription: the decisions, without HTTP.

Whatever the address, the visitor sees the same answer ("check your inbox"); what differs is only
which mail, if any, is sent:

- a new address becomes an ``unconfirmed`` subscriber with the chosen topics and a consent event
  (form, "sign-up form", the notice version, time, IP, user agent), and gets a confirmation mail;
- an ``unconfirmed`` one gets its choices updated and a new confirmation mail;
- an ``active`` one gets a short "you are already subscribed" mail with its preference link;
- an address that unsubscribed earlier gets a confirmation mail and nothing changes until the link is
  used: then (fresh, confirmed consent) it is taken off the suppression list and made active again;
- an address that bounced, complained, was erased or was suppressed by an admin gets nothing.

A confirmation link carries the id of the subscriber's newest consent event: once anything has
changed since (a later sign-up, a confirmation, an unsubscribe), the old link no longer works, so an
old mail can never undo a later unsubscribe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience import (
    Consent,
    ConsentAction,
    ConsentMethod,
    InvalidAddress,
    Profile,
    SubscriberStatus,
    SuppressionReason,
    add_subscriber,
    add_topic,
    email_hash,
    find_by_email,
    normalise_email,
    remove_topic,
    unsuppress,
)
from outreach.audience.choices import ProfileChoices, profile_choices
from outreach.audience.consent import record
from outreach.audience.free_text import clean_text
from outreach.audience.schema import ConsentEvent, Subscriber, Suppression, Topic
from outreach.clock import Clock
from outreach.config import Config
from outreach.i18n import N_

# The version of the sign-up form's notice (what people agree to); recorded with every consent.
# The default of [web] notice_version in outreach.toml; change it whenever the notice's wording changes.
NOTICE_VERSION = "2026-11"
SOURCE = "sign-up form"
NAME_LIMIT = 100
NAME_TOO_LONG = N_("Please keep the name under 100 characters.")  # says NAME_LIMIT in words


class Mail(StrEnum):
    """Which mail a sign-up sends (the visitor never learns which), or the notice of a preference
    change (``PREFERENCES``), queued by the preference centre."""

    CONFIRM = "confirm"
    ALREADY = "already"
    PREFERENCES = "preferences"
    NONE = "none"


@dataclass(frozen=True)
class SignUp:
    """A validated sign-up: the address normalised, topics known, fields trimmed."""

    email: str
    first_name: str = ""
    last_name: str = ""
    role: str = ""
    language: str = "en"
    topics: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    mail: Mail
    subscriber_id: int | None = None
    # For Mail.CONFIRM: what the confirmation link must carry.
    confirm: list[object] = field(default_factory=list)


def topic_choices(session: Session) -> list[Topic]:
    return list(session.scalars(sa.select(Topic).order_by(Topic.key)))


def choices_for(config: Config) -> ProfileChoices:
    """The site's roles and languages ([audience] in outreach.toml), as the forms offer them."""
    return profile_choices(config.settings.audience)


def form_options(choices: ProfileChoices) -> dict[str, list[tuple[str, str]]]:
    """What the role and language menus list: (key, label) pairs, in the configured order."""
    return {
        "roles": [(c.key, c.label) for c in choices.roles.choices],
        "languages": [(c.key, c.label) for c in choices.languages.choices],
    }


def validate(
    email: str,
    first_name: str,
    last_name: str,
    role: str,
    language: str,
    topics: list[str],
    known_topics: set[str],
    choices: ProfileChoices | None = None,
) -> tuple[SignUp | None, dict[str, str]]:
    """The sign-up, or the problems by field name (in words a visitor understands).

    Names are cleaned (control characters removed, see ``free_text``); the role and language must be
    in the site's lists (a key or a label), and are kept as their keys.
    """
    choices = choices or profile_choices()
    problems: dict[str, str] = {}
    normal = ""
    try:
        normal = normalise_email(email.strip())
    except InvalidAddress:
        problems["email"] = N_("Please check your email address; it should look like name@example.org.")
    names = {"first_name": first_name, "last_name": last_name}
    for key, value in names.items():
        names[key], problem = check_name(value)
        if problem:
            problems[key] = problem
    role_key, problem = check_role(role, choices)
    if problem:
        problems["role"] = problem
    language_key, problem = check_language(language, choices)
    if problem:
        problems["language"] = problem
    chosen = tuple(sorted(set(topics)))
    if not chosen:
        problems["topics"] = N_("Please choose at least one kind of mail.")
    elif set(chosen) - known_topics:
        problems["topics"] = N_("Please choose from the kinds of mail listed.")
    if problems:
        return None, problems
    return SignUp(normal, names["first_name"], names["last_name"], role_key, language_key, chosen), {}


def check_name(value: str) -> tuple[str, str | None]:
    """A name, cleaned (see ``free_text``), and the problem with it if any."""
    cleaned = clean_text(value)
    if len(cleaned) > NAME_LIMIT:
        return cleaned, NAME_TOO_LONG
    return cleaned, None


def check_role(value: str, choices: ProfileChoices) -> tuple[str, str | None]:
    """The role's key ("" for "prefer not to say"), and the problem if it is not one listed."""
    if not clean_text(value):
        return "", None
    key = choices.roles.resolve(value)
    return (key, None) if key else ("", N_("Please choose one of the roles listed."))


def check_language(value: str, choices: ProfileChoices) -> tuple[str, str | None]:
    """The language's key (the first listed when none is given), and the problem if it is not listed."""
    if not clean_text(value):
        return choices.default_language, None
    key = choices.languages.resolve(value)
    return (key, None) if key else ("", N_("Please choose one of the languages listed."))


def latest_event(session: Session, subscriber_id: int) -> int:
    found = session.scalar(
        sa.select(sa.func.max(ConsentEvent.id)).where(ConsentEvent.subscriber_id == subscriber_id)
    )
    return int(found or 0)


def sign_up(session: Session, signup: SignUp, consent: Consent, clock: Clock) -> Outcome:
    """Record the sign-up (inside the caller's transaction) and say which mail to send."""
    subscriber = find_by_email(session, signup.email)
    suppression = session.get(Suppression, subscriber.email_hash) if subscriber else None
    if subscriber is None:
        if session.get(Suppression, email_hash(signup.email)) is not None:
            return Outcome(Mail.NONE)  # erased or suppressed by hand: never mailed again
        profile = Profile(
            first_name=signup.first_name,
            last_name=signup.last_name,
            role=signup.role,
            language=signup.language,
        )
        subscriber = add_subscriber(
            session,
            signup.email,
            consent=consent,
            clock=clock,
            profile=profile,
            topics=signup.topics,
            status=SubscriberStatus.UNCONFIRMED,
        )
        return _confirm(session, subscriber.id)
    if subscriber.status in (SubscriberStatus.UNCONFIRMED, SubscriberStatus.CONTACT):
        # A contact written to once (a one-off letter) signs up like anyone new: confirm first.
        subscriber.status = SubscriberStatus.UNCONFIRMED
        _update_profile(subscriber, signup, clock)
        set_topics(session, subscriber.id, signup.topics, consent, clock)
        return _confirm(session, subscriber.id)
    if subscriber.status is SubscriberStatus.ACTIVE:
        return Outcome(Mail.ALREADY, subscriber.id)
    may_return = suppression is None or suppression.reason is SuppressionReason.UNSUBSCRIBED
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED and may_return:
        return _confirm(session, subscriber.id, list(signup.topics))
    return Outcome(Mail.NONE)


def _confirm(session: Session, subscriber_id: int, topics: list[str] | None = None) -> Outcome:
    return Outcome(Mail.CONFIRM, subscriber_id, [subscriber_id, latest_event(session, subscriber_id), topics])


def _update_profile(subscriber: Subscriber, signup: SignUp, clock: Clock) -> None:
    subscriber.first_name = signup.first_name
    subscriber.last_name = signup.last_name
    subscriber.role = signup.role
    subscriber.language = signup.language
    subscriber.updated_at = clock.now()


def set_topics(
    session: Session, subscriber_id: int, wanted: tuple[str, ...], consent: Consent, clock: Clock
) -> None:
    """Add and remove topics so the subscriber has exactly ``wanted``; each change is logged."""
    subscriber = session.get(Subscriber, subscriber_id)
    assert subscriber is not None
    current = {t.topic_key for t in subscriber.topics}
    for topic in sorted(current - set(wanted)):
        remove_topic(session, subscriber_id, topic, consent=consent, clock=clock)
    for topic in sorted(set(wanted) - current):
        add_topic(session, subscriber_id, topic, consent=consent, clock=clock)


class Confirmed(StrEnum):
    CONFIRMED = "confirmed"
    ALREADY = "already"
    STALE = "stale"
    GONE = "gone"


def confirm(session: Session, payload: object, consent: Consent, clock: Clock) -> tuple[Confirmed, int]:
    """Use a confirmation link's payload: make the subscriber active (again) with fresh consent."""
    if not (isinstance(payload, list) and len(payload) == 3 and isinstance(payload[0], int)):
        return Confirmed.GONE, 0
    subscriber_id, event, topics = payload
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.status is SubscriberStatus.ERASED:
        return Confirmed.GONE, 0
    if subscriber.status is SubscriberStatus.ACTIVE:
        return Confirmed.ALREADY, subscriber_id
    if latest_event(session, subscriber_id) != event:
        return Confirmed.STALE, subscriber_id
    if subscriber.status is SubscriberStatus.UNSUBSCRIBED and isinstance(topics, list):
        entry = session.get(Suppression, subscriber.email_hash)
        if entry is not None:
            if entry.reason is not SuppressionReason.UNSUBSCRIBED:
                return Confirmed.GONE, 0
            unsuppress(session, subscriber.email or "", consent=consent, clock=clock)
        subscriber.status = SubscriberStatus.ACTIVE
        set_topics(session, subscriber_id, tuple(str(t) for t in topics), consent, clock)
    elif subscriber.status is not SubscriberStatus.UNCONFIRMED:
        return Confirmed.GONE, 0
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.updated_at = clock.now()
    record(
        session,
        subscriber_id=subscriber_id,
        email_hash=subscriber.email_hash,
        action=ConsentAction.CONFIRMED,
        consent=consent,
        clock=clock,
        topics=" ".join(sorted(t.topic_key for t in subscriber.topics)) or None,
    )
    session.flush()
    return Confirmed.CONFIRMED, subscriber_id


def form_consent(
    ip: str | None, user_agent: str | None, source: str = SOURCE, notice_version: str = NOTICE_VERSION
) -> Consent:
    return Consent(
        ConsentMethod.FORM,
        source=source,
        notice_version=notice_version,
        ip=ip,
        user_agent=(user_agent or "")[:500] or None,
    )

"""One-off letters to the people in a CSV (``outreach send LETTER --recipients FILE``), on SQLite and
PostgreSQL: each row reached once (and nobody twice when sent again), suppressed and unsubscribed
addresses left out and listed, invalid rows refusing the send until fixed or skipped, contacts kept out
of every list unless --add-to-list, the file's columns as ``recipient.COLUMN``, Reply-To, a working
unsubscribe, and ``template: plain`` as one text/plain part."""

from __future__ import annotations

import email
import email.policy
import os
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import (
    Consent,
    ConsentMethod,
    Profile,
    add_subscriber,
    erase,
    export_person,
    find_by_email,
    is_suppressed,
    suppress,
    transaction,
    unsubscribe,
)
from outreach.audience.schema import (
    ConsentAction,
    ConsentEvent,
    Subscriber,
    SubscriberStatus,
    SubscriberTopic,
    SuppressionReason,
)
from outreach.audience.segments import ALL
from outreach.audience.topics import load_topics, sync_topics
from outreach.checks.writing import check_variables
from outreach.clock import FixedClock
from outreach.config import Config, load_config
from outreach.content import read_issue
from outreach.delivery.campaigns import plan
from outreach.delivery.schema import Campaign, Delivery
from outreach.delivery.wiring import runner_for
from outreach.errors import DeliveryError
from outreach.models import Actor, Audience, Recipient
from outreach.operations import Purpose
from outreach.operations.one_off import LetterPlan, plan_letter, start_letter
from outreach.operations.sending import compose_one
from outreach.render import render_issue
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from outreach.web.signup import Mail, SignUp, sign_up
from tests.delivery.conftest import LISTS, SECRET, START, TOPIC, copy_project

ACTOR = Actor("maria@laptop", "cli")
CONSENT = "Partner agencies VAIMH works with; winter gathering invitation"
LETTER = "2026-12-partner-letter"
LETTER_FRONT = (
    "subject: \"For {{ recipient.organisation | default('your team') }}: the winter gathering\"\n"
    'preheader: "A morning in Richmond on supporting families through hard times."\n'
    "date: 2026-12-03\n"
    "template: {template}\n"
    'from: "Lena Marsh, VAIMH <lena.marsh@vaimh.example>"\n'
    "status: ready\n"
)
LETTER_BODY = (
    'Dear {{ recipient.first_name | default("colleague") }},\n\n'
    "We would like to invite the team at {{ recipient.organisation }} to the winter gathering.\n\n"
    'We are holding {{ recipient.staff_invited | default("a few") }} seats for your '
    "{{ recipient.program_type }} staff until January 15.\n"
)
HEADER = "Email,First Name,Agency,Program Type,Staff Invited\n"
ROWS = {
    "marisol@bluehill.example": "Marisol,Blue Hill Family Services,Home visiting,6",
    "owen@shenandoah.example": "Owen,Shenandoah Early Start,Early Head Start,4",
    "deepa@tidewater.example": "Deepa,Tidewater Child Clinic,Infant mental health,3",
    "kept@member.example": "Kept,Richmond Early Learning,Child care,5",  # a subscriber already
    "gone@left.example": "Gone,Left Agency,Parent support,2",  # unsubscribed earlier
    "blocked@suppressed.example": "Blocked,Suppressed Agency,Home visiting,1",  # on the suppression list
}


@pytest.fixture(autouse=True)
def _no_spamassassin(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests are about recipients; the gate's SpamAssassin score is tested on its own."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))


@pytest.fixture
def clock(engine: Engine) -> FixedClock:
    with transaction(engine) as session:
        sync_topics(session, load_topics(LISTS / "topics.yaml"))
    return FixedClock(START)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project, environ={"OUTREACH_SECRET_KEY": SECRET})


def write_letter(project: Path, template: str = "letter", body: str = LETTER_BODY) -> Path:
    path = project / "newsletters" / f"{LETTER}.md"
    path.write_text(f"---\n{LETTER_FRONT.replace('{template}', template)}---\n{body}", encoding="utf-8")
    return path


def write_contacts(project: Path, rows: dict[str, str] = ROWS, extra: str = "") -> Path:
    path = project / "contacts.csv"
    lines = [f"{address},{row}\n" for address, row in rows.items()]
    path.write_text(HEADER + "".join(lines) + extra, encoding="utf-8")
    return path


def prepare_people(engine: Engine, clock: FixedClock) -> None:
    """An active member (in the file), someone who unsubscribed, a suppressed address."""
    consent = Consent(ConsentMethod.ADMIN, source="test")
    with transaction(engine) as session:
        add_subscriber(
            session,
            "kept@member.example",
            consent=consent,
            clock=clock,
            topics=[TOPIC],
            profile=Profile(first_name="Kept", organisation="Their own org"),
        )
        gone = add_subscriber(session, "gone@left.example", consent=consent, clock=clock, topics=[TOPIC])
        unsubscribe(session, gone.id, consent=consent, clock=clock)
        suppress(
            session, "blocked@suppressed.example", SuppressionReason.MANUAL, consent=consent, clock=clock
        )


def send(
    config: Config, engine: Engine, letter: Path, contacts: Path, clock: FixedClock, **options: object
) -> tuple[LetterPlan, int, MemoryTransport]:
    planned = plan_letter(
        config,
        engine,
        letter,
        contacts,
        purpose=Purpose.SEND,
        clock=clock,
        skip_invalid=bool(options.pop("skip_invalid", False)),
    )
    campaign_id = start_letter(config, engine, planned, clock, consent=CONSENT, actor=ACTOR, **options)  # type: ignore[arg-type]
    outbox = MemoryTransport("memory")
    runner_for(config, engine, campaign_id, "outbox", outbox, clock).run(wait_for_retries=False)
    return planned, campaign_id, outbox


def test_each_row_is_reached_once_and_a_second_send_reaches_nobody(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    prepare_people(engine, clock)
    letter, contacts = write_letter(project), write_contacts(project)

    planned, _, outbox = send(config, engine, letter, contacts, clock)

    left = {(item.row, item.email, item.why) for item in planned.contacts.left_out}
    assert left == {(6, "gone@left.example", "unsubscribed"), (7, "blocked@suppressed.example", "suppressed")}
    reached = Counter(message.recipient for message in outbox.outbox)
    assert reached == Counter(
        [
            "marisol@bluehill.example",
            "owen@shenandoah.example",
            "deepa@tidewater.example",
            "kept@member.example",
        ]
    )
    again = plan_letter(config, engine, letter, contacts, purpose=Purpose.SEND, clock=clock)
    assert again.recipients == 0
    assert {item.why for item in again.contacts.left_out} == {
        "already sent this letter",
        "unsubscribed",
        "suppressed",
    }
    with pytest.raises(DeliveryError, match=r"nobody in contacts\.csv"):
        start_letter(config, engine, again, clock, consent=CONSENT, actor=ACTOR)
    with transaction(engine) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 4


def test_a_row_listed_twice_gets_one_letter_and_the_repeat_is_listed(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    letter = write_letter(project)
    rows = {"marisol@bluehill.example": ROWS["marisol@bluehill.example"]}
    contacts = write_contacts(
        project, rows, extra="MARISOL@BlueHill.example,Marisol,Blue Hill,Home visiting,6\n"
    )
    planned, _, outbox = send(config, engine, letter, contacts, clock)
    assert [m.recipient for m in outbox.outbox] == ["marisol@bluehill.example"]
    assert [(item.row, item.why) for item in planned.contacts.left_out] == [
        (3, "listed twice (first at row 2)")
    ]


def test_columns_personalise_each_letter_and_replies_go_to_the_sender(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    prepare_people(engine, clock)
    _, _, outbox = send(config, engine, write_letter(project), write_contacts(project), clock)
    by_address = {message.recipient: message for message in outbox.outbox}
    owen = by_address["owen@shenandoah.example"]
    assert owen.subject == "For Shenandoah Early Start: the winter gathering"
    assert "Dear Owen," in owen.text and "team at Shenandoah Early Start" in owen.text
    assert "holding 4 seats for your Early Head Start staff" in owen.text
    assert "holding 4 seats for your Early Head Start staff" in " ".join(owen.html.split())
    # A subscriber in the file keeps their record, but the letter uses the file's columns.
    kept = by_address["kept@member.example"]
    assert "team at Richmond Early Learning" in kept.text
    for message in outbox.outbox:
        parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
        assert parsed["Reply-To"] == "lena.marsh@vaimh.example"  # no reply_to anywhere: the sender's
        assert parsed["From"].addresses[0].addr_spec == "lena.marsh@vaimh.example"
        assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert parsed["List-Unsubscribe"].startswith("<https://")


def test_front_matter_reply_to_wins(engine: Engine, project: Path, config: Config, clock: FixedClock) -> None:
    letter = write_letter(project)
    letter.write_text(
        letter.read_text(encoding="utf-8").replace(
            "status: ready\n", 'reply_to: "events@vaimh.example"\nstatus: ready\n'
        ),
        encoding="utf-8",
    )
    _, _, outbox = send(
        config, engine, letter, write_contacts(project, {"a@agency.example": "A,Agency,X,1"}), clock
    )
    (message,) = outbox.outbox
    assert (
        email.message_from_bytes(message.raw, policy=email.policy.default)["Reply-To"]
        == "events@vaimh.example"
    )


def test_contacts_join_no_list_and_their_reason_is_in_the_consent_log(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    prepare_people(engine, clock)
    send(config, engine, write_letter(project), write_contacts(project), clock)
    with transaction(engine) as session:
        statuses = dict(session.execute(sa.select(Subscriber.email, Subscriber.status)).all())
        assert statuses["marisol@bluehill.example"] is SubscriberStatus.CONTACT
        assert statuses["kept@member.example"] is SubscriberStatus.ACTIVE  # kept their record
        kept = find_by_email(session, "kept@member.example")
        assert kept is not None and kept.organisation == "Their own org"
        contact_ids = session.scalars(
            sa.select(Subscriber.id).where(Subscriber.status == SubscriberStatus.CONTACT)
        ).all()
        assert len(contact_ids) == 3
        in_topics = session.scalar(
            sa.select(sa.func.count()).where(SubscriberTopic.subscriber_id.in_(contact_ids))
        )
        assert in_topics == 0
        # A newsletter to everyone reaches the one active member, not the contacts.
        everyone = plan(session, Audience(segments=(ALL,)), {}, START.date(), "2027-01-news")
        assert everyone.recipients == 1
        assert everyone.excluded.get("contact") == 3
        reasons = session.scalars(
            sa.select(ConsentEvent.source).where(ConsentEvent.action == ConsentAction.CONTACTED)
        ).all()
        assert len(reasons) == 4 and all(CONSENT in reason for reason in reasons)


def test_add_to_list_makes_them_subscribers_of_the_topic(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    rows = {k: v for k, v in ROWS.items() if k.endswith(("bluehill.example", "shenandoah.example"))}
    send(config, engine, write_letter(project), write_contacts(project, rows), clock, add_to_topic=TOPIC)
    with transaction(engine) as session:
        for address in rows:
            subscriber = find_by_email(session, address)
            assert subscriber is not None
            assert subscriber.status is SubscriberStatus.ACTIVE
            assert [t.topic_key for t in subscriber.topics] == [TOPIC]
        actions = Counter(session.scalars(sa.select(ConsentEvent.action)))
        assert actions[ConsentAction.SUBSCRIBED] == 2 and actions[ConsentAction.CONTACTED] == 2


def test_an_invalid_row_refuses_the_send_until_fixed_or_skipped(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    letter = write_letter(project)
    rows = {"marisol@bluehill.example": ROWS["marisol@bluehill.example"], "not-an-address": "X,Y,Z,1"}
    contacts = write_contacts(project, rows)
    planned = plan_letter(config, engine, letter, contacts, purpose=Purpose.SEND, clock=clock)
    assert [bad.row for bad in planned.invalid] == [3]
    assert "not-an-address" in planned.invalid[0].reason
    assert any("--skip-invalid" in reason for reason in planned.refusals)
    with pytest.raises(DeliveryError, match="--skip-invalid"):
        start_letter(config, engine, planned, clock, consent=CONSENT, actor=ACTOR)
    with transaction(engine) as session:  # nothing was created: no campaign, no contact
        assert session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0
        assert session.scalar(sa.select(sa.func.count()).select_from(Subscriber)) == 0

    planned, _, outbox = send(config, engine, letter, contacts, clock, skip_invalid=True)
    assert [m.recipient for m in outbox.outbox] == ["marisol@bluehill.example"]


def test_an_unknown_recipient_field_is_an_error_at_its_line_naming_the_columns(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    body = LETTER_BODY + "\nSee you in {{ recipient.county }}.\n"
    letter = write_letter(project, body=body)
    planned = plan_letter(config, engine, letter, write_contacts(project), purpose=Purpose.PLAN, clock=clock)
    line = letter.read_text(encoding="utf-8").splitlines().index("See you in {{ recipient.county }}.") + 1
    (problem,) = planned.unknown_fields
    assert problem.startswith(f"{letter}:{line}: recipient.county is not a column of contacts.csv")
    assert "email, first_name, organisation, program_type, staff_invited" in problem
    assert problem in planned.refusals


def test_a_plain_letter_is_one_text_part_with_a_working_unsubscribe(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    rows = {"marisol@bluehill.example": ROWS["marisol@bluehill.example"]}
    planned, _, outbox = send(
        config, engine, write_letter(project, "plain"), write_contacts(project, rows), clock
    )
    assert planned.compiled.templates.html_source == ""
    (message,) = outbox.outbox
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    assert not parsed.is_multipart()
    assert parsed.get_content_type() == "text/plain"
    assert parsed["Content-Transfer-Encoding"] in ("7bit", "quoted-printable")
    assert all(byte < 128 for byte in message.raw)
    assert "Blue Hill Family Services" in parsed.get_content()
    assert message.html == ""
    # The unsubscribe link works for a contact: one click and the address is suppressed.
    url = parsed["List-Unsubscribe"].strip("<>").split(">")[0]
    path = url.removeprefix(config.base_url)
    with TestClient(create_app(config, engine, MemoryTransport("memory"), clock)) as client:
        answer = client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 200
    with transaction(engine) as session:
        assert is_suppressed(session, "marisol@bluehill.example")
        contact = find_by_email(session, "marisol@bluehill.example")
        assert contact is not None and contact.status is SubscriberStatus.UNSUBSCRIBED


def test_a_plain_frame_matches_the_slow_composition(project: Path, config: Config) -> None:
    """The text-only fast path gives what the standard library parses back as the same text."""
    compiled = render_issue(read_issue(write_letter(project, "plain")), config)
    recipient = Recipient(
        email="ana@example.org", first_name="Ana", fields=(("organisation", "Agencia Niños"),)
    )
    message = compose_one(config, compiled, recipient, START)
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    parsed_text = parsed.get_content().replace("\r\n", "\n").rstrip("\n")
    assert parsed_text == message.text.replace("\r\n", "\n").rstrip("\n")
    assert "Agencia Niños" in parsed.get_content()
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"


def test_a_contacts_columns_are_in_their_export_and_go_with_an_erasure(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    rows = {"owen@shenandoah.example": ROWS["owen@shenandoah.example"]}
    send(config, engine, write_letter(project), write_contacts(project, rows), clock)
    with transaction(engine) as session:
        exported = export_person(session, "owen@shenandoah.example")
    (delivery,) = exported["deliveries"]
    assert delivery["letter_fields"]["organisation"] == "Shenandoah Early Start"
    with transaction(engine) as session:
        erase(session, "owen@shenandoah.example", consent=Consent(ConsentMethod.ADMIN), clock=clock)
    with transaction(engine) as session:
        assert session.scalars(sa.select(Delivery.fields)).all() == [{}]
        assert is_suppressed(session, "owen@shenandoah.example")


def test_a_contact_who_signs_up_is_asked_to_confirm_like_anyone_new(
    engine: Engine, project: Path, config: Config, clock: FixedClock
) -> None:
    rows = {"owen@shenandoah.example": ROWS["owen@shenandoah.example"]}
    send(config, engine, write_letter(project), write_contacts(project, rows), clock)
    with transaction(engine) as session:
        signup = SignUp("owen@shenandoah.example", first_name="Owen", topics=(TOPIC,))
        outcome = sign_up(session, signup, Consent(ConsentMethod.FORM, source="sign-up form"), clock)
        assert outcome.mail is Mail.CONFIRM
        contact = find_by_email(session, "owen@shenandoah.example")
        assert contact is not None and contact.status is SubscriberStatus.UNCONFIRMED
        assert [t.topic_key for t in contact.topics] == [TOPIC]


def test_a_newsletter_cannot_use_a_contacts_column(project: Path) -> None:
    """Only a letter sent to a file has columns; a newsletter's recipient.NAME is checked at its line."""
    path = project / "newsletters" / "2026-12-news.md"
    path.write_text(
        "---\nsubject: News\ndate: 2026-12-01\n---\nHello {{ recipient.first_name }} at "
        "{{ recipient.agency_type }}.\n",
        encoding="utf-8",
    )
    findings = check_variables(read_issue(path))
    assert [(f.code, f.line) for f in findings] == [("unknown-variable", 5)]
    assert "recipient.agency_type can only come from a contacts file" in findings[0].message
    letter = write_letter(project, body="Hello {{ recipient.agency_type }}.\n")
    assert check_variables(read_issue(letter)) == []

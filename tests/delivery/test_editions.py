"""One campaign, every language edition of its issue: each reader gets the edition in their language
(the default where there is none), exactly once, on SQLite and PostgreSQL; the plan and the report
count each edition; a crash and a resume keep both promises."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa

from outreach.audience import transaction
from outreach.audience.schema import Subscriber
from outreach.config import Config
from outreach.content.editions import read_editions
from outreach.delivery import campaigns
from outreach.delivery.campaigns import choice_of, create_campaign
from outreach.delivery.edition_choice import EditionChoice
from outreach.delivery.editions import choice_clause
from outreach.delivery.recovery import recover
from outreach.delivery.schema import Campaign, CampaignEdition, Delivery
from outreach.errors import DeliveryError
from outreach.events.figures import campaign_report, editions
from outreach.models import Audience
from outreach.render import CompiledIssue, render_issue
from outreach.transports.base import Outcome, SendResult
from outreach.web.archive import edition_web_version
from tests.delivery.conftest import ISSUE_SLUG, SECRET, TOPIC, Bench, TimedMemory
from tests.delivery.test_journal import LEASE, died_while_sending

SPANISH = (
    "---\n"
    'subject: "Notas de invierno de VAIMH"\n'
    'preheader: "Por qué importan los primeros años, y dónde se reúnen nuestros grupos este invierno."\n'
    "language: es\n"
    "status: ready\n"
    "---\n"
    'Estimada {{ subscriber.first_name | default("amistad") }}:\n\n'
    "Las primeras relaciones son la base de todo lo que viene después en la vida de un niño.\n\n"
    "Los grupos de supervisión reflexiva se reúnen el segundo martes de cada mes en Richmond.\n"
)


@pytest.fixture(scope="module")
def both(issue_project: Path, issue_config: Config) -> tuple[CompiledIssue, CompiledIssue]:
    """The small issue in English (the default) and Spanish, read as one issue and rendered."""
    folder = issue_project / "newsletters-editions"
    folder.mkdir(exist_ok=True)
    english = (issue_project / "newsletters" / f"{ISSUE_SLUG}.md").read_text(encoding="utf-8")
    (folder / f"{ISSUE_SLUG}.md").write_text(english, encoding="utf-8")
    (folder / f"{ISSUE_SLUG}.es.md").write_text(SPANISH, encoding="utf-8")
    found = read_editions(folder / f"{ISSUE_SLUG}.es.md")  # naming a sibling means the whole issue
    assert found.languages == ("en", "es")
    en, es = (render_issue(issue, issue_config) for issue in found.all)
    assert en.issue.slug == es.issue.slug == ISSUE_SLUG
    return en, es


def set_languages(bench: Bench, languages: dict[str, str]) -> None:
    with transaction(bench.engine) as session:
        for address, language in languages.items():
            session.execute(
                sa.update(Subscriber).where(Subscriber.email == address).values(language=language)
            )


def create(bench: Bench, en: CompiledIssue, es: CompiledIssue, limit: int | None = None) -> int:
    with transaction(bench.engine) as session:
        campaign = create_campaign(
            session,
            en,
            bench.sender,
            Audience(topics=(TOPIC,)),
            {},
            "memory",
            bench.clock,
            limit=limit,
            editions=[es],
        )
        return campaign.id


def ledger_languages(bench: Bench, campaign_id: int) -> dict[str, str]:
    with bench.engine.connect() as connection:
        rows = connection.execute(
            sa.select(Subscriber.email, Delivery.language)
            .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
            .where(Delivery.campaign_id == campaign_id)
        ).all()
    return {str(address): str(language) for address, language in rows}


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


READERS = {
    "ana@example.org": "es",
    "beto@example.org": "es-MX",  # a regional variant reads the Spanish edition
    "carla@example.org": "ES",  # case does not matter
    "dan@example.org": "en",
    "eve@example.org": "",  # no language: the default
    "fran@example.org": "fr",  # a language with no edition: the default
}


def test_each_reader_gets_the_edition_in_their_language_exactly_once(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    bench.add(*READERS, first_name="Sam")
    set_languages(bench, READERS)
    campaign_id = create(bench, en, es)
    expected = {
        address: ("es" if language.lower().startswith("es") else "en")
        for address, language in READERS.items()
    }
    assert ledger_languages(bench, campaign_id) == expected  # chosen when the audience was snapshotted

    memory = TimedMemory(bench.clock)
    bench.run(campaign_id, memory)

    recipients = [m.recipient for m in memory.outbox]
    assert sorted(recipients) == sorted(READERS)  # everyone, once
    for message in memory.outbox:
        mail = parsed(message.raw)
        if expected[message.recipient] == "es":
            assert mail["Subject"] == "Notas de invierno de VAIMH"
            assert "Estimada Sam:" in text_of(mail)
            assert "Early relationships" not in text_of(mail)
            assert f"/es/archive/{en.issue.slug}" in text_of(mail)  # viewed online in Spanish
        else:
            assert mail["Subject"] == "Winter notes from VAIMH"
            assert "Dear Sam," in text_of(mail)
            assert "primeras relaciones" not in text_of(mail)
            assert f"/archive/{en.issue.slug}" in text_of(mail) and "/es/archive/" not in text_of(mail)
    assert bench.counts(campaign_id)["sent"] == len(READERS)
    with transaction(bench.engine) as session:
        stored = session.get(Campaign, campaign_id)
        assert stored is not None and stored.language == "en"  # the campaign's language: the default
        assert session.scalars(sa.select(CampaignEdition.language)).all() == ["es"]


def test_a_reader_who_switched_language_before_the_send_gets_the_new_one(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    bench.add("gil@example.org", "hana@example.org")
    set_languages(bench, {"gil@example.org": "en", "hana@example.org": "es"})
    campaign_id = create(bench, en, es)
    set_languages(bench, {"gil@example.org": "es-US", "hana@example.org": "en"})  # between snapshot and send
    memory = TimedMemory(bench.clock)
    bench.run(campaign_id, memory)
    subjects = {m.recipient: parsed(m.raw)["Subject"] for m in memory.outbox}
    assert subjects == {
        "gil@example.org": "Notas de invierno de VAIMH",
        "hana@example.org": "Winter notes from VAIMH",
    }
    assert ledger_languages(bench, campaign_id) == {"gil@example.org": "es", "hana@example.org": "en"}


def test_a_crash_and_a_resume_keep_exactly_once_and_the_right_editions(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    people = bench.people(10)
    set_languages(bench, {address: ("es" if n % 2 else "en") for n, address in enumerate(people)})
    campaign_id = create(bench, en, es)
    # A runner claims 5 rows, hands 3 over, has 2 answers, and dies.
    sent = SendResult("", Outcome.SENT, "250", "ok")
    died_while_sending(bench, campaign_id, [sent, sent], handed=3)
    with transaction(bench.engine) as session:
        recover(session, campaign_id, bench.clock, LEASE, bench.journals).finish(committed=True)
    states = bench.states(campaign_id)
    assert sorted(states.values()).count("unknown") == 1  # handed over without an answer: never resent
    memory = TimedMemory(bench.clock)
    bench.run(campaign_id, memory)  # the resume
    again = [m.recipient for m in memory.outbox]
    assert len(again) == len(set(again)) == 7  # nobody twice: 2 had it, 1 is unknown
    assert not set(again) & {a for a, s in states.items() if s in ("sent", "unknown")}
    for message in memory.outbox:
        number = people.index(message.recipient)
        wanted = "Notas de invierno de VAIMH" if number % 2 else "Winter notes from VAIMH"
        assert parsed(message.raw)["Subject"] == wanted
    counts = bench.counts(campaign_id)
    assert (counts["sent"], counts["unknown"], counts["pending"]) == (9, 1, 0)


def test_the_plan_and_the_report_count_each_edition(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    bench.add(*READERS)
    set_languages(bench, READERS)
    choice = choice_of(en, [es])
    with transaction(bench.engine) as session:
        planned = campaigns.plan(
            session, Audience(topics=(TOPIC,)), {}, bench.clock.now().date(), ISSUE_SLUG, editions=choice
        )
        limited = campaigns.plan(
            session, Audience(topics=(TOPIC,)), {}, bench.clock.now().date(), ISSUE_SLUG, 2, choice
        )
    assert planned.recipients == 6 and planned.editions == {"en": 3, "es": 3}
    assert limited.recipients == 2 and sum(limited.editions.values()) == 2

    campaign_id = create(bench, en, es)
    bench.run(campaign_id, TimedMemory(bench.clock, script=[Outcome.BOUNCED]))  # the first (ana, es) bounces
    with transaction(bench.engine) as session:
        assert editions(session, campaign_id) == ["en", "es"]
        spanish = campaign_report(session, campaign_id, edition="es")
        english = campaign_report(session, campaign_id, edition="en")
        whole = campaign_report(session, campaign_id)
    assert (spanish.recipients["sent"], spanish.recipients["failed"], spanish.refused) == (2, 1, 1)
    assert (english.recipients["sent"], english.recipients["failed"], english.refused) == (3, 0, 0)
    assert whole.recipients["sent"] == 5 and spanish.as_json()["edition"] == "es"


def test_one_active_campaign_per_issue_whatever_its_editions(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    bench.people(3)
    first = create(bench, en, es, limit=1)
    with pytest.raises(DeliveryError, match=f"campaign {first} of {ISSUE_SLUG} is already sending"):
        create(bench, es, en)  # even with the Spanish edition as the default
    with pytest.raises(DeliveryError, match=f"campaign {first} of {ISSUE_SLUG} is already sending"):
        bench.campaign(compiled=en)
    bench.run(first, TimedMemory(bench.clock))
    second = create(bench, en, es)  # once it is done, the rest may follow; who has it is left out
    assert len(bench.rows(second)) == 2


def test_each_editions_web_copy_is_found_by_campaign_and_language(
    bench: Bench, both: tuple[CompiledIssue, CompiledIssue]
) -> None:
    en, es = both
    bench.people(2)
    campaign_id = create(bench, en, es)
    keys = SECRET
    with transaction(bench.engine) as session:
        campaign = session.get(Campaign, campaign_id)
        assert campaign is not None
        spanish = edition_web_version(session, campaign, "https://news.vaimh.example", keys, "es")
        english = edition_web_version(session, campaign, "https://news.vaimh.example", keys, "en")
        default = edition_web_version(session, campaign, "https://news.vaimh.example", keys)
        missing = edition_web_version(session, campaign, "https://news.vaimh.example", keys, "fr")
    assert spanish is not None and "Las primeras relaciones" in spanish and 'lang="es"' in spanish
    assert english is not None and "Early relationships" in english and english == default
    assert missing is None


def test_choosing_an_edition_in_python_and_in_sql_agree(bench: Bench) -> None:
    choice = EditionChoice("en", ("es", "pt-BR"))
    languages = ["es", "ES", "es-MX", "es_us", "pt", "pt-br", "PT-PT", "en", "en-GB", "fr", "", "e", "esp"]
    with bench.engine.connect() as connection:
        for language in languages:
            in_sql = connection.scalar(sa.select(choice_clause(choice, sa.literal(language))))
            assert in_sql == choice.for_reader(language), language
    assert [choice.for_reader(x) for x in ("es-MX", "pt", "PT-PT", "fr", "", "esp")] == [
        "es",
        "pt-BR",
        "pt-BR",
        "en",
        "en",
        "en",
    ]

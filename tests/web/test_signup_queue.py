"""Sign-up mail goes out through a durable queue, off the request path: the answer arrives, for every
state of the address, before any mail is handed over; each mail is sent once, across crashes, restarts
and several workers; the per-address limit holds across processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from outreach.audience import (
    Consent,
    ConsentMethod,
    SubscriberStatus,
    SuppressionReason,
    add_subscriber,
    find_by_email,
    make_engine,
    stop_mailing,
    suppress,
    transaction,
)
from outreach.audience.topics import load_topics, sync_topics
from outreach.clock import FixedClock
from outreach.config import Config
from outreach.transports.base import Outcome, OutgoingMessage, SendResult
from outreach.transports.maildir import messages
from outreach.transports.memory import MemoryTransport
from outreach.web.app import create_app
from outreach.web.mail_schema import SystemMail
from outreach.web.signup import SignUp
from outreach.web.system_mails import SystemMailer, receive
from tests.conftest import TEST_SECRET
from tests.databases import BACKENDS, fresh_database
from tests.databases import sqlite_template_fixture as sqlite_template  # noqa: F401
from tests.web.conftest import LISTS, add_active, csrf_of, deliver_queued

ADMIN = Consent(ConsentMethod.ADMIN, source="test")
TOPICS = ["monthly-newsletter"]


class GatedTransport(MemoryTransport):
    """Accepts mail only once ``gate`` is open: until then every ``send`` waits."""

    def __init__(self) -> None:
        super().__init__("gated")
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.waiting.set()
        self.gate.wait()
        return super().send(messages)


def _every_state(engine: Engine, clock: FixedClock) -> dict[str, str]:
    """One address in each state a sign-up can meet; returns state -> address."""
    with transaction(engine) as session:
        add_subscriber(
            session,
            "pending@example.org",
            consent=ADMIN,
            clock=clock,
            topics=TOPICS,
            status=SubscriberStatus.UNCONFIRMED,
        )
    add_active(engine, clock, "active@example.org")
    for name, reason in (
        ("left", SuppressionReason.UNSUBSCRIBED),
        ("bounced", SuppressionReason.BOUNCED),
        ("complained", SuppressionReason.COMPLAINED),
    ):
        subscriber_id = add_active(engine, clock, f"{name}@example.org")
        with transaction(engine) as session:
            stop_mailing(session, subscriber_id, reason, consent=ADMIN, clock=clock)
    with transaction(engine) as session:
        suppress(session, "blocked@example.org", SuppressionReason.MANUAL, consent=ADMIN, clock=clock)
    states = ("new", "pending", "active", "left", "bounced", "complained", "blocked")
    return {state: f"{state}@example.org" for state in states}


def test_every_answer_arrives_before_any_mail_is_handed_over(
    config: Config, engine: Engine, clock: FixedClock
) -> None:
    addresses = _every_state(engine, clock)
    transport = GatedTransport()
    app = create_app(config, engine, transport, clock, signups_per_ip=(100, 1.0))
    answers: dict[str, tuple[int, str]] = {}
    json_answers: dict[str, tuple[int, Any]] = {}
    with TestClient(app, raise_server_exceptions=False) as client:  # the worker thread runs

        def sign_everyone_up() -> None:
            for state, email in addresses.items():
                page = client.get("/subscribe")
                form = {"csrf": csrf_of(page.text), "email": email, "topics": TOPICS, "language": "en"}
                answer = client.post("/subscribe", data=form)
                answers[state] = (answer.status_code, answer.text)
                api = client.post("/api/subscribe", json={"email": email, "topics": TOPICS})
                json_answers[state] = (api.status_code, api.json())

        requests = threading.Thread(target=sign_everyone_up, daemon=True)
        requests.start()
        # The limits below only keep a broken build from hanging: nothing here is timed.
        held = transport.waiting.wait(60)  # the first mail is at the gate, and stays there
        requests.join(60)  # with mail sent by the request, the answers would wait for the gate too
        answered_while_held = held and not requests.is_alive()
        handed_before = list(transport.outbox)
        transport.gate.set()
        requests.join()
        assert answered_while_held, "a sign-up answer waited for a mail to be handed over"
        assert handed_before == [] and len(answers) == len(json_answers) == len(addresses)
        deliver_queued(client)
    assert len(set(answers.values())) == 1 and next(iter(answers.values()))[0] == 200
    assert len({str(a) for a in json_answers.values()}) == 1 and json_answers["new"][0] == 202
    mailed = sorted(m.recipient for m in transport.outbox)
    twice = ["active@example.org"] * 2 + ["left@example.org"] * 2 + ["new@example.org"] * 2
    assert mailed == sorted(twice + ["pending@example.org"] * 2)
    already = [m for m in transport.outbox if m.recipient == "active@example.org"]
    assert all("already" in m.subject for m in already)


@pytest.fixture(params=BACKENDS)
def any_engine(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:  # noqa: F811
    with fresh_database(request.param, tmp_path, sqlite_template) as engine:
        with transaction(engine) as session:
            sync_topics(session, load_topics(LISTS / "topics.yaml"))
        yield engine


def _queue(engine: Engine, clock: FixedClock, *emails: str) -> None:
    with transaction(engine) as session:
        for email in emails:
            signup = SignUp(email=email, first_name="Ana", topics=tuple(TOPICS))
            receive(session, signup, "192.0.2.1", "pytest", "2026-11", clock.now())


def _states(engine: Engine) -> list[str]:
    with transaction(engine) as session:
        return [str(s) for s in session.scalars(sa.select(SystemMail.state).order_by(SystemMail.id))]


def test_several_workers_send_each_mail_once(any_engine: Engine, config: Config, clock: FixedClock) -> None:
    emails = [f"reader{n}@example.org" for n in range(12)]
    _queue(any_engine, clock, *emails)
    transport = MemoryTransport()
    workers = [SystemMailer(config, any_engine, clock, lambda: transport) for _ in range(3)]
    threads = [threading.Thread(target=w.run_once) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.run_once()  # whatever a busy database made one of them leave for the next pass
    assert sorted(m.recipient for m in transport.outbox) == sorted(emails)
    assert _states(any_engine) == ["sent"] * 12
    with transaction(any_engine) as session:
        subscriber = find_by_email(session, "reader0@example.org")
        assert subscriber is not None and subscriber.status is SubscriberStatus.UNCONFIRMED
        assert session.scalar(sa.select(sa.func.count()).where(SystemMail.request.is_not(None))) == 0


class Crash(BaseException):
    """The process dies in the middle of a send."""


class CrashingTransport(MemoryTransport):
    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        self.attempts.extend(messages)
        raise Crash


def test_a_crash_loses_no_sign_up_and_sends_no_mail_twice(
    any_engine: Engine, config: Config, clock: FixedClock
) -> None:
    _queue(any_engine, clock, "first@example.org")
    crashing = CrashingTransport()
    with pytest.raises(Crash):
        SystemMailer(config, any_engine, clock, lambda: crashing).run_once()
    assert _states(any_engine) == ["sending"]  # handed over; the answer never recorded
    _queue(any_engine, clock, "second@example.org")  # arrives while no worker runs

    restarted = MemoryTransport()
    SystemMailer(config, any_engine, clock, lambda: restarted).run_once()
    clock.advance(15 * 60)
    SystemMailer(config, any_engine, clock, lambda: restarted).run_once()
    assert [m.recipient for m in restarted.outbox] == ["second@example.org"]
    assert _states(any_engine) == ["unknown", "sent"]  # maybe delivered: the operator sees it, no resend


def test_a_transient_failure_is_retried_later_and_sent_once(
    engine: Engine, config: Config, clock: FixedClock
) -> None:
    _queue(engine, clock, "ana@example.org")
    transport = MemoryTransport(script=[Outcome.RETRY])
    mailer = SystemMailer(config, engine, clock, lambda: transport)
    assert mailer.run_once() == 0 and mailer.run_once() == 0  # not due again yet
    clock.advance(61)
    assert mailer.run_once() == 1 and mailer.run_once() == 0
    assert [m.recipient for m in transport.outbox] == ["ana@example.org"]


def test_the_mail_limit_per_address_holds_across_processes(
    config: Config, engine: Engine, clock: FixedClock, outbox: MemoryTransport
) -> None:
    for _ in range(2):  # two `outreach serve` processes, each with its own memory
        app = create_app(config, engine, outbox, clock)
        with TestClient(app) as client:
            for _ in range(2):
                page = client.get("/subscribe")
                form = {"csrf": csrf_of(page.text), "email": "same@example.org", "topics": TOPICS}
                assert client.post("/subscribe", data=form).status_code == 200
                deliver_queued(client)
    assert [m.recipient for m in outbox.outbox] == ["same@example.org"] * 3
    clock.advance(3601)
    _queue(engine, clock, "same@example.org")
    SystemMailer(config, engine, clock, lambda: outbox).run_once()
    assert len(outbox.outbox) == 4


def test_outreach_worker_sends_the_queued_sign_up_mail(project: Path, clock: FixedClock) -> None:
    """A site may leave the mail to `outreach worker` on another machine ([web] mail_worker = false)."""
    env = {"OUTREACH_SECRET_KEY": TEST_SECRET, "PATH": "/usr/bin:/bin"}
    outreach = [sys.executable, "-c", "import sys; from outreach.cli import main; main(sys.argv[1:])"]

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*outreach, *command, "--root", str(project)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert run("db", "upgrade").returncode == 0
    engine = make_engine(f"sqlite:///{project / 'outreach.db'}")
    _queue(engine, clock, "ana@example.org")
    engine.dispose()
    done = run("worker", "--once")
    assert done.returncode == 0, done.stderr
    assert "1 sign-up mail(s) sent" in done.stdout
    (mail,) = messages(project / "outbox")
    assert mail["To"] == "Ana <ana@example.org>" and "confirm" in str(mail["Subject"]).lower()
    again = run("worker", "--once")
    assert again.returncode == 0 and "sign-up mail" not in again.stdout
    assert len(messages(project / "outbox")) == 1

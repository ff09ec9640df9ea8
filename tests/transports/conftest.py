"""Real local servers for the transport tests: aiosmtpd, fake ESP APIs on pytest-httpserver, moto for SES.

Every server binds 127.0.0.1 only and is stopped by its fixture. The fake ESPs answer the way each
provider's documentation shows (status codes, body shapes, id headers) and record what they were sent.
"""

from __future__ import annotations

import asyncio
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from outreach.transports.base import OutgoingMessage, Parts, SendResult
from tests.ports import free_port

LONG_UNSUBSCRIBE = (
    "<https://news.vaimh.example/u/" + "t0ken" * 30 + ">, <mailto:unsubscribe@vaimh.example?subject=u>"
)
LIST_ID = "VAIMH News <news.vaimh.example>"
REJECTED_ADDRESS = "nobody@reject.example"


def make_message(number: int, recipient: str | None = None, eight_bit: bool = False) -> OutgoingMessage:
    """A complete bulk message as delivery would hand it over (composed here the slow, reference way)."""
    recipient = recipient or f"reader{number}@example.org"
    message_id = f"<m{number}.{uuid.uuid4().hex[:8]}@vaimh.example>"
    text = f"Dear reader {number},\n\nThe relationship is our client. Café hours: 9–5.\n"
    html = f"<p>Dear reader {number},</p><p>The relationship is <b>our client</b>. Café hours: 9–5.</p>"
    headers = (
        ("Reply-To", "info@vaimh.example"),
        ("List-Id", LIST_ID),
        ("List-Unsubscribe", LONG_UNSUBSCRIBE),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("Message-ID", message_id),
    )
    mime = EmailMessage(policy=email.policy.SMTP.clone(max_line_length=998))
    mime["From"] = "VAIMH News <news@vaimh.example>"
    mime["To"] = recipient
    mime["Subject"] = f"Winter issue {number}"
    mime["Date"] = "Tue, 01 Dec 2026 09:00:00 -0500"
    for name, value in headers:
        mime[name] = value
    cte = "8bit" if eight_bit else "quoted-printable"
    mime.set_content(text, cte=cte)
    mime.add_alternative(html, subtype="html", cte=cte)
    return OutgoingMessage(
        key=str(1000 + number),
        message_id=message_id,
        envelope_from=f"bounces+{1000 + number}@vaimh.example",
        recipient=recipient,
        raw=mime.as_bytes(policy=email.policy.SMTP.clone(max_line_length=998)),
        from_header="VAIMH News <news@vaimh.example>",
        to_header=recipient,
        subject=f"Winter issue {number}",
        parts=Parts.of(text, html),
        headers=headers,
    )


@dataclass
class Arrival:
    """What one recipient's message looked like on arrival, whatever the transport."""

    recipient: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]


def arrival_from_raw(recipient: str, raw: bytes) -> Arrival:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    assert text_part is not None and html_part is not None
    # Raw header values, unfolded: what a mail client or a List-Unsubscribe checker reads.
    headers = {name: str(value) for name, value in parsed.items()}
    return Arrival(
        recipient,
        str(parsed["Subject"]),
        text_part.get_content().replace("\r\n", "\n"),
        html_part.get_content().rstrip("\r\n"),
        headers,
    )


# -- SMTP ----------------------------------------------------------------------------------------------


@dataclass
class SmtpRecorder:
    """An aiosmtpd handler that records envelopes; ``faults`` maps a recipient to a scripted misbehaviour."""

    received: list[tuple[str, list[str], bytes, list[str]]] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str = ""
    sessions: int = 0
    pipelining: bool = False
    release: threading.Event = field(default_factory=threading.Event)  # ends every "hold"

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        if self.pipelining:  # aiosmtpd reads commands line by line, so it serves pipelined clients
            responses = [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mail_reply:
            reply, self.mail_reply = self.mail_reply, ""
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        fault = self.faults.get(address, "")
        if fault == "stall":
            await asyncio.sleep(3)
        if fault.startswith("421"):
            _close_soon(server)
            return fault
        if fault[:1] in ("4", "5"):
            return fault
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        recipient = envelope.rcpt_tos[0]
        fault = self.faults.get(recipient, "")
        if fault == "drop-after-data":
            assert server.transport is not None
            server.transport.abort()
            return "250 never seen"
        if fault.startswith("data:"):
            return fault.removeprefix("data:")
        if fault == "hold":  # the whole message is in; its answer waits until the test releases it
            while not self.release.is_set():
                await asyncio.sleep(0.01)
        content = envelope.original_content or b""
        self.received.append(
            (str(envelope.mail_from), list(envelope.rcpt_tos), content, envelope.mail_options)
        )
        return f"250 2.0.0 Ok: queued as Q{len(self.received):05d}"

    def arrivals(self) -> list[Arrival]:
        return [arrival_from_raw(rcpts[0], raw) for _, rcpts, raw, _ in self.received]


def _close_soon(server: SMTP) -> None:
    transport = server.transport
    assert transport is not None
    asyncio.get_running_loop().call_soon(transport.close)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: SmtpRecorder


@pytest.fixture(params=[False, True], ids=["one-by-one", "pipelining"])
def smtp_server_factory(request: pytest.FixtureRequest) -> Iterator[Callable[..., SmtpServer]]:
    """Every SMTP test runs against a server without and with PIPELINING (RFC 2920)."""
    controllers: list[Controller] = []

    def start(**smtp_kwargs: Any) -> SmtpServer:
        handler = SmtpRecorder(pipelining=request.param)
        port = free_port()
        ssl_context = smtp_kwargs.pop("ssl_context", None)
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, ssl_context=ssl_context, **smtp_kwargs
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer("127.0.0.1", port, handler)

    try:
        yield start
    finally:
        for controller in controllers:
            controller.stop()


@pytest.fixture
def smtp_server(smtp_server_factory: Callable[..., SmtpServer]) -> SmtpServer:
    return smtp_server_factory()


# -- fake ESP APIs -------------------------------------------------------------------------------------


@dataclass
class FakeApi:
    """Shared fault switch and request log of one fake provider."""

    server: HTTPServer
    mode: str = "ok"  # ok | 429 | 429-date | 500 | timeout | 401 | 400
    requests: list[Request] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def fault(self) -> Response | None:
        """The scripted whole-request failure for the current mode, or None to answer normally."""
        if self.mode == "timeout":
            time.sleep(1.5)
            return Response("late", status=200)
        if self.mode == "429":
            return _json({"message": "Too many requests"}, 429, {"Retry-After": "7"})
        if self.mode == "429-date":
            return _json(
                {"message": "Too many requests"}, 429, {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}
            )
        if self.mode == "500":
            return Response("<html><body>Internal error</body></html>", status=500, content_type="text/html")
        return None


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers, content_type="application/json")


@pytest.fixture(scope="session")
def http_server() -> Iterator[HTTPServer]:
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    try:
        yield server
    finally:
        server.clear()
        if server.is_running():
            server.stop()


@pytest.fixture
def fake_api(http_server: HTTPServer) -> Iterator[Callable[[str], FakeApi]]:
    """``fake_api("sendgrid")`` installs that provider's endpoint on the local server."""

    def install(provider: str) -> FakeApi:
        api = FakeApi(http_server)
        handler, path = {
            "sendgrid": (_sendgrid_handler, "/v3/mail/send"),
            "postmark": (_postmark_handler, "/email/batch"),
            "mailgun": (_mailgun_handler, "/v3/mg.vaimh.example/messages.mime"),
        }[provider]

        def respond(request: Request) -> Response:
            api.requests.append(request)
            return api.fault() or handler(api, request)

        http_server.expect_request(path, method="POST").respond_with_handler(respond)
        return api

    try:
        yield install
    finally:
        http_server.clear()


def _sendgrid_handler(api: FakeApi, request: Request) -> Response:
    if request.headers.get("Authorization") != "Bearer SG.test-key" or api.mode == "401":
        return _json(
            {"errors": [{"field": None, "message": "The provided authorization grant is invalid"}]}, 401
        )
    body = json.loads(request.get_data())
    api.bodies.append(body)
    to = body["personalizations"][0]["to"][0]["email"]
    if to == REJECTED_ADDRESS or api.mode == "400":
        error = {"field": "personalizations.0.to", "message": "Does not contain a valid address."}
        return _json({"errors": [error]}, 400)
    return Response("", status=202, headers={"X-Message-Id": f"sg-{uuid.uuid4().hex[:12]}"})


def _postmark_handler(api: FakeApi, request: Request) -> Response:
    if request.headers.get("X-Postmark-Server-Token") != "pm-test-token" or api.mode == "401":
        return _json(
            {"ErrorCode": 10, "Message": "The Server Token you provided in the request is invalid."}, 401
        )
    body = json.loads(request.get_data())
    api.bodies.append(body)
    if len(body) > 500:
        return _json({"ErrorCode": 410, "Message": "Too many batch messages"}, 422)
    answers = []
    for message in body:
        if message["To"] == REJECTED_ADDRESS:
            text = "You tried to send to recipient(s) that have been marked as inactive."
            answers.append({"ErrorCode": 406, "Message": text})
        elif "@" not in message["To"]:
            answers.append({"ErrorCode": 300, "Message": "Error parsing 'To': Illegal email address"})
        else:
            answers.append(
                {
                    "ErrorCode": 0,
                    "Message": "OK",
                    "MessageID": str(uuid.uuid4()),
                    "SubmittedAt": "2026-12-01T09:00:00.0000000-05:00",
                    "To": message["To"],
                }
            )
    return _json(answers)


def _mailgun_handler(api: FakeApi, request: Request) -> Response:
    auth = request.authorization
    if auth is None or (auth.username, auth.password) != ("api", "key-test") or api.mode == "401":
        return Response("Forbidden", status=401)
    to = request.form.get("to", "")
    raw = request.files["message"].read() if "message" in request.files else b""
    api.bodies.append({"to": to, "raw": raw, "form": dict(request.form)})
    if not to or to == REJECTED_ADDRESS:
        return _json({"message": "to parameter is not a valid address. please check documentation"}, 400)
    return _json({"id": f"<{uuid.uuid4().hex[:16]}@mg.vaimh.example>", "message": "Queued. Thank you."})


# -- SES on moto ---------------------------------------------------------------------------------------


@dataclass
class MotoSes:
    url: str
    region: str = "us-east-1"

    def sent(self) -> list[Any]:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        return list(ses_backends[DEFAULT_ACCOUNT_ID][self.region].sent_messages)


@pytest.fixture(scope="session")
def moto_ses() -> Iterator[MotoSes]:
    moto_server = pytest.importorskip("moto.server", reason="pip install 'moto[server]' for the SES tests")
    boto3 = pytest.importorskip("boto3", reason="pip install boto3 for the SES transport")
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        ses = MotoSes(f"http://127.0.0.1:{port}")
        client = boto3.client(
            "sesv2",
            region_name=ses.region,
            endpoint_url=ses.url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_email_identity(EmailIdentity="vaimh.example")
        yield ses
    finally:
        server.stop()


def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


class Noting:
    """Receipts that note every call in order, and say "stop" once ``stop_after`` messages were handed."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.stop_after = stop_after
        self.events: list[tuple[str, str]] = []
        self.results: dict[str, SendResult] = {}
        self.lock = threading.Lock()

    def handing(self, messages: Sequence[OutgoingMessage]) -> bool:
        with self.lock:
            handed = sum(1 for kind, _ in self.events if kind == "handing")
            if self.stop_after is not None and handed >= self.stop_after:
                return False
            self.events.extend(("handing", m.key) for m in messages)
            return True

    def answered(self, result: SendResult) -> None:
        with self.lock:
            assert result.key not in self.results, f"{result.key} answered twice"
            self.events.append(("answered", result.key))
            self.results[result.key] = result

    def handed(self) -> list[str]:
        with self.lock:
            return [key for kind, key in self.events if kind == "handing"]

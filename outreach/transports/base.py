"""The transport contract: a composed message goes in, one ``SendResult`` per message comes out.

Like Django's mail backends, a transport only moves bytes: it never composes, personalises or decides
what a failure means for the campaign. It reports, per message, one of a closed set of outcomes and
the ledger acts on it. A transport raises ``TransportError`` only when it cannot be used at all (a
missing folder it cannot create, a broken client library); everything about one message or one
server reply is a result, never an exception, so one bad address never stops a batch.

``deliver`` reports as it goes, through ``Receipts``: ``handing`` just before a message's bytes leave
(the caller may answer "stop": the rest of the batch is then reported not attempted) and ``answered``
the moment its answer is known. A process that dies mid-batch has thus said exactly which messages
were handed over without an answer (they may have been delivered) and which never left.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from outreach.transports.conversation import Conversation


class Parts:
    """A message's text and HTML as strings, for the transports whose API takes them (JSON APIs):
    put together only when one first asks. SMTP and the raw APIs send ``raw`` and never do, and
    joining a 60-100 KB part into a string is a tenth of a recipient's composing."""

    __slots__ = ("_made", "_make")

    def __init__(self, make: Callable[[], tuple[str, str]]) -> None:
        self._make = make
        self._made: tuple[str, str] | None = None

    @classmethod
    def of(cls, text: str, html: str) -> Parts:
        parts = cls(lambda: (text, html))
        parts._made = (text, html)
        return parts

    def made(self) -> tuple[str, str]:
        """(text, html)."""
        made = self._made
        if made is None:
            made = self._made = self._make()
        return made

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parts) and self.made() == other.made()

    def __hash__(self) -> int:
        return hash(self.made())

    def __repr__(self) -> str:
        return "Parts(...)" if self._made is None else f"Parts.of({self._made[0]!r}, {self._made[1]!r})"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One recipient's message, already composed; transports move it, never compose it."""

    key: str  # the ledger row's id as text; results are matched by it
    message_id: str  # "<...@vaimh.example>", already in `raw`
    envelope_from: str  # return path (may be a VERP address)
    recipient: str  # envelope recipient
    raw: bytes  # the complete RFC 5322 message, CRLF line ends (SMTP, maildir, SES raw, Mailgun MIME)
    from_header: str  # e.g. 'VAIMH News <news@vaimh.example>' (for JSON APIs)
    to_header: str
    subject: str
    parts: Parts  # the text and HTML as strings (JSON APIs): ``text`` and ``html``
    # extra headers for JSON APIs: Reply-To, List-Id, List-Unsubscribe, List-Unsubscribe-Post, Message-ID
    headers: tuple[tuple[str, str], ...] = field(default=())
    # No line of ``raw`` starts with a dot, as its composer knows: SMTP then sends it without scanning
    # 60-100 KB for lines to dot-stuff (~50 µs a message). False (scan) when not known.
    dot_free: bool = False
    # No byte of ``raw`` is above 127, as its composer knows: SMTP then needs no scan to decide on
    # BODY=8BITMIME. False (scan) when not known.
    seven_bit: bool = False

    @property
    def text(self) -> str:
        return self.parts.made()[0]

    @property
    def html(self) -> str:
        return self.parts.made()[1]

    def header(self, name: str) -> str:
        """The first extra header called ``name`` (any case), or ''."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), "")


class Outcome(StrEnum):
    """What happened to one message; the ledger maps each to a row state and an action."""

    SENT = "sent"  # accepted (by the SMTP server or the provider)
    RETRY = "retry"  # transient: 4xx, 429, 5xx HTTP, timeout, dropped connection; retry later
    BOUNCED = "bounced"  # permanent, about this recipient (5.1.x...): fail the row, suppress the address
    REJECTED = (
        "rejected"  # permanent, about this message (552, 5.6.x, validation): fail the row, keep address
    )
    BLOCKED = "blocked"  # sender-side policy (5.7.x, 401/403 from a provider): pause the whole campaign


@dataclass(frozen=True, slots=True)
class SendResult:
    """The fate of one ``OutgoingMessage``, matched to it by ``key``.

    ``uncertain`` is set when the message was handed over completely but the answer was lost (the
    connection dropped after DATA, an HTTP read timeout): the message may have been delivered, so the
    ledger must mark the row ``unknown`` instead of retrying it. ``attempted`` is False for messages a
    transport did not even try because an earlier reply in the same batch made trying pointless (a 421,
    a 429, a blocked account); they cost the row no attempt.
    """

    key: str
    outcome: Outcome
    code: str = ""  # "250 2.0.0", "550 5.1.1", "HTTP 429", ...
    detail: str = ""  # the server's text, one line
    provider_id: str = (
        ""  # SES MessageId, SendGrid X-Message-Id, Postmark MessageID, Mailgun id, SMTP queue id
    )
    retry_after: float | None = None  # seconds, from Retry-After or a 421
    uncertain: bool = False
    attempted: bool = True


def one_line(text: str, limit: int = 500) -> str:
    """Server text as one line of bounded length: replies may be multi-line or enormous HTML pages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


STOPPED = "stopped"


def stopped(key: str) -> SendResult:
    """RETRY, not attempted: the caller asked to stop before this message was handed over."""
    detail = "not handed over: sending was stopping"
    return SendResult(key, Outcome.RETRY, STOPPED, detail, attempted=False)


def not_attempted(message: OutgoingMessage, because: SendResult) -> SendResult:
    """RETRY for a message left untried after ``because`` ended the batch early."""
    if because.code == STOPPED:
        return stopped(message.key)
    return SendResult(
        key=message.key,
        outcome=Outcome.RETRY,
        code=because.code,
        detail=f"not attempted: {because.detail or because.outcome.value}",
        retry_after=because.retry_after,
        attempted=False,
    )


class Receipts(Protocol):
    """What a transport tells its caller while a batch is under way (see the module's docstring)."""

    def handing(self, messages: Sequence[OutgoingMessage]) -> bool:
        """``messages`` are about to leave together (one SMTP transaction, one HTTP request); False
        means stop: they and the rest of the batch are reported ``stopped`` and not sent."""

    def answered(self, result: SendResult) -> None:
        """One message's answer, as soon as it is known (at most once per message)."""


class Collected:
    """Receipts that only keep the answers: ``send`` on top of ``deliver``."""

    def __init__(self) -> None:
        self.results: dict[str, SendResult] = {}

    def handing(self, messages: Sequence[OutgoingMessage]) -> bool:
        return True

    def answered(self, result: SendResult) -> None:
        self.results[result.key] = result

    def in_order(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """One result per message, in order; a message the transport never answered is uncertain."""
        return [self.results.get(m.key) or unanswered(m.key) for m in messages]


def unanswered(key: str) -> SendResult:
    """The result of a message a transport took but never answered: it may have been delivered."""
    detail = "the transport gave no answer for this message; it may have been delivered"
    return SendResult(key, Outcome.RETRY, "no answer", detail, uncertain=True)


class Transport(abc.ABC):
    """A way out. Subclasses implement ``deliver`` (or, for a simple transport, only ``send``);
    ``open``/``close`` hold connections between calls.

    ``deliver`` and ``send`` open the transport if it is not open, so a caller may skip ``open``;
    ``close`` may be called any number of times. Instances are safe to share between threads unless a
    subclass says otherwise: the delivery workers call ``deliver`` concurrently.
    """

    name: str
    backend: str = ""
    max_batch: int = 1
    # ``conversation`` is implemented: one thread can drive many of its connections at once (SMTP)
    multiplexed: bool = False
    # the most deliveries (connections) this transport allows at once; 0 when it sets no limit
    connections: int = 0

    def __init__(self, name: str) -> None:
        self.name = name

    def open(self) -> None:  # noqa: B027 - optional hook: most transports have nothing to open
        """Acquire what sending needs (folders, clients); harmless when already open."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and clients; harmless when already closed."""

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        """Send ``messages`` in order, calling ``receipts.handing`` before each leaves and
        ``receipts.answered`` once per message as soon as its answer is known.

        ``max_batch`` is the batch that fits one request or one connection turn; a longer sequence is
        accepted and split, but the caller gets the best pacing by handing over ``max_batch`` at a time.
        This default suits a transport that only implements ``send``: the whole batch is handed over
        at once and answered when ``send`` returns.
        """
        if type(self).send is Transport.send:
            raise TypeError(f"{type(self).__name__} implements neither deliver nor send")
        if not receipts.handing(messages):
            for message in messages:
                receipts.answered(stopped(message.key))
            return
        for result in self.send(messages):
            receipts.answered(result)

    def send(self, messages: Sequence[OutgoingMessage]) -> list[SendResult]:
        """Send ``messages``; exactly one result per message, in the same order."""
        if type(self).deliver is Transport.deliver:
            raise TypeError(f"{type(self).__name__} implements neither deliver nor send")
        collected = Collected()
        self.deliver(messages, collected)
        return collected.in_order(messages)

    def conversation(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> Conversation[None]:
        """``deliver`` as a generator over non-blocking sockets (``conversation.py``), for transports
        that set ``multiplexed``; a sending loop drives many of them in one thread."""
        raise NotImplementedError(f"{type(self).__name__} cannot be multiplexed")

    def recipe(self) -> TransportFactory | None:
        """A picklable callable that builds an equal, unopened transport in a sending process while
        importing only its own module (never the settings' models); None when there is none, and the
        caller builds one from the settings instead."""
        return None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# Builds a transport in a sending process (``Transport.recipe``, or the settings' factory).
TransportFactory = Callable[[], Transport]

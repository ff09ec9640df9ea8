"""SMTP: a pool of reused connections to one relay, each reply classified by its RFC 3463 code.

One message has one envelope recipient, so a refused RCPT is that message's outcome and nothing else's.
A batch is a conversation on one connection taken from the pool (``conversation``: a generator over a
non-blocking socket, so one thread can drive many; ``deliver`` drives one in the calling thread),
connecting, securing (STARTTLS or implicit TLS) and authenticating lazily on a helper thread; a
connection that breaks is dropped and replaced on the next need. On a pipelining server the next
message's envelope goes in the same write as this message's data (RFC 2920).

Never sending twice matters more than never failing: nothing is retried inside the transport once the
message's bytes may have reached the server. The only internal retry is reconnecting when a pooled,
idle connection turns out to be closed before MAIL FROM got any answer. When the final reply to DATA
is lost, the result is RETRY with ``uncertain=True``: the ledger marks the row ``unknown``.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Literal

from outreach.transports.base import (
    STOPPED,
    Outcome,
    OutgoingMessage,
    Receipts,
    SendResult,
    Transport,
    TransportFactory,
    not_attempted,
    one_line,
    stopped,
)
from outreach.transports.conversation import READ, WRITE, Conversation, Offload, Wait, run
from outreach.transports.smtp_codes import classify_smtp, reply_code

Security = Literal["none", "starttls", "tls"]

_QUEUE_ID = (
    re.compile(r"queued as ([A-Za-z0-9._-]+)", re.IGNORECASE),  # Postfix
    re.compile(r"\bid=([A-Za-z0-9._-]+)"),  # Exim
    re.compile(r"^2\.\d\.\d+\s+([A-Za-z0-9]{6,})\s+Message accepted", re.IGNORECASE),  # Sendmail
)
_WAIT = re.compile(r"(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?)\b", re.IGNORECASE)
# A message's announcement (``receipts.handing``) still to be made, once its bytes are about to go
_Hand = Callable[[], bool] | None
_MAX_LINE = 8192  # as smtplib's: a longer reply line is garbage, not a reply
_LINE_DOT = re.compile(rb"\n\.")


def dot_stuff(raw: bytes) -> bytes:
    """Double every dot that starts a line (RFC 5321 4.5.2). This runs once per message with the GIL
    held: a precompiled ``\\n\\.`` search is ~2.5x faster than ``bytes.find`` on a 60 KB message (whose
    byte-at-a-time search stops at every newline), and returns ``raw`` itself when there is no match."""
    raw = _LINE_DOT.sub(b"\n..", raw)
    return b"." + raw if raw.startswith(b".") else raw


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to connect; built by the factory from ``[transports.NAME]`` and the environment."""

    host: str
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    connections: int = 4
    tls_verify: bool = True
    local_hostname: str | None = None
    max_batch: int = 50


class _Lost(Exception):
    """The connection is unusable; ``uncertain`` when the message's bytes may have been accepted."""

    def __init__(
        self,
        stage: str,
        detail: str,
        *,
        uncertain: bool = False,
        stalled: bool = False,
        reply: tuple[int, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.reply = reply
        self.stage = stage
        self.detail = detail
        self.uncertain = uncertain
        self.stalled = stalled


class _Refused(Exception):
    """Connecting, securing or logging in failed with a result that applies to every message."""

    def __init__(self, result: SendResult) -> None:
        super().__init__(result.detail)
        self.result = result


class _Connection:
    """One open, greeted, secured and authenticated SMTP session and what its server offers.

    Set up with ``smtplib`` (blocking, once per connection, off the sending loop), then driven by this
    module's own non-blocking reads and writes: the socket is non-blocking from here on, and replies
    are read into ``inbox`` (smtplib's buffered file is never read again: the server sends nothing
    unasked, so it holds nothing)."""

    def __init__(self, client: smtplib.SMTP, timeout: float) -> None:
        self.client = client
        assert client.sock is not None  # connected and greeted
        self.sock: socket.socket = client.sock
        self.timeout = timeout
        self.inbox = bytearray()
        self.asked = False  # written to since the last read: the answer is not here yet
        # the key of the message whose MAIL, RCPT and DATA went out behind the last message's data
        # (RFC 2920): its three replies are the next ones to read
        self.ahead: str | None = None
        self.used = False  # has carried a transaction: the server may have closed it while idle
        self.closed = False
        self.esmtp = bool(client.does_esmtp)
        self.pipelining = client.has_extn("pipelining")
        self.smtputf8 = client.has_extn("smtputf8")
        self.eight_bit = client.has_extn("8bitmime")
        size = client.esmtp_features.get("size", "").strip()
        self.size_limit = int(size) if size.isdigit() and int(size) > 0 else None
        self.sock.setblocking(False)

    def drop(self) -> None:
        """Close at once (the session is out of step, or the server is gone)."""
        self.closed = True
        self.client.close()

    def close(self) -> None:
        """Say goodbye (QUIT) and close."""
        try:
            self.sock.settimeout(min(self.timeout, 5.0))
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()


class _Held:
    """The connection a conversation is using: replaced when it breaks, known to whoever cleans up."""

    __slots__ = ("connection",)

    def __init__(self, connection: _Connection | None) -> None:
        self.connection = connection


# -- non-blocking reads and writes (generators: they yield what they wait for) ---------------------------


def _send(connection: _Connection, data: bytes) -> Conversation[None]:
    """Write all of ``data``; the deadline moves with every write that makes progress."""
    sock, timeout = connection.sock, connection.timeout
    view = memoryview(data)
    total, sent = len(data), 0
    deadline = 0.0
    connection.asked = True
    while sent < total:
        try:
            sent += sock.send(view[sent:])
            deadline = 0.0
        except (BlockingIOError, ssl.SSLWantWriteError):
            deadline = deadline or time.monotonic() + timeout
            yield Wait(sock, WRITE, deadline)
        except ssl.SSLWantReadError:
            deadline = deadline or time.monotonic() + timeout
            yield Wait(sock, READ, deadline)


def _receive(connection: _Connection) -> Conversation[None]:
    """Append what the server sent next to the connection's inbox. Right after a write the answer
    cannot be there yet: wait for it before reading (a read first would only find nothing, one
    system call a reply for nothing) unless TLS holds decrypted bytes the poller cannot see."""
    sock = connection.sock
    deadline = 0.0
    if connection.asked:
        connection.asked = False
        if not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
            deadline = time.monotonic() + connection.timeout
            yield Wait(sock, READ, deadline)
    while True:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            deadline = deadline or time.monotonic() + connection.timeout
            yield Wait(sock, READ, deadline)
            continue
        except ssl.SSLWantWriteError:
            deadline = deadline or time.monotonic() + connection.timeout
            yield Wait(sock, WRITE, deadline)
            continue
        if not data:
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        connection.inbox += data
        return


def _reply(connection: _Connection) -> Conversation[tuple[int, bytes]]:
    """One (possibly multi-line) reply, parsed as ``smtplib.SMTP.getreply`` does."""
    inbox = connection.inbox
    lines: list[bytes] = []
    while True:
        end = inbox.find(b"\n")
        if end < 0:
            if len(inbox) > _MAX_LINE:
                connection.drop()
                raise smtplib.SMTPResponseException(500, "Line too long.")
            yield from _receive(connection)
            continue
        line = bytes(inbox[: end + 1])
        del inbox[: end + 1]
        lines.append(line[4:].strip(b" \t\r\n"))
        if line[3:4] != b"-":
            code = line[:3]
            return (int(code) if code.isdigit() else -1), b"\n".join(lines)


def _exchange(connection: _Connection, command: bytes) -> Conversation[tuple[int, bytes]]:
    yield from _send(connection, command)
    return (yield from _reply(connection))


class SmtpTransport(Transport):
    """Sends through one SMTP relay with up to ``settings.connections`` concurrent sessions."""

    backend = "smtp"
    multiplexed = True

    def __init__(self, name: str, settings: SmtpSettings, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(name)
        self.settings = settings
        self.max_batch = settings.max_batch
        self.connections = settings.connections
        self.endpoint = f"{settings.host}:{settings.port}"
        self._own_context = ssl_context is None  # built from the settings, so a recipe can build it again
        self._context = ssl_context or _tls_context(settings.tls_verify)
        self._slots = threading.BoundedSemaphore(settings.connections)
        self._lock = threading.Lock()
        self._idle: list[_Connection] = []
        self._generation = 0

    def recipe(self) -> TransportFactory | None:
        return partial(SmtpTransport, self.name, self.settings) if self._own_context else None

    def open(self) -> None:
        """Connections open lazily, one per concurrent ``send``; there is nothing to do up front."""

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._generation += 1  # connections in use now are closed when handed back
        for connection in idle:
            connection.close()

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        with self._slots:
            run(self.conversation(messages, receipts))

    def conversation(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> Conversation[None]:
        """``deliver`` as a conversation, for a loop that drives many connections in one thread
        (``conversation.Multiplexer``); the caller keeps to ``settings.connections`` at once."""
        connection, generation = self._take()
        held = _Held(connection)
        try:
            yield from self._send_batch(held, messages, receipts)
        except BaseException:
            if held.connection is not None:  # stopped mid-transaction: the session is out of step
                held.connection.drop()
            raise
        if held.connection is not None and held.connection.ahead is not None:
            # the batch stopped with the next envelope sent: the only safe end is to hang up (a 354
            # may be coming, and ending it with a dot would deliver an empty message)
            held.connection.drop()
            held.connection = None
        self._give(held.connection, generation)

    def _take(self) -> tuple[_Connection | None, int]:
        with self._lock:
            return (self._idle.pop() if self._idle else None), self._generation

    def _give(self, connection: _Connection | None, generation: int) -> None:
        if connection is None:
            return
        with self._lock:
            if generation == self._generation:
                self._idle.append(connection)
                return
        connection.close()

    def _send_batch(
        self, held: _Held, messages: Sequence[OutgoingMessage], receipts: Receipts
    ) -> Conversation[None]:
        """One message at a time on one connection, each answered as soon as its final reply is read.

        A message is announced (``receipts.handing``) just before the first of its bytes that could
        lead to a delivery: before its MAIL FROM, or, when its MAIL, RCPT and DATA went out behind the
        previous message's data (RFC 2920: one write and one read a message instead of two), before
        its data, once the server has answered them. Either way at most one message per connection is
        ever handed over without an answer."""
        halt: SendResult | None = None
        turn = _Turn(messages)
        for index, message in enumerate(messages):
            connection = held.connection
            ahead = connection is not None and connection.ahead == message.key
            if halt is None and not ahead and not receipts.handing((message,)):
                halt = stopped(message.key)
            if halt is not None:
                receipts.answered(not_attempted(message, halt))
                continue
            turn.index = index
            hand = partial(receipts.handing, (message,)) if ahead else None
            result, stop = yield from self._send_one(held, message, turn, hand)
            receipts.answered(result)
            if stop:
                halt = result

    def _send_one(
        self, held: _Held, message: OutgoingMessage, turn: _Turn, hand: _Hand = None
    ) -> Conversation[tuple[SendResult, bool]]:
        """One message's result and whether to stop the batch; ``held`` ends with the connection to
        go on with (None when it broke). ``hand``: the message is still to be announced."""
        for attempt in range(2):
            connection = held.connection
            if connection is None:
                try:
                    connection = yield Offload(self._connect)
                except _Refused as refused:
                    return _rekey(refused.result, message.key), True
                held.connection = connection
            assert connection is not None
            was_used, connection.used = connection.used, True
            try:
                result = yield from self._transaction(connection, message, turn, hand)
            except smtplib.SMTPException as err:  # nothing smtplib should raise here; fail safe, not twice
                held.connection = None
                connection.drop()
                detail = f"{self.endpoint}: {type(err).__name__}: {err}"
                return SendResult(message.key, Outcome.RETRY, "error", detail), True
            except _Lost as lost:
                held.connection = None
                connection.drop()
                if attempt == 0 and was_used and lost.stage == "MAIL" and not lost.stalled:
                    continue  # closed while idle (or behind the last message): nothing of this one was sent
                if lost.reply is not None:
                    code, text = lost.reply
                    closing = SendResult(message.key, Outcome.RETRY, reply_code(code, text), lost.detail)
                    return _with_retry_after(closing, _retry_after(text)), True
                return self._lost_result(message, lost), lost.stalled
            if result.code == STOPPED:
                if connection.closed:
                    held.connection = None
                return result, True
            if result.code.startswith("421"):
                held.connection = None
                connection.drop()
                return result, True
            if connection.closed:  # a failed RSET closed it
                held.connection = None
            return result, result.outcome is Outcome.BLOCKED
        raise AssertionError("unreachable")

    def _lost_result(self, message: OutgoingMessage, lost: _Lost) -> SendResult:
        return SendResult(
            key=message.key,
            outcome=Outcome.RETRY,
            code="timeout" if lost.stalled else "disconnected",
            detail=f"{self.endpoint}: {lost.detail}",
            uncertain=lost.uncertain,
        )

    # -- one transaction ------------------------------------------------------------------------------

    def _transaction(
        self, connection: _Connection, message: OutgoingMessage, turn: _Turn, hand: _Hand = None
    ) -> Conversation[SendResult]:
        prepared = _prepare(connection, message)
        if isinstance(prepared, SendResult):
            return prepared
        sender, recipient, options = prepared
        if connection.pipelining:
            return (yield from self._pipelined(connection, message, sender, recipient, options, turn, hand))
        if hand is not None and not hand():
            return stopped(message.key)
        extra = " " + " ".join(options) if options and connection.esmtp else ""
        code, text = yield from self._command("MAIL", connection, f"MAIL FROM:<{sender}>{extra}\r\n")
        if code == 421:
            raise _Lost("MAIL", f"MAIL FROM: {text}", reply=(code, text))
        if code != 250:
            return (yield from self._failed(connection, message, code, text, "MAIL FROM"))
        code, text = yield from self._command("RCPT", connection, f"RCPT TO:<{recipient}>\r\n")
        if code not in (250, 251):
            return (yield from self._failed(connection, message, code, text, "RCPT TO"))
        code, text = yield from self._command("DATA", connection, "DATA\r\n")
        if code != 354:
            return (yield from self._failed(connection, message, code, text, "DATA"))
        code, text = yield from self._payload(connection, message, turn)
        if code != 250:
            return (yield from self._failed(connection, message, code, text, "end of DATA"))
        return SendResult(message.key, Outcome.SENT, reply_code(code, text), text, _queue_id(text))

    def _pipelined(
        self,
        connection: _Connection,
        message: OutgoingMessage,
        sender: str,
        recipient: str,
        options: Sequence[str],
        turn: _Turn,
        hand: _Hand = None,
    ) -> Conversation[SendResult]:
        """MAIL, RCPT and DATA in one write, their three replies read in order (RFC 2920): one round
        trip instead of three per message; when they already went out behind the previous message's
        data, only their replies are read. Every reply is read before deciding, so the connection
        stays in step; a 354 after a refused step is ended with an empty message and discarded."""
        if connection.ahead == message.key:
            connection.ahead = None
            commands = None
        else:
            if hand is not None and not hand():  # a retry on a new connection: announce it first
                return stopped(message.key)
            hand = None
            commands = _envelope(sender, recipient, options)
        mail = yield from self._command("MAIL", connection, commands)
        if mail[0] == 421:
            raise _Lost("MAIL", f"MAIL FROM: {mail[1]}", reply=mail)
        rcpt = yield from self._command("RCPT", connection, None)
        if rcpt[0] == 421:  # the server is closing: nothing more will be answered
            return (yield from self._failed(connection, message, *rcpt, "RCPT TO"))
        data = yield from self._command("DATA", connection, None)
        if data[0] == 421:
            return (yield from self._failed(connection, message, *data, "DATA"))
        refused = next(
            (
                (code, text, stage)
                for (code, text), stage, ok in (
                    (mail, "MAIL FROM", (250,)),
                    (rcpt, "RCPT TO", (250, 251)),
                    (data, "DATA", (354,)),
                )
                if code not in ok
            ),
            None,
        )
        if refused is not None:
            if data[0] == 354:  # the server opened DATA although a step failed: end it empty
                yield from self._command("DATA", connection, ".\r\n")
            return (yield from self._failed(connection, message, *refused))
        if hand is not None and not hand():
            connection.drop()  # DATA is open: hanging up is the only way out that delivers nothing
            return stopped(message.key)
        code, text = yield from self._payload(connection, message, turn)
        if code != 250:
            return (yield from self._failed(connection, message, code, text, "end of DATA"))
        return SendResult(message.key, Outcome.SENT, reply_code(code, text), text, _queue_id(text))

    def _command(
        self, stage: str, connection: _Connection, command: str | None
    ) -> Conversation[tuple[int, str]]:
        """Send ``command`` (None: it went with an earlier write) and read its reply."""
        try:
            if command is not None:
                yield from _send(connection, command.encode("utf-8"))
            code, reply = yield from _reply(connection)
        except smtplib.SMTPServerDisconnected as err:
            raise _Lost(stage, self._lost_detail(stage, err, False)) from err
        except OSError as err:
            stalled = isinstance(err, TimeoutError)
            raise _Lost(stage, self._lost_detail(stage, err, stalled), stalled=stalled) from err
        return code, one_line(reply.decode("utf-8", "replace"))

    def _lost_detail(self, stage: str, err: Exception, stalled: bool) -> str:
        if stalled:
            return f"{stage}: no answer within {self.settings.timeout:g} s"
        return f"{stage}: connection lost ({err})"

    def _payload(
        self, connection: _Connection, message: OutgoingMessage, turn: _Turn
    ) -> Conversation[tuple[int, str]]:
        """Send the dot-stuffed message and read the final reply; a lost reply is uncertain.

        On a pipelining server the next message of the batch is composed first and its MAIL, RCPT and
        DATA go in the same write, behind the dot (``connection.ahead``); meanwhile, while the server
        takes the message in, the one after it is composed, so the server's work and ours overlap."""
        following = turn.following() if connection.pipelining else None
        envelope = b""
        if following is not None:
            prepared = _prepare(connection, following)
            if not isinstance(prepared, SendResult):
                envelope = _envelope(*prepared).encode("utf-8")
        data = message.raw if message.dot_free else dot_stuff(message.raw)
        end = b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"
        try:
            # One write: a separate small write for the final dot costs a system call and a packet.
            yield from _send(connection, data + end + envelope)
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            # Not everything reached the server, so the terminating dot did not: nothing was delivered.
            raise _Lost("DATA", f"DATA: connection lost while sending the message ({err})") from err
        if envelope:
            assert following is not None
            connection.ahead = following.key
        turn.meanwhile()
        try:
            code, reply = yield from _reply(connection)
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Lost(
                "DATA",
                "connection lost after DATA: the message may have been delivered",
                uncertain=True,
                stalled=isinstance(err, TimeoutError),
            ) from err
        return code, one_line(reply.decode("utf-8", "replace"))

    def _failed(
        self, connection: _Connection, message: OutgoingMessage, code: int, text: str, stage: str
    ) -> Conversation[SendResult]:
        """A refused step: classify it and RSET so the connection can carry the next message."""
        result = SendResult(
            key=message.key,
            outcome=classify_smtp(code, text),
            code=reply_code(code, text),
            detail=f"{stage}: {text}",
            retry_after=_retry_after(text) if code == 421 else None,
        )
        if code != 421 and connection.ahead is None:  # with an envelope ahead, the transaction is over
            try:
                yield from _exchange(connection, b"RSET\r\n")
            except (smtplib.SMTPException, OSError):
                connection.drop()
                return _with_code(result, result.code + " (connection closed)")
        return result

    # -- connecting -----------------------------------------------------------------------------------

    def _connect(self) -> _Connection:
        settings = self.settings
        try:
            client = self._open_client()
            _no_delay(client)
            code, text = client.ehlo()
            if code != 250:
                code, text = client.helo()
            if code != 250:
                raise _Refused(self._refused(code, text.decode("utf-8", "replace"), "EHLO"))
            if settings.security == "starttls":
                self._starttls(client)
            if settings.username:
                self._login(client)
        except smtplib.SMTPConnectError as err:
            raise _Refused(self._refused(err.smtp_code, _text(err.smtp_error), "greeting")) from err
        except ssl.SSLCertVerificationError as err:
            hint = "install its CA or, for a test server only, set tls_verify = false"
            raise _Refused(
                self._blocked(f"TLS certificate not trusted ({err.verify_message}); {hint}")
            ) from err
        except ssl.SSLError as err:
            raise _Refused(self._blocked(f"TLS failed ({err.reason}); check security and port")) from err
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Refused(self._unreachable(err)) from err
        except smtplib.SMTPException as err:  # an odd reply while setting up: try again later
            raise _Refused(SendResult("", Outcome.RETRY, "setup", f"{self.endpoint}: {err}")) from err
        return _Connection(client, settings.timeout)

    def _open_client(self) -> smtplib.SMTP:
        s = self.settings
        if s.security == "tls":
            return smtplib.SMTP_SSL(
                s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout, context=self._context
            )
        return smtplib.SMTP(s.host, s.port, local_hostname=s.local_hostname, timeout=s.timeout)

    def _starttls(self, client: smtplib.SMTP) -> None:
        if not client.has_extn("starttls"):
            raise _Refused(
                self._blocked('the server does not offer STARTTLS; set security = "tls" or "none"')
            )
        code, text = client.starttls(context=self._context)
        if code != 220:
            raise _Refused(self._refused(code, _text(text), "STARTTLS"))
        client.ehlo()

    def _login(self, client: smtplib.SMTP) -> None:
        if not client.has_extn("auth"):
            hint = "" if self.settings.security != "none" else " (most servers offer it only after STARTTLS)"
            raise _Refused(self._blocked(f"the server does not offer AUTH{hint}"))
        try:
            client.login(self.settings.username, self.settings.password)
        except smtplib.SMTPAuthenticationError as err:
            raise _Refused(self._refused(err.smtp_code, _text(err.smtp_error), "AUTH")) from err
        except smtplib.SMTPException as err:
            raise _Refused(self._blocked(f"AUTH failed: {err}")) from err

    def _refused(self, code: int, text: str, stage: str) -> SendResult:
        """A refusal before any message: transient if 4xx, otherwise about us (pause), never the address."""
        outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.BLOCKED
        retry_after = _retry_after(text) if code == 421 else None
        detail = f"{self.endpoint}: {stage}: {one_line(text)}"
        return SendResult("", outcome, reply_code(code, text), detail, retry_after=retry_after)

    def _blocked(self, detail: str) -> SendResult:
        return SendResult("", Outcome.BLOCKED, "config", f"{self.endpoint}: {detail}")

    def _unreachable(self, err: BaseException) -> SendResult:
        if isinstance(err, TimeoutError) or isinstance(err.__context__, TimeoutError):
            detail = f"{self.endpoint}: no answer within {self.settings.timeout:g} s"
            return SendResult("", Outcome.RETRY, "timeout", detail)
        return SendResult("", Outcome.RETRY, "connect", f"{self.endpoint}: cannot connect ({err})")


def _no_delay(client: smtplib.SMTP) -> None:
    """Turn Nagle's algorithm off: every write here is a whole unit (the pipelined commands, a whole
    message) followed by a wait for the reply, so there is never a small write worth holding back.
    With it on, the tail segment of a message (one that does not fit the peer's window in one
    segment) waits for the ACK of the rest, which the server delays (it has nothing to say until the
    final dot): 40-200 ms stalls, per message, on every connection."""
    sock = getattr(client, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _envelope(sender: str, recipient: str, options: Sequence[str]) -> str:
    extra = " " + " ".join(options) if options else ""
    return f"MAIL FROM:<{sender}>{extra}\r\nRCPT TO:<{recipient}>\r\nDATA\r\n"


class _Turn:
    """Where a batch is: the message after the current one, composed when asked (for its envelope),
    and the one after that composed meanwhile. A message that cannot be composed fails later, in its
    own turn, not in the current one's."""

    __slots__ = ("index", "messages")

    def __init__(self, messages: Sequence[OutgoingMessage]) -> None:
        self.messages = messages
        self.index = 0

    def following(self) -> OutgoingMessage | None:
        return self._composed(self.index + 1)

    def meanwhile(self) -> None:
        """Compose the next message not yet composed (a lazily composed batch keeps what it made)."""
        if self._composed(self.index + 1) is not None:
            self._composed(self.index + 2)

    def _composed(self, index: int) -> OutgoingMessage | None:
        if index >= len(self.messages):
            return None
        try:
            return self.messages[index]
        except Exception:
            return None


def _prepare(connection: _Connection, message: OutgoingMessage) -> tuple[str, str, list[str]] | SendResult:
    """Envelope addresses and MAIL FROM parameters, or the reason this server cannot take the message."""
    options: list[str] = []
    sender, recipient = _ascii_domain(message.envelope_from), _ascii_domain(message.recipient)
    for address in (sender, recipient):
        if "\r" in address or "\n" in address or ">" in address:  # would end the command early
            return SendResult(message.key, Outcome.REJECTED, "address", f"address {address!r} is not valid")
    if not (sender.isascii() and recipient.isascii()):
        if not connection.smtputf8:
            address = recipient if not recipient.isascii() else sender
            detail = f"address {address!r} needs SMTPUTF8, which the server does not offer"
            return SendResult(message.key, Outcome.REJECTED, "SMTPUTF8", detail)
        options.append("SMTPUTF8")
    # Delivery composes 7-bit messages, which need no parameter and pass any relay; only 8-bit bytes
    # (UTF-8 headers of an SMTPUTF8 message, or a message composed elsewhere) ask for BODY=8BITMIME,
    # and only of a server that offers it: one that does not would refuse the unknown parameter.
    if not (message.seven_bit or message.raw.isascii()):
        if not (connection.eight_bit or "SMTPUTF8" in options):
            detail = "the message has 8-bit bytes and the server does not offer 8BITMIME"
            return SendResult(message.key, Outcome.REJECTED, "8BITMIME", detail)
        if connection.eight_bit:
            options.append("BODY=8BITMIME")
    if connection.size_limit is not None:
        if len(message.raw) > connection.size_limit:
            detail = (
                f"the message is {len(message.raw)} bytes; the server takes at most {connection.size_limit}"
            )
            return SendResult(message.key, Outcome.REJECTED, "552 5.3.4", detail)
        options.append(f"SIZE={len(message.raw)}")
    return sender, recipient, options


def _ascii_domain(address: str) -> str:
    """IDNA-encode a non-ASCII domain, which needs no SMTPUTF8; a non-ASCII local part still does."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return address


def _queue_id(text: str) -> str:
    for pattern in _QUEUE_ID:
        match = pattern.search(text)
        if match:
            return match.group(1)
    return ""


def _retry_after(text: str) -> float | None:
    """Seconds to wait when a 421 says so ("try again in 5 minutes"); None when it does not."""
    match = _WAIT.search(text)
    if not match:
        return None
    amount = float(match.group(1))
    return amount * 60 if match.group(2).lower().startswith("m") else amount


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _rekey(result: SendResult, key: str) -> SendResult:
    return SendResult(key, result.outcome, result.code, result.detail, result.provider_id, result.retry_after)


def _with_code(result: SendResult, code: str) -> SendResult:
    return SendResult(result.key, result.outcome, code, result.detail, result.provider_id, result.retry_after)


def _with_retry_after(result: SendResult, seconds: float | None) -> SendResult:
    return SendResult(result.key, result.outcome, result.code, result.detail, result.provider_id, seconds)


def _tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

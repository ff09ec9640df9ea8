"""One thread, many SMTP connections: the Multiplexer that a run's sending loop is built on.

The single-connection path (``deliver``) runs the same conversation and is covered by test_smtp.py;
these tests drive several connections from one thread against real aiosmtpd servers (with and
without PIPELINING), and the loop itself over socket pairs.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from outreach.transports.base import Collected, Outcome, OutgoingMessage, SendResult
from outreach.transports.conversation import READ, Conversation, Multiplexer, Offload, Wait, run
from outreach.transports.smtp import SmtpSettings, SmtpTransport
from tests.transports.conftest import SmtpServer, make_message


class InOrder(Collected):
    """Receipts that also keep the order in which answers arrived, across connections."""

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    def answered(self, result: SendResult) -> None:
        super().answered(result)
        self.log.append(result.key)


def _transport(server: SmtpServer, connections: int, timeout: float = 10.0) -> SmtpTransport:
    settings = SmtpSettings(
        server.host, server.port, security="none", connections=connections, timeout=timeout
    )
    return SmtpTransport("relay", settings)


def _batches(count: int, size: int) -> list[list[OutgoingMessage]]:
    return [[make_message(b * size + i) for i in range(size)] for b in range(count)]


def _serve(loop: Multiplexer, conversations: list[Conversation[Any]]) -> list[BaseException | None]:
    errors: list[BaseException | None] = []
    for conversation in conversations:
        loop.start(conversation, lambda _, error: errors.append(error))
    loop.shut()
    loop.serve()
    return errors


def test_one_thread_drives_several_connections_and_each_message_arrives_once(
    smtp_server: SmtpServer,
) -> None:
    transport = _transport(smtp_server, 4)
    batches = _batches(4, 10)
    receipts = [Collected() for _ in batches]
    loop = Multiplexer()
    errors = _serve(loop, [transport.conversation(b, r) for b, r in zip(batches, receipts, strict=True)])
    transport.close()
    assert errors == [None] * 4
    results = [r for batch, got in zip(batches, receipts, strict=True) for r in got.in_order(batch)]
    assert [r.outcome for r in results] == [Outcome.SENT] * 40
    arrived = sorted(rcpts[0] for _, rcpts, _, _ in smtp_server.handler.received)
    assert arrived == sorted(m.recipient for batch in batches for m in batch)
    assert smtp_server.handler.sessions == 4  # one connection per conversation, none replaced


def test_a_stalled_connection_times_out_alone(smtp_server: SmtpServer) -> None:
    stalled = "stall@example.org"
    smtp_server.handler.faults[stalled] = "stall"
    transport = _transport(smtp_server, 3, timeout=0.5)
    batches = _batches(3, 5)
    batches[0][0] = make_message(99, stalled)
    order: list[str] = []
    receipts = [InOrder(order) for _ in batches]
    errors = _serve(
        Multiplexer(), [transport.conversation(b, r) for b, r in zip(batches, receipts, strict=True)]
    )
    transport.close()
    assert errors == [None] * 3
    first = receipts[0].in_order(batches[0])
    assert first[0].code == "timeout" and "no answer within 0.5 s" in first[0].detail
    assert all(not r.attempted for r in first[1:])  # the stalled connection's batch stops there
    others = [r for batch, got in zip(batches[1:], receipts[1:], strict=True) for r in got.in_order(batch)]
    assert [r.outcome for r in others] == [Outcome.SENT] * 10
    # the other connections went on while the stalled one waited: its answer came after theirs
    assert order.index(first[0].key) > max(order.index(r.key) for r in others)


def test_an_answer_held_by_the_server_holds_only_its_own_connection(smtp_server: SmtpServer) -> None:
    held = "held@example.org"
    smtp_server.handler.faults[held] = "hold"
    transport = _transport(smtp_server, 2)
    slow = [make_message(1, held), make_message(2)]
    quick = [make_message(10 + i) for i in range(6)]
    order: list[str] = []
    quick_done = threading.Event()
    loop = Multiplexer()
    finished: list[BaseException | None] = []

    def start() -> None:
        loop.start(transport.conversation(slow, InOrder(order)), lambda _, e: finished.append(e))
        loop.start(
            transport.conversation(quick, InOrder(order)),
            lambda _, e: (finished.append(e), quick_done.set()),
        )
        loop.shut()

    loop.call_soon(start)
    thread = threading.Thread(target=loop.serve)
    thread.start()
    try:
        assert quick_done.wait(10), "the other connection waited for the held answer"
        assert slow[0].key not in order
    finally:
        smtp_server.handler.release.set()
        thread.join(10)
    transport.close()
    assert finished == [None, None]
    assert order[-2:] == [slow[0].key, slow[1].key]


def test_the_pool_hands_a_finished_conversations_connection_to_the_next(smtp_server: SmtpServer) -> None:
    transport = _transport(smtp_server, 1)
    first, second = _batches(2, 3)
    for batch in (first, second):
        got = Collected()
        run(transport.conversation(batch, got))
        assert [r.outcome for r in got.in_order(batch)] == [Outcome.SENT] * 3
    transport.close()
    assert smtp_server.handler.sessions == 1


# -- the loop itself, over socket pairs ----------------------------------------------------------------


def _echo_once(sock: socket.socket, timeout: float) -> Conversation[bytes]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return sock.recv(100)
        except BlockingIOError:
            yield Wait(sock, READ, deadline)


def _pair() -> tuple[socket.socket, socket.socket]:
    a, b = socket.socketpair()
    a.setblocking(False)
    return a, b


def test_the_loop_resumes_each_conversation_when_its_socket_is_ready() -> None:
    pairs = [_pair() for _ in range(3)]
    results: dict[int, Any] = {}
    loop = Multiplexer()
    for n, (mine, _) in enumerate(pairs):
        loop.start(_echo_once(mine, 10), lambda value, error, n=n: results.__setitem__(n, (value, error)))
    for n, (_, theirs) in reversed(list(enumerate(pairs))):
        theirs.send(f"to {n}".encode())
    loop.shut()
    loop.serve()
    assert results == {n: (f"to {n}".encode(), None) for n in range(3)}
    for a, b in pairs:
        a.close()
        b.close()


def test_a_deadline_is_thrown_in_as_a_timeout_and_the_others_go_on() -> None:
    (quiet, _q), (talks, peer) = _pair(), _pair()
    results: dict[str, Any] = {}
    loop = Multiplexer()
    loop.start(_echo_once(quiet, 0.05), lambda v, e: results.__setitem__("quiet", e))
    loop.start(_echo_once(talks, 10), lambda v, e: results.__setitem__("talks", v))
    peer.send(b"hello")
    loop.shut()
    loop.serve()
    assert isinstance(results["quiet"], TimeoutError)
    assert results["talks"] == b"hello"
    for s in (quiet, _q, talks, peer):
        s.close()


def _offloaded(call: Any) -> Conversation[Any]:
    try:
        value = yield Offload(call)
    except ValueError as err:
        return f"caught {err}"
    return value


def _raise() -> None:
    raise ValueError("refused")


@pytest.mark.parametrize("driver", ["loop", "alone"])
def test_offloaded_calls_send_back_their_result_or_their_error(driver: str) -> None:
    conversations = [_offloaded(lambda: threading.current_thread().name), _offloaded(_raise)]
    if driver == "alone":
        got: Sequence[Any] = [run(c) for c in conversations]
        assert got == [threading.current_thread().name, "caught refused"]
        return
    results: list[Any] = []
    loop = Multiplexer()
    for conversation in conversations:
        loop.start(conversation, lambda v, e: results.append(v))
    loop.shut()
    loop.serve()
    assert len(results) == 2 and "caught refused" in results
    (name,) = (r for r in results if r != "caught refused")
    assert name.startswith("connecting") and name != threading.current_thread().name  # off the loop


# -- the next envelope behind the data (RFC 2920) ------------------------------------------------------


class StopAt(Collected):
    """Receipts that say "stop" when the ``at``-th message is about to be handed over."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at
        self.asked = 0

    def handing(self, messages: Sequence[OutgoingMessage]) -> bool:
        self.asked += 1
        return self.asked < self.at


def test_a_stop_before_the_next_message_delivers_nothing_of_it(smtp_server: SmtpServer) -> None:
    """On a pipelining server the second message's MAIL, RCPT and DATA went out behind the first's
    data; it is announced only once DATA is open, and "stop" then hangs up: no empty message, nothing
    delivered, the connection not pooled. Without PIPELINING it is never announced at all."""
    transport = _transport(smtp_server, 1)
    batch = [make_message(n) for n in range(3)]
    receipts = StopAt(2)
    run(transport.conversation(batch, receipts))
    results = receipts.in_order(batch)
    assert results[0].outcome is Outcome.SENT
    assert all(r.code == "stopped" and not r.attempted for r in results[1:])
    assert [rcpts[0] for _, rcpts, _, _ in smtp_server.handler.received] == [batch[0].recipient]
    assert len(transport._idle) == (0 if smtp_server.handler.pipelining else 1)
    later, got = make_message(9), Collected()
    run(transport.conversation([later], got))  # the transport goes on (on a new connection if need be)
    assert got.in_order([later])[0].outcome is Outcome.SENT
    transport.close()


def _first_refused(
    server: SmtpServer, reply: str
) -> tuple[SmtpTransport, list[OutgoingMessage], list[SendResult]]:
    """A batch of three on one connection whose first message gets ``reply`` at the end of its data."""
    first = make_message(0, "first@example.org")
    server.handler.faults[first.recipient] = f"data:{reply}"
    transport = _transport(server, 1)
    batch = [first, make_message(1), make_message(2)]
    got = Collected()
    run(transport.conversation(batch, got))
    return transport, batch, got.in_order(batch)


def test_a_policy_refusal_with_the_next_envelope_sent_hangs_up_and_sends_nothing_more(
    smtp_server: SmtpServer,
) -> None:
    transport, _, results = _first_refused(smtp_server, "554 5.7.1 Rejected by policy")
    assert results[0].outcome is Outcome.BLOCKED
    assert all(not r.attempted for r in results[1:])
    assert smtp_server.handler.received == []
    assert len(transport._idle) == (0 if smtp_server.handler.pipelining else 1)
    transport.close()


def test_a_refused_message_leaves_the_next_one_in_step(smtp_server: SmtpServer) -> None:
    """A 552 at the end of one message's data, with the next envelope already behind it: no RSET
    (it would land in the next message's data), the next message goes through whole."""
    transport, batch, results = _first_refused(smtp_server, "552 5.3.4 Message too big")
    transport.close()
    assert results[0].outcome is Outcome.REJECTED
    assert [r.outcome for r in results[1:]] == [Outcome.SENT, Outcome.SENT]
    arrived = {rcpts[0]: raw for _, rcpts, raw, _ in smtp_server.handler.received}
    assert set(arrived) == {batch[1].recipient, batch[2].recipient}
    for message in batch[1:]:  # each arrived exactly as composed: nothing of a stray command in it
        assert arrived[message.recipient].replace(b"\r\n", b"\n") == message.raw.replace(b"\r\n", b"\n")

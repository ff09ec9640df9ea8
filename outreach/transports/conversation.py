"""Conversations over non-blocking sockets, written as generators, driven alone or many in one thread.

A conversation (one SMTP connection's batch) is a generator that does its own non-blocking reads and
writes and, when a socket is not ready, yields what it waits for: ``Wait`` (a socket, read or write,
and a deadline; a deadline that passes is thrown back in as ``TimeoutError``) or ``Offload`` (a
blocking call, such as connecting and securing a session, run elsewhere and its result sent back in).

Why not threads: every blocking socket call releases the GIL, and with one thread per connection the
threads hand the GIL to one another through the kernel several times a message (8-17 context switches
a message at 4-10 connections, measured), which cost more CPU than the conversation itself. One thread
that waits on all its sockets at once wakes once per batch of ready sockets. Why not asyncio: its
streams and tasks cost several times more per step than a generator resumed from a ``poll`` table, and
this loop has only two things to wait for.

``run`` drives one conversation in the calling thread (``Transport.deliver``); ``Multiplexer`` drives
many in the thread that calls ``serve`` (the sending loop of a run), taking work from other threads
through ``call_soon``.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from queue import Empty, SimpleQueue
from typing import Any, NamedTuple, TypeVar

READ = 1
WRITE = 2

R = TypeVar("R")


class Wait(NamedTuple):
    """Resume me when ``sock`` is ready for ``events``; throw ``TimeoutError`` at ``deadline``
    (``time.monotonic()`` seconds)."""

    sock: socket.socket
    events: int
    deadline: float


class Offload(NamedTuple):
    """Run ``call`` (it blocks: connecting, a TLS handshake, a login) off the loop and send me its
    result, or throw its exception in."""

    call: Callable[[], Any]


Conversation = Generator[Wait | Offload, Any, R]
Done = Callable[[R | None, BaseException | None], None]


def run(conversation: Conversation[R]) -> R:
    """Drive ``conversation`` to its end in this thread and return what it returns."""
    value: Any = None
    error: BaseException | None = None
    poller = select.poll()
    registered = -1
    while True:
        try:
            request = conversation.throw(error) if error is not None else conversation.send(value)
        except StopIteration as end:
            return end.value  # type: ignore[no-any-return]
        value = error = None
        if isinstance(request, Offload):
            try:
                value = request.call()
            except Exception as err:
                error = err
            continue
        fd = request.sock.fileno()
        mask = (select.POLLIN if request.events & READ else 0) | (
            select.POLLOUT if request.events & WRITE else 0
        )
        if registered != fd:
            if registered >= 0:
                with contextlib.suppress(KeyError):
                    poller.unregister(registered)
            registered = fd
            poller.register(fd, mask)
        else:
            poller.modify(fd, mask)
        left = request.deadline - time.monotonic()
        if left <= 0 or not poller.poll(left * 1000):
            error = TimeoutError("no answer in time")


_POLL_READ = select.POLLIN | select.POLLPRI
_POLL_WRITE = select.POLLOUT


def _poll_mask(events: int) -> int:
    return (_POLL_READ if events & READ else 0) | (_POLL_WRITE if events & WRITE else 0)


class _Task:
    __slots__ = ("conversation", "deadline", "done", "fd", "mask", "waiting")

    def __init__(self, conversation: Conversation[Any], done: Done[Any]) -> None:
        self.conversation = conversation
        self.done = done
        self.deadline = 0.0
        self.fd = -1  # the descriptor registered for this task, if any
        self.mask = 0
        self.waiting = False


class Multiplexer:
    """Many conversations in the thread that calls ``serve``; ``call_soon`` is how other threads
    hand it work (it wakes the loop through a socket pair).

    A conversation's socket stays registered with the poller while the conversation lives (its mask
    changed only when it waits for something else), so a message costs no registration calls; the
    poller is ``select.poll``, which keeps no kernel state that a closed descriptor could leave
    behind."""

    def __init__(
        self, offload_threads: int = 4, offload_initializer: Callable[[], None] | None = None
    ) -> None:
        self._poller = select.poll()
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self._wake_write.setblocking(False)
        self._wake_fd = self._wake_read.fileno()
        self._poller.register(self._wake_fd, _POLL_READ)
        self._tasks: dict[int, _Task] = {}  # registered descriptor -> its conversation
        self._calls: SimpleQueue[Callable[[], None]] = SimpleQueue()
        self._offload = ThreadPoolExecutor(offload_threads, "connecting", initializer=offload_initializer)
        self._waiting: set[_Task] = set()  # a few (one per connection): a scan beats a heap
        self._closing = False
        self.active = 0

    # -- from any thread ----------------------------------------------------------------------------

    def call_soon(self, call: Callable[[], None]) -> None:
        """Run ``call`` in the loop's thread, soon (safe from any thread, not from a signal handler)."""
        self._calls.put(call)
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_write.send(b"\0")

    def shut(self) -> None:
        """Make ``serve`` return once every conversation has ended."""
        self.call_soon(self._shut)

    # -- in the loop's thread -----------------------------------------------------------------------

    def start(self, conversation: Conversation[R], done: Done[R]) -> None:
        """Begin ``conversation``; ``done(result, None)`` or ``done(None, error)`` when it ends."""
        self.active += 1
        self._step(_Task(conversation, done), None, None)

    def serve(self) -> None:
        """Run until ``shut`` was called and no conversation is left, then release the loop."""
        try:
            while not (self._closing and self.active == 0):
                self._once()
        finally:
            self.release()

    def release(self) -> None:
        """Close the loop's own resources (harmless twice)."""
        self._offload.shutdown(wait=False, cancel_futures=True)
        self._wake_read.close()
        self._wake_write.close()

    def _shut(self) -> None:
        self._closing = True

    def turn(self, limit: float | None = None) -> None:
        """One round: wait (at most ``limit`` seconds) for ready sockets, due deadlines or calls, and
        resume whoever they concern. For a caller that runs the loop itself between other work."""
        self._once(limit)

    def _once(self, limit: float | None = None) -> None:
        waiting = self._waiting
        timeout = limit
        first = 0.0  # the earliest deadline of those waiting now: none can pass before it
        if waiting:
            first = min(t.deadline for t in waiting)
            due = max(0.0, first - time.monotonic())
            timeout = due if limit is None else min(due, limit)
        if timeout is not None:
            timeout *= 1000
        tasks = self._tasks
        for fd, _ in self._poller.poll(timeout):
            if fd == self._wake_fd:
                self._run_calls()
                continue
            task = tasks.get(fd)
            if task is None or not task.waiting:
                continue
            task.waiting = False
            waiting.discard(task)
            self._step(task, None, None)
        if first and waiting:
            now = time.monotonic()
            if now >= first:
                for task in [t for t in waiting if t.deadline <= now]:
                    task.waiting = False
                    waiting.discard(task)
                    self._step(task, None, TimeoutError("no answer in time"))

    def _run_calls(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while self._wake_read.recv(4096):
                pass
        while True:
            try:
                call = self._calls.get_nowait()
            except Empty:
                return
            call()

    def _step(self, task: _Task, value: Any, error: BaseException | None) -> None:
        try:
            request = task.conversation.throw(error) if error is not None else task.conversation.send(value)
        except StopIteration as end:
            self._forget(task)
            self.active -= 1
            task.done(end.value, None)
            return
        except Exception as err:
            self._forget(task)
            self.active -= 1
            task.done(None, err)
            return
        if isinstance(request, Offload):
            self._forget(task)
            future = self._offload.submit(request.call)
            future.add_done_callback(lambda f: self.call_soon(lambda: self._offloaded(task, f)))
            return
        fd = request.sock.fileno()
        mask = _poll_mask(request.events)
        if fd != task.fd:
            self._forget(task)
            if fd < 0:  # closed under it: let the conversation find out
                self._step(task, None, OSError("the connection is closed"))
                return
            self._poller.register(fd, mask)
            self._tasks[fd] = task
            task.fd, task.mask = fd, mask
        elif mask != task.mask:
            self._poller.modify(fd, mask)
            task.mask = mask
        task.deadline = request.deadline
        task.waiting = True
        self._waiting.add(task)

    def _forget(self, task: _Task) -> None:
        """Stop polling the task's descriptor (its socket may already be closed)."""
        if task.fd >= 0 and self._tasks.get(task.fd) is task:
            del self._tasks[task.fd]
            with contextlib.suppress(KeyError, OSError):
                self._poller.unregister(task.fd)
        task.fd = -1

    def _offloaded(self, task: _Task, future: Future[Any]) -> None:
        error = future.exception()
        self._step(task, None if error else future.result(), error)

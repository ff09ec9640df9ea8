"""Sending processes: composing holds the GIL, so one process stops at one core; these use the others.

Connections are not processes. A run with ``concurrency`` C (chunks in flight, one connection each)
and ``[delivery] processes`` P starts ``min(P, cores, C)`` sending processes and spreads the C sender
threads over them (``sending_process.py``): threads that wait on sockets cost no core, so ten
connections need no more processes than four, and each process is a fresh interpreter that imports
only what sending needs (~30 MB), not a copy of the whole program.

Each process gets the campaign's content once (at start), builds its own transport (its own SMTP
connections or HTTP client) and signer, and then only receives claimed rows and returns results. The
ledger stays in the runner: claims and results are still one process's short transactions, so the
exactly-once contract of the ledger does not change. Every hand-over and answer also goes to the
runner's journal as it happens, so whatever becomes of a sending process, the runner (or recovery)
knows what it had sent.

A sending process never outlives its runner: its stdin, which only the runner writes, is the lifeline
(see ``sending_process.py``). ``stop`` (safe in a signal handler) sends each process SIGUSR1. A
process that dies fails the futures of its chunks, and the runner settles them from the journal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import outreach
from outreach.delivery import wire
from outreach.delivery.claims import Claimed
from outreach.delivery.outgoing import CampaignContent, Signer
from outreach.delivery.senders import Sent, first_done
from outreach.delivery.sending_process import Chunk, Start
from outreach.transports.base import TransportFactory

# How a sending process starts: this interpreter, importing only the sending side.
BOOT = "from outreach.delivery.sending_process import main; raise SystemExit(main())"
# Seconds ``close`` waits for a process to say goodbye before it is killed.
CLOSE_WAIT = 30.0


class SendingProcessDied(RuntimeError):
    """A sending process ended with chunks in hand; the journal says what became of them."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def spread(threads: int, processes: int) -> list[int]:
    """``threads`` sender threads over ``processes`` processes, as evenly as they go."""
    base, extra = divmod(threads, processes)
    return [base + (1 if n < extra else 0) for n in range(processes)]


@dataclass(frozen=True)
class SendingProcesses:
    """At most how many sending processes, and how each builds its transport and signer (picklable
    callables that import only the sending side, e.g. ``Transport.recipe()``)."""

    count: int
    transport_factory: TransportFactory
    signer_factory: Callable[[], Signer | None]

    def processes_for(self, threads: int) -> int:
        return max(1, min(self.count, cores(), threads))

    def start(
        self,
        content: CampaignContent,
        base_url: str,
        secret: str,
        mailto: str,
        lock_file: Path | None,
        threads: int,
    ) -> ProcessSenders:
        """Start the processes for ``threads`` chunks in flight (the runner's concurrency)."""
        threads = max(1, threads)
        shares = spread(threads, self.processes_for(threads))
        children: list[_Child] = []
        try:
            for share in shares:
                start = Start(
                    content,
                    base_url,
                    secret,
                    mailto,
                    self.transport_factory,
                    self.signer_factory,
                    lock_file,
                    share,
                )
                children.append(_Child.start(start))
        except BaseException:
            for child in children:
                child.kill()
            raise
        return ProcessSenders(threads, children)


class _Child:
    """One sending process as the runner sees it: its pipes, its chunks in hand and their futures."""

    def __init__(self, process: subprocess.Popen[bytes], threads: int) -> None:
        self.process = process
        self.threads = threads
        self.futures: dict[int, Future[Sent]] = {}
        self.lock = threading.Lock()
        self.gone = False
        self.reader = threading.Thread(target=self._read, name=f"sending-{process.pid}", daemon=True)

    @classmethod
    def start(cls, start: Start) -> _Child:
        env = dict(os.environ)
        home = str(Path(outreach.__file__).resolve().parents[1])  # where this program's package is
        env["PYTHONPATH"] = os.pathsep.join(p for p in (home, env.get("PYTHONPATH", "")) if p)
        process = subprocess.Popen(
            [sys.executable, "-c", BOOT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
        )
        child = cls(process, start.threads)
        assert process.stdin is not None
        try:
            wire.write(process.stdin, start)
        except OSError as err:
            child.kill()
            raise SendingProcessDied(f"a sending process did not start ({err})") from err
        child.reader.start()
        return child

    @property
    def load(self) -> float:
        return len(self.futures) / self.threads

    def submit(self, number: int, chunk: list[Claimed], segment: Path | None) -> Future[Sent]:
        future: Future[Sent] = Future()
        with self.lock:
            if self.gone:
                future.set_exception(SendingProcessDied(self._ended()))
                return future
            self.futures[number] = future
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):  # it died: the reader fails this chunk's future with the rest
            wire.write(self.process.stdin, Chunk(number, chunk, segment))
        return future

    def _read(self) -> None:
        assert self.process.stdout is not None
        while True:
            try:
                number, sent, trouble = wire.read(self.process.stdout)
            except (EOFError, OSError):
                break
            with self.lock:
                future = self.futures.pop(number, None)
            if future is None:
                continue
            if sent is None:
                future.set_exception(SendingProcessDied(trouble))
            else:
                future.set_result(sent)
        self.process.wait()
        with self.lock:
            self.gone = True
            left, self.futures = list(self.futures.values()), {}
        for future in left:
            future.set_exception(SendingProcessDied(self._ended()))

    def _ended(self) -> str:
        code = self.process.returncode
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit {code}"
        return f"sending process {self.process.pid} ended ({how})"

    def send_signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.process.returncode is None:
                os.kill(self.process.pid, signum)

    def goodbye(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            wire.write(self.process.stdin, None)
            self.process.stdin.close()

    def wait(self, seconds: float) -> None:
        try:
            self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            self.kill()
        self.reader.join(5)
        if self.process.stdout is not None:
            self.process.stdout.close()

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)


class ProcessSenders:
    """The running processes, as the runner uses them: each chunk goes to the least busy one."""

    def __init__(self, count: int, children: list[_Child]) -> None:
        self.count = count
        self.children = children
        self._number = 0

    def submit(self, chunk: list[Claimed], segment: Path | None) -> Future[Sent]:
        self._number += 1
        child = min(self.children, key=lambda c: c.load)
        return child.submit(self._number, chunk, segment)

    def wait(self, futures: Collection[Future[Sent]], timeout: float | None) -> set[Future[Sent]]:
        return first_done(futures, timeout)

    def stop(self) -> None:
        for child in self.children:
            child.send_signal(signal.SIGUSR1)

    def close(self) -> None:
        """Say goodbye (each process finishes its chunks, closes its connections and exits)."""
        for child in self.children:
            child.goodbye()
        for child in self.children:
            child.wait(CLOSE_WAIT)

    @property
    def pids(self) -> list[int]:
        return [child.process.pid for child in self.children]

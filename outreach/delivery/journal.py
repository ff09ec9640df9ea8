"""The sending journal: every hand-over and every answer, written the moment it happens, so a process
that dies mid-campaign leaves an exact account of what it had sent.

The ledger records results a chunk at a time (one commit per chunk keeps a campaign fast), so a crash
would otherwise leave every claimed row ``unknown``. Each claiming process therefore keeps one journal
(a folder under ``.outreach/journal``), appended to by the process and by its sending processes: ``H``
when a message is about to leave, ``A`` with its answer. Recovery replays it before deciding anything:
an answer is recorded as if the chunk had come back, a message handed over without an answer becomes
``unknown`` (it may have been delivered), and a message never handed over goes back to ``pending``.

Durability: each record is one unbuffered ``write(2)``, never ``fsync``'d. The kernel's page cache
outlives the process (SIGKILL, the OOM killer, a crash of Python), so recovery reads every record
written. A machine crash or power cut may lose the tail, so the journal's header (written and
``fsync``'d once, at start) holds the boot id: a journal from an earlier boot is believed for the
answers it holds, never for a missing hand-over, and its unanswered rows become ``unknown``.

Liveness is a lock, not a process id: the claiming process and its sending processes hold a shared
``flock`` on the journal's lock file for as long as they live, and the kernel drops it when they die,
however they die. Recovery takes it exclusively; while anyone still holds it, the journal is in use.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from outreach.transports.base import Outcome, OutgoingMessage, SendResult, stopped, unanswered

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
HEAD = "head"
LOCK = "lock"
VERSION = "outreach-journal 1"
# A new segment every this many messages; a segment is deleted once all of its chunks are recorded.
SEGMENT_MESSAGES = 20_000
_CLEAN = str.maketrans({"\t": " ", "\n": " ", "\r": " "})


def boot_id() -> str:
    """This boot of the machine ('' where the system does not say: such journals are never trusted
    for a missing hand-over)."""
    try:
        return BOOT_ID.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def folder_name(claimer: str) -> str:
    return claimer.replace("/", "_").replace(":", "_")


# -- writing -------------------------------------------------------------------------------------------

_fds: dict[Path, int] = {}
_fds_lock = threading.Lock()


def _append(segment: Path, line: str) -> None:
    """One record, one write(2) with O_APPEND: records of several writers never interleave."""
    fd = _fds.get(segment)
    if fd is None:
        with _fds_lock:
            fd = _fds.get(segment)
            if fd is None:
                fd = os.open(segment, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
                _fds[segment] = fd
    os.write(fd, line.encode("utf-8", "replace"))


def forget(segment: Path) -> None:
    """Close this process's descriptor of ``segment`` (it is finished and about to be deleted)."""
    with _fds_lock:
        fd = _fds.pop(segment, None)
    if fd is not None:
        os.close(fd)


def forget_older(segment: Path) -> None:
    """Close this process's descriptors of the segments before ``segment``: a sending process gets
    chunks in order, so once one of ``segment`` arrives it will never write to an older one again."""
    with _fds_lock:
        older = [path for path in _fds if path.parent == segment.parent and path < segment]
        fds = [_fds.pop(path) for path in older]
    for fd in fds:
        os.close(fd)


def hold(lock_file: Path) -> int:
    """Take a shared lock on a journal's lock file for the life of this process (or until closed)."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_SH)
    return fd


class ChunkReceipts:
    """The receipts a transport gives for one chunk: each hand-over and answer journaled (when there is
    a journal), the answers kept, and "stop" said once ``stopping()`` turns true.

    An answer is written together with the next hand-over (one ``write(2)`` per message instead of
    two), and ``flush`` writes the last ones when the chunk ends. That keeps the bound: whenever a
    message leaves, every earlier answer is on record, so a process that dies leaves unanswered at most
    the group it handed over last (one message per SMTP connection)."""

    def __init__(self, segment: Path | None, attempts: dict[str, int], stopping: Callable[[], bool]) -> None:
        self.segment = segment
        self.attempts = attempts
        self.stopping = stopping
        self.handed: set[str] = set()
        self.answers: dict[str, SendResult] = {}
        self._unwritten: list[str] = []

    def handing(self, messages: Sequence[OutgoingMessage]) -> bool:
        if self.stopping():
            self.flush()
            return False
        keys = [m.key for m in messages]
        if self.segment is not None:
            hand_over = "H " + " ".join(f"{k}:{self.attempts[k]}" for k in keys) + "\n"
            self._unwritten.append(hand_over)
            _append(self.segment, "".join(self._unwritten))
            self._unwritten.clear()
        self.handed.update(keys)
        return True

    def answered(self, result: SendResult) -> None:
        if self.segment is not None:
            self._unwritten.append(_answer_line(result, self.attempts[result.key]))
        self.answers[result.key] = result

    def flush(self) -> None:
        """Write the answers not yet on record (call when the chunk ends, however it ends)."""
        if self._unwritten and self.segment is not None:
            _append(self.segment, "".join(self._unwritten))
        self._unwritten.clear()

    def results(self, keys: Sequence[str]) -> list[SendResult]:
        """One result per message key, in order; one the transport left unanswered is uncertain if it
        was handed over and not attempted if it never was."""
        return [self.answers.get(key) or self._left(key) for key in keys]

    def _left(self, key: str) -> SendResult:
        return unanswered(key) if key in self.handed else stopped(key)


def _answer_line(result: SendResult, attempts: int) -> str:
    flags = ("u" if result.uncertain else "-") + ("a" if result.attempted else "n")
    retry = "-" if result.retry_after is None else f"{result.retry_after:g}"
    text = "\t".join(part.translate(_CLEAN) for part in (result.code, result.provider_id, result.detail))
    return f"A {result.key}:{attempts} {result.outcome.value} {flags} {retry} {text}\n"


# -- reading -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """What a journal says about one claim of one row: whether it left, and its answer if one came."""

    handed: bool = False
    result: SendResult | None = None


@dataclass
class Replay:
    """A journal read back: accounts by (ledger row id, attempt), and whether a missing hand-over can
    be believed (this boot wrote it, so nothing it wrote was lost)."""

    accounts: dict[tuple[int, int], Account] = field(default_factory=dict)
    trusted: bool = False

    def account(self, delivery_id: int, attempts: int) -> Account:
        return self.accounts.get((delivery_id, attempts), Account())


def read_segments(folder: Path) -> dict[tuple[int, int], Account]:
    accounts: dict[tuple[int, int], Account] = {}
    for segment in sorted(folder.glob("*.journal")):
        for line in segment.read_bytes().decode("utf-8", "replace").splitlines():
            _read_line(line, accounts)
    return accounts


def _read_line(line: str, accounts: dict[tuple[int, int], Account]) -> None:
    """Apply one record; a torn or foreign line (a full disk) is skipped, never guessed at."""
    kind, _, rest = line.partition(" ")
    try:
        if kind == "H":
            for item in rest.split():
                key = _key(item)
                accounts[key] = Account(True, accounts.get(key, Account()).result)
        elif kind == "A":
            item, outcome, flags, retry, text = rest.split(" ", 4)
            code, provider_id, detail = text.split("\t", 2)
            key = _key(item)
            result = SendResult(
                str(key[0]),
                Outcome(outcome),
                code,
                detail,
                provider_id,
                None if retry == "-" else float(retry),
                uncertain=flags[0] == "u",
                attempted=flags[1] == "a",
            )
            accounts[key] = Account(accounts.get(key, Account()).handed or result.attempted, result)
    except (ValueError, IndexError):
        return


def _key(item: str) -> tuple[int, int]:
    row, _, attempts = item.partition(":")
    return int(row), int(attempts)


def read_head(folder: Path) -> dict[str, str]:
    try:
        text = (folder / HEAD).read_text(encoding="utf-8")
    except OSError:
        return {}
    if not text.startswith(VERSION + "\n"):
        return {}
    pairs = (line.partition("=") for line in text.splitlines()[1:])
    return {key: value for key, _, value in pairs if key}


# -- one process's journal -------------------------------------------------------------------------------


class Journal:
    """The journal of one claiming process (one runner): created before its first claim, removed when
    everything it journaled is in the ledger. Chunks are assigned to segments, so the journal stays
    as small as the work in flight rather than growing with the campaign."""

    def __init__(self, folder: Path, claimer: str, campaign_id: int) -> None:
        self.folder = folder / folder_name(claimer)
        self.lock_file = self.folder / LOCK
        self.folder.mkdir(parents=True, exist_ok=False)
        self._lock_fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_SH)
        head = f"{VERSION}\nclaimer={claimer}\ncampaign={campaign_id}\nboot={boot_id()}\npid={os.getpid()}\n"
        _write_synced(self.folder / HEAD, head)
        _sync_folder(self.folder)
        _sync_folder(folder)
        self._number = 0
        self._assigned = 0
        self._open: dict[Path, int] = {}
        self.segment = self._next_segment()

    def _next_segment(self) -> Path:
        self._number += 1
        self._assigned = 0
        segment = self.folder / f"{self._number:06d}.journal"
        self._open[segment] = 0
        return segment

    def assign(self, messages: int) -> Path:
        """The segment a chunk of ``messages`` journals into (its records stay together)."""
        if self._assigned >= SEGMENT_MESSAGES:
            self.segment = self._next_segment()
        self._assigned += messages
        self._open[self.segment] += 1
        return self.segment

    def recorded(self, segment: Path) -> None:
        """A chunk of ``segment`` is in the ledger; a finished, older segment is then deleted."""
        self._open[segment] -= 1
        for path, chunks in list(self._open.items()):
            if chunks == 0 and path != self.segment:
                del self._open[path]
                forget(path)
                path.unlink(missing_ok=True)

    def replay(self) -> Replay:
        return Replay(read_segments(self.folder), trusted=True)

    def close(self, *, remove: bool) -> None:
        """Let go; with ``remove``, everything journaled is in the ledger, so the journal goes too."""
        for path in list(self._open):
            forget(path)
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock_fd)


def _write_synced(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the folder of journals: recovery ------------------------------------------------------------------


@dataclass
class Abandoned:
    """The journal of a claiming process that is gone, locked for replay until ``done``."""

    folder: Path
    replay: Replay
    lock_fd: int

    def done(self, *, remove: bool) -> None:
        if remove:
            shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self.lock_fd)


class Journals:
    """The project's journal folder (``.outreach/journal``): where runners journal, and where
    recovery finds what a dead claimer had sent."""

    def __init__(self, path: Path, wait: float = 10.0) -> None:
        self.path = path
        # How long recovery waits for the sending processes of a claimer that died to finish the
        # message in hand and exit (they notice within a fraction of a second).
        self.wait = wait
        self.host = socket.gethostname()

    def start(self, claimer: str, campaign_id: int) -> Journal:
        self.path.mkdir(parents=True, exist_ok=True)
        return Journal(self.path, claimer, campaign_id)

    def is_local(self, claimer: str) -> bool:
        return claimer.partition(":")[0] == self.host

    def abandoned(self, claimer: str, claimer_alive: Callable[[], bool]) -> Abandoned | bool | None:
        """The journal of ``claimer`` if nobody uses it any more (locked for the caller); True while
        it is in use; None when this claimer kept no journal here."""
        folder = self.path / folder_name(claimer)
        try:
            fd = os.open(folder / LOCK, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                # The claimer itself is gone but a sending process still finishes its message.
                if claimer_alive() or time.monotonic() > deadline:
                    os.close(fd)
                    return True
                time.sleep(0.05)
        head = read_head(folder)
        trusted = bool(head) and head.get("claimer") == claimer and head.get("boot", "") == boot_id() != ""
        return Abandoned(folder, Replay(read_segments(folder), trusted), fd)

    def leftovers(self, campaign_id: int, claimers: set[str]) -> list[Abandoned]:
        """Journals of this campaign whose claimer is gone and holds no row any more (a process
        that died after its rows were settled): found so they can be removed."""
        found: list[Abandoned] = []
        if not self.path.is_dir():
            return found
        for folder in self.path.iterdir():
            head = read_head(folder)
            claimer = head.get("claimer", "")
            if head.get("campaign") != str(campaign_id) or not claimer or claimer in claimers:
                continue
            journal = self.abandoned(claimer, lambda: True)
            if isinstance(journal, Abandoned):
                found.append(journal)
        return found

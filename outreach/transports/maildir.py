"""The default way out: every message a file in a Maildir under ``outbox/``, and nothing leaves.

A Maildir (``tmp/`` -> ``new/``, one file per message, written then moved atomically) is what any mail
client opens (``mutt -f outbox``, Thunderbird, Evolution), so staff and operators can read exactly what
would have been sent. Like a delivering MTA, the transport prepends ``Return-Path`` and
``Delivered-To`` so the envelope (a VERP return path, the envelope recipient) stays visible; the
message's own bytes follow unchanged.
"""

from __future__ import annotations

import email.policy
import mailbox
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from outreach.errors import TransportError
from outreach.transports.base import Outcome, OutgoingMessage, Receipts, SendResult, Transport, stopped

# Python's Maildir numbers its temp files with a class-level counter that is not thread-safe; a clash
# raises ExternalClashError, so writes are serialised (they take microseconds) and a clash is retried.
_WRITE_LOCK = threading.Lock()
_CLASH_RETRIES = 5


class MaildirTransport(Transport):
    """Writes each message to ``path/new/``; the provider id is the Maildir key (the file's name)."""

    backend = "maildir"
    max_batch = 200

    def __init__(self, name: str, path: Path) -> None:
        super().__init__(name)
        self.path = path
        self._box: mailbox.Maildir | None = None

    def open(self) -> None:
        # Under the lock: Maildir(create=True) makes the folder before tmp/, new/ and cur/, so a second
        # thread opening at the same moment could see the folder and write before tmp/ exists.
        with _WRITE_LOCK:
            self._open()

    def _open(self) -> None:
        if self._box is not None:
            return
        try:
            self._box = mailbox.Maildir(self.path, factory=None, create=True)
        except OSError as err:
            raise TransportError(
                f"cannot create the Maildir: {err.strerror or err}; check the folder's permissions",
                provider="maildir",
                endpoint=str(self.path),
            ) from err

    def close(self) -> None:
        self._box = None

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        self.open()
        assert self._box is not None
        going = True
        for message in messages:
            going = going and receipts.handing((message,))
            receipts.answered(self._write(self._box, message) if going else stopped(message.key))

    def _write(self, box: mailbox.Maildir, message: OutgoingMessage) -> SendResult:
        envelope = f"Return-Path: <{message.envelope_from}>\r\nDelivered-To: {message.recipient}\r\n"
        data = envelope.encode("utf-8") + message.raw
        for attempt in range(_CLASH_RETRIES):
            try:
                with _WRITE_LOCK:
                    key = box.add(data)
            except mailbox.ExternalClashError:
                if attempt == _CLASH_RETRIES - 1:
                    return SendResult(message.key, Outcome.RETRY, "clash", "Maildir name clash; try again")
                continue
            except OSError as err:
                # A full disk or a permissions change is the machine's problem, not the message's.
                detail = f"cannot write to {self.path}: {err.strerror or err}"
                return SendResult(message.key, Outcome.RETRY, "OSError", detail)
            return SendResult(message.key, Outcome.SENT, "stored", f"written to {self.path}/new", key)
        raise AssertionError("unreachable")


def messages(path: Path) -> list[EmailMessage]:
    """Every message in the Maildir at ``path`` (new/ and cur/), oldest first; for tests and the CLI."""
    parser = BytesParser(policy=email.policy.default)
    files = [file for sub in ("new", "cur") for file in (path / sub).glob("*") if file.is_file()]
    files.sort(key=lambda file: (file.stat().st_mtime, file.name))
    found: list[EmailMessage] = []
    for file in files:
        parsed = parser.parsebytes(file.read_bytes())
        assert isinstance(parsed, EmailMessage)
        found.append(parsed)
    return found

"""The mailbox files ``outreach bounces process`` reads: a Maildir folder or an mbox file.

In a Maildir, messages are taken from ``new/`` and, once handled, moved to ``cur/`` with the Seen flag
(``:2,S``) the way a mail client would, so the next run reads only what arrived since. A message that
cannot be handled is moved to the ``.Quarantine`` subfolder (a Maildir++ folder that mail clients
show beside the inbox), so it never blocks a later run and a person can look at it. An mbox file is
read and never changed.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from outreach.events.model import EventError

QUARANTINE = ".Quarantine"


@dataclass(frozen=True, slots=True)
class Item:
    """One message of a mailbox: where it is, and how to read it."""

    where: str
    received_at: datetime
    file: Path | None = None  # a Maildir file
    raw: bytes | None = None  # an mbox message
    movable: bool = False  # in a Maildir's new/: moved to cur/ once handled

    def read(self) -> bytes:
        if self.raw is not None:
            return self.raw
        assert self.file is not None
        return self.file.read_bytes()


def _maildir(folder: Path, include_seen: bool) -> Iterator[Item]:
    for sub in ("new", "cur") if include_seen else ("new",):
        for path in sorted((folder / sub).iterdir()):
            if path.name.startswith(".") or not path.is_file():
                continue
            try:
                received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except OSError:  # taken away meanwhile (another reader): not ours to handle
                continue
            yield Item(f"{sub}/{path.name}", received, file=path, movable=sub == "new")


def _mbox(file: Path) -> Iterator[Item]:
    box = mailbox.mbox(file, create=False)
    try:
        for position, key in enumerate(box.iterkeys(), start=1):
            yield Item(f"{file.name}#{position}", datetime.now(UTC), raw=box.get_bytes(key))
    finally:
        box.close()


def items(path: Path, include_seen: bool = False) -> Iterator[Item]:
    """The messages of a Maildir folder (``new/``, and ``cur/`` if asked) or an mbox file."""
    if path.is_dir():
        if not (path / "new").is_dir() or not (path / "cur").is_dir():
            raise EventError(f"{path} is a folder but not a Maildir (no new/ and cur/ inside)")
        return _maildir(path, include_seen)
    if path.is_file():
        return _mbox(path)
    raise EventError(f"{path} does not exist; give a Maildir folder or an mbox file")


def mark_seen(path: Path) -> None:
    """Move a handled message from ``new/`` to ``cur/``, flagged Seen."""
    name = path.name.split(":", 1)[0]
    os.replace(path, path.parent.parent / "cur" / f"{name}:2,S")


def quarantine(path: Path) -> str:
    """Move a message that cannot be handled from ``new/`` to ``.Quarantine/new/``; returns where."""
    folder = path.parent.parent / QUARANTINE
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    target = folder / "new" / path.name
    os.replace(path, target)
    return f"{QUARANTINE}/new/{path.name}"

"""Maildir and memory specifics: files a mail client can open, concurrency, scripted outcomes."""

from __future__ import annotations

import threading
from pathlib import Path

from outreach.transports.base import Outcome, SendResult
from outreach.transports.maildir import MaildirTransport, messages
from outreach.transports.memory import MemoryTransport
from tests.transports.conftest import make_message


def test_maildir_layout_and_envelope_headers(tmp_path: Path) -> None:
    box = tmp_path / "outbox"
    message = make_message(1)
    with MaildirTransport("outbox", box) as maildir:
        (result,) = maildir.send([message])
    assert {p.name for p in box.iterdir()} == {"tmp", "new", "cur"}
    (file,) = (box / "new").iterdir()
    assert file.name == result.provider_id
    data = file.read_bytes()
    assert data.startswith(
        b"Return-Path: <bounces+1001@vaimh.example>\r\nDelivered-To: reader1@example.org\r\n"
    )
    assert data.endswith(message.raw)  # the message's own bytes, unchanged
    assert list((box / "tmp").iterdir()) == []
    (parsed,) = messages(box)
    assert parsed["Message-ID"] == message.message_id


def test_maildir_threads_never_clash(tmp_path: Path) -> None:
    maildir = MaildirTransport("outbox", tmp_path / "outbox")
    ids: list[str] = []
    lock = threading.Lock()

    def work(offset: int) -> None:
        results = maildir.send([make_message(offset + n) for n in range(25)])
        with lock:
            ids.extend(r.provider_id for r in results if r.outcome is Outcome.SENT)

    threads = [threading.Thread(target=work, args=(i * 100,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 100
    assert len(messages(tmp_path / "outbox")) == 100


def test_maildir_unwritable_folder_is_a_transport_error(tmp_path: Path) -> None:
    import pytest

    from outreach.errors import TransportError

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(TransportError) as caught:
        MaildirTransport("outbox", blocker / "outbox").open()
    assert "maildir" in str(caught.value)


def test_memory_outboxes_are_per_instance_and_scripted() -> None:
    first = MemoryTransport(
        "a", script=[Outcome.SENT, Outcome.BOUNCED, SendResult("x", Outcome.RETRY, "421")]
    )
    second = MemoryTransport("b")
    results = first.send([make_message(n) for n in range(4)])
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.BOUNCED, Outcome.RETRY, Outcome.SENT]
    assert [r.key for r in results] == ["1000", "1001", "1002", "1003"]
    assert results[2].code == "421"
    assert [m.key for m in first.outbox] == ["1000", "1003"]
    assert len(first.attempts) == 4
    assert second.outbox == []

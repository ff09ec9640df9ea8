"""The sending journal and recovery from it, on SQLite and PostgreSQL, without killing anything: a journal
closed without being removed is exactly what a process that died leaves (its lock is free, its records
are on disk).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from outreach.audience import transaction
from outreach.delivery import journal as journals_module
from outreach.delivery import ledger
from outreach.delivery.journal import ChunkReceipts, Journal, Journals, read_segments
from outreach.delivery.ledger import Claimed
from outreach.delivery.recovery import RETURNED, recover
from outreach.delivery.schema import CampaignEvent
from outreach.transports.base import Outcome, OutgoingMessage, SendResult
from tests.delivery.conftest import SECRET, Bench, TimedMemory
from tests.transports.conftest import make_message

LEASE = timedelta(minutes=10)


def claim(bench: Bench, campaign: int, count: int, claimer: str) -> list[Claimed]:
    with transaction(bench.engine) as session:
        return ledger.claim(session, campaign, count, bench.clock, claimer, "vaimh.example", SECRET)


def message_for(claimed: Claimed) -> OutgoingMessage:
    message = make_message(claimed.delivery_id, recipient=claimed.recipient.email)
    return replace(message, key=str(claimed.delivery_id), message_id=claimed.message_id)


def died_while_sending(bench: Bench, campaign: int, answers: list[SendResult], handed: int) -> None:
    """A runner claims ``handed + 2`` rows, hands ``handed`` of them over, gets ``answers`` for the
    first ones, then dies: its journal stays, unlocked."""
    claimer = ledger.worker_id()
    journal = bench.journals.start(claimer, campaign)
    rows = claim(bench, campaign, handed + 2, claimer)
    attempts = {str(row.delivery_id): row.attempts for row in rows}
    receipts = ChunkReceipts(journal.assign(len(rows)), attempts, lambda: False)
    for number, row in enumerate(rows[:handed]):
        message = message_for(row)
        assert receipts.handing([message])
        if number < len(answers):
            receipts.answered(replace(answers[number], key=message.key, provider_id="q-1"))
    receipts.flush()  # the chunk's end: its answers are on record
    journal.close(remove=False)


def test_recovery_records_answers_marks_the_unanswered_unknown_and_returns_the_rest(bench: Bench) -> None:
    people = bench.people(8)
    campaign = bench.campaign()
    sent = SendResult("", Outcome.SENT, "250 2.0.0", "queued as q-1")
    bounced = SendResult("", Outcome.BOUNCED, "550 5.1.1", "no such user")
    # rows: 0 sent, 1 bounced, 2 handed without an answer, 3..4 claimed but never handed over
    died_while_sending(bench, campaign, [sent, bounced], handed=3)
    assert bench.counts(campaign)["sending"] == 5

    with transaction(bench.engine) as session:
        done = recover(session, campaign, bench.clock, LEASE, bench.journals)
    done.finish(committed=True)
    assert (done.answered, done.unknown, done.returned) == (2, 1, 2)
    rows = bench.rows(campaign)
    assert [rows[p].state for p in people[:5]] == ["sent", "failed", "unknown", "pending", "pending"]
    assert rows[people[0]].provider_id == "q-1"
    assert rows[people[1]].reason == "bounced: 550 5.1.1 no such user"
    assert [rows[p].attempts for p in people[3:5]] == [0, 0]  # never handed over: no attempt spent
    assert {rows[p].reason for p in people[3:5]} == {RETURNED}
    assert list(bench.journals.path.iterdir()) == []  # replayed and committed: gone

    # A runner starting now sends the returned rows and the untouched ones, never the unknown one.
    memory = TimedMemory(bench.clock)
    bench.run(campaign, memory)
    assert sorted(m.recipient for m in memory.outbox) == sorted([people[3], people[4], *people[5:]])
    assert bench.counts(campaign) == {
        "pending": 0,
        "sending": 0,
        "sent": 6,
        "failed": 1,
        "skipped": 0,
        "unknown": 1,
    }


def test_a_runner_recovers_before_it_claims_and_says_so_in_the_history(bench: Bench) -> None:
    people = bench.people(4)
    campaign = bench.campaign()
    died_while_sending(bench, campaign, [SendResult("", Outcome.SENT, "250", "ok")], handed=1)
    memory = TimedMemory(bench.clock)
    bench.run(campaign, memory)
    assert sorted(m.recipient for m in memory.outbox) == sorted(people[1:])  # nobody twice
    with transaction(bench.engine) as session:
        details = session.scalars(
            sa.select(CampaignEvent.detail).where(CampaignEvent.kind == "recovered")
        ).all()
    assert details == ["a stopped run's rows: 1 answered, 2 returned to the queue, 0 unknown"]


def test_a_journal_from_an_earlier_boot_is_believed_only_for_its_answers(bench: Bench) -> None:
    people = bench.people(5)
    campaign = bench.campaign()
    died_while_sending(bench, campaign, [SendResult("", Outcome.SENT, "250", "ok")], handed=1)
    (folder,) = bench.journals.path.iterdir()
    head = (folder / "head").read_text().replace("boot=", "boot=an-earlier-boot-")
    (folder / "head").write_text(head)  # a power cut may have lost hand-overs written after it
    with transaction(bench.engine) as session:
        done = recover(session, campaign, bench.clock, LEASE, bench.journals)
    done.finish(committed=True)
    states = bench.states(campaign)
    assert [states[p] for p in people[:3]] == ["sent", "unknown", "unknown"]


def test_a_journal_in_use_is_left_alone(bench: Bench) -> None:
    bench.people(3)
    campaign = bench.campaign()
    claimer = ledger.worker_id()
    journal = bench.journals.start(claimer, campaign)
    claim(bench, campaign, 2, claimer)
    try:
        with transaction(bench.engine) as session:
            done = recover(session, campaign, bench.clock, LEASE, Journals(bench.journals.path, wait=0.1))
        done.finish(committed=True)
        assert done.settled == 0 and bench.counts(campaign)["sending"] == 2
    finally:
        journal.close(remove=True)


def test_records_read_back_exactly_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "host:1:abc", 7)
    segment = journal.assign(3)
    receipts = ChunkReceipts(segment, {"10": 1, "11": 3, "12": 1}, lambda: False)
    messages = [replace(make_message(n), key=key) for n, key in enumerate(("10", "11", "12"))]
    assert receipts.handing(messages[:2])
    odd = SendResult("10", Outcome.RETRY, "451\t4.3.0", "busy\nnow", "", 30.5, uncertain=True)
    receipts.answered(odd)
    receipts.flush()
    with segment.open("a") as file:
        file.write("A 11:3 sent -a - 250\tq")  # cut short by a full disk: no newline, fields missing
    accounts = read_segments(journal.folder)
    assert accounts[(10, 1)].handed and accounts[(11, 3)].handed and (12, 1) not in accounts
    got = accounts[(10, 1)].result
    assert got == SendResult("10", Outcome.RETRY, "451 4.3.0", "busy now", "", 30.5, uncertain=True)
    assert accounts[(11, 3)].result is None
    head = (journal.folder / "head").read_text().splitlines()
    assert head[0] == "outreach-journal 1" and "claimer=host:1:abc" in head and "campaign=7" in head
    journal.close(remove=True)
    assert not journal.folder.exists()


def test_a_stopping_caller_gets_no_hand_over_and_nothing_is_journaled(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "host:2:def", 7)
    segment = journal.assign(1)
    receipts = ChunkReceipts(segment, {"10": 1}, lambda: True)
    assert not receipts.handing([replace(make_message(0), key="10")])
    assert read_segments(journal.folder) == {}
    journal.close(remove=True)


def test_segments_are_deleted_once_their_chunks_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journals_module, "SEGMENT_MESSAGES", 4)
    journal = Journal(tmp_path, "host:3:ghi", 7)
    first = journal.assign(4)
    second = journal.assign(4)  # the first segment is full: a new one
    assert first != second
    for segment in (first, second):
        ChunkReceipts(segment, {"1": 1}, lambda: False).handing([replace(make_message(0), key="1")])
    journal.recorded(first)
    assert not first.exists() and second.exists()  # finished and older than the current one
    journal.recorded(second)
    assert second.exists()  # the current segment stays until the journal closes
    journal.close(remove=True)
    assert json.dumps(os.listdir(tmp_path)) == "[]"


def test_an_answer_is_on_record_before_the_next_message_leaves(tmp_path: Path) -> None:
    """Answers go out with the next hand-over (one write per message): whenever a message leaves, every
    earlier answer is on record, so at most the last hand-over can be found unanswered."""
    journal = Journal(tmp_path, "host:4:jkl", 7)
    segment = journal.assign(2)
    receipts = ChunkReceipts(segment, {"1": 1, "2": 1}, lambda: False)
    first, second = (replace(make_message(n), key=key) for n, key in enumerate(("1", "2")))
    receipts.handing([first])
    receipts.answered(SendResult("1", Outcome.SENT, "250", "ok"))
    assert read_segments(journal.folder)[(1, 1)].result is None  # not yet: nothing else has left
    receipts.handing([second])
    accounts = read_segments(journal.folder)
    assert accounts[(1, 1)].result is not None and accounts[(2, 1)].handed
    receipts.answered(SendResult("2", Outcome.SENT, "250", "ok"))
    receipts.flush()
    assert read_segments(journal.folder)[(2, 1)].result is not None
    journal.close(remove=True)

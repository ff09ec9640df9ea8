"""Ledger benchmark: what the delivery ledger costs per recipient, apart from composing and sending.

Run:  python benchmarks/ledger_bench.py [--recipients 20000] [--database-url URL] [--folder DIR]

- claim: ``ledger.claim`` of batches of 200 rows (read, skip checks, keyed Message-ID per row, the
  UPDATE to ``sending``), in microseconds per row, on a new SQLite database (or, with
  ``--database-url`` of a PostgreSQL server, in a new schema dropped at the end).
- claim with limits: the same with a ``rate_per_day`` counted from the ledger (``limits.py``): the turn,
  the checkpointed count and the claim, in one transaction per batch.
- journal: one hand-over and one answer journaled per message (``ChunkReceipts``), as every sending
  thread or process does, in microseconds per message; beside it, what an ``fsync`` after every record
  and after every chunk of 50 would cost on the same disk (the journal does neither: see journal.py).
  ``--folder`` picks the disk (default: a temporary folder under the current directory, i.e. the disk a
  project's ``.outreach/journal`` would be on).

Figures are medians over batches; they move on a busy machine, so compare runs made together.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_bench import compile_issue, fill, make_project, new_campaign, project_config

from outreach.audience import make_engine, transaction
from outreach.clock import FixedClock, SystemClock
from outreach.config import Config, load_config
from outreach.delivery import ledger
from outreach.delivery.journal import ChunkReceipts, Journal
from outreach.delivery.limits import LedgerLimits
from outreach.delivery.pacing import RateLimits
from outreach.transports.base import Outcome, OutgoingMessage, Parts, SendResult

BATCH = 200
SECRET = "ledger-bench-key-0123456789abcdefXYZ"


def claim_cost(url: str | None, recipients: int, limited: bool) -> tuple[float, float]:
    """(median, fastest) µs per row of claiming every row of a campaign in batches of BATCH."""
    folder = Path(tempfile.mkdtemp(prefix="ledger-bench-")) / "project"
    folder.mkdir()
    issue = make_project(folder, "")
    if url is None:
        return _claim_cost(project_config(folder), issue, recipients, limited)
    schema = f"ledger_bench_{secrets.token_hex(4)}"
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    try:
        separator = "&" if "?" in url else "?"
        environ = {
            "OUTREACH_SECRET_KEY": SECRET,
            "OUTREACH_DATABASE_URL": f"{url}{separator}options=-csearch_path%3D{schema}",
        }
        return _claim_cost(load_config(folder, environ=environ), issue, recipients, limited)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.schema.DropSchema(schema, cascade=True))
        admin.dispose()


def _claim_cost(config: Config, issue: Path, recipients: int, limited: bool) -> tuple[float, float]:
    fill(config, recipients)
    engine = make_engine(config.database_url)
    campaign = new_campaign(config, engine, compile_issue(config, issue), "outbox")
    limits = LedgerLimits("outbox", RateLimits(per_day=recipients * 2)) if limited else None
    clock = FixedClock(SystemClock().now())
    per_row: list[float] = []
    while True:
        started = time.perf_counter()
        with transaction(engine) as session:
            wanted = BATCH
            if limits is not None:
                limits.take_turn(session)
                wanted, _ = limits.allowance(session, clock.now(), BATCH)
            claimed = ledger.claim(session, campaign, wanted, clock, "bench:1:x", "vaimh.example", SECRET)
        if not claimed:
            break
        per_row.append((time.perf_counter() - started) / len(claimed) * 1e6)
        clock.advance(0.05)
    engine.dispose()
    return statistics.median(per_row), min(per_row)


def journal_cost(folder: Path, messages: int, sync: str) -> float:
    """Median µs per message of journaling a hand-over and an answer (``sync``: none, record, chunk)."""
    journal = Journal(folder, f"bench:{os.getpid()}:{sync}", 1)
    message = OutgoingMessage("0", "<m@x>", "b@x", "r@x", b"", "f", "t", "s", Parts.of("", ""))
    chunk = 50
    per_message: list[float] = []
    for start in range(0, messages, chunk):
        keys = [str(n) for n in range(start, start + chunk)]
        segment = journal.assign(chunk)
        receipts = ChunkReceipts(segment, dict.fromkeys(keys, 1), lambda: False)
        fd = os.open(segment, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        began = time.perf_counter()
        for key in keys:
            receipts.handing([replace(message, key=key)])
            if sync == "record":
                os.fsync(fd)
            receipts.answered(SendResult(key, Outcome.SENT, "250 2.0.0", "Ok: queued as 4ABC", "4ABC"))
            if sync == "record":
                os.fsync(fd)
        receipts.flush()
        if sync == "chunk":
            os.fsync(fd)
        per_message.append((time.perf_counter() - began) / chunk * 1e6)
        os.close(fd)
        journal.recorded(segment)
    journal.close(remove=True)
    return statistics.median(per_message)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="another database (its tables are replaced)")
    parser.add_argument("--folder", type=Path, default=None, help="where to journal (default: here)")
    parser.add_argument("--messages", type=int, default=5_000, help="messages journaled per variant")
    args = parser.parse_args()
    where = args.database_url.split("@")[-1] if args.database_url else "SQLite"
    for limited, label in ((False, "claim"), (True, "claim with a ledger-counted rate_per_day")):
        median, fastest = claim_cost(args.database_url, args.recipients, limited)
        print(
            f"{label} ({where}, {args.recipients:,} rows, batches of {BATCH}): {median:.1f} µs per row "
            f"(fastest batch {fastest:.1f})"
        )
    folder = args.folder or Path(tempfile.mkdtemp(prefix=".ledger-bench-", dir=Path.cwd()))
    try:
        for sync, label in (
            ("none", "write(2) only, as sent"),
            ("chunk", "+ fsync per chunk of 50"),
            ("record", "+ fsync per record"),
        ):
            cost = journal_cost(folder, args.messages if sync != "record" else min(args.messages, 500), sync)
            print(f"journal, a hand-over and an answer per message, {label}: {cost:.1f} µs per message")
    finally:
        if args.folder is None:
            for path in sorted(folder.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            folder.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Audience benchmarks against docs/design.md section 7 (run: ``python benchmarks/audience_bench.py``).

1. Count segments over 1,000,000 subscribers on SQLite (budget: <= 2 s each), including the
   engagement rules ``received`` and ``clicked`` over a ledger of 1,000,000 deliveries.
2. Import 100,000 CSV rows with validation, through the same call the CLI makes (budget: <= 10 s).

The 1,000,000 subscribers, two campaigns' ledgers and their click events are bulk-inserted (not
timed) into a temporary database.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from outreach.audience.addresses import email_hash  # noqa: E402
from outreach.audience.choices import profile_choices  # noqa: E402
from outreach.audience.csv_import import import_csv  # noqa: E402
from outreach.audience.csv_write import csv_writer  # noqa: E402
from outreach.audience.db import make_engine, transaction, upgrade  # noqa: E402
from outreach.audience.import_plan import ImportOptions  # noqa: E402
from outreach.audience.schema import Subscriber, SubscriberTag, SubscriberTopic  # noqa: E402
from outreach.audience.segment_count import count_segment  # noqa: E402
from outreach.audience.segments import load_segments, parse_rule  # noqa: E402
from outreach.audience.topics import load_topics, sync_topics  # noqa: E402
from outreach.clock import FixedClock  # noqa: E402

# Stored as keys (the import below writes them as people do, and it stores the keys).
ROLES = [
    "parent-or-caregiver",
    "home-visitor",
    "pediatric-clinician",
    "early-educator",
    "mental-health-clinician",
    "student",
]
SPELLINGS = ["Parent or caregiver", "home visitor", "Pediatric clinician", "early educator", "Student"]
REGIONS = [
    "Hampton Roads",
    "Northern Virginia",
    "Richmond/Central",
    "Shenandoah Valley",
    "Roanoke/New River Valley",
    "Southwest",
    "Southside",
    "Eastern Shore",
]
TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _line(name: str, seconds: float, budget: float, extra: str = "") -> bool:
    ok = seconds <= budget
    print(
        f"{name:<58} {seconds:7.2f} s  (budget <= {budget:g} s)  {'PASS' if ok else 'FAIL'}"
        f"{'  ' + extra if extra else ''}"
    )
    return ok


def fill(url: str, total: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(1)
    with transaction(engine) as session:
        sync_topics(session, load_topics(ROOT / "lists" / "topics.yaml"))
    batch = 50_000
    with engine.begin() as connection:
        for start in range(0, total, batch):
            people: list[dict[str, Any]] = []
            topics: list[dict[str, Any]] = []
            tags: list[dict[str, Any]] = []
            for i in range(start + 1, min(total, start + batch) + 1):
                email = f"person{i}@example.org"
                endorsed = rng.random() < 0.2
                people.append(
                    {
                        "id": i,
                        "email": email,
                        "email_hash": email_hash(email),
                        "first_name": "Pat",
                        "last_name": f"Member{i}",
                        "organisation": "",
                        "role": rng.choice(ROLES),
                        "region": rng.choice(REGIONS),
                        "language": "es" if rng.random() < 0.1 else "en",
                        "time_zone": None,
                        "status": "active" if rng.random() < 0.95 else "unsubscribed",
                        "attributes": {
                            "renewal_date": (TODAY + timedelta(rng.randint(-100, 400))).isoformat(),
                            "years_in_field": str(rng.randint(0, 30)),
                        }
                        if endorsed
                        else {},
                        "signup_date": TODAY - timedelta(rng.randint(0, 3000)),
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
                topics.append({"subscriber_id": i, "topic_key": "monthly-newsletter"})
                if rng.random() < 0.4:
                    topics.append({"subscriber_id": i, "topic_key": "trainings-events"})
                if endorsed:
                    tags.append({"subscriber_id": i, "tag": "endorsed"})
            connection.execute(sa.insert(Subscriber.__table__), people)
            connection.execute(sa.insert(SubscriberTopic.__table__), topics)
            connection.execute(sa.insert(SubscriberTag.__table__), tags)
        fill_ledger(connection, total, rng)
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def fill_ledger(connection: sa.Connection, total: int, rng: random.Random) -> None:
    """Two sent campaigns: the first to half the subscribers, the second to everyone; 5% clicked."""
    for campaign_id, slug in ((1, "2026-01-winter"), (2, "2026-02-spring")):
        connection.execute(
            sa.text(
                "INSERT INTO campaigns (id, issue_slug, issue_path, subject, status, audience, transport, "
                "subject_source, html_source, text_source, from_name, from_address, reply_to, list_id, "
                "message_id_domain, pause_reason, created_at) VALUES (:id, :slug, '', 's', 'done', '{}', "
                "'outbox', 's', 'h', 't', 'VAIMH', 'news@vaimh.example', '', 'l', 'vaimh.example', '', :now)"
            ),
            {"id": campaign_id, "slug": slug, "now": NOW},
        )
        step = 2 if campaign_id == 1 else 1
        for start in range(1, total + 1, 100_000):
            ids = range(start, min(total, start + 99_999) + 1, step)
            connection.execute(
                sa.text(
                    "INSERT INTO deliveries (campaign_id, subscriber_id, state, reason, provider_id, "
                    "attempts, claimed_by) VALUES (:c, :s, 'sent', '', '', 1, '')"
                ),
                [{"c": campaign_id, "s": i} for i in ids],
            )
            clicks = [i for i in ids if rng.random() < 0.05]
            connection.execute(
                sa.text(
                    "INSERT INTO events (provider, provider_event_id, kind, campaign_id, subscriber_id, "
                    "occurred_at, received_at, detail, raw) VALUES ('sendgrid', :e, 'clicked', :c, :s, :now, "
                    ":now, 'https://vaimh.example/', '{}')"
                ),
                [{"e": f"{campaign_id}-{i}", "c": campaign_id, "s": i, "now": NOW} for i in clicks],
            )


def bench_count(folder: Path, total: int = 1_000_000) -> bool:
    url = f"sqlite:///{folder / 'million.db'}"
    started = time.perf_counter()
    fill(url, total)
    print(f"(setup: {total:,} subscribers bulk-inserted in {time.perf_counter() - started:.1f} s)")
    topics = [t.key for t in load_topics(ROOT / "lists" / "topics.yaml")]
    segments = load_segments(ROOT / "lists" / "segments.yaml", topics, None, profile_choices())
    engagement = {
        "received 2026-01-winter, not clicked": parse_rule(
            "all: [{received: 2026-01-winter}, {not: {clicked: 2026-01-winter}}]"
        ),
        "clicked 2026-02-spring, home visitors": parse_rule(
            "all: [{clicked: 2026-02-spring}, {role: home-visitor}]"
        ),
    }
    engine = make_engine(url)
    ok = True
    for name in (
        "all",
        "clinicians-hampton-roads",
        "endorsement-renewal-due",
        "home-visitors",
        "early-educators-outside-nova",
        *engagement,
    ):
        rule = None if name == "all" else engagement.get(name) or segments[name].rule
        with transaction(engine) as session:
            started = time.perf_counter()
            result = count_segment(session, rule, TODAY)
            seconds = time.perf_counter() - started
        ok &= _line(
            f"segments count {name} ({total:,} subscribers)",
            seconds,
            2.0,
            f"{result.matching:,} match, {result.mailable:,} mailable",
        )
    engine.dispose()
    return ok


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(2)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv_writer(out)
        writer.writerow(
            [
                "Email",
                "First Name",
                "Last Name",
                "Organisation",
                "Role",
                "Region",
                "Topics",
                "Tags",
                "Renewal Date",
                "Consent",
            ]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"Member.{i}@Example.org",
                    "Pat",
                    f"Member{i}",
                    "Healthy Families",
                    rng.choice(SPELLINGS),
                    rng.choice(REGIONS),
                    "monthly-newsletter; trainings-events",
                    "member" if i % 3 else "",
                    "04/15/2026" if i % 5 == 0 else "",
                    "Membership database export",
                ]
            )


def bench_import(folder: Path, rows: int = 100_000) -> bool:
    path = folder / "members-100k.csv"
    write_csv(path, rows)
    engine = make_engine(f"sqlite:///{folder / 'import.db'}")
    upgrade(engine)
    topics = load_topics(ROOT / "lists" / "topics.yaml")
    started = time.perf_counter()
    report = import_csv(engine, path, ImportOptions(), topics, FixedClock(NOW))
    seconds = time.perf_counter() - started
    ok = _line(
        f"lists import {rows:,} rows (SQLite)",
        seconds,
        10.0,
        f"{report.new:,} new, {report.rejected} rejected",
    )
    started = time.perf_counter()
    again = import_csv(engine, path, ImportOptions(), topics, FixedClock(NOW))
    _line(
        f"lists import {rows:,} rows again (all existing)",
        time.perf_counter() - started,
        10.0,
        f"{again.skipped_existing:,} skipped",
    )
    engine.dispose()
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ok = bench_import(folder)
        ok &= bench_count(folder)
    print("ALL PASS" if ok else "SOME FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

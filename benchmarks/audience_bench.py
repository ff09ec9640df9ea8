"""Audience benchmarks against DESIGN.md section 9 (run: ``python benchmarks/audience_bench.py``).

1. Count segments over 1,000,000 subscribers on SQLite (budget: <= 2 s each).
2. Import 100,000 CSV rows with validation, through the same call the CLI makes (budget: <= 10 s).

The 1,000,000 subscribers are bulk-inserted (not timed) into a temporary database.
"""

from __future__ import annotations

import csv
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
from outreach.audience.csv_import import import_csv  # noqa: E402
from outreach.audience.db import make_engine, transaction, upgrade  # noqa: E402
from outreach.audience.import_plan import ImportOptions  # noqa: E402
from outreach.audience.schema import Subscriber, SubscriberTag, SubscriberTopic  # noqa: E402
from outreach.audience.segment_count import count_segment  # noqa: E402
from outreach.audience.segments import load_segments  # noqa: E402
from outreach.audience.topics import load_topics, sync_topics  # noqa: E402
from outreach.clock import FixedClock  # noqa: E402

ROLES = [
    "parent or caregiver",
    "home visitor",
    "pediatric clinician",
    "early educator",
    "mental-health clinician",
    "student",
]
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
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def bench_count(folder: Path, total: int = 1_000_000) -> bool:
    url = f"sqlite:///{folder / 'million.db'}"
    started = time.perf_counter()
    fill(url, total)
    print(f"(setup: {total:,} subscribers bulk-inserted in {time.perf_counter() - started:.1f} s)")
    topics = [t.key for t in load_topics(ROOT / "lists" / "topics.yaml")]
    segments = load_segments(ROOT / "lists" / "segments.yaml", topics)
    engine = make_engine(url)
    ok = True
    for name in (
        "all",
        "clinicians-hampton-roads",
        "endorsement-renewal-due",
        "home-visitors",
        "early-educators-outside-nova",
    ):
        rule = None if name == "all" else segments[name].rule
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
        writer = csv.writer(out)
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
                    rng.choice(ROLES),
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

"""The admin dashboard at 1,000,000 subscribers (budget: <= 300 ms median per page).

Run: ``python benchmarks/dashboard_bench.py [DATABASE_URL]`` (default: a temporary SQLite file).
Fills (not timed) the subscribers and two 1,000,000-row campaign ledgers of ``audience_bench`` plus a
consent log of about 1,150,000 events over three years, then times the first visit (which counts)
and the median of the next 30 visits of ``/admin/`` through the real app (the figures kept for a
minute), and each part of the count on its own.
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from audience_bench import NOW, fill  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from outreach.accounts.schema import Role  # noqa: E402
from outreach.accounts.tokens import create_token  # noqa: E402
from outreach.accounts.users import add_user  # noqa: E402
from outreach.admin.app import create_admin_app  # noqa: E402
from outreach.audience import make_engine, transaction  # noqa: E402
from outreach.clock import FixedClock  # noqa: E402
from outreach.config import load_config  # noqa: E402
from outreach.models import Actor  # noqa: E402
from outreach.operations import health, overview  # noqa: E402

SECRET = "benchmark-secret-key-for-the-dashboard-0123456789"
INSERT = sa.text(
    "INSERT INTO consent_events (subscriber_id, email_hash, at, action, method, source, notice_version, "
    "actor) VALUES (:s, 'x', :at, :a, :m, '', '', '')"
)


def fill_consent(url: str, total: int) -> None:
    engine = make_engine(url)
    rng = random.Random(3)
    rows: list[dict[str, object]] = []
    with engine.begin() as connection:
        for i in range(1, total + 1):
            at = NOW - timedelta(seconds=rng.randint(0, 3 * 365 * 86400))
            rows.append({"s": i, "at": at, "a": "subscribed", "m": "import"})
            chance = rng.random()
            if chance < 0.1:
                rows.append({"s": i, "at": at + timedelta(hours=1), "a": "confirmed", "m": "form"})
            if chance < 0.05:
                rows.append({"s": i, "at": at + timedelta(days=30), "a": "unsubscribed", "m": "one_click"})
            elif chance < 0.06:
                rows.append({"s": i, "at": at + timedelta(days=40), "a": "suppressed", "m": "bounce"})
            if len(rows) >= 50_000:
                connection.execute(INSERT, rows)
                rows = []
        connection.execute(INSERT, rows)
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()


def time_parts(url: str) -> None:
    engine = make_engine(url)
    zone = ZoneInfo("America/New_York")
    parts = {
        "by status": lambda s: overview.subscribers_by_status(s),
        "active by topic": lambda s: overview.active_by_topic(s),
        "active by language": lambda s: overview.active_by_language(s),
        "growth (52 weeks)": lambda s: overview.growth(s, NOW, zone),
        "latest campaigns": lambda s: overview.recent_campaigns(s),
        "list health": lambda s: health.list_health(s, NOW),
    }
    for name, part in parts.items():
        with transaction(engine) as session:
            started = time.perf_counter()
            part(session)
            print(f"  count: {name:<22} {1000 * (time.perf_counter() - started):7.0f} ms")
    engine.dispose()


def time_page(url: str) -> bool:
    engine = make_engine(url)
    clock = FixedClock(NOW)
    with transaction(engine) as session:
        user = add_user(
            session, "ada@vaimh.example", Role.ADMIN, "a quiet harbour at dawn", Actor("b", "cli"), clock
        )
        _, token = create_token(session, user, "bench", Role.VIEWER, Actor("b", "cli"), clock)
    config = load_config(ROOT, environ={"OUTREACH_SECRET_KEY": SECRET, "OUTREACH_DATABASE_URL": url})
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_admin_app(config, engine, clock), base_url="https://news.vaimh.example") as client:
        started = time.perf_counter()
        assert client.get("/", headers=headers).status_code == 200
        first = time.perf_counter() - started
        times = []
        for _ in range(30):
            started = time.perf_counter()
            client.get("/", headers=headers)
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    ok = median <= 0.3
    print(
        f"dashboard page, 1,000,000 subscribers: median {1000 * median:.1f} ms (budget <= 300 ms) "
        f"{'PASS' if ok else 'FAIL'}; first visit (counting) {1000 * first:.0f} ms"
    )
    engine.dispose()
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(folder) / 'dashboard.db'}"
        started = time.perf_counter()
        fill(url, 1_000_000)
        fill_consent(url, 1_000_000)
        print(f"(setup: filled in {time.perf_counter() - started:.0f} s)")
        time_parts(url)
        return 0 if time_page(url) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The admin subscribers pages at 1,000,000 subscribers (budget: <= 300 ms median per page).

Run: ``python benchmarks/subscribers_bench.py [DATABASE_URL]`` (default: a temporary SQLite file).
Fills (not timed) the 1,000,000 subscribers of ``audience_bench`` (names "Pat Member<N>", addresses
"person<N>@example.org", 95% active, 10% Spanish, topics, tags, two campaigns' ledgers), then times
the median of ``RUNS`` visits of each page through the real app: searches (an address's start, a last
name's start, two words, a word nobody has), page 500 of the whole list and of lists filtered by
status, language, topic, status and language together, and a segment, and one person's page.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

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

SECRET = "benchmark-secret-key-for-the-subscribers-0123456789"
RUNS = 15
BUDGET = 0.3
PAGES = {
    "search: an address's start (person12345)": {"q": "person12345"},
    "search: a last name's start (member99999)": {"q": "member99999"},
    "search: two words (pat member4242)": {"q": "pat member4242"},
    "search: a word nobody has (zebra)": {"q": "zebra"},
    "search: a common start (pat), page 1": {"q": "pat"},
    "page 500, whole list": {"page": "500"},
    "page 500, status active": {"status": "active", "page": "500"},
    "page 500, status unsubscribed": {"status": "unsubscribed", "page": "500"},
    "page 500, language es": {"language": "es", "page": "500"},
    "page 500, status active + language es": {"status": "active", "language": "es", "page": "500"},
    "page 500, topic trainings-events": {"topic": "trainings-events", "page": "500"},
    "page 500, topic + status + language": {
        "topic": "monthly-newsletter",
        "status": "active",
        "language": "es",
        "page": "500",
    },
    "page 500, segment home-visitors": {"segment": "home-visitors", "page": "500"},
    "page 1, segment clinicians-hampton-roads": {"segment": "clinicians-hampton-roads"},
}


def time_pages(url: str) -> bool:
    engine = make_engine(url)
    clock = FixedClock(NOW)
    with transaction(engine) as session:
        user = add_user(
            session, "ada@vaimh.example", Role.ADMIN, "a quiet harbour at dawn", Actor("b", "cli"), clock
        )
        _, token = create_token(session, user, "bench", Role.VIEWER, Actor("b", "cli"), clock)
    config = load_config(ROOT, environ={"OUTREACH_SECRET_KEY": SECRET, "OUTREACH_DATABASE_URL": url})
    headers = {"Authorization": f"Bearer {token}"}
    ok = True
    with TestClient(create_admin_app(config, engine, clock), base_url="https://news.vaimh.example") as client:
        targets = [("/subscribers", params) for params in PAGES.values()]
        targets.append(("/subscribers/500000", {}))
        names = [*PAGES, "one person's page (id 500000)"]
        for name, (path, params) in zip(names, targets, strict=True):
            answer = client.get(path, params=params, headers=headers)
            assert answer.status_code == 200, (name, answer.status_code, answer.text[:500])
            times = []
            for _ in range(RUNS):
                started = time.perf_counter()
                client.get(path, params=params, headers=headers)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            passed = median <= BUDGET
            ok = ok and passed
            print(
                f"{name:<48} median {1000 * median:7.1f} ms  (budget <= {1000 * BUDGET:.0f} ms)  "
                f"{'PASS' if passed else 'FAIL'}"
            )
    engine.dispose()
    return ok


def main() -> int:
    with tempfile.TemporaryDirectory() as folder:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(folder) / 'subscribers.db'}"
        started = time.perf_counter()
        fill(url, 1_000_000)
        if url.startswith("postgresql"):
            engine = make_engine(url)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
            engine.dispose()
        print(f"(setup: filled in {time.perf_counter() - started:.0f} s)")
        return 0 if time_pages(url) else 1


if __name__ == "__main__":
    sys.exit(main())

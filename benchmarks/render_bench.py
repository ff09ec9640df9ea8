"""Rendering benchmark: per-issue render time, and per-recipient personalisation against EmailMessage.

Run:  python benchmarks/render_bench.py [--recipients 2000]

Both halves are measured in the same run so the comparison is a ratio on this machine, not a
number from another day. Budgets (DESIGN.md section 9): render one issue <= 50 ms; personalising a
recipient must be far cheaper than building an ``EmailMessage`` per recipient.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from outreach.config import load_config
from outreach.content import read_issue
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.models import Recipient
from outreach.render import render_issue
from outreach.tokens import recipient_links

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "newsletters" / "2026-12-holding-the-holidays.md"
RENDER_BUDGET_MS = 50.0


def timed(action: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return samples


def large_issue(folder: Path) -> Path:
    """The example with its body repeated to reach the 60-90 KB of a long real issue."""
    source = EXAMPLE.read_text(encoding="utf-8")
    head, body = source.split("\n---\n", 1)
    path = folder / "2026-12-large.md"
    path.write_text(head + "\n---\n" + "\n\n".join([body] * 3), encoding="utf-8")
    return path


def recipients(count: int) -> list[Recipient]:
    names = ["Ana", "Zoë", "Nguyễn", "O'Brien", 'Mary "May"', "Łukasz", "José", "Aisha"]
    return [
        Recipient(email=f"reader{i}@example.org", first_name=names[i % len(names)], last_name="Test")
        for i in range(count)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--renders", type=int, default=30)
    args = parser.parse_args()
    config = load_config(ROOT, environ={"OUTREACH_SECRET_KEY": "bench"})
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in (("example issue", EXAMPLE), ("long issue", large_issue(Path(tmp)))):
            issue = read_issue(path)
            render_issue(issue, config)  # warm: imports, template compilation caches
            whole = timed(lambda p=path: render_issue(read_issue(p), config), args.renders)
            compiled = render_issue(issue, config)
            people = recipients(args.recipients)
            links = [recipient_links(config.base_url, config.secret_key, str(i), issue.slug)
                     for i in range(len(people))]
            size = len(compiled.personalise(people[0], links[0]).html.encode()) / 1024

            def personalise_all(c=compiled) -> None:  # type: ignore[no-untyped-def]
                for person, link in zip(people, links, strict=True):
                    c.personalise(person, link)

            now = datetime.now(UTC)
            few = max(200, args.recipients // 10)

            def email_message_all(c=compiled) -> None:  # type: ignore[no-untyped-def]
                for person, link in zip(people[:few], links[:few], strict=True):
                    mail = c.personalise(person, link)
                    envelope = envelope_for(c.issue, config, person.email, now, person.full_name,
                                            message_id=f"<{person.email}.bench@vaimh.example>")
                    message_bytes(build_message(envelope, mail, link, config))

            per_personal = statistics.median(timed(personalise_all, 3)) / len(people)
            per_message = statistics.median(timed(email_message_all, 3)) / few
            render_ms = statistics.median(whole) * 1000
            ok = render_ms <= RENDER_BUDGET_MS
            failures += not ok
            print(f"{label} ({size:.1f} KB HTML)")
            print(f"  render (read + Markdown + MJML + premailer + text + compile): "
                  f"median {render_ms:.1f} ms, max {max(whole) * 1000:.1f} ms over {args.renders}"
                  f"  budget <= {RENDER_BUDGET_MS:.0f} ms  {'PASS' if ok else 'FAIL'}")
            print(f"  personalise one recipient (subject + HTML + text): {per_personal * 1e6:.1f} µs")
            print(f"  personalise + EmailMessage build + serialise:      {per_message * 1e6:.1f} µs")
            print(f"  EmailMessage path / personalisation: {per_message / per_personal:.0f}x")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

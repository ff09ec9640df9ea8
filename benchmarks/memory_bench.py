"""Memory benchmark: peak RSS of a campaign to 100,000 and to 1,000,000 recipients (SQLite).

Run:  python benchmarks/memory_bench.py [--sizes 100000,1000000]

For each size, one fresh subprocess fills a temporary project's SQLite database (bulk insert, not
measured), then another fresh subprocess does what ``outreach send --yes`` does: render the issue
(~60 KB per message), ``create_campaign`` (the INSERT ... SELECT snapshot into the ledger) and
``CampaignRunner`` through a counting transport that drops every message and answers SENT (the
``memory`` transport keeps every message in a list: that would measure the sink, not outreach). The
sending process's peak RSS (``ru_maxrss``) is the figure. Budget (docs/design.md section 7): <= 150 MB,
and flat in the list size (the largest size's peak within 15% of the smallest's).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from send_bench import (
    compile_issue,
    fill,
    make_engine,
    make_project,
    new_campaign,
    project_config,
    run_campaign,
)

from outreach.transports.base import Outcome, OutgoingMessage, Receipts, SendResult, Transport, stopped

PEAK_BUDGET_MB = 150.0
FLAT_BUDGET = 0.15
COUNTING = '[transports.counting]\nbackend = "maildir"\npath = "unused"\nconcurrency = 4\n'


class CountingTransport(Transport):
    """Drops every message and answers SENT: the cheapest possible way out, holding nothing."""

    backend = "counting"
    max_batch = 50

    def __init__(self, name: str = "counting") -> None:
        super().__init__(name)
        self._lock = threading.Lock()
        self.count = 0
        self.bytes = 0

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        """Each message announced and answered on its own, as a real transport does (and journaled)."""
        for message in messages:
            if not receipts.handing((message,)):
                receipts.answered(stopped(message.key))
                continue
            with self._lock:
                self.count += 1
                self.bytes += len(message.raw)
            receipts.answered(SendResult(message.key, Outcome.SENT, "250", "dropped"))


def vm_hwm_mb() -> float:
    """The process's peak RSS so far, from /proc (the same figure as ru_maxrss on Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child_fill(folder: Path, size: int) -> None:
    make_project(folder, COUNTING)
    fill(project_config(folder), size)


def child_send(folder: Path) -> None:
    config = project_config(folder)
    engine = make_engine(config.database_url)
    started_mb = vm_hwm_mb()
    compiled = compile_issue(config, folder / "newsletters" / "2026-12-long.md")
    started = time.perf_counter()
    campaign_id = new_campaign(config, engine, compiled, "counting")
    created = time.perf_counter() - started
    created_mb = vm_hwm_mb()
    transport = CountingTransport()
    progress, seconds, counts = run_campaign(config, engine, campaign_id, "counting", transport)
    engine.dispose()
    print(
        json.dumps(
            {
                "imports_mb": started_mb,
                "created_mb": created_mb,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "create_s": created,
                "send_s": seconds,
                "sent": progress.sent,
                "counted": transport.count,
                "bytes": transport.bytes,
                "counts": counts,
            }
        )
    )


def measure(size: int) -> dict[str, object]:
    folder = Path(tempfile.mkdtemp(prefix="memory-bench-"))
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--fill", str(folder), str(size)], check=True)
        filled = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, __file__, "--send", str(folder)], check=True, capture_output=True, text=True
        ).stdout
        result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
        result["fill_s"] = filled
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated list sizes")
    parser.add_argument("--fill", nargs=2, metavar=("FOLDER", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--send", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        child_fill(Path(args.fill[0]), int(args.fill[1]))
        return 0
    if args.send:
        child_send(Path(args.send))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    peaks: dict[int, float] = {}
    ok = True
    for size in sizes:
        r = measure(size)
        peak = float(r["peak_mb"])  # type: ignore[arg-type]
        peaks[size] = peak
        sent = int(r["sent"])  # type: ignore[call-overload]
        send_s = float(r["send_s"])  # type: ignore[arg-type]
        complete = sent == size == int(r["counted"])  # type: ignore[call-overload]
        ok &= complete and peak <= PEAK_BUDGET_MB
        print(
            f"{size:>9,} recipients: peak RSS {peak:6.1f} MB (after imports {r['imports_mb']:.1f}, after "
            f"create_campaign {r['created_mb']:.1f})   budget <= {PEAK_BUDGET_MB:.0f} MB  "
            f"{'PASS' if peak <= PEAK_BUDGET_MB else 'FAIL'}"
        )
        print(
            f"{'':>22}(fill {r['fill_s']:.0f} s, not measured); create_campaign {r['create_s']:.1f} s; "
            f"{sent:,} sent in {send_s:.1f} s = {sent / send_s:,.0f} messages/s through a counting "
            f"transport ({int(r['bytes']) / sent / 1024:.1f} KB each){'' if complete else '  INCOMPLETE'}"  # type: ignore[call-overload]
        )
    if len(peaks) > 1:
        low, high = peaks[min(peaks)], peaks[max(peaks)]
        growth = high / low - 1
        flat = growth <= FLAT_BUDGET
        ok &= flat
        print(
            f"flat: {max(peaks):,} peak is {growth:+.0%} of the {min(peaks):,} peak   "
            f"budget <= +{FLAT_BUDGET:.0%}  {'PASS' if flat else 'FAIL'}"
        )
    print("ALL PASS" if ok else "SOME FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

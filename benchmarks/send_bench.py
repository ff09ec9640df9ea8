"""End-to-end send benchmark: outreach's real delivery path against Postfix's ``smtp-source``.

Run:  python benchmarks/send_bench.py [--recipients 20000] [--connections 4] [--rounds 3]

A temporary project (this repository's outreach.toml, templates and lists, a SQLite database) gets
``--recipients`` subscribers by bulk insert; a long issue (~60 KB per message) is rendered,
``create_campaign`` snapshots the audience into the ledger, and ``CampaignRunner`` sends it with the
``smtp`` transport (``connections = concurrency = N``) to Postfix's ``smtp-sink`` on 127.0.0.1. Then, in
the same run and to the same sink, ``smtp-source`` sends as many messages of the same size over N
reused connections (``-d``). The two alternate for ``--rounds`` rounds, each of outreach's in a new
interpreter (so each pays for starting its sending processes, as ``outreach send`` does), and the
median of the rounds' ratios is judged: on two shared cores one pair of runs varies by +-5 points.
Budget (DESIGN.md section 9): outreach's rate >= 60% of smtp-source's.

Both need Debian's ``postfix`` package (``/usr/sbin/smtp-sink``, ``/usr/sbin/smtp-source``); the
Postfix daemon is never started.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from outreach.audience import load_segments, make_engine, transaction, upgrade  # noqa: E402
from outreach.audience.addresses import email_hash  # noqa: E402
from outreach.audience.schema import Subscriber, SubscriberTopic  # noqa: E402
from outreach.audience.subscribers import known_topics  # noqa: E402
from outreach.audience.topics import load_topics, sync_topics  # noqa: E402
from outreach.clock import SystemClock  # noqa: E402
from outreach.config import Config, load_config  # noqa: E402
from outreach.content import read_issue  # noqa: E402
from outreach.delivery import ledger  # noqa: E402
from outreach.delivery.campaigns import Sender, create_campaign  # noqa: E402
from outreach.delivery.outgoing import CampaignContent, CampaignMessages  # noqa: E402
from outreach.delivery.runner import Progress  # noqa: E402
from outreach.delivery.wiring import build_transport, run_settings, runner_for  # noqa: E402
from outreach.render import CompiledIssue, render_issue  # noqa: E402
from outreach.transports.base import Transport  # noqa: E402

EXAMPLE = ROOT / "newsletters" / "2026-12-holding-the-holidays.md"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
RATIO_BUDGET = 0.60
NAMES = ["Ana", "Zoë", "Nguyễn", "O'Brien", 'Mary "May"', "Łukasz", "José", "Aisha"]
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


# -- a temporary project (shared with memory_bench.py) -----------------------------------------------


def make_project(folder: Path, transports: str = "", body_repeat: int = 2) -> Path:
    """A project folder: this repository's settings, templates and lists, its own SQLite database.

    Returns the path of a long issue: the example's body ``body_repeat`` times (2 gives ~60 KB per
    message, 3 ~83 KB), like render_bench.py's ``long_issue``.
    """
    shutil.copytree(ROOT / "templates", folder / "templates")
    shutil.copytree(ROOT / "lists", folder / "lists")
    settings = (ROOT / "outreach.toml").read_text(encoding="utf-8")
    settings = re.sub(r'(?m)^url = ".*"$', 'url = "sqlite:///outreach.db"', settings)
    (folder / "outreach.toml").write_text(settings + "\n" + transports, encoding="utf-8")
    (folder / "newsletters").mkdir()
    head, body = EXAMPLE.read_text(encoding="utf-8").split("\n---\n", 1)
    issue = folder / "newsletters" / "2026-12-long.md"
    issue.write_text(head + "\n---\n" + "\n\n".join([body] * body_repeat), encoding="utf-8")
    return issue


def project_config(folder: Path) -> Config:
    return load_config(folder, environ={"OUTREACH_SECRET_KEY": "send-bench-key-0123456789abcdefXYZ"})


def fill(config: Config, total: int, batch: int = 50_000) -> None:
    """``total`` active subscribers of the issue's topic, bulk-inserted (SQLAlchemy core)."""
    engine = make_engine(config.database_url)
    upgrade(engine)
    with transaction(engine) as session:
        sync_topics(session, load_topics(config.path("lists") / "topics.yaml"))
    with engine.begin() as connection:
        for start in range(1, total + 1, batch):
            people: list[dict[str, Any]] = []
            topics: list[dict[str, Any]] = []
            for i in range(start, min(total, start + batch - 1) + 1):
                email = f"reader{i}@example.org"
                people.append(
                    {
                        "id": i,
                        "email": email,
                        "email_hash": email_hash(email),
                        "first_name": NAMES[i % len(NAMES)],
                        "last_name": f"Member{i}",
                        "organisation": "Healthy Families",
                        "role": "home visitor",
                        "region": "Richmond/Central",
                        "language": "en",
                        "time_zone": None,
                        "status": "active",
                        "attributes": {},
                        "signup_date": date(2025, 1, 1),
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                )
                topics.append({"subscriber_id": i, "topic_key": "monthly-newsletter"})
            connection.execute(sa.insert(Subscriber.__table__), people)
            connection.execute(sa.insert(SubscriberTopic.__table__), topics)
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def compile_issue(config: Config, issue: Path) -> CompiledIssue:
    return render_issue(read_issue(issue, config.time_zone), config)


def new_campaign(config: Config, engine: sa.Engine, compiled: CompiledIssue, transport: str) -> int:
    """``create_campaign`` as ``outreach send --yes`` calls it: the INSERT ... SELECT snapshot."""
    sender = config.sender
    who = Sender(
        sender.from_name, sender.from_address, sender.reply_to, sender.list_id, sender.message_id_domain
    )
    clock = SystemClock()
    with transaction(engine) as session:
        segments = load_segments(config.path("lists") / "segments.yaml", known_topics(session))
        campaign = create_campaign(
            session, compiled, who, compiled.issue.audience, segments, transport, clock
        )
        return campaign.id


def message_size(config: Config, engine: sa.Engine, campaign_id: int) -> int:
    """Bytes of one composed message of the campaign (the first subscriber's)."""
    from outreach.delivery.campaigns import get_campaign
    from outreach.delivery.ledger import Claimed
    from outreach.models import Recipient

    with transaction(engine) as session:
        campaign = get_campaign(session, campaign_id)
    messages = CampaignMessages(CampaignContent.of(campaign), config.base_url, config.secret_key)
    person = Recipient(email="reader1@example.org", first_name=NAMES[1], last_name="Member1")
    claimed = Claimed(1, 1, f"<{campaign_id}.1.0@vaimh.example>", 1, person)
    return len(messages.compose(claimed, datetime.now(UTC)).raw)


def run_campaign(
    config: Config, engine: sa.Engine, campaign_id: int, name: str, transport: Transport | None = None
) -> tuple[Progress, float, dict[str, int]]:
    """``CampaignRunner`` as the CLI builds it; returns its progress, the seconds it took and the counts."""
    clock = SystemClock()
    way_out = transport or build_transport(config, name)
    started = time.perf_counter()
    with way_out:
        runner = runner_for(config, engine, campaign_id, name, way_out, clock)
        progress = runner.run(wait_for_retries=False)
    seconds = time.perf_counter() - started
    with transaction(engine) as session:
        counts = ledger.counts(session, campaign_id)
    return progress, seconds, counts


# -- smtp-sink and smtp-source ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Sink:
    """Postfix's smtp-sink as a subprocess; ``-c`` counters tell how many messages it took."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, folder: Path) -> Sink:
        port = free_port()
        log = folder / "smtp-sink.out"
        command = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            command += ["-u", "nobody"]  # refuses to run as root without it
        command += [f"127.0.0.1:{port}", "1000"]
        process = subprocess.Popen(command, stdout=log.open("wb"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return cls(port, process, log)
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
        process.kill()
        raise SystemExit(f"smtp-sink did not start: {log.read_text(errors='replace')[-500:]}")

    def messages(self) -> int:
        """Messages completed so far (the last ``mesg=`` counter smtp-sink printed)."""
        found = re.findall(rb"mesg=(\d+)", self.log.read_bytes()[-4000:])
        return int(found[-1]) if found else 0

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def smtp_source(port: int, count: int, length: int, sessions: int, reuse: bool = True) -> float:
    """Seconds for smtp-source to send ``count`` messages of ``length`` bytes over ``sessions``."""
    command = [SMTP_SOURCE, "-s", str(sessions), "-m", str(count), "-l", str(length)]
    if reuse:
        command.append("-d")  # keep each connection for the next message, as outreach's pool does
    command.append(f"127.0.0.1:{port}")
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


# -- the benchmark ------------------------------------------------------------------------------------


def sink_transport(port: int, connections: int, batch: int | None) -> str:
    extra = f"max_batch = {batch}\n" if batch else ""
    return (
        "[transports.sink]\n"
        'backend = "smtp"\n'
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        'security = "none"\n'
        f"connections = {connections}\n"
        f"concurrency = {connections}\n"
        "timeout = 30\n" + extra
    )


def send_round(folder: Path, campaign_id: int) -> dict[str, Any]:
    """Run one campaign in a new interpreter, as ``outreach send`` does: every round pays for starting
    its sending processes (a forkserver outlives its first pool, so a second run in one interpreter
    would not). Returns what ``run_campaign`` measured."""
    command = [sys.executable, __file__, "--send-campaign", str(folder), str(campaign_id)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _send_campaign(folder: Path, campaign_id: int) -> int:
    """The child side of ``send_round``: prints one JSON line."""
    config = project_config(folder)
    engine = make_engine(config.database_url)
    progress, seconds, counts = run_campaign(config, engine, campaign_id, "sink")
    engine.dispose()
    print(json.dumps({"sent": progress.sent, "seconds": seconds, "counts": counts}))
    return 0


def main() -> int:
    if sys.argv[1:2] == ["--send-campaign"]:
        return _send_campaign(Path(sys.argv[2]), int(sys.argv[3]))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=4, help="SMTP connections = concurrency")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median ratio counts")
    parser.add_argument("--repeat", type=int, default=2, help="the example's body N times (2: ~60 KB)")
    parser.add_argument("--max-batch", type=int, default=None, help="the smtp transport's max_batch")
    parser.add_argument(
        "--processes",
        type=int,
        default=None,
        help="[delivery] processes (default: one sending process per connection; 1: threads)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary project (print where)")
    args = parser.parse_args()
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not Path(tool).exists():
            print(f"{tool} is missing: apt-get install postfix (the daemon is never started)")
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="send-bench-"))
    sink = Sink.start(tmp)
    try:
        folder = tmp / "project"
        folder.mkdir()
        issue = make_project(folder, sink_transport(sink.port, args.connections, args.max_batch), args.repeat)
        processes = args.processes or args.connections
        toml = folder / "outreach.toml"
        toml.write_text(
            re.sub(r"(?m)^\[delivery\]$", f"[delivery]\nprocesses = {processes}", toml.read_text()),
            encoding="utf-8",
        )
        config = project_config(folder)
        started = time.perf_counter()
        fill(config, args.recipients)
        filled = time.perf_counter() - started
        engine = make_engine(config.database_url)
        campaigns: list[int] = []
        created = 0.0
        for number in range(1, args.rounds + 1):
            # one issue per round: a campaign of an issue leaves out whoever another one already sent it to
            copy = issue.with_name(f"{issue.stem}-round-{number}.md")
            copy.write_text(issue.read_text(encoding="utf-8"), encoding="utf-8")
            compiled = compile_issue(config, copy)
            started = time.perf_counter()
            campaigns.append(new_campaign(config, engine, compiled, "sink"))
            created += (time.perf_counter() - started) / args.rounds
        size = message_size(config, engine, campaigns[0])
        engine.dispose()
        print(
            f"setup: {args.recipients:,} subscribers bulk-inserted in {filled:.1f} s; "
            f"{args.rounds} campaigns created (INSERT ... SELECT) in {created:.2f} s each; "
            f"message {size / 1024:.1f} KB"
        )
        print(
            f"outreach CampaignRunner, {args.connections} connections, {processes} sending "
            f"process{'es' if processes > 1 else ''}, batch {run_settings(config, 'sink').batch_size}, "
            f"max_batch {build_transport(config, 'sink').max_batch}, a new interpreter per round; "
            f"smtp-source -s {args.connections} -d (connections reused) -l {size}; both to smtp-sink"
        )
        ratios: list[float] = []
        complete = True
        for number, campaign_id in enumerate(campaigns, 1):
            before = sink.messages()
            ours = send_round(folder, campaign_id)
            our_rate = ours["sent"] / ours["seconds"]
            received = sink.messages() - before
            complete &= ours["counts"]["sent"] == args.recipients == received
            before = sink.messages()
            source_seconds = smtp_source(sink.port, args.recipients, size, args.connections)
            their_rate = args.recipients / source_seconds
            complete &= sink.messages() - before == args.recipients
            ratios.append(our_rate / their_rate)
            shown = ", ".join(f"{n:,} {state}" for state, n in ours["counts"].items() if n)
            print(
                f"  round {number}: outreach {ours['sent']:,} in {ours['seconds']:.2f} s = "
                f"{our_rate:,.0f}/s ({our_rate * size / 2**20:.0f} MB/s; ledger: {shown}; sink counted "
                f"{received:,})   smtp-source {source_seconds:.2f} s = {their_rate:,.0f}/s   "
                f"ratio {ratios[-1]:.0%}"
            )
        fresh = smtp_source(sink.port, args.recipients, size, args.connections, reuse=False)
        fresh_rate = args.recipients / fresh
        print(f"  (for reference, smtp-source with a new connection per message: {fresh_rate:,.0f}/s)")
        ratio = statistics.median(ratios)
        ok = ratio >= RATIO_BUDGET and complete
        print(
            f"outreach / smtp-source: median {ratio:.0%} (rounds {', '.join(f'{r:.0%}' for r in ratios)})   "
            f"budget >= {RATIO_BUDGET:.0%}  {'PASS' if ok else 'FAIL'}"
            f"{'' if complete else '  (not every recipient was sent or counted)'}"
        )
        return 0 if ok else 1
    finally:
        sink.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

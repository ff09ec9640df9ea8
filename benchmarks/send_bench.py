"""End-to-end send benchmark: outreach's real delivery path against Postfix's ``smtp-source``.

Run:  python benchmarks/send_bench.py [--recipients 20000] [--connections 1,4,10] [--rounds 3]
      python benchmarks/send_bench.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test \
          --workers 3 [--connections 4]

A temporary project (this repository's outreach.toml, templates and lists, a SQLite database) gets
``--recipients`` subscribers by bulk insert; a long issue (~60 KB per message) is rendered,
``create_campaign`` snapshots the audience into the ledger, and ``CampaignRunner`` sends it with the
``smtp`` transport (``connections = concurrency = N``, ``[delivery] processes`` = ``--processes``) to
Postfix's ``smtp-sink`` on 127.0.0.1. Then, in the same run and to the same sink, ``smtp-source``
sends as many messages of the same size over N reused connections (``-d``). For each round, every
connection count is run in turn (outreach, smtp-source, next count), each of outreach's sends in a new
interpreter (so it pays for starting its sending processes, as ``outreach send`` does), while this
process samples the resident memory of that interpreter and every process below it every 50 ms and
keeps the peak of their sum. The median over the rounds is judged: on two shared cores one pair of
runs varies by +-10 points. Budgets (docs/design.md section 7): outreach's rate >= 80% of
smtp-source's at each connection count; more connections never slower than fewer (within 5%); the
process tree's peak <= 150 MiB at 4 connections and <= 200 MiB at 10.

With ``--database-url`` (PostgreSQL) and ``--workers W``, each round also sends a campaign with W
runner processes at once on a fresh database of that server (made for the run and dropped after),
each with N connections, against one runner on SQLite in the same round; budget: W workers reach
>= 90% of the single SQLite process's rate.

Both need Debian's ``postfix`` package (``/usr/sbin/smtp-sink``, ``/usr/sbin/smtp-source``); the
Postfix daemon is never started.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
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
from outreach.delivery.wiring import build_transport, runner_for  # noqa: E402
from outreach.render import CompiledIssue, render_issue  # noqa: E402
from outreach.transports.base import Transport  # noqa: E402

EXAMPLE = ROOT / "newsletters" / "2026-12-holding-the-holidays.md"
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
RATIO_BUDGET = 0.80
MEMORY_BUDGET_MIB = {4: 150.0, 10: 200.0}
WORKERS_BUDGET = 0.90
MONOTONIC_SLACK = 0.95
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


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a running process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    """CPU time (user + system) of this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


def sink_transport(name: str, port: int, connections: int, batch: int | None) -> str:
    extra = f"max_batch = {batch}\n" if batch else ""
    return (
        f"[transports.{name}]\n"
        'backend = "smtp"\n'
        'host = "127.0.0.1"\n'
        f"port = {port}\n"
        'security = "none"\n'
        f"connections = {connections}\n"
        f"concurrency = {connections}\n"
        "timeout = 30\n" + extra
    )


def tree_rss(root: int) -> tuple[int, int]:
    """(bytes resident, processes) summed over ``root`` and every process below it, from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    tree = {root}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in tree:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total, len(tree)


def send_round(folder: Path, campaign_id: int, name: str, workers: int = 1) -> dict[str, Any]:
    """Run one campaign in ``workers`` new interpreters at once, as ``outreach send`` (or ``outreach
    worker``) does: every round pays for starting its sending processes. Samples the summed resident
    memory of each interpreter's process tree every 50 ms. Returns the rate over the whole send, the
    peak, the most processes seen and the ledger's counts once every worker has finished (read from the
    database: a worker's own counts are a snapshot taken while the others may still be sending)."""
    command = [sys.executable, __file__, "--send-campaign", str(folder), str(campaign_id), name]
    started = time.perf_counter()
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(workers)]
    peak = most = 0
    while any(p.poll() is None for p in running):
        sampled = [tree_rss(p.pid) for p in running if p.poll() is None]
        peak = max(peak, sum(rss for rss, _ in sampled))
        most = max(most, sum(n for _, n in sampled))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    answers = []
    for process in running:
        out, _ = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"a send failed (exit {process.returncode})")
        answers.append(json.loads(out.strip().splitlines()[-1]))
    sent = sum(a["sent_now"] for a in answers)
    # one worker alone: its own timing (no interpreter start in it, as before); several: the wall time
    own = answers[0]["seconds"] if workers == 1 else seconds
    engine = make_engine(project_config(folder).database_url)
    try:
        with transaction(engine) as session:
            counts = ledger.counts(session, campaign_id)
    finally:
        engine.dispose()
    return {
        "sent": sent,
        "seconds": own,
        "cpu": sum(a["cpu"] for a in answers),
        "peak": peak,
        "processes": most,
        "counts": counts,
    }


def _send_campaign(folder: Path, campaign_id: int, name: str) -> int:
    """The child side of ``send_round``: prints one JSON line."""
    config = project_config(folder)
    engine = make_engine(config.database_url)
    with transaction(engine) as session:
        before = ledger.counts(session, campaign_id)["sent"]
    cpu = time.process_time()  # every thread of this process
    progress, seconds, counts = run_campaign(config, engine, campaign_id, name)
    cpu = time.process_time() - cpu
    engine.dispose()
    now = counts["sent"] - before
    print(
        json.dumps(
            {"sent_now": now, "seconds": seconds, "cpu": cpu, "counts": counts, "total_sent": progress.sent}
        )
    )
    return 0


@dataclass
class Project:
    folder: Path
    config: Config
    issue: Path
    number: int = 0

    def campaign(self, transport: str) -> int:
        """A new campaign of a new copy of the issue (one campaign per issue and audience)."""
        self.number += 1
        copy = self.issue.with_name(f"{self.issue.stem}-{self.number}.md")
        copy.write_text(self.issue.read_text(encoding="utf-8"), encoding="utf-8")
        compiled = compile_issue(self.config, copy)
        engine = make_engine(self.config.database_url)
        try:
            return new_campaign(self.config, engine, compiled, transport)
        finally:
            engine.dispose()


def new_project(
    folder: Path, port: int, counts: list[int], args: argparse.Namespace, database_url: str = ""
) -> Project:
    folder.mkdir()
    tables = "\n".join(sink_transport(f"sink{n}", port, n, args.max_batch) for n in counts)
    issue = make_project(folder, tables, args.repeat)
    toml = folder / "outreach.toml"
    text = re.sub(r"(?m)^\[delivery\]$", f"[delivery]\nprocesses = {args.processes}", toml.read_text())
    if database_url:
        text = re.sub(r'(?m)^url = ".*"$', f'url = "{database_url}"', text)
    toml.write_text(text, encoding="utf-8")
    config = project_config(folder)
    fill(config, args.recipients)
    return Project(folder, config, issue)


def scratch_database(url: str) -> tuple[str, Any]:
    """A fresh database on the server ``url`` names (so nothing else on it is touched), and how to drop it."""
    name = f"send_bench_{os.getpid()}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    made = sa.make_url(url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    return made, drop


def rounds(values: list[float]) -> str:
    return ", ".join(f"{value:.0%}" for value in values)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def main() -> int:
    if sys.argv[1:2] == ["--send-campaign"]:
        return _send_campaign(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--connections", default="1,4,10", help="connection counts, e.g. 1,4,10")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median counts")
    parser.add_argument("--repeat", type=int, default=2, help="the example's body N times (2: ~60 KB)")
    parser.add_argument("--max-batch", type=int, default=None, help="the smtp transport's max_batch")
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="[delivery] processes (default 1: the runner's threads; N: at most one per core)",
    )
    parser.add_argument("--database-url", default="", help="a PostgreSQL server for the workers' mode")
    parser.add_argument("--workers", type=int, default=3, help="runner processes on PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the temporary project (print where)")
    args = parser.parse_args()
    counts = [int(n) for n in args.connections.split(",")]
    for tool in (SMTP_SINK, SMTP_SOURCE):
        if not Path(tool).exists():
            print(f"{tool} is missing: apt-get install postfix (the daemon is never started)")
            return 2
    tmp = Path(tempfile.mkdtemp(prefix="send-bench-"))
    sink = Sink.start(tmp)
    drop = None
    try:
        started = time.perf_counter()
        project = new_project(tmp / "project", sink.port, counts, args)
        filled = time.perf_counter() - started
        postgres = None
        if args.database_url:
            url, drop = scratch_database(args.database_url)
            postgres = new_project(tmp / "postgres", sink.port, counts, args, url)
        first = project.campaign(f"sink{counts[0]}")
        engine = make_engine(project.config.database_url)
        size = message_size(project.config, engine, first)
        engine.dispose()
        print(
            f"setup: {args.recipients:,} subscribers bulk-inserted in {filled:.1f} s; message "
            f"{size / 1024:.1f} KB; {os.cpu_count()} cores; [delivery] processes = {args.processes}"
        )
        print(
            "each round, for each connection count N: outreach CampaignRunner (smtp, connections = "
            "concurrency = N, a new interpreter), then smtp-source -s N -d (connections reused) -l "
            f"{size}; both to smtp-sink; memory = peak of the summed RSS of outreach's process tree"
        )
        rates: dict[int, list[float]] = {n: [] for n in counts}
        ratios: dict[int, list[float]] = {n: [] for n in counts}
        peaks: dict[int, list[float]] = {n: [] for n in counts}
        workers: list[float] = []
        complete = True
        for number in range(1, args.rounds + 1):
            for n in counts:
                campaign = first if (number, n) == (1, counts[0]) else project.campaign(f"sink{n}")
                before, sink_cpu = sink.messages(), cpu_seconds(sink.process.pid)
                ours = send_round(project.folder, campaign, f"sink{n}")
                our_rate = ours["sent"] / ours["seconds"]
                received = sink.messages() - before
                our_sink_cpu = cpu_seconds(sink.process.pid) - sink_cpu
                if not ours["counts"]["sent"] == args.recipients == received:
                    complete = False
                    print(f"  not every recipient was sent: {ours['counts']}; sink counted {received}")
                before, sink_cpu, source_cpu = sink.messages(), cpu_seconds(sink.process.pid), children_cpu()
                source_seconds = smtp_source(sink.port, args.recipients, size, n)
                their_rate = args.recipients / source_seconds
                their_sink_cpu = cpu_seconds(sink.process.pid) - sink_cpu
                source_cpu = children_cpu() - source_cpu
                complete &= sink.messages() - before == args.recipients
                rates[n].append(our_rate)
                ratios[n].append(our_rate / their_rate)
                peaks[n].append(ours["peak"] / 2**20)
                print(
                    f"  round {number}, {n:>2} connection{'s' if n > 1 else ' '}: outreach "
                    f"{ours['sent']:,} in {ours['seconds']:.2f} s = {our_rate:,.0f}/s (sink counted "
                    f"{received:,}; peak {ours['peak'] / 2**20:.0f} MiB in {ours['processes']} "
                    f"process{'es' if ours['processes'] > 1 else ''})   smtp-source {their_rate:,.0f}/s"
                    f"   ratio {ratios[n][-1]:.0%}",
                    flush=True,
                )
                per = 1e6 / args.recipients
                print(
                    f"      CPU per message: outreach {ours['cpu'] * per:.0f} µs "
                    f"(its sink {our_sink_cpu * per:.0f} µs)   smtp-source {source_cpu * per:.0f} µs "
                    f"(its sink {their_sink_cpu * per:.0f} µs)",
                    flush=True,
                )
            if postgres is not None:
                n = counts[min(1, len(counts) - 1)] if len(counts) > 1 else counts[0]
                single = send_round(project.folder, project.campaign(f"sink{n}"), f"sink{n}")
                many = send_round(postgres.folder, postgres.campaign(f"sink{n}"), f"sink{n}", args.workers)
                for label, result in (("SQLite", single), ("PostgreSQL", many)):
                    if result["counts"]["sent"] != args.recipients:
                        complete = False
                        print(f"  {label}: not every recipient was sent: {result['counts']}", flush=True)
                single_rate = single["sent"] / single["seconds"]
                many_rate = many["sent"] / many["seconds"]
                workers.append(many_rate / single_rate)
                print(
                    f"  round {number}, PostgreSQL: {args.workers} workers x {n} connections "
                    f"{many_rate:,.0f}/s (wall time, interpreters included; peak {many['peak'] / 2**20:.0f} "
                    f"MiB)   SQLite, one process: {single_rate:,.0f}/s   ratio {workers[-1]:.0%}",
                    flush=True,
                )
        ok = complete
        print("results (medians over the rounds):")
        print("  connections | outreach msg/s | ratio to smtp-source (budget >= 80%) | peak MiB (budget)")
        previous = 0.0
        for n in counts:
            ratio, peak, rate = median(ratios[n]), median(peaks[n]), median(rates[n])
            budget = MEMORY_BUDGET_MIB.get(n)
            fine = ratio >= RATIO_BUDGET and (budget is None or peak <= budget)
            fine &= rate >= previous * MONOTONIC_SLACK
            ok &= fine
            previous = max(previous, rate)
            print(
                f"  {n:>11} | {rate:>14,.0f} | {ratio:>4.0%} (rounds {rounds(ratios[n])})"
                f" | {peak:.0f} ({'<= ' + format(budget, '.0f') if budget else 'none'})  "
                f"{'PASS' if fine else 'FAIL'}"
            )
        if workers:
            fine = median(workers) >= WORKERS_BUDGET
            ok &= fine
            print(
                f"  PostgreSQL, {args.workers} workers / SQLite, one process: median {median(workers):.0%} "
                f"(rounds {rounds(workers)})   budget >= 90%  {'PASS' if fine else 'FAIL'}"
            )
        print(
            f"{'PASS' if ok else 'FAIL'}{'' if complete else '  (not every recipient was sent or counted)'}"
        )
        return 0 if ok else 1
    finally:
        sink.stop()
        if drop is not None:
            drop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

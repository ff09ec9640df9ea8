"""Building what a send needs from the config: the database, the transport, its pace and limits, the
journal folder, the signer."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine

from outreach.audience import check_schema_current, check_site_key, make_engine
from outreach.clock import Clock
from outreach.config import Config, base_url_problem
from outreach.config import Transport as TransportSettings
from outreach.delivery.journal import Journals
from outreach.delivery.limits import LedgerLimits
from outreach.delivery.outgoing import Signer, no_signer
from outreach.delivery.pacing import Pace, RateLimits
from outreach.delivery.processes import SendingProcesses
from outreach.delivery.runner import CampaignRunner, Report, RunSettings
from outreach.errors import ConfigError
from outreach.transports import Transport, transport_from_config

# Keys of a [transports.NAME] table that are about pacing, not about the transport itself.
PACING_KEYS = ("rate_per_second", "rate_per_hour", "rate_per_day", "concurrency")
# Where each sending run journals what it hands over (git-ignored, beside the site's key).
JOURNAL_FOLDER = Path(".outreach") / "journal"


def database(config: Config) -> Engine:
    """The project's database, refusing to work on a schema that is behind the code or with a secret
    key that the site's other processes would not accept (their links would die)."""
    engine = make_engine(config.database_url)
    check_schema_current(engine)
    check_site_key(engine, config.keys)
    return engine


def transport_name(config: Config, name: str | None) -> str:
    wanted = name or config.settings.delivery.transport
    config.transport(wanted)  # a ConfigError naming the missing table
    return wanted


def _number(name: str, key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"must be a positive number, not {value!r}", key=f"transports.{name}.{key}")
    return float(value)


def pacing(config: Config, name: str) -> tuple[RateLimits, int]:
    options = config.transport(name).options
    limits = {key: _number(name, key, options[key]) for key in PACING_KEYS[:3] if key in options}
    concurrency = int(_number(name, "concurrency", options.get("concurrency", 4)))
    return (
        RateLimits(limits.get("rate_per_second"), limits.get("rate_per_hour"), limits.get("rate_per_day")),
        concurrency,
    )


def build_transport(config: Config, name: str) -> Transport:
    settings = config.transport(name)
    rest = {k: v for k, v in settings.options.items() if k not in PACING_KEYS}
    return transport_from_config(
        name, TransportSettings(backend=settings.backend, **rest), config.environ, config.root
    )


def build_pace(config: Config, name: str, clock: Clock, sleep: Callable[[float], None] = time.sleep) -> Pace:
    """This process's pace (``rate_per_second``); per hour and per day are counted from the ledger."""
    return Pace(pacing(config, name)[0].per_process(), clock, sleep)


def ledger_limits(config: Config, name: str) -> LedgerLimits | None:
    """The transport's ``rate_per_hour`` and ``rate_per_day``, shared by every process and run."""
    return LedgerLimits.of(name, pacing(config, name)[0])


def journals(config: Config) -> Journals:
    return Journals(config.root / JOURNAL_FOLDER)


def run_settings(config: Config, name: str) -> RunSettings:
    delivery = config.settings.delivery
    return RunSettings(
        batch_size=delivery.batch_size,
        concurrency=pacing(config, name)[1],
        max_attempts=delivery.max_attempts,
        max_consecutive_errors=delivery.max_consecutive_errors,
    )


def signer(config: Config) -> Callable[[bytes], bytes] | None:
    settings = config.settings.dkim
    if not settings.key_file:
        return None
    from outreach.delivery.dkim import dkim_signer

    return dkim_signer(settings.domain, settings.selector, config.root / Path(settings.key_file))


def signer_recipe(config: Config) -> Callable[[], Signer | None]:
    """The signer as a sending process builds it: a picklable callable that imports only the DKIM
    module (``signer`` would bring this module, and with it the whole program, into the process)."""
    settings = config.settings.dkim
    if not settings.key_file:
        return no_signer
    from outreach.delivery.dkim import dkim_signer

    return partial(dkim_signer, settings.domain, settings.selector, config.root / Path(settings.key_file))


def runner_for(
    config: Config,
    engine: Engine,
    campaign_id: int,
    name: str,
    transport: Transport,
    clock: Clock,
    report: Report | None = None,
) -> CampaignRunner:
    """A runner for one campaign through the transport named ``name``, paced and signed as configured,
    journaling into the project's journal folder; its Message-IDs and links use the site's current key."""
    settings = run_settings(config, name)
    processes = None
    count = config.settings.delivery.processes
    if count > 1 and transport.backend != "memory":  # the memory transport's outbox lives in this process
        processes = SendingProcesses(
            count, transport.recipe() or partial(build_transport, config, name), signer_recipe(config)
        )
    return CampaignRunner(
        engine,
        campaign_id,
        transport,
        build_pace(config, name, clock),
        clock,
        settings,
        base_url=config.base_url,
        secret=config.secret_key,
        signer=signer(config),
        unsubscribe_mailto=config.sender.unsubscribe_mailto,
        return_path=config.settings.events.return_path,
        processes=processes,
        report=report,
        journals=journals(config),
        limits=ledger_limits(config, name),
    )


# Transports whose messages never leave this machine: a loopback or plain-http link does no harm there.
LOCAL_BACKENDS = ("maildir", "memory")


def requires_public_links(config: Config, transport: Transport) -> None:
    """Refuse to hand mail to a real transport when its links cannot work for readers: mailbox providers
    require an https one-click unsubscribe, and a loopback address reaches nobody."""
    if transport.backend in LOCAL_BACKENDS:
        return
    problem = base_url_problem(config.base_url)
    if problem:
        raise ConfigError(
            f"{problem}; every unsubscribe and preference link would fail for readers. Set [web] base_url "
            "in outreach.toml (or OUTREACH_BASE_URL) to the public https address of `outreach serve`",
            key="web.base_url",
        )

"""The site's settings: ``outreach.toml`` plus secrets from the environment, read once at an entry point.

Only entry points (the CLI, the web service, the scheduler) call ``load_config``; everything else is
handed a ``Config``. Unknown keys are refused by name so a typo never silently falls back to a default.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from outreach.errors import ConfigError
from outreach.keys import SiteKeys, load_site_keys

CONFIG_FILE = "outreach.toml"
DEFAULT_DATABASE_URL = "sqlite:///outreach.db"
_HEX = re.compile(r"^#[0-9a-fA-F]{6}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(_Section):
    """Who sends: shown in every header and footer, and required by CAN-SPAM (the postal address)."""

    name: str
    short_name: str
    website: str
    postal_address: str
    tagline: str = ""
    logo_url: str = ""
    logo_alt: str = ""
    logo_width: int = 160

    @field_validator("name", "short_name", "website", "postal_address")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        # Every mail shows these; CAN-SPAM requires the postal address in every bulk mail.
        if not value.strip():
            raise ValueError("must not be empty: every mail shows it (the postal address is the law)")
        return value.strip()


class Sender(_Section):
    """The envelope and header identity of every mail."""

    from_name: str
    from_address: str
    reply_to: str = ""
    list_id: str = Field(description="RFC 2919 List-Id, e.g. 'VAIMH News <news.vaimh.example>'")
    message_id_domain: str
    unsubscribe_mailto: str = ""


class Brand(_Section):
    """The layout's colours and fonts; ``outreach check`` verifies their contrast."""

    font_family: str = "Helvetica, Arial, sans-serif"
    heading_font_family: str = "Georgia, 'Times New Roman', serif"
    page_background: str = "#f4f1ec"
    body_background: str = "#ffffff"
    text: str = "#26323a"
    heading: str = "#1d4e56"
    link: str = "#1d6470"
    accent: str = "#c8553d"
    button_background: str = "#1d6470"
    button_text: str = "#ffffff"
    callout_background: str = "#eaf3f1"
    callout_text: str = "#26323a"
    header_background: str = "#1d4e56"
    header_text: str = "#ffffff"
    footer_background: str = "#f4f1ec"
    footer_text: str = "#4a5560"
    dark_background: str = "#1b2226"
    dark_text: str = "#e8ecee"
    dark_link: str = "#8fd3d9"

    @field_validator("*")
    @classmethod
    def _colour(cls, value: str, info: Any) -> str:
        if info.field_name.endswith("font_family"):
            return value
        if not _HEX.match(value):
            raise ValueError(f"colour must be written as #rrggbb, got {value!r}")
        return value.lower()


class Web(_Section):
    """Where the subscriber-facing service lives; every link in every mail points there."""

    base_url: str = "http://127.0.0.1:8000"
    # The version of the privacy notice shown beside the sign-up form; recorded with every consent.
    notice_version: str = "2026-11"
    # Off by default: when on, links in campaigns go through signed redirects and clicks are counted.
    click_tracking: bool = False
    # The reverse proxies (addresses or networks, e.g. "10.0.0.0/8") whose X-Forwarded-For and
    # X-Forwarded-Proto headers are believed. Empty: the headers are ignored, since anyone can send them.
    trusted_proxies: list[str] = Field(default_factory=list)
    # `outreach serve` sends the sign-up mails itself; false leaves them to `outreach worker`.
    mail_worker: bool = True

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f'{entry!r} is not an IP address or network; write e.g. "127.0.0.1" or "10.0.0.0/8"'
                ) from None
        return value

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value.rstrip("/")


class Schedule(_Section):
    """Time zone of staff-written times, the misfire grace and the send window."""

    time_zone: str = "America/New_York"
    grace_hours: float = 6.0
    window_start: str = ""
    window_end: str = ""

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}; use an IANA name like America/New_York") from err
        return value


class Database(_Section):
    url: str = DEFAULT_DATABASE_URL


class Delivery(_Section):
    """Which named transport sends by default, and the pace."""

    transport: str = "outbox"
    # At most this many rows claimed and in hand at once, in chunks of one transport batch (at least
    # 25 rows at 10 connections: the ledger's work per chunk is worth spreading over that many).
    batch_size: int = 500
    max_consecutive_errors: int = 20
    max_attempts: int = 5
    # 1: the runner's process sends: for SMTP one loop drives the transport's `concurrency`
    # connections, for the other transports one thread per connection. N > 1: the connections spread
    # over up to N sending processes, never more than one per core (composing holds the GIL;
    # connections are never processes); the ledger stays in the runner.
    # Worth it when composing is the limit (DKIM signing); docs/performance.md has the figures.
    processes: int = Field(default=1, ge=1)


class Transport(BaseModel):
    """One named way out; ``backend`` picks the module, the other keys belong to it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    backend: Literal["maildir", "memory", "smtp", "ses", "sendgrid", "postmark", "mailgun"]

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Events(_Section):
    """What comes back: the bounce mailbox (VERP return paths) and the SNS topics SES reports through."""

    # The bounce mailbox, e.g. "bounces@vaimh.example". When set, every campaign message's envelope
    # sender is a VERP address "bounces+CAMPAIGN.ROW.MAC@vaimh.example" that only this site can make,
    # so a bounce names the message it is about and nobody can forge one for someone else. Empty: off.
    return_path: str = ""
    # SNS topics whose SES notifications are accepted. Any AWS account can sign messages from its own
    # topic, so none is trusted unless listed here; with none listed, /webhooks/ses is off.
    ses_topic_arns: list[str] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            for key, why in _REMOVED_EVENTS_KEYS.items():
                if key in data:
                    raise ValueError(f"{key} is no longer a setting: {why}; delete that line")
        return data

    @field_validator("return_path")
    @classmethod
    def _bounce_address(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return value
        local, at, domain = value.rpartition("@")
        if not at or not local or not domain or "+" in local or any(c in value for c in ' <>\t"\\'):
            raise ValueError(
                f"return_path must be a plain mailbox address without '+', like bounces@vaimh.example, "
                f"not {value!r} (the '+' part is added per message)"
            )
        return value

    @field_validator("ses_topic_arns")
    @classmethod
    def _topics(cls, value: list[str]) -> list[str]:
        for arn in value:
            if not _TOPIC_ARN.match(arn):
                raise ValueError(
                    f"{arn!r} is not an SNS topic ARN; write it as arn:aws:sns:REGION:ACCOUNT:TOPIC "
                    "(shown on the topic's page in the AWS console)"
                )
        return value


_TOPIC_ARN = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")
_REMOVED_EVENTS_KEYS = {
    "soft_bounce_limit": "soft bounces are recorded and shown but never suppress anyone",
    "ses_enabled": "the SES webhook is on exactly when ses_topic_arns lists a topic",
}


class Dkim(_Section):
    """DKIM signing of every bulk message; off unless ``key_file`` is set."""

    domain: str = ""
    selector: str = ""
    key_file: str = ""


class Admin(_Section):
    """The admin app at /admin/ of ``outreach serve``: on by default, off for a public-only listener."""

    enabled: bool = True
    # Admins must set up an authenticator app (TOTP) before they can do anything else.
    require_2fa: bool = False
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_hours: int = Field(default=12, ge=1, le=24 * 30)


class Choice(_Section):
    """One role or language: ``key`` is stored and written in segments, ``label`` is what people read,
    ``aliases`` are other spellings an import may bring (matched ignoring case, accents and punctuation)."""

    key: str
    label: str
    aliases: tuple[str, ...] = ()


_ROLE_KEY = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_LANGUAGE_KEY = re.compile(r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})*$")


def _choices(*entries: tuple[str, str, tuple[str, ...]]) -> tuple[Choice, ...]:
    return tuple(Choice(key=key, label=label, aliases=aliases) for key, label, aliases in entries)


class AudienceSettings(_Section):
    """The roles and languages people choose from: one list for sign-up, preferences, imports and segments.

    Rename a label freely; never change a key that is in use (it is what subscribers' rows hold).
    """

    roles: tuple[Choice, ...] = _choices(
        ("parent-or-caregiver", "Parent or caregiver", ("parent", "caregiver", "family member")),
        ("home-visitor", "Home visitor", ()),
        ("early-educator", "Early childhood educator", ("teacher", "child care provider")),
        ("pediatric-clinician", "Pediatric or healthcare provider", ("healthcare provider",)),
        ("mental-health-clinician", "Mental-health clinician or therapist", ("clinician or therapist",)),
        ("researcher", "Researcher or faculty", ("faculty",)),
        ("student", "Student", ()),
        ("other", "Other", ()),
    )
    languages: tuple[Choice, ...] = _choices(
        ("en", "English", ("inglés", "en-us")),
        ("es", "Español", ("spanish", "castellano", "es-us", "es-mx")),
    )

    @field_validator("roles", "languages")
    @classmethod
    def _keys(cls, value: tuple[Choice, ...], info: Any) -> tuple[Choice, ...]:
        # The limits are the database columns' (subscribers.role is 100 characters, language 20).
        pattern, limit, example = (
            (_ROLE_KEY, 100, "home-visitor") if info.field_name == "roles" else (_LANGUAGE_KEY, 20, "es")
        )
        if not value:
            raise ValueError("needs at least one entry: { key = ..., label = ... }")
        keys = [choice.key for choice in value]
        for key in keys:
            if not pattern.match(key) or len(key) > limit:
                raise ValueError(
                    f"key {key!r} must be lower-case letters and digits joined by '-' (at most {limit}), "
                    f"like {example!r}"
                )
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"key {duplicates[0]!r} is listed twice")
        return value


class Paths(_Section):
    """Where the project's folders are, relative to outreach.toml."""

    newsletters: str = "newsletters"
    templates: str = "templates"
    lists: str = "lists"
    outbox: str = "outbox"


class Settings(_Section):
    organisation: Organisation
    sender: Sender
    brand: Brand = Brand()
    web: Web = Web()
    schedule: Schedule = Schedule()
    database: Database = Database()
    delivery: Delivery = Delivery()
    paths: Paths = Paths()
    dkim: Dkim = Dkim()
    events: Events = Events()
    admin: Admin = Admin()
    audience: AudienceSettings = AudienceSettings()
    transports: dict[str, Transport] = Field(default_factory=lambda: {"outbox": Transport(backend="maildir")})


class Config(BaseModel):
    """Everything a run needs: the file's settings, the project root and the secrets."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    settings: Settings
    root: Path
    keys: SiteKeys
    database_url: str
    environ: Mapping[str, str]

    @property
    def secret_key(self) -> str:
        """The key that signs new links (see ``outreach.keys``)."""
        return self.keys.current

    @property
    def accepted_keys(self) -> tuple[str, ...]:
        """Every key whose links still verify: the current one first, then older ones."""
        return self.keys.accepted

    @property
    def organisation(self) -> Organisation:
        return self.settings.organisation

    @property
    def sender(self) -> Sender:
        return self.settings.sender

    @property
    def brand(self) -> Brand:
        return self.settings.brand

    @property
    def base_url(self) -> str:
        return self.settings.web.base_url

    @property
    def time_zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.schedule.time_zone)

    def path(self, name: Literal["newsletters", "templates", "lists", "outbox"]) -> Path:
        folder: str = getattr(self.settings.paths, name)
        return self.root / folder

    def transport(self, name: str | None = None) -> Transport:
        wanted = name or self.settings.delivery.transport
        try:
            return self.settings.transports[wanted]
        except KeyError:
            known = ", ".join(sorted(self.settings.transports)) or "none"
            raise ConfigError(
                f"no transport named {wanted!r}; known: {known}. Add [transports.{wanted}] to outreach.toml",
                key=f"transports.{wanted}",
            ) from None

    def secret(self, variable: str, purpose: str) -> str:
        """A secret from the environment, or a ConfigError that says which variable to set."""
        value = self.environ.get(variable, "")
        if not value:
            raise ConfigError(f"set the environment variable {variable} ({purpose})", key=variable)
        return value


def base_url_problem(base_url: str) -> str:
    """Why links to ``base_url`` would not work in real inboxes, or "" when they would."""
    parts = urlsplit(base_url)
    host = (parts.hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost") or _is_loopback(host):
        return f"the web service's base URL {base_url} points at this machine"
    if parts.scheme != "https":
        return f"the web service's base URL {base_url} is not https"
    return ""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return False


def find_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` that holds outreach.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    raise ConfigError(
        f"no {CONFIG_FILE} in {here} or any folder above it; run outreach from the project folder"
    )


def parse_settings(data: Mapping[str, Any], path: str = CONFIG_FILE) -> Settings:
    """Validate the TOML document; the first problem becomes a ConfigError naming its key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        problems = []
        for item in err.errors():
            key = ".".join(str(p) for p in item["loc"])
            if item["type"] == "extra_forbidden":
                problems.append(f"[{key}] is not a setting outreach knows; check the spelling")
            elif item["type"] == "missing":
                problems.append(f"[{key}] is required")
            else:
                problems.append(f"[{key}] {item['msg']}")
        error = ConfigError("; ".join(problems), path=path)
        error.key = ".".join(str(p) for p in err.errors()[0]["loc"])
        raise error from None


def load_config(root: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read outreach.toml and the environment once; called only by entry points."""
    env = dict(os.environ if environ is None else environ)
    folder = root.resolve() if root else find_root()
    file = folder / CONFIG_FILE
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file} not found; run outreach from the project folder") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"not valid TOML: {err}", path=str(file)) from err
    settings = parse_settings(data, str(file))
    if env.get("OUTREACH_BASE_URL"):
        # The local preview and tests point links at a local service without editing outreach.toml.
        web = parse_settings({**data, "web": {**data.get("web", {}), "base_url": env["OUTREACH_BASE_URL"]}})
        settings = settings.model_copy(update={"web": web.web})
    database_url = env.get("OUTREACH_DATABASE_URL") or settings.database.url
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        relative = database_url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            database_url = f"sqlite:///{folder / relative}"
    return Config(
        settings=settings,
        root=folder,
        keys=load_site_keys(folder, env),
        database_url=database_url,
        environ=env,
    )

"""The things that cross module boundaries: an issue and its blocks, recipients, findings.

Frozen dataclasses and enums only; this module imports nothing else of outreach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path


class Layout(StrEnum):
    """Which layout in templates/ an issue uses."""

    NEWSLETTER = "newsletter"
    LETTER = "letter"
    PLAIN = "plain"  # a text-only message: no HTML part at all


class IssueStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"


@dataclass(frozen=True)
class Audience:
    """Who an issue is for: subscribers in any of ``topics`` and/or any of ``segments``."""

    topics: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.topics or self.segments)


@dataclass(frozen=True)
class Link:
    """A link the Markdown body makes, kept with its source line for checks."""

    url: str
    text: str
    line: int


@dataclass(frozen=True)
class Picture:
    """An image the body shows; ``alt`` is required, ``caption`` and ``link`` are optional."""

    src: str
    alt: str
    line: int
    caption: str = ""
    link: str = ""
    width: int | None = None


# --- the blocks an issue's body is made of -------------------------------------------------------


@dataclass(frozen=True)
class Prose:
    """Ordinary Markdown (paragraphs, headings, lists, tables, quotes) as an HTML fragment + text."""

    html: str
    text: str
    line: int


@dataclass(frozen=True)
class Button:
    label: str
    url: str
    line: int


@dataclass(frozen=True)
class Callout:
    """A highlighted box for something readers should not miss."""

    html: str
    text: str
    line: int
    title: str = ""


@dataclass(frozen=True)
class Event:
    """An event card: a training, a conference, a gathering; in person or online."""

    title: str
    when: str
    line: int
    where: str = ""
    online: bool = False
    url: str = ""
    link_label: str = "Details and registration"
    html: str = ""
    text: str = ""
    starts: datetime | None = None
    ends: datetime | None = None  # local time, like ``starts``; a calendar entry lasts an hour without it
    key: str = ""  # the event's id: its calendar entry's UID and its .ics address (``id:`` or the title)


@dataclass(frozen=True)
class Image:
    picture: Picture
    line: int


@dataclass(frozen=True)
class Divider:
    line: int


@dataclass(frozen=True)
class Term:
    """One part of a section's condition: ``field`` is one of ``values`` (``topic``: has one of them)."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    """Who sees a conditional section: readers who match every term (``unless``: who do not)."""

    terms: tuple[Term, ...]
    negated: bool = False


@dataclass(frozen=True)
class Section:
    """``::: only ...`` / ``::: unless ...``: blocks that only some readers get, decided per recipient."""

    condition: Condition
    blocks: tuple[Block, ...]
    line: int
    written: str = ""  # the condition as the author wrote it, for messages and the preview


@dataclass(frozen=True)
class Columns:
    """Two columns side by side on wide screens, stacked on phones."""

    left: tuple[Block, ...]
    right: tuple[Block, ...]
    line: int


Block = Prose | Button | Callout | Event | Image | Divider | Columns | Section


@dataclass(frozen=True)
class Placeholder:
    """A per-recipient Jinja2 expression that staff wrote, held as an opaque token until compile."""

    token: str
    expression: str
    line: int


@dataclass(frozen=True)
class Issue:
    """One mail as staff wrote it, validated: front matter fields plus the body as blocks."""

    slug: str
    subject: str
    date: date
    blocks: tuple[Block, ...]
    path: Path | None = None
    preheader: str = ""
    title: str = ""
    layout: Layout = Layout.NEWSLETTER
    audience: Audience = Audience()
    send_at: datetime | None = None
    from_name: str = ""
    from_address: str = ""
    reply_to: str = ""
    language: str = "en"
    utm_campaign: str = ""
    status: IssueStatus = IssueStatus.DRAFT
    placeholders: tuple[Placeholder, ...] = ()
    links: tuple[Link, ...] = ()
    pictures: tuple[Picture, ...] = ()
    headings: tuple[tuple[int, int], ...] = ()
    source: str = ""
    body_line: int = 1
    field_lines: dict[str, int] = field(default_factory=dict, hash=False, compare=False)

    @property
    def heading(self) -> str:
        """The title shown at the top of the mail; the subject unless staff gave a ``title``."""
        return self.title or self.subject

    def line_of(self, field_name: str) -> int | None:
        return self.field_lines.get(field_name)


# --- per recipient --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """What personalisation may know of one subscriber; absent fields are simply not there."""

    email: str
    first_name: str = ""
    last_name: str = ""
    organisation: str = ""
    role: str = ""
    region: str = ""
    language: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    # A one-off letter's recipient: their columns in the contacts file (``recipient.COLUMN``).
    fields: tuple[tuple[str, str], ...] = ()
    topics: tuple[str, ...] = ()  # the topic keys they receive: what ``::: only topic=...`` looks at

    @property
    def full_name(self) -> str:
        first, last = self.first_name, self.last_name
        return f"{first} {last}" if first and last else first or last


RECIPIENT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "full_name",
    "organisation",
    "role",
    "region",
    "language",
    "attributes",
)


@dataclass(frozen=True)
class RecipientLinks:
    """The per-recipient URLs every mail carries."""

    unsubscribe: str
    preferences: str
    view_online: str
    # ``mailto:`` link with the signed unsubscribe token in its subject; empty when the site has none.
    unsubscribe_mailto: str = ""


# --- who did it -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit log: a user of the admin app, a command run by someone on a
    machine, or the system itself (the scheduler, a webhook)."""

    name: str  # "ana@vaimh.example", "maria@laptop", "scheduler"
    via: str  # "admin", "api", "cli", "scheduler", "web"
    origin: str = ""  # the client's address or the machine's name


SYSTEM = Actor("outreach", "system")


# --- checks ---------------------------------------------------------------------------------------


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One thing ``outreach check`` noticed, with where it is and what to do."""

    code: str
    severity: Severity
    message: str
    path: str = ""
    line: int | None = None

    @property
    def where(self) -> str:
        if self.path and self.line:
            return f"{self.path}:{self.line}"
        return self.path

"""The issue as the sample reader gets it, for every place that shows it before it is sent.

``outreach preview`` (the live preview staff keep open while writing) and the admin app's Issues
pages show the same thing: the mail at phone and desktop width, its text part, headers and size, and
what ``outreach check`` says beside it. Staff save often and mistakes are normal mid-edit, so a
render gives either a ``SampleMail`` or a ``Failure`` listing readable problems (``path:line`` and
what to do); nothing that shows it ever dies of one. ``SamplePreview`` keeps the last render until
one of the files it was made from changes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlencode

from outreach.checks import run_checks
from outreach.clock import Clock, SystemClock
from outreach.config import CONFIG_FILE, Config, load_config
from outreach.content import read_issue
from outreach.delivery.message import build_message, envelope_for
from outreach.errors import ContentError, ContentErrors, OutreachError, TemplateError, located
from outreach.models import Finding, Recipient
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

log = logging.getLogger("outreach.preview")

WARN_BYTES = 90 * 1024
GMAIL_CLIP_BYTES = 102 * 1024
SHOWN_HEADERS = (
    "From",
    "To",
    "Subject",
    "Reply-To",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Message-ID",
)


class SizeLevel(StrEnum):
    """How close the HTML is to Gmail's clipping point."""

    OK = "ok"
    WARNING = "warning"
    CLIPPED = "clipped"


@dataclass(frozen=True)
class SampleMail:
    """One issue rendered for the sample reader: what a preview shows and serves."""

    slug: str
    subject: str
    preheader: str
    recipient: str
    html: str
    text: str
    eml: bytes
    headers: tuple[tuple[str, str], ...]
    # What `outreach check` says (without the spam score, which takes seconds): shown beside the mail,
    # so "Dear ," from a misspelt variable comes with its reason.
    findings: tuple[Finding, ...] = ()

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))

    @property
    def html_kb(self) -> float:
        return self.html_bytes / 1024

    @property
    def size_level(self) -> SizeLevel:
        if self.html_bytes > GMAIL_CLIP_BYTES:
            return SizeLevel.CLIPPED
        if self.html_bytes >= WARN_BYTES:
            return SizeLevel.WARNING
        return SizeLevel.OK


@dataclass(frozen=True)
class Problem:
    """One mistake to fix: where (``path:line``, may be empty) and what."""

    where: str
    message: str


@dataclass(frozen=True)
class Failure:
    """Why there is nothing to show; ``unexpected`` means a bug of ours, not the file's."""

    problems: tuple[Problem, ...]
    unexpected: bool = False


Rendered = SampleMail | Failure


@dataclass(frozen=True)
class SampleReader:
    """Who the sample reader is, as far as ``::: only`` sections care: staff switch it in the preview
    (``?role=...&language=...&topic=...``) to see each variant. Empty: the sample reader's own."""

    role: str = ""
    language: str = ""
    topics: tuple[str, ...] = ()

    @classmethod
    def from_query(cls, query: Mapping[str, str] | None) -> SampleReader:
        """From a request's query parameters; ``topic`` may list several keys, comma-separated."""
        if not query:
            return cls()
        topics = tuple(t.strip() for t in query.get("topic", "").split(",") if t.strip())
        return cls(query.get("role", "").strip(), query.get("language", "").strip(), topics)

    @property
    def query(self) -> str:
        """The query string that asks for this reader ('' for the default one)."""
        pairs = [("role", self.role), ("language", self.language), ("topic", ",".join(self.topics))]
        return urlencode([(k, v) for k, v in pairs if v])

    def recipient(self) -> Recipient:
        base = SAMPLE_RECIPIENT
        return replace(
            base,
            role=self.role or base.role,
            language=self.language or base.language,
            topics=self.topics or base.topics,
        )


def render_sample(
    issue_path: Path, config: Config, templates: Path, clock: Clock, reader: SampleReader | None = None
) -> SampleMail:
    """Read, render and frame ``issue_path`` for the sample reader (as ``reader`` says, to see the
    variants of ``::: only`` sections); raises ``OutreachError``."""
    issue = read_issue(issue_path, config.time_zone)
    compiled = render_issue(issue, config, templates)
    recipient = (reader or SampleReader()).recipient()
    links = recipient_links(config.base_url, config.secret_key, "preview", issue.slug)
    mail = compiled.personalise(recipient, links)
    envelope = envelope_for(issue, config, recipient.email, clock.now(), recipient.full_name)
    message = build_message(envelope, mail, links, config)
    headers = tuple((name, str(message[name])) for name in SHOWN_HEADERS if message[name])
    findings = tuple(run_checks(issue_path, config, spam=False).findings)
    return SampleMail(
        slug=issue.slug,
        subject=mail.subject,
        preheader=issue.preheader,
        recipient=f"{recipient.full_name} <{recipient.email}>",
        html=mail.html,
        text=mail.text,
        eml=message.as_bytes(),
        headers=headers,
        findings=findings,
    )


def problems_of(error: OutreachError) -> tuple[Problem, ...]:
    """Each mistake an error carries as ``where`` and ``message``; ``ContentErrors`` has several."""
    if isinstance(error, ContentErrors):
        return tuple(problem for each in error.errors for problem in problems_of(each))
    if isinstance(error, ContentError):
        return (Problem(located(error.path, error.line), error.message),)
    if isinstance(error, TemplateError):
        return (Problem(located(error.template, error.line), error.message),)
    return (Problem("", str(error)),)


def unexpected_failure(error: Exception) -> Failure:
    """A bug of ours: one line for the page; the traceback goes to the log."""
    lines = str(error).strip().splitlines()
    detail = f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
    return Failure((Problem("", f"something went wrong: {detail}"),), unexpected=True)


Fingerprint = tuple[tuple[str, int, int], ...]


def fingerprint(paths: Iterable[Path]) -> Fingerprint:
    """Modification time and size of each path (missing files count too), for cache keys."""
    marks: list[tuple[str, int, int]] = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            marks.append((str(path), -1, -1))
        else:
            marks.append((str(path), stat.st_mtime_ns, stat.st_size))
    return tuple(marks)


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder``, sorted; empty when the folder is missing."""
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.rglob("*") if path.is_file())


class SamplePreview:
    """Renders the issue when asked, once per state of the issue, the templates, lists and outreach.toml.

    Requests come from several threads at once (a page and its two frames); a lock makes them share
    one render instead of three. ``reload_config`` picks up a saved outreach.toml (the live preview);
    a long-running service keeps the config it started with.
    """

    def __init__(
        self,
        issue_path: Path,
        config: Config,
        templates_dir: Path | None = None,
        clock: Clock | None = None,
        *,
        reload_config: bool = True,
    ) -> None:
        self.issue_path = issue_path
        self._config = config
        self._templates_dir = templates_dir
        self._clock = clock or SystemClock()
        self._reload = reload_config
        self._config_mark = fingerprint([self.config_file])
        self._lock = threading.Lock()
        self._key: Fingerprint | None = None
        self._results: dict[SampleReader, Rendered] = {}

    @property
    def config_file(self) -> Path:
        return self._config.root / CONFIG_FILE

    @property
    def templates(self) -> Path:
        return self._templates_dir or self._config.path("templates")

    def current(self, reader: SampleReader | None = None) -> Rendered:
        """The mail as the files are now, for ``reader`` (the sample reader when None); re-rendered
        only when one of the files changed."""
        reader = reader or SampleReader()
        with self._lock:
            key = fingerprint(
                [
                    self.issue_path,
                    self.config_file,
                    *files_under(self.templates),
                    *files_under(self._config.path("lists")),
                ]
            )
            if key != self._key:
                self._results = {}
                self._key = key
            if reader not in self._results:
                if len(self._results) >= 16:  # a few variants are compared; never an unbounded cache
                    self._results.clear()
                self._results[reader] = self._render(reader)
            return self._results[reader]

    def _render(self, reader: SampleReader) -> Rendered:
        try:
            self._reload_config()
            return render_sample(self.issue_path, self._config, self.templates, self._clock, reader)
        except OutreachError as err:
            for line in str(err).splitlines():
                log.warning("%s", line)
            return Failure(problems_of(err))
        except Exception as err:
            log.exception("the preview could not render %s", self.issue_path)
            return unexpected_failure(err)

    def _reload_config(self) -> None:
        """Pick up a saved outreach.toml (brand colours, sender) without restarting the preview."""
        if not self._reload:
            return
        mark = fingerprint([self.config_file])
        if mark != self._config_mark:
            self._config = load_config(self._config.root, self._config.environ)
            self._config_mark = mark

"""Run every check on an issue and gather the findings into one report."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from outreach.audience.choices import profile_choices
from outreach.checks.audience import check_audience, check_sections
from outreach.checks.contrast import check_contrast
from outreach.checks.editions import check_drift
from outreach.checks.message import check_message
from outreach.checks.spam import SpamScore, spam_score
from outreach.checks.writing import WRITING_CHECKS
from outreach.config import CONFIG_FILE, Config, base_url_problem
from outreach.content.editions import read_editions
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.errors import ContentError, ContentErrors, TemplateError
from outreach.models import Finding, Issue, Recipient, Severity
from outreach.render import CompiledIssue, render_issue
from outreach.render.sample import SAMPLE_READERS, SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

SPAM_ERROR, SPAM_WARNING = 5.0, 3.0


@dataclass
class CheckReport:
    """Everything ``outreach check`` found, and the figures it measured."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    html_bytes: int | None = None
    spam: SpamScore | None = None
    spam_reader: str = ""
    spam_checked: bool = False
    spam_asked: bool = False
    compiled: CompiledIssue | None = None
    editions: tuple[CompiledIssue, ...] = ()  # the other language editions, rendered

    @property
    def all_editions(self) -> tuple[CompiledIssue, ...]:
        """Every edition rendered, the default first (none when one failed to render)."""
        return (self.compiled, *self.editions) if self.compiled is not None else ()

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    def as_json(self) -> dict[str, object]:
        return {
            "issue": str(self.path),
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "html_bytes": self.html_bytes,
            "spam_score": self.spam.score if self.spam else None,
            "spam_reader": self.spam_reader or None,
            "findings": [
                {
                    "code": f.code,
                    "severity": str(f.severity),
                    "message": f.message,
                    "path": f.path,
                    "line": f.line,
                }
                for f in self.findings
            ],
        }


def run_checks(path: Path, config: Config, spam: bool = True) -> CheckReport:
    """Read, render and examine ``path`` and its language editions; a mistake that stops reading is
    itself a finding.

    An issue written in several languages (``slug.md`` and ``slug.es.md``, see
    ``outreach.content.editions``) is checked edition by edition, each finding naming its own file,
    and the editions are compared for drift (``outreach.checks.editions``). ``compiled`` is the
    default edition and ``editions`` the others, when every edition renders.

    With ``spam``, SpamAssassin scores the message for each sample reader (the named one and one with
    no name, whose greeting falls back) and the worst score counts: that is the send gate's view too.
    """
    report = CheckReport(path=path, spam_asked=spam)
    report.findings += check_contrast(config.brand, str(config.root / CONFIG_FILE))
    report.findings += _base_url_findings(config)
    try:
        editions = read_editions(path, config.time_zone)
    except ContentErrors as err:
        report.findings += [_as_finding(e) for e in err.errors]
        return report
    except ContentError as err:
        report.findings.append(_as_finding(err))
        return report
    compiled = [
        _check_edition(report, issue, config, spam, issue is editions.default) for issue in editions.all
    ]
    report.findings += check_drift(editions)
    if all(c is not None for c in compiled):
        report.compiled = compiled[0]
        report.editions = tuple(c for c in compiled[1:] if c is not None)
    return report


def _check_edition(
    report: CheckReport, issue: Issue, config: Config, spam: bool, default: bool
) -> CompiledIssue | None:
    """Check and render one edition into ``report``; the audience is the default edition's alone."""
    for check in WRITING_CHECKS:
        report.findings += check(issue)
    if default:
        report.findings += check_audience(
            issue, config.path("lists"), profile_choices(config.settings.audience)
        )
    report.findings += check_sections(issue, config.path("lists"), profile_choices(config.settings.audience))
    try:
        compiled = render_issue(issue, config)
    except TemplateError as err:
        report.findings.append(Finding("template", Severity.ERROR, err.message, err.template or "", err.line))
        return None
    links = recipient_links(config.base_url, config.secret_key, "sample", issue.slug)
    mail = compiled.personalise(SAMPLE_RECIPIENT, links)
    size = len(mail.html.encode("utf-8"))
    report.html_bytes = size if report.html_bytes is None else max(report.html_bytes, size)
    report.findings += check_message(issue, mail, links, config.organisation.postal_address)
    if spam:
        _score(report, issue, compiled, config)
    return compiled


def _score(report: CheckReport, issue: Issue, compiled: CompiledIssue, config: Config) -> None:
    """Score the message of every sample reader at once (each run takes a second or two)."""
    links = recipient_links(
        config.base_url, config.secret_key, "sample", issue.slug, mailto=config.sender.unsubscribe_mailto
    )

    def score(reader: Recipient) -> SpamScore | None:
        mail = compiled.personalise(reader, links)
        envelope = envelope_for(issue, config, reader.email, datetime.now(UTC), reader.full_name)
        return spam_score(message_bytes(build_message(envelope, mail, links, config)))

    with ThreadPoolExecutor(max_workers=len(SAMPLE_READERS)) as pool:
        scores = list(pool.map(score, [reader for reader, _ in SAMPLE_READERS]))
    scored = [(s, who) for s, (_, who) in zip(scores, SAMPLE_READERS, strict=True) if s is not None]
    if not scored:
        return
    worst, reader = max(scored, key=lambda pair: pair[0].score)
    report.spam_checked = True
    report.findings += _spam_findings(worst, reader, str(issue.path or report.path))
    if report.spam is None or worst.score > report.spam.score:  # the worst edition's, for the gate
        report.spam, report.spam_reader = worst, reader


def _base_url_findings(config: Config) -> list[Finding]:
    problem = base_url_problem(config.base_url)
    if not problem:
        return []
    return [
        Finding(
            "base-url",
            Severity.WARNING,
            f"{problem}: fine for a local try-out, but mail through a real transport will be refused "
            "until [web] base_url is the public https address of `outreach serve`",
            str(config.root / CONFIG_FILE),
        )
    ]


def _spam_findings(score: SpamScore, reader: str, where: str) -> list[Finding]:
    rules = ", ".join(score.tests[:8])
    if score.score >= SPAM_ERROR:
        return [
            Finding(
                "spam-score",
                Severity.ERROR,
                f"SpamAssassin scores this mail {score.score} for {reader} (spam from {score.required}); "
                f"rules: {rules}",
                where,
            )
        ]
    if score.score >= SPAM_WARNING:
        return [
            Finding(
                "spam-score",
                Severity.WARNING,
                f"SpamAssassin scores this mail {score.score} for {reader}; rules: {rules}",
                where,
            )
        ]
    return []


def _as_finding(err: ContentError) -> Finding:
    return Finding("content", Severity.ERROR, err.message, err.path or "", err.line)

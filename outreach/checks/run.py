"""Run every check on an issue and gather the findings into one report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from outreach.checks.audience import check_audience
from outreach.checks.contrast import check_contrast
from outreach.checks.message import check_message
from outreach.checks.spam import SpamScore, spam_score
from outreach.checks.writing import WRITING_CHECKS
from outreach.config import Config
from outreach.content import read_issue
from outreach.delivery.message import build_message, envelope_for, message_bytes
from outreach.errors import ContentError, ContentErrors, TemplateError
from outreach.models import Finding, Severity
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

SPAM_ERROR, SPAM_WARNING = 5.0, 3.0


@dataclass
class CheckReport:
    """Everything ``outreach check`` found, and the figures it measured."""

    path: Path
    findings: list[Finding] = field(default_factory=list)
    html_bytes: int | None = None
    spam: SpamScore | None = None
    spam_checked: bool = False

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
    """Read, render and examine ``path``; a mistake that stops reading is itself a finding."""
    report = CheckReport(path=path)
    report.findings += check_contrast(config.brand, str(config.root / "outreach.toml"))
    try:
        issue = read_issue(path, config.time_zone)
    except ContentErrors as err:
        report.findings += [_as_finding(e) for e in err.errors]
        return report
    except ContentError as err:
        report.findings.append(_as_finding(err))
        return report
    for check in WRITING_CHECKS:
        report.findings += check(issue)
    report.findings += check_audience(issue, config.path("lists"))
    try:
        compiled = render_issue(issue, config)
    except TemplateError as err:
        report.findings.append(Finding("template", Severity.ERROR, err.message, err.template or "", err.line))
        return report
    links = recipient_links(config.base_url, config.secret_key, "sample", issue.slug)
    mail = compiled.personalise(SAMPLE_RECIPIENT, links)
    report.html_bytes = len(mail.html.encode("utf-8"))
    report.findings += check_message(issue, mail, links, config.organisation.postal_address)
    if spam:
        envelope = envelope_for(
            issue, config, SAMPLE_RECIPIENT.email, datetime.now(UTC), SAMPLE_RECIPIENT.full_name
        )
        message = message_bytes(build_message(envelope, mail, links, config))
        report.spam = spam_score(message)
        report.spam_checked = report.spam is not None
        if report.spam is not None:
            report.findings += _spam_findings(report.spam, str(path))
    return report


def _spam_findings(score: SpamScore, where: str) -> list[Finding]:
    rules = ", ".join(score.tests[:8])
    if score.score >= SPAM_ERROR:
        return [
            Finding(
                "spam-score",
                Severity.ERROR,
                f"SpamAssassin scores this mail {score.score} (spam from {score.required}); rules: {rules}",
                where,
            )
        ]
    if score.score >= SPAM_WARNING:
        return [
            Finding(
                "spam-score",
                Severity.WARNING,
                f"SpamAssassin scores this mail {score.score}; rules: {rules}",
                where,
            )
        ]
    return []


def _as_finding(err: ContentError) -> Finding:
    return Finding("content", Severity.ERROR, err.message, err.path or "", err.line)

"""The send gate: what an issue must pass before it goes to real readers, whoever asks.

``outreach send --yes``, ``outreach schedule``, the scheduler and the admin app all ask here, so no
front end can send what another would refuse. The gate runs every check ``outreach check`` runs
(SpamAssassin included when it is installed, scored for the worst-case reader), then the editorial
rules: a draft never goes out, and an issue whose ``send_at`` lies ahead is not sent now unless the
person says so. A test copy to oneself needs only an issue without errors: drafts are what test
copies are for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from outreach.checks import CheckReport, run_checks
from outreach.config import Config
from outreach.errors import DeliveryError
from outreach.models import IssueStatus
from outreach.operations.review import Review, rendering_files, review_of, review_refusal
from outreach.render import CompiledIssue

# Transports whose mail never leaves this machine: no review needed to try things out.
LOCAL = ("maildir", "memory")


class Purpose(StrEnum):
    """What the issue is being cleared for."""

    PLAN = "plan"  # show what would happen; refuse nothing, say everything
    TEST = "test"  # a [TEST] copy to staff
    SEND = "send"  # real readers, now
    SCHEDULE = "schedule"  # real readers, at send_at


class SendRefused(DeliveryError):
    """The gate said no; the message lists every reason and what to do about each."""

    def __init__(self, path: Path, reasons: list[str]) -> None:
        self.path = path
        self.reasons = reasons
        super().__init__(f"{path} cannot go out: " + "; ".join(reasons))


@dataclass(frozen=True)
class Clearance:
    """What the gate found: the rendered issue, the check report and the reasons it may not go."""

    path: Path
    purpose: Purpose
    report: CheckReport
    refusals: tuple[str, ...] = field(default=())
    due: datetime | None = None
    review: Review | None = None
    notes: tuple[str, ...] = field(default=())  # what the gate skipped on purpose, said out loud

    @property
    def compiled(self) -> CompiledIssue:
        if self.report.compiled is None:  # only when there were errors, which are refusals
            raise SendRefused(self.path, list(self.refusals))
        return self.report.compiled

    @property
    def editions(self) -> tuple[CompiledIssue, ...]:
        """Every language edition, rendered, the default first (``outreach.content.editions``)."""
        self.compiled  # noqa: B018 - refuses when there were errors
        return self.report.all_editions

    @property
    def cleared(self) -> bool:
        return not self.refusals

    def require(self) -> CompiledIssue:
        """The rendered issue if it may go; SendRefused with every reason otherwise."""
        if self.refusals:
            raise SendRefused(self.path, list(self.refusals))
        return self.compiled


def clear(
    path: Path,
    config: Config,
    purpose: Purpose,
    now: datetime,
    *,
    send_now: bool = False,
    backend: str = "",
    allow_uncommitted: bool = False,
) -> Clearance:
    """Run the checks the purpose needs and collect every reason the issue may not go.

    ``send_now`` is the person's explicit "send it now" (``--now``) for an issue whose ``send_at`` lies
    ahead. The spam score runs for real sends and schedules (and for a plan, to show it early). The
    review gate (committed in git) applies to schedules and to sends through a real transport
    (``backend`` other than the local maildir); ``allow_uncommitted`` skips it, and says so.
    """
    report = run_checks(path, config, spam=purpose is not Purpose.TEST)
    refusals: list[str] = []
    if report.errors:
        first = report.errors[0]
        where = f"{first.where}: " if first.where else ""
        refusals.append(
            f"{len(report.errors)} error(s) from the checks, first {where}{first.message} "
            f"(run `outreach check {path}` to see them all)"
        )
    compiled = report.compiled
    due = None
    if compiled is not None and purpose is not Purpose.TEST:
        issue = compiled.issue
        if issue.status is not IssueStatus.READY:
            line = issue.line_of("status")
            at = f" (line {line})" if line else ""
            refusals.append(
                f"it is a draft: once it has been reviewed, set 'status: ready' in its front matter{at}"
            )
        for edition in report.editions:
            if edition.issue.status is not IssueStatus.READY:
                line = edition.issue.line_of("status")
                at = f"{edition.issue.path}:{line}" if line else str(edition.issue.path)
                refusals.append(
                    f"its {edition.issue.language} edition is a draft: once the translation has been "
                    f"reviewed, set 'status: ready' in its front matter ({at})"
                )
        if issue.send_at is not None and issue.send_at > now:
            due = issue.send_at
            if purpose is not Purpose.SCHEDULE and not send_now:
                refusals.append(
                    f"it is due {when(issue.send_at, config)}: `outreach schedule {path}` sends it then, "
                    "or add --now to send it now"
                )
    review, notes = None, []
    if purpose is Purpose.SCHEDULE or (purpose in (Purpose.SEND, Purpose.PLAN) and backend not in LOCAL):
        review = review_of(config.root, rendering_files(config, path))
        refusal = review_refusal(review, path)
        if refusal and allow_uncommitted:
            notes.append(
                f"not reviewed: {refusal.split(':')[0]}; sent as it is on this disk (--allow-uncommitted)"
            )
        elif refusal:
            refusals.append(refusal)
    return Clearance(
        path=path,
        purpose=purpose,
        report=report,
        refusals=tuple(refusals),
        due=due,
        review=review,
        notes=tuple(notes),
    )


def when(moment: datetime, config: Config) -> str:
    """A time as people read it: the site's zone, named."""
    local = moment.astimezone(config.time_zone)
    return f"{local:%A %-d %B %Y, %H:%M} {local.tzname()}"


def reviewed_commit(clearance: Clearance) -> str:
    """The commit the gate found the issue clean in, for the campaign to keep ('' without a review)."""
    review = clearance.review
    return review.commit if review is not None and review.clean else ""


def clear_through(
    path: Path,
    config: Config,
    purpose: Purpose,
    now: datetime,
    transport: str | None,
    *,
    send_now: bool = False,
    allow_uncommitted: bool = False,
) -> tuple[str, str, Clearance]:
    """``clear`` for a send through the named transport (the site's default without one): the
    transport's name, its backend (the review gate applies to real ones) and the clearance."""
    name = transport or config.settings.delivery.transport
    backend = config.transport(name).backend
    clearance = clear(
        path, config, purpose, now, send_now=send_now, backend=backend, allow_uncommitted=allow_uncommitted
    )
    return name, backend, clearance

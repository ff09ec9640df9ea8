"""Issues: every issue file with its status and what ``outreach check`` says; one issue's findings, its
preview (phone and desktop, text part, headers) and a test copy to yourself.

Viewers read; editors also send themselves test copies (drafts included: that is what they are for);
sending and scheduling are for admins, on the plan page (``outreach.admin.send_pages``).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.issue_desk import desk_of
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import actor_of, signed_of, state_of
from outreach.checks import CheckReport, run_checks
from outreach.checks.spam import spamassassin_available
from outreach.config import Config
from outreach.errors import OutreachError
from outreach.operations import send_test_copies
from outreach.operations.issues import IssueNotFound, find_issue
from outreach.operations.sample import GMAIL_CLIP_BYTES, SampleMail
from outreach.operations.ways_out import where_mail_goes
from outreach.transports.base import Outcome

PHONE_WIDTH = 375
DESKTOP_WIDTH = 600


def shown_path(path: Path, config: Config) -> str:
    """The file as staff name it: relative to the project."""
    try:
        return str(path.relative_to(config.root))
    except ValueError:
        return str(path)


def issues(request: Request) -> Response:
    state = state_of(request)
    found = desk_of(request).shelf.summaries()
    return state.render(
        request,
        "issues.html.j2",
        issues=found,
        folder=state.config.settings.paths.newsletters,
        zone=state.config.time_zone,
    )


def issue_path(request: Request) -> Path | None:
    """The issue the URL names, or None (the caller answers 404)."""
    try:
        return find_issue(state_of(request).config, str(request.path_params["slug"]))
    except IssueNotFound:
        return None


def not_found(request: Request) -> Response:
    slug = str(request.path_params.get("slug", ""))
    return state_of(request).render(
        request,
        "message.html.j2",
        status=404,
        title="No such issue",
        message=f"There is no issue called {slug!r}. The Issues page lists every one.",
    )


def issue(request: Request, problem: str = "", status: int = 200) -> Response:
    path = issue_path(request)
    if path is None:
        return not_found(request)
    state = state_of(request)
    rendered = desk_of(request).preview(request, path).current()
    mail = rendered if isinstance(rendered, SampleMail) else None
    spam: CheckReport | None = None
    if request.query_params.get("spam") == "1" and mail is not None:
        spam = run_checks(path, state.config, spam=True)
    findings = spam.findings if spam is not None else (mail.findings if mail else ())
    signed = signed_of(request)
    return state.render(
        request,
        "issues_detail.html.j2",
        status=status,
        slug=path.stem,
        file=shown_path(path, state.config),
        mail=mail,
        failure=None if mail else rendered,
        findings=findings,
        spam=spam,
        spam_available=spamassassin_available(),
        can_test=signed.role.allows(Role.EDITOR),
        can_send=signed.role.allows(Role.ADMIN),
        test_copy_to=signed.user.email,
        test_copy_goes=where_mail_goes(state.config, state.config.settings.delivery.transport),
        sent_test=request.query_params.get("done") == "test-copy",
        problem=problem,
        phone=PHONE_WIDTH,
        desktop=DESKTOP_WIDTH,
        clip_kb=GMAIL_CLIP_BYTES // 1024,
    )


def test_copy(request: Request) -> Response:
    """A [TEST] copy of the real message to the signed-in user, through the site's transport."""
    path = issue_path(request)
    if path is None:
        return not_found(request)
    state = state_of(request)
    address = signed_of(request).user.email
    try:
        copies = send_test_copies(
            state.config, path, [address], clock=state.clock, engine=state.engine, actor=actor_of(request)
        )
    except OutreachError as err:
        return issue(request, problem=f"No test copy was sent: {err}", status=400)
    # One copy per language edition: the first that was not sent is the one to tell.
    copy = next((c for c in copies if c.result.outcome is not Outcome.SENT), copies[0])
    if copy.result.outcome is not Outcome.SENT:
        said = " ".join(p for p in (copy.result.code, copy.result.detail) if p)
        return issue(
            request,
            problem=f"The test copy to {address} was not sent: {copy.result.outcome} {said}".strip(),
            status=400,
        )
    return RedirectResponse(f"{prefix(request)}/issues/{path.stem}?done=test-copy", status_code=303)


ROUTES = [
    admin_route("/issues", issues, Role.VIEWER),
    admin_route("/issues/{slug}", issue, Role.VIEWER),
    admin_route("/issues/{slug}/test-copy", test_copy, Role.EDITOR, methods=("POST",)),
]
SECTIONS = [("/issues", "Issues", Role.VIEWER)]

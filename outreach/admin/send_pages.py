"""Sending and scheduling an issue, for admins: the plan, then a confirmation that names the number.

The plan is ``plan_send`` (who gets it, who is left out and why, transport, rate, when, and every
refusal and note of the send gate). Only when the gate clears it is there a confirmation form, and it
must be ticked with the number of recipients in it. Posting it makes the plan again: a different
number (the audience changed), a different issue (it was edited) or a different send_at since the
page was shown is refused with a message, never sent to people nobody confirmed. A send started here
is sent by the app itself (``outreach.operations.background``); the campaign's page follows it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.issue_desk import desk_of
from outreach.admin.issues_pages import issue_path, not_found, shown_path
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import actor_of, state_of
from outreach.errors import OutreachError
from outreach.operations import Purpose, SendPlan, SendRefused, plan_send, start_campaign, when
from outreach.operations.issues import read_front_matter
from outreach.operations.review import content_hash
from outreach.operations.schedule import schedule_send
from outreach.operations.ways_out import where_mail_goes


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def _wants_now(request: Request) -> bool:
    return request.query_params.get("now") == "1" or _field(request, "now") == "1"


def _due_later(request: Request, path: Path) -> datetime | None:
    """The issue's send_at when it lies ahead (then the plan is for scheduling, unless 'now')."""
    state = state_of(request)
    matter = read_front_matter(path, state.config)
    send_at = matter.send_at if matter else None
    return send_at if send_at is not None and send_at > state.clock.now() else None


def plan(request: Request, problem: str = "", status: int = 200) -> Response:
    """The send plan as things are now (the gate runs again, the spam score included)."""
    path = issue_path(request)
    if path is None:
        return not_found(request)
    state = state_of(request)
    now = _wants_now(request)
    scheduling = _due_later(request, path) is not None and not now
    try:
        planned = plan_send(
            state.config,
            state.engine,
            path,
            purpose=Purpose.SCHEDULE if scheduling else Purpose.PLAN,
            send_now=now,
            clock=state.clock,
        )
    except SendRefused as err:
        return _page(request, path, None, scheduling, now, problem, status, refusals=err.reasons)
    return _page(request, path, planned, scheduling, now, problem, status)


def _page(
    request: Request,
    path: Path,
    planned: SendPlan | None,
    scheduling: bool,
    now: bool,
    problem: str = "",
    status: int = 200,
    refusals: list[str] | None = None,
) -> Response:
    state = state_of(request)
    config = state.config
    issue = planned.compiled.issue if planned else None
    due = issue.send_at if issue and issue.send_at and issue.send_at > state.clock.now() else None
    return state.render(
        request,
        "issues_plan.html.j2",
        status=status,
        slug=path.stem,
        file=shown_path(path, config),
        planned=planned,
        issue=issue,
        subject=issue.subject if issue else path.stem,
        refusals=list(planned.clearance.refusals) if planned else (refusals or []),
        scheduling=scheduling,
        now=now,
        due=when(due, config) if due else "",
        due_iso=due.isoformat() if due else "",
        content=content_hash(planned.compiled) if planned and planned.clearance.cleared else "",
        goes=where_mail_goes(config, planned.transport) if planned else "",
        problem=problem,
    )


def _confirmed_count(request: Request) -> int | None:
    """The number on the form, if the box repeating it was ticked."""
    count = _field(request, "count")
    if not count.isdigit() or _field(request, "confirm") != count:
        return None
    return int(count)


UNTICKED = "Nothing was sent: tick the box that names the number of people, to confirm."


def send(request: Request) -> Response:
    """Send now, to exactly the number confirmed."""
    path = issue_path(request)
    if path is None:
        return not_found(request)
    count = _confirmed_count(request)
    if count is None:
        return plan(request, problem=UNTICKED, status=400)
    state = state_of(request)
    now = _wants_now(request)
    try:
        planned = plan_send(
            state.config, state.engine, path, purpose=Purpose.SEND, send_now=now, clock=state.clock
        )
    except SendRefused as err:
        return _page(request, path, None, False, now, "Nothing was sent.", 400, refusals=err.reasons)
    if planned.clearance.refusals:
        return _page(request, path, planned, False, now, "Nothing was sent.", 400)
    if _field(request, "content") != content_hash(planned.compiled):
        changed = "The issue changed since you looked at the plan; nothing was sent. Read it again below."
        return _page(request, path, planned, False, now, changed, 400)
    try:
        campaign_id = start_campaign(
            state.config, state.engine, planned, state.clock, actor=actor_of(request), expected=count
        )
    except OutreachError as err:
        return _page(request, path, planned, False, now, _sentence(err), 400)
    desk_of(request).sends.start(campaign_id, planned.transport)
    return RedirectResponse(f"{prefix(request)}/campaigns/{campaign_id}?done=sending", status_code=303)


def schedule(request: Request) -> Response:
    """Schedule for the issue's send_at, as confirmed."""
    path = issue_path(request)
    if path is None:
        return not_found(request)
    if _confirmed_count(request) is None:
        return plan(request, problem=UNTICKED.replace("sent", "scheduled"), status=400)
    state = state_of(request)
    try:
        confirmed_at = datetime.fromisoformat(_field(request, "send_at"))
    except ValueError:
        return plan(request, problem="That form is incomplete; look at the plan again.", status=400)
    try:
        done = schedule_send(
            state.config,
            state.engine,
            path,
            actor=actor_of(request),
            expected_send_at=confirmed_at,
            clock=state.clock,
        )
    except OutreachError as err:
        return plan(request, problem=f"It was not scheduled: {_sentence(err)}", status=400)
    campaign_id = done.scheduled.campaign_id
    return RedirectResponse(f"{prefix(request)}/campaigns/{campaign_id}?done=scheduled", status_code=303)


def _sentence(err: OutreachError) -> str:
    text = str(err)
    return text[:1].upper() + text[1:]


ROUTES = [
    admin_route("/issues/{slug}/plan", plan, Role.ADMIN),
    admin_route("/issues/{slug}/send", send, Role.ADMIN, methods=("POST",)),
    admin_route("/issues/{slug}/schedule", schedule, Role.ADMIN, methods=("POST",)),
]

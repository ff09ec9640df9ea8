"""The JSON API's changes: a test copy (editors), the send plan, sending, scheduling and steering a
campaign (admins), through the functions the pages and ``outreach send`` call, audited as the token's
user ("via api").

Sending keeps the page's promise: the plan (``GET .../plan``) gives the number of recipients and a
``content`` fingerprint of the rendered issue, and ``POST .../send`` must repeat both. Another number
(the audience changed) or another fingerprint (the issue was edited) is refused with 409 and nothing is
sent, so a script never mails people nobody saw in a plan.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.api_common import (
    BadBody,
    answer,
    bad_body,
    body_of,
    flag,
    iso,
    problem,
    text_field,
    whole_number,
)
from outreach.admin.api_read import campaign_missing, issue_missing
from outreach.admin.campaign_sends import sends_of
from outreach.admin.issue_desk import desk_of
from outreach.admin.issues_pages import issue_path
from outreach.admin.routing import admin_route
from outreach.admin.state import actor_of, signed_of, state_of
from outreach.audience import transaction
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.errors import DeliveryError, OutreachError
from outreach.operations import Purpose, SendPlan, SendRefused, plan_send, send_test_copies, start_campaign
from outreach.operations.issues import read_front_matter
from outreach.operations.review import content_hash
from outreach.operations.schedule import schedule_send
from outreach.operations.steering import Steer, steer
from outreach.operations.ways_out import where_mail_goes
from outreach.transports.base import Outcome


def _due_later(request: Request, path: Path) -> datetime | None:
    state = state_of(request)
    matter = read_front_matter(path, state.config)
    send_at = matter.send_at if matter else None
    return send_at if send_at is not None and send_at > state.clock.now() else None


def _plan_json(planned: SendPlan, request: Request, scheduling: bool) -> dict[str, Any]:
    config = state_of(request).config
    clearance = planned.clearance
    spam = clearance.report.spam
    return {
        "issue": planned.compiled.issue.slug,
        "subject": planned.compiled.issue.subject,
        "cleared": clearance.cleared,
        "refusals": list(clearance.refusals),
        "notes": list(clearance.notes),
        "warnings": [{"where": w.where, "message": w.message} for w in clearance.report.warnings],
        "recipients": planned.recipients,
        "excluded": dict(planned.plan.excluded),
        "audience": {"topics": list(planned.audience.topics), "segments": list(planned.audience.segments)},
        "transport": planned.transport,
        "goes": where_mail_goes(config, planned.transport),
        "rate": planned.rate,
        "concurrency": planned.concurrency,
        "scheduling": scheduling,
        "send_at": iso(planned.compiled.issue.send_at),
        "spam_score": spam.score if spam else None,
        "content": content_hash(planned.compiled) if clearance.cleared else None,
    }


def plan(request: Request) -> Response:
    """What a send would do now (``?now=1``: send before the issue's send_at)."""
    path = issue_path(request)
    if path is None:
        return issue_missing(str(request.path_params["slug"]))
    state = state_of(request)
    if request.query_params.get("now", "1") != "1":
        return problem(400, "'now' is either left out or 1 (send before the issue's send_at).", "now")
    now = request.query_params.get("now") == "1"
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
        return answer({"issue": path.stem, "cleared": False, "refusals": list(err.reasons)}, 409)
    return answer(_plan_json(planned, request, scheduling))


def test_copy(request: Request) -> Response:
    """A [TEST] copy of the real message to the token's user."""
    path = issue_path(request)
    if path is None:
        return issue_missing(str(request.path_params["slug"]))
    state = state_of(request)
    address = signed_of(request).user.email
    try:
        (copy,) = send_test_copies(
            state.config, path, [address], clock=state.clock, engine=state.engine, actor=actor_of(request)
        )
    except OutreachError as err:
        return problem(409, f"No test copy was sent: {err}")
    if copy.result.outcome is not Outcome.SENT:
        said = " ".join(p for p in (copy.result.code, copy.result.detail) if p)
        return problem(502, f"The test copy to {address} was not sent: {copy.result.outcome} {said}".strip())
    return answer({"to": address, "outcome": str(copy.result.outcome)})


def send(request: Request) -> Response:
    """Send now to exactly the ``recipients`` and ``content`` of the plan (``now``: before send_at)."""
    path = issue_path(request)
    if path is None:
        return issue_missing(str(request.path_params["slug"]))
    try:
        body = body_of(request)
        count = whole_number(body, "recipients")
        content = text_field(body, "content")
        now = flag(body, "now")
    except BadBody as err:
        return bad_body(err)
    state = state_of(request)
    try:
        planned = plan_send(
            state.config, state.engine, path, purpose=Purpose.SEND, send_now=now, clock=state.clock
        )
    except SendRefused as err:
        return answer({"error": "Nothing was sent.", "refusals": list(err.reasons)}, 409)
    if planned.clearance.refusals:
        return answer({"error": "Nothing was sent.", "refusals": list(planned.clearance.refusals)}, 409)
    if content != content_hash(planned.compiled):
        return problem(
            409, "The issue changed since that plan; nothing was sent. Get the plan again.", "content"
        )
    try:
        campaign_id = start_campaign(
            state.config, state.engine, planned, state.clock, actor=actor_of(request), expected=count
        )
    except OutreachError as err:
        return problem(409, f"Nothing was sent: {err}", "recipients")
    desk_of(request).sends.start(campaign_id, planned.transport)
    return answer({"campaign": campaign_id, "status": "sending", "recipients": count}, 202)


def schedule(request: Request) -> Response:
    """Schedule for the issue's send_at, repeating the ``send_at`` of the plan."""
    path = issue_path(request)
    if path is None:
        return issue_missing(str(request.path_params["slug"]))
    try:
        body = body_of(request)
        confirmed = text_field(body, "send_at")
        try:
            confirmed_at = datetime.fromisoformat(confirmed)
        except ValueError:
            raise BadBody("send_at", "'send_at' must be the plan's ISO 8601 time") from None
        if confirmed_at.tzinfo is None:
            raise BadBody("send_at", "'send_at' must carry its offset, as the plan gives it")
    except BadBody as err:
        return bad_body(err)
    state = state_of(request)
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
        return problem(409, f"It was not scheduled: {err}")
    return answer({"campaign": done.scheduled.campaign_id, "status": "scheduled", "send_at": confirmed}, 201)


def _steer(request: Request, how: Steer) -> Response:
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        done = steer(state.engine, campaign_id, how, actor_of(request), state.clock)
    except DeliveryError as err:
        with transaction(state.engine) as session:
            if session.get(Campaign, campaign_id) is None:
                return campaign_missing(campaign_id)
        return problem(409, str(err))
    if done.status == CampaignStatus.SENDING.value and how is not Steer.PAUSE:
        sends_of(request).start(campaign_id, done.transport)
    return answer({"campaign": campaign_id, "status": done.status, "moved": done.moved})


def pause(request: Request) -> Response:
    return _steer(request, Steer.PAUSE)


def resume(request: Request) -> Response:
    return _steer(request, Steer.RESUME)


def cancel(request: Request) -> Response:
    return _steer(request, Steer.CANCEL)


def retry_failed(request: Request) -> Response:
    return _steer(request, Steer.RETRY_FAILED)


CAMPAIGN = "/api/campaigns/{campaign_id:int}"
ROUTES = [
    admin_route("/api/issues/{slug}/plan", plan, Role.ADMIN, name="api_plan"),
    admin_route("/api/issues/{slug}/test-copy", test_copy, Role.EDITOR, ("POST",), "api_test_copy"),
    admin_route("/api/issues/{slug}/send", send, Role.ADMIN, ("POST",), "api_send"),
    admin_route("/api/issues/{slug}/schedule", schedule, Role.ADMIN, ("POST",), "api_schedule"),
    admin_route(f"{CAMPAIGN}/pause", pause, Role.ADMIN, ("POST",), "api_pause"),
    admin_route(f"{CAMPAIGN}/resume", resume, Role.ADMIN, ("POST",), "api_resume"),
    admin_route(f"{CAMPAIGN}/cancel", cancel, Role.ADMIN, ("POST",), "api_cancel"),
    admin_route(f"{CAMPAIGN}/retry-failed", retry_failed, Role.ADMIN, ("POST",), "api_retry_failed"),
]

"""The campaigns pages: the list, one campaign with its live progress and history, and steering it.

Everyone signed in reads; only admins pause, resume, cancel, retry the failed or resend the unknown,
through ``outreach.operations.steering.steer`` (the call ``outreach campaigns ...`` makes, audited).
A campaign that goes back to sending is handed to a thread of this app (``campaign_sends``), so
nothing else needs to run for the mail to go out.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.campaign_sends import sends_of
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import actor_of, state_of
from outreach.audience import transaction
from outreach.delivery.schema import Campaign, CampaignStatus
from outreach.errors import DeliveryError
from outreach.operations.campaign_view import campaign_rows, campaign_view
from outreach.operations.steering import Steer, steer

NOT_FOUND = ("Campaign not found", "There is no such campaign. The campaigns page lists them all.")
# What each change says afterwards (keys of state.DONE).
DONE_KEYS = {
    Steer.PAUSE: "campaign-paused",
    Steer.RESUME: "campaign-resumed",
    Steer.CANCEL: "campaign-cancelled",
    Steer.RETRY_FAILED: "campaign-retrying",
    Steer.RESEND_UNKNOWN: "campaign-resending",
}


def not_found(request: Request) -> Response:
    title, message = NOT_FOUND
    return state_of(request).render(request, "message.html.j2", status=404, title=title, message=message)


def campaigns(request: Request) -> Response:
    state = state_of(request)
    before = request.query_params.get("before", "")
    with transaction(state.engine) as session:
        rows, more = campaign_rows(session, int(before) if before.isdigit() else None)
    return state.render(request, "campaigns.html.j2", rows=rows, more=more, zone=state.config.time_zone)


def campaign(request: Request, problem: str = "", status: int = 200) -> Response:
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        with transaction(state.engine) as session:
            view = campaign_view(session, campaign_id, state.clock.now())
    except DeliveryError:
        return not_found(request)
    return state.render(
        request,
        "campaign.html.j2",
        status=status,
        view=view,
        problem=problem,
        zone=state.config.time_zone,
        sending_here=sends_of(request).running(campaign_id),
    )


def _steer(request: Request, how: Steer) -> Response:
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        done = steer(state.engine, campaign_id, how, actor_of(request), state.clock)
    except DeliveryError as err:
        with transaction(state.engine) as session:
            if session.get(Campaign, campaign_id) is None:
                return not_found(request)
        return campaign(request, problem=_sentence(str(err)), status=400)
    if done.status == CampaignStatus.SENDING.value and how is not Steer.PAUSE:
        sends_of(request).start(campaign_id, done.transport)
    where = f"{prefix(request)}/campaigns/{campaign_id}?done={DONE_KEYS[how]}"
    return RedirectResponse(where, status_code=303)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def pause(request: Request) -> Response:
    return _steer(request, Steer.PAUSE)


def resume(request: Request) -> Response:
    return _steer(request, Steer.RESUME)


def cancel(request: Request) -> Response:
    return _steer(request, Steer.CANCEL)


def retry_failed(request: Request) -> Response:
    return _steer(request, Steer.RETRY_FAILED)


def resend_unknown_form(request: Request, problem: str = "", status: int = 200) -> Response:
    """The confirmation: some of these people may have had the mail already and will get it twice."""
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        with transaction(state.engine) as session:
            view = campaign_view(session, campaign_id, state.clock.now())
    except DeliveryError:
        return not_found(request)
    return state.render(request, "campaign_resend.html.j2", status=status, view=view, problem=problem)


def resend_unknown(request: Request) -> Response:
    form = request.state.form
    if not form or form.get("twice") != "understood":
        problem = "Nothing was sent again: tick the box to say you accept that some may get it twice."
        return resend_unknown_form(request, problem=problem, status=400)
    return _steer(request, Steer.RESEND_UNKNOWN)


ROUTES = [
    admin_route("/campaigns", campaigns, Role.VIEWER),
    admin_route("/campaigns/{campaign_id:int}", campaign, Role.VIEWER),
    admin_route("/campaigns/{campaign_id:int}/pause", pause, Role.ADMIN, methods=("POST",)),
    admin_route("/campaigns/{campaign_id:int}/resume", resume, Role.ADMIN, methods=("POST",)),
    admin_route("/campaigns/{campaign_id:int}/cancel", cancel, Role.ADMIN, methods=("POST",)),
    admin_route("/campaigns/{campaign_id:int}/retry-failed", retry_failed, Role.ADMIN, methods=("POST",)),
    admin_route("/campaigns/{campaign_id:int}/resend-unknown", resend_unknown_form, Role.ADMIN),
    admin_route(
        "/campaigns/{campaign_id:int}/resend-unknown",
        resend_unknown,
        Role.ADMIN,
        methods=("POST",),
        name="resend_unknown_post",
    ),
]
SECTIONS = [("/campaigns", "Campaigns", Role.VIEWER)]

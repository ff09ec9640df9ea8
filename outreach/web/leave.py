"""Unsubscribe: RFC 8058 one-click for mail clients, and a page with a button for people.

``POST /u/TOKEN`` with ``List-Unsubscribe=One-Click`` (url-encoded or multipart) unsubscribes at once:
no cookie, no login, no CSRF field, no redirect, and doing it twice changes nothing. ``GET /u/TOKEN``
never unsubscribes (link scanners fetch every link): it shows a button, which posts, with a CSRF field,
to ``/u/TOKEN/leave``. The delivery runner skips non-mailable subscribers when it claims rows, so
pending mail of a campaign in progress stops from that moment. A token that came with a campaign's
mail names that campaign, and leaving through it is counted in that campaign's report.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach.audience import Consent, ConsentMethod, SubscriberStatus, transaction
from outreach.audience.schema import STILL_WRITTEN_TO, Subscriber
from outreach.events.unsubscribes import count_unsubscribe
from outreach.i18n import N_
from outreach.tokens import LinkSubject, Purpose, read_subject
from outreach.web import signed
from outreach.web.forms import FormError, read_form
from outreach.web.language import follow_subscriber
from outreach.web.state import WebState, client_ip, same_origin, user_agent

ONE_CLICK = ("List-Unsubscribe", "One-Click")


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def subscriber_ref(state: WebState, purpose: Purpose, token: str) -> int | None:
    """The subscriber id inside a token of this purpose, or None (forged, altered, other purpose)."""
    subject = read_subject(state.keys, purpose, token)
    return None if subject is None else subject.subscriber_id


def leave(state: WebState, subject: LinkSubject, consent: Consent) -> None:
    """Unsubscribe, then count it in the report of the campaign whose mail carried the link."""
    if state.leave(subject.subscriber_id, consent):
        with transaction(state.engine) as session:
            count_unsubscribe(session, subject, consent.source or "", state.clock)


def not_valid(state: WebState) -> Response:
    return state.pages.message(
        404,
        N_("This link is not valid"),
        N_(
            "Please check that the whole link was copied from the mail. If you would like to stop hearing "
            "from us, reply to any of our mails and we will take care of it."
        ),
    )


def _status(state: WebState, subscriber_id: int) -> tuple[SubscriberStatus | None, str | None]:
    with transaction(state.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        return (None, None) if subscriber is None else (subscriber.status, subscriber.language)


async def one_click(request: Request) -> Response:
    state = _state(request)
    subject = read_subject(state.keys, Purpose.UNSUBSCRIBE, request.path_params["token"])
    if subject is None:
        return not_valid(state)
    try:
        form = await read_form(request)
    except FormError:
        form = None
    if form is None or form.get(ONE_CLICK[0]) != ONE_CLICK[1]:
        return state.pages.message(
            400,
            N_("Nothing was changed"),
            N_(
                "This address accepts one-click unsubscribe requests from mail programs. "
                "To unsubscribe yourself, open the link from the mail in your browser."
            ),
        )
    consent = Consent(
        ConsentMethod.ONE_CLICK,
        source="one-click unsubscribe (RFC 8058)",
        ip=client_ip(request),
        user_agent=(user_agent(request) or "")[:500] or None,
    )
    await run_in_threadpool(leave, state, subject, consent)
    follow_subscriber(
        await run_in_threadpool(state.subscriber_language, subject.subscriber_id), state.languages
    )
    return state.pages.page("unsubscribed.html.j2", preferences_url=None)


async def unsubscribe_page(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    subscriber_id = subscriber_ref(state, Purpose.UNSUBSCRIBE, token)
    if subscriber_id is None:
        return not_valid(state)
    status, language = await run_in_threadpool(_status, state, subscriber_id)
    follow_subscriber(language, state.languages)
    return state.pages.page(
        "unsubscribe.html.j2",
        token=token,
        gone=status not in STILL_WRITTEN_TO,
        preferences_url=state.links(subscriber_id).preferences,
        csrf=signed.csrf_field(state.secret, f"leave:{subscriber_id}", state.clock),
    )


async def unsubscribe_button(request: Request) -> Response:
    state = _state(request)
    subject = read_subject(state.keys, Purpose.UNSUBSCRIBE, request.path_params["token"])
    if subject is None:
        return not_valid(state)
    subscriber_id = subject.subscriber_id
    try:
        form = await read_form(request)
    except FormError:
        form = None
    if (
        form is None
        or not same_origin(request, state.base_url)
        or not signed.csrf_ok(state.keys, f"leave:{subscriber_id}", form.get("csrf"), state.clock)
    ):
        return state.pages.message(
            403, N_("Please try again"), N_("Please open the link from the mail again and press the button.")
        )
    consent = Consent(
        ConsentMethod.FORM,
        source="unsubscribe page",
        ip=client_ip(request),
        user_agent=(user_agent(request) or "")[:500] or None,
    )
    await run_in_threadpool(leave, state, subject, consent)
    follow_subscriber(
        await run_in_threadpool(state.subscriber_language, subject.subscriber_id), state.languages
    )
    return state.pages.page("unsubscribed.html.j2", preferences_url=None)


ROUTES = [
    Route("/u/{token}", unsubscribe_page, methods=["GET"]),
    Route("/u/{token}", one_click, methods=["POST"]),
    Route("/u/{token}/leave", unsubscribe_button, methods=["POST"]),
]

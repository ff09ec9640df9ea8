"""Sign-up pages: the form (full page and embeddable), the post, and the one-click confirmation.

The confirmation link opens a page with a button (a POST): mail scanners that fetch every link in a
message never confirm anyone. The answer to a sign-up is the same whatever the address.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from outreach.audience import transaction
from outreach.audience.topics import TopicDefinition, load_topics
from outreach.config import Config
from outreach.errors import OutreachError
from outreach.i18n import N_
from outreach.web import signed
from outreach.web.forms import FormError, read_form
from outreach.web.language import follow_subscriber, page_language
from outreach.web.security import embed_csp
from outreach.web.signup import (
    Confirmed,
    choices_for,
    confirm,
    form_consent,
    form_options,
    topic_choices,
    validate,
)
from outreach.web.state import WebState, client_ip, user_agent

HONEYPOT = "website"
TOPICS_FILE = "topics.yaml"


def site_topics(config: Config) -> tuple[TopicDefinition, ...]:
    """The topics of ``lists/topics.yaml`` (none when it cannot be read: `outreach db upgrade` says why)."""
    try:
        return load_topics(config.path("lists") / TOPICS_FILE)
    except (OSError, OutreachError):
        return ()


def default_topics(config: Config) -> tuple[str, ...]:
    """The topics ticked on a fresh form: those ``lists/topics.yaml`` marks ``default: true``."""
    return tuple(t.key for t in site_topics(config) if t.default)


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _frame_headers(state: WebState) -> dict[str, str]:
    """The embeddable form may be framed by the organisation's own website (and by us)."""
    parts = urlsplit(state.config.organisation.website)
    ancestors = "'self'" + (f" {parts.scheme}://{parts.netloc}" if parts.netloc else "")
    return {"Content-Security-Policy": embed_csp(ancestors)}


def _topics(state: WebState) -> list[Any]:
    with transaction(state.engine) as session:
        return [(t.key, t.name, t.description) for t in topic_choices(session)]


async def _form_page(
    request: Request,
    embed: bool,
    status: int = 200,
    values: dict[str, Any] | None = None,
    problems: dict[str, str] | None = None,
) -> Response:
    state = _state(request)
    topics = await run_in_threadpool(_topics, state)
    choices = choices_for(state.config)
    # A visitor reading the form in Spanish most likely wants the mail in Spanish too.
    shown = page_language(choices.default_language).language
    defaults = {
        "topics": [k for k, _, _ in topics if k in state.default_topics],
        "language": shown if shown in choices.languages.keys else choices.default_language,
    }
    return state.pages.page(
        "subscribe.html.j2",
        status=status,
        headers=_frame_headers(state) if embed else None,
        compact=embed,
        topics=topics,
        **form_options(choices),
        values={**defaults, **(values or {})},
        problems=problems or {},
        csrf=signed.csrf_field(state.secret, "signup", state.clock),
        embed=embed,
        notice_version=state.config.settings.web.notice_version,
    )


async def subscribe_page(request: Request) -> Response:
    return await _form_page(request, embed=False)


async def embed_page(request: Request) -> Response:
    return await _form_page(request, embed=True)


async def embed_snippet(request: Request) -> Response:
    """The HTML the organisation pastes into its website: the form in a frame, and a plain link."""
    state = _state(request)
    snippet = state.pages.render("snippet.html.j2")
    return PlainTextResponse(snippet, headers={"Cache-Control": "no-store"})


async def subscribe_post(request: Request) -> Response:
    state = _state(request)
    try:
        form = await read_form(request)
    except FormError:
        return state.pages.message(
            400, N_("Something went wrong"), N_("We could not read that form. Please try again.")
        )
    embed = form.get("embed") == "1"
    headers = _frame_headers(state) if embed else None
    # Posts from other sites never get here (outreach.web.origin); the CSRF field binds the form.
    if not signed.csrf_ok(state.keys, "signup", form.get("csrf"), state.clock):
        return state.pages.message(
            403,
            N_("Please try again"),
            N_(
                "This form has been open for a long time or came from somewhere else. "
                "Please reload the page and send it again."
            ),
            headers=headers,
            compact=embed,
        )
    wait = state.signup_limiter.take(client_ip(request) or "unknown")
    if wait > 0:
        return state.pages.message(
            429,
            N_("Please wait a moment"),
            N_(
                "We have had several sign-ups from your connection in a short time. "
                "Please try again in a few minutes."
            ),
            headers={**(headers or {}), "Retry-After": str(int(wait) + 1)},
            compact=embed,
        )
    values: dict[str, Any] = {
        "email": form.get("email"),
        "first_name": form.get("first_name"),
        "last_name": form.get("last_name"),
        "role": form.get("role"),
        "language": form.get("language", "en"),
        "topics": form.getlist("topics"),
    }
    if form.get(HONEYPOT):  # only robots fill the hidden field: they get the usual answer and nothing else
        return _check_inbox(state, embed, headers)
    known = {key for key, _, _ in await run_in_threadpool(_topics, state)}
    signup, problems = validate(
        form.get("email"),
        form.get("first_name"),
        form.get("last_name"),
        form.get("role"),
        form.get("language", "en"),
        form.getlist("topics"),
        known,
        choices_for(state.config),
    )
    if signup is None:
        return await _form_page(request, embed, status=400, values=values, problems=problems)
    await run_in_threadpool(state.receive_sign_up, signup, client_ip(request), user_agent(request))
    return _check_inbox(state, embed, headers)


def _check_inbox(state: WebState, embed: bool, headers: dict[str, str] | None) -> Response:
    return state.pages.page("check_inbox.html.j2", headers=headers, compact=embed)


async def confirm_page(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    if (refused := _refused(state, token)) is not None:
        return refused
    payload = signed.verify(state.keys, signed.CONFIRM_SALT, token, state.clock, signed.CONFIRM_MAX_AGE)
    if isinstance(payload, list) and payload and isinstance(payload[0], int):
        follow_subscriber(await run_in_threadpool(state.subscriber_language, payload[0]), state.languages)
    return state.pages.page(
        "confirm.html.j2", token=token, csrf=signed.csrf_field(state.secret, f"confirm:{token}", state.clock)
    )


async def confirm_post(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    if (refused := _refused(state, token)) is not None:
        return refused
    try:
        form = await read_form(request)
    except FormError:
        form = None
    if form is None or not signed.csrf_ok(state.keys, f"confirm:{token}", form.get("csrf"), state.clock):
        return state.pages.message(
            403, N_("Please try again"), N_("Please open the link from your mail again and press the button.")
        )
    payload = signed.verify(state.keys, signed.CONFIRM_SALT, token, state.clock, signed.CONFIRM_MAX_AGE)
    consent = form_consent(
        client_ip(request),
        user_agent(request),
        source="sign-up confirmation",
        notice_version=state.config.settings.web.notice_version,
    )

    def run() -> tuple[Confirmed, int]:
        with transaction(state.engine) as session:
            return confirm(session, payload, consent, state.clock)

    result, subscriber_id = await run_in_threadpool(run)
    if subscriber_id:
        follow_subscriber(await run_in_threadpool(state.subscriber_language, subscriber_id), state.languages)
    if result in (Confirmed.CONFIRMED, Confirmed.ALREADY):
        links = state.links(subscriber_id)
        return state.pages.page("confirmed.html.j2", preferences_url=links.preferences)
    if result is Confirmed.STALE:
        return state.pages.message(
            410,
            N_("This link has been replaced"),
            N_(
                "Something has changed since this mail was sent. Please use the newest mail from us, "
                "or sign up again."
            ),
            link=("/subscribe", N_("Sign up again")),
        )
    return state.pages.message(
        404, N_("This link is not valid"), N_("Please sign up again."), link=("/subscribe", N_("Sign up"))
    )


def _refused(state: WebState, token: str) -> Response | None:
    try:
        signed.verify(state.keys, signed.CONFIRM_SALT, token, state.clock, signed.CONFIRM_MAX_AGE)
    except signed.Refused as err:
        if err.expired:
            return state.pages.message(
                410,
                N_("This link has expired"),
                N_(
                    "Confirmation links work for seven days. Please sign up again and we will send a new one."
                ),
                link=("/subscribe", N_("Sign up again")),
            )
        return state.pages.message(
            404,
            N_("This link is not valid"),
            N_("Please check that the whole link was copied from the mail."),
        )
    return None


ROUTES = [
    Route("/", subscribe_page, methods=["GET"]),
    Route("/subscribe", subscribe_page, methods=["GET"]),
    Route("/subscribe", subscribe_post, methods=["POST"]),
    Route("/embed", embed_page, methods=["GET"]),
    Route("/embed/snippet", embed_snippet, methods=["GET"]),
    Route("/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/confirm/{token}", confirm_post, methods=["POST"]),
]

"""The preference centre ``/p/TOKEN``: topics, language, name and role; or leave everything.

Topic changes go through the consent log (method form, source "preference centre"); name, role and
language are profile fields, not consent, and are simply updated.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach.audience import Consent, ConsentMethod, SubscriberStatus, transaction
from outreach.audience.schema import Subscriber
from outreach.tokens import Purpose
from outreach.web import signed
from outreach.web.forms import FormError, read_form
from outreach.web.leave import not_valid, subscriber_ref
from outreach.web.signup import LANGUAGES, ROLES, SignUp, set_topics, topic_choices, validate
from outreach.web.state import WebState, client_ip, same_origin, user_agent

SOURCE = "preference centre"


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _load(state: WebState, subscriber_id: int) -> dict[str, Any] | None:
    with transaction(state.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        if subscriber is None:
            return None
        return {
            "email": subscriber.email,
            "status": subscriber.status,
            "first_name": subscriber.first_name,
            "last_name": subscriber.last_name,
            "role": subscriber.role,
            "language": subscriber.language,
            "topics": sorted(t.topic_key for t in subscriber.topics),
            "choices": [(t.key, t.name, t.description) for t in topic_choices(session)],
        }


def _save(state: WebState, subscriber_id: int, wanted: SignUp, consent: Consent) -> None:
    with transaction(state.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        subscriber.first_name = wanted.first_name
        subscriber.last_name = wanted.last_name
        subscriber.role = wanted.role
        subscriber.language = wanted.language
        subscriber.updated_at = state.clock.now()
        set_topics(session, subscriber_id, wanted.topics, consent, state.clock)


def _page(
    state: WebState,
    token: str,
    subscriber_id: int,
    found: dict[str, Any],
    status: int = 200,
    saved: bool = False,
    problems: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    active = found["status"] in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED)
    return state.pages.page(
        "preferences.html.j2",
        status=status,
        token=token,
        active=active,
        email=found["email"],
        values=values or found,
        topics=found["choices"],
        roles=ROLES,
        languages=LANGUAGES,
        saved=saved,
        problems=problems or {},
        csrf=signed.csrf_field(state.secret, f"preferences:{subscriber_id}", state.clock),
    )


async def preferences_page(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    subscriber_id = subscriber_ref(state, Purpose.PREFERENCES, token)
    found = None if subscriber_id is None else await run_in_threadpool(_load, state, subscriber_id)
    if subscriber_id is None or found is None:
        return not_valid(state)
    return _page(state, token, subscriber_id, found)


async def preferences_post(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    subscriber_id = subscriber_ref(state, Purpose.PREFERENCES, token)
    found = None if subscriber_id is None else await run_in_threadpool(_load, state, subscriber_id)
    if subscriber_id is None or found is None:
        return not_valid(state)
    try:
        form = await read_form(request)
    except FormError:
        form = None
    subject = f"preferences:{subscriber_id}"
    if (
        form is None
        or not same_origin(request, state.base_url)
        or not signed.csrf_ok(state.keys, subject, form.get("csrf"), state.clock)
    ):
        return state.pages.message(
            403, "Please try again", "This page was open for a long time. Please reload it and try again."
        )
    consent = Consent(
        ConsentMethod.FORM,
        source=SOURCE,
        ip=client_ip(request),
        user_agent=(user_agent(request) or "")[:500] or None,
    )
    if form.get("action") == "leave":
        await run_in_threadpool(state.leave, subscriber_id, consent)
        return state.pages.page("unsubscribed.html.j2", preferences_url=None)
    if found["status"] not in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED):
        return _page(state, token, subscriber_id, found, status=409)
    values: dict[str, Any] = {
        "first_name": form.get("first_name"),
        "last_name": form.get("last_name"),
        "role": form.get("role"),
        "language": form.get("language", "en"),
        "topics": form.getlist("topics"),
    }
    known = {key for key, _, _ in found["choices"]}
    wanted, problems = validate(
        found["email"],
        form.get("first_name"),
        form.get("last_name"),
        form.get("role"),
        form.get("language", "en"),
        form.getlist("topics"),
        known,
    )
    if wanted is None:
        if "topics" in problems:
            problems["topics"] = (
                "Please keep at least one kind of mail; to stop all mail, use "
                "“Unsubscribe from everything” below."
            )
        return _page(state, token, subscriber_id, found, 400, problems=problems, values=values)
    await run_in_threadpool(_save, state, subscriber_id, wanted, consent)
    updated = await run_in_threadpool(_load, state, subscriber_id)
    assert updated is not None
    return _page(state, token, subscriber_id, updated, saved=True)


ROUTES = [
    Route("/p/{token}", preferences_page, methods=["GET"]),
    Route("/p/{token}", preferences_post, methods=["POST"]),
]

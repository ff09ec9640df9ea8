"""The preference centre ``/p/TOKEN``: topics, language, name and role; or leave everything.

Topic changes go through the consent log (method form, source "preference centre"); name, role and
language are profile fields, not consent, and are simply updated.

Saving changes only what the subscriber changed. The page carries what it showed (``shown``); a field
posted as it was shown is left alone, whatever it holds: a role or language from before the site's
lists (shown as it is stored), a long imported name, a topic added by an import since the page was
opened. Only changed fields are checked and written, and only the topics ticked or unticked move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach.audience import Consent, ConsentMethod, SubscriberStatus, add_topic, remove_topic, transaction
from outreach.audience.choices import ProfileChoices
from outreach.audience.schema import Subscriber
from outreach.i18n import N_
from outreach.tokens import Purpose
from outreach.web import signed
from outreach.web.forms import Form, FormError, read_form
from outreach.web.language import follow_subscriber
from outreach.web.leave import not_valid, subscriber_ref
from outreach.web.signup import (
    check_language,
    check_name,
    check_role,
    choices_for,
    form_options,
    topic_choices,
)
from outreach.web.state import WebState, client_ip, same_origin, user_agent
from outreach.web.system_mails import queue_preferences_notice

SOURCE = "preference centre"
PROFILE = ("first_name", "last_name", "role", "language")
KEEP_A_TOPIC = N_(
    "Please keep at least one kind of mail; to stop all mail, use “Unsubscribe from everything” below."
)


@dataclass
class Change:
    """What the subscriber changed on the page: profile fields, topics ticked and unticked."""

    values: dict[str, str] = field(default_factory=dict)
    add: set[str] = field(default_factory=set)
    remove: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.values or self.add or self.remove)


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


def _save(state: WebState, subscriber_id: int, change: Change, consent: Consent) -> None:
    with transaction(state.engine) as session:
        subscriber = session.get(Subscriber, subscriber_id)
        assert subscriber is not None
        for name, value in change.values.items():
            setattr(subscriber, name, value)
        subscriber.updated_at = state.clock.now()
        for topic in sorted(change.remove):
            remove_topic(session, subscriber_id, topic, consent=consent, clock=state.clock)
        for topic in sorted(change.add):
            add_topic(session, subscriber_id, topic, consent=consent, clock=state.clock)
        if change and subscriber.status is SubscriberStatus.ACTIVE and subscriber.email:
            queue_preferences_notice(session, subscriber_id, subscriber.email, state.clock.now())


def _shown(found: dict[str, Any]) -> str:
    """What the page shows, carried in the form so a save can tell what changed."""
    return json.dumps({name: found[name] for name in (*PROFILE, "topics")}, ensure_ascii=False)


def _was_shown(form: Form, found: dict[str, Any]) -> dict[str, Any]:
    """The values the page showed; the stored ones if the form does not carry them (or they are garbled)."""
    try:
        shown = json.loads(form.get("shown"))
    except ValueError:
        shown = None
    if not isinstance(shown, dict):
        return found
    fields = {name: str(shown.get(name, found[name])) for name in PROFILE}
    topics = shown.get("topics")
    valid = isinstance(topics, list) and all(isinstance(t, str) for t in topics)
    return {**fields, "topics": topics if valid else found["topics"]}


def _changes(
    form: Form, shown: dict[str, Any], found: dict[str, Any], choices: ProfileChoices
) -> tuple[Change, dict[str, str]]:
    """The fields the subscriber changed, checked; and the problems with them, by field."""
    change, problems = Change(), {}
    for name in PROFILE:
        posted = form.get(name)
        if posted == shown[name]:
            continue  # not touched: kept as stored, even if it is not one the form could offer
        value, problem = _check(name, posted, choices)
        if problem:
            problems[name] = problem
        elif value != found[name]:
            change.values[name] = value
    known = {key for key, _, _ in found["choices"]}
    ticked = set(form.getlist("topics")) & known
    change.add = ticked - set(shown["topics"]) - set(found["topics"])
    change.remove = (set(shown["topics"]) - ticked) & set(found["topics"])
    if not (set(found["topics"]) - change.remove) | change.add:
        problems["topics"] = KEEP_A_TOPIC
    return change, problems


def _check(name: str, posted: str, choices: ProfileChoices) -> tuple[str, str | None]:
    if name == "role":
        return check_role(posted, choices)
    if name == "language":
        return check_language(posted, choices)
    return check_name(posted)


def _menus(choices: ProfileChoices, stored: dict[str, Any]) -> dict[str, Any]:
    """The role and language menus; a stored value outside the lists is offered as it is."""
    options = form_options(choices)
    kept = {
        "role": stored["role"] if stored["role"] and stored["role"] not in choices.roles.keys else "",
        "language": stored["language"] if stored["language"] not in choices.languages.keys else "",
    }
    return {**options, "kept": kept}


def _page(
    state: WebState,
    token: str,
    subscriber_id: int,
    found: dict[str, Any],
    status: int = 200,
    saved: bool = False,
    problems: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    shown: str | None = None,
) -> Response:
    active = found["status"] in (SubscriberStatus.ACTIVE, SubscriberStatus.UNCONFIRMED)
    values = values or found
    return state.pages.page(
        "preferences.html.j2",
        status=status,
        token=token,
        active=active,
        email=found["email"],
        values=values,
        topics=found["choices"],
        **_menus(choices_for(state.config), found),
        shown=shown or _shown(found),
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
    follow_subscriber(found["language"], state.languages)
    return _page(state, token, subscriber_id, found)


async def preferences_post(request: Request) -> Response:
    state = _state(request)
    token = request.path_params["token"]
    subscriber_id = subscriber_ref(state, Purpose.PREFERENCES, token)
    found = None if subscriber_id is None else await run_in_threadpool(_load, state, subscriber_id)
    if subscriber_id is None or found is None:
        return not_valid(state)
    follow_subscriber(found["language"], state.languages)
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
            403,
            N_("Please try again"),
            N_("This page was open for a long time. Please reload it and try again."),
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
    shown = _was_shown(form, found)
    change, problems = _changes(form, shown, found, choices_for(state.config))
    if problems:
        values = {name: form.get(name) for name in PROFILE} | {"topics": form.getlist("topics")}
        return _page(
            state, token, subscriber_id, found, 400, problems=problems, values=values, shown=form.get("shown")
        )
    await run_in_threadpool(_save, state, subscriber_id, change, consent)
    updated = await run_in_threadpool(_load, state, subscriber_id)
    assert updated is not None
    follow_subscriber(updated["language"], state.languages)  # a new language shows at once
    return _page(state, token, subscriber_id, updated, saved=True)


ROUTES = [
    Route("/p/{token}", preferences_page, methods=["GET"]),
    Route("/p/{token}", preferences_post, methods=["POST"]),
]

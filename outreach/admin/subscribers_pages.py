"""Subscribers: find people, read everything held about one, change what staff may change.

Everyone signed in reads (the list, one person's profile, consent log, deliveries and events);
editors change profile fields and topics; admins suppress, download a person's data (a subject
access request) and erase them, which needs the address typed out. Every change goes through
``outreach.operations.people`` (audited; topic changes also in the consent log). The queries live
in ``outreach.audience.subscriber_search`` so the API and the command line ask the same questions.
"""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import NO_STORE, AdminState, actor_of, state_of
from outreach.audience import transaction
from outreach.audience.choices import ProfileChoices, profile_choices
from outreach.audience.gdpr import NothingHeld
from outreach.audience.person_view import person_view
from outreach.audience.schema import Subscriber, SubscriberStatus
from outreach.audience.segments import SEGMENTS_FILE, Rule, Segment, load_segments
from outreach.audience.subscriber_search import MAILABLE, SubscriberFilter, find_subscribers
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics
from outreach.errors import AudienceError, OutreachError
from outreach.operations import people

NOT_FOUND = ("Subscriber not found", "There is no such subscriber. The subscribers page finds people.")
DONE = {
    "edited": "The changes are saved and recorded in the audit log.",
    "unchanged": "Nothing was different, so nothing was changed.",
    "topics": "The topics are changed; each change is in the consent log.",
    "suppressed": "The address is on the suppression list: it will never be mailed again.",
    "already": "The address was already on the suppression list.",
    "erased": "The person is erased: only a hash of the address is kept, so they are never mailed again.",
}


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def choices_of(state: AdminState) -> ProfileChoices:
    return profile_choices(state.config.settings.audience)


def topics_of(state: AdminState) -> tuple[TopicDefinition, ...]:
    """The topics file, or none when it cannot be read (the topics page says why)."""
    try:
        return load_topics(state.config.path("lists") / TOPICS_FILE, f"lists/{TOPICS_FILE}")
    except OutreachError:
        return ()


def segments_of(state: AdminState) -> tuple[dict[str, Segment], str]:
    """The segments file's segments, and the problem reading it (if any)."""
    topics = [t.key for t in topics_of(state)]
    try:
        found = load_segments(
            state.config.path("lists") / SEGMENTS_FILE,
            topics,
            f"lists/{SEGMENTS_FILE}",
            choices_of(state),
        )
    except OutreachError as err:
        return {}, f"The segments cannot be offered: {err}"
    return found, ""


def today_of(state: AdminState) -> date:
    return state.clock.now().astimezone(state.config.time_zone).date()


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < len(text) <= 6 and int(text) > 0 else 1


def subscribers(request: Request) -> Response:
    state = state_of(request)
    params = request.query_params
    asked = {
        name: params.get(name, "").strip()[:200] for name in ("q", "topic", "segment", "status", "language")
    }
    problems: list[str] = []
    segments, segment_problem = segments_of(state)
    if segment_problem:
        problems.append(segment_problem)
    topics = topics_of(state)
    choices = choices_of(state)
    statuses = [s.value for s in SubscriberStatus]
    if asked["status"] and asked["status"] not in statuses:
        problems.append(f"There is no status {asked['status']!r}; choose one of: {', '.join(statuses)}.")
        asked["status"] = ""
    if asked["topic"] and asked["topic"] not in {t.key for t in topics}:
        problems.append(f"There is no topic {asked['topic']!r}; the Topics page lists them.")
        asked["topic"] = ""
    segment: Rule | str | None = None
    if asked["segment"] == MAILABLE:
        segment = MAILABLE
    elif asked["segment"]:
        if asked["segment"] in segments:
            segment = segments[asked["segment"]].rule
        else:
            problems.append(f"There is no segment {asked['segment']!r} in lists/{SEGMENTS_FILE}.")
            asked["segment"] = ""
    wanted = SubscriberFilter(
        text=asked["q"],
        topic=asked["topic"],
        segment=segment,
        status=asked["status"],
        language=asked["language"],
    )
    page = _page_number(params.get("page", ""))
    with transaction(state.engine) as session:
        found = find_subscribers(session, wanted, today_of(state), page)
    kept = {k: v for k, v in asked.items() if v}
    return state.render(
        request,
        "subscribers.html.j2",
        found=found,
        asked=asked,
        problems=problems,
        topics=topics,
        segments=segments,
        statuses=statuses,
        languages=choices.languages.choices,
        roles=choices.roles,
        mailable=MAILABLE,
        filtered=bool(kept),
        query_for=lambda number: urlencode({**kept, "page": number}),
        kept=kept,
    )


def not_found(request: Request) -> Response:
    title, message = NOT_FOUND
    return state_of(request).render(request, "message.html.j2", status=404, title=title, message=message)


def subscriber(request: Request, problem: str = "", status: int = 200) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    try:
        with transaction(state.engine) as session:
            view = person_view(session, subscriber_id)
    except AudienceError:
        return not_found(request)
    choices = choices_of(state)
    done = DONE.get(request.query_params.get("done", ""))
    return state.render(
        request,
        "subscriber.html.j2",
        status=status,
        view=view,
        problem=problem,
        done=done,
        topics=topics_of(state),
        choices=choices,
        zone=state.config.time_zone,
    )


def _exists(state: AdminState, subscriber_id: int) -> bool:
    with transaction(state.engine) as session:
        return session.get(Subscriber, subscriber_id) is not None


def _back(request: Request, subscriber_id: int, done: str) -> Response:
    return RedirectResponse(f"{prefix(request)}/subscribers/{subscriber_id}?done={done}", status_code=303)


def edit(request: Request) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    if not _exists(state, subscriber_id):
        return not_found(request)
    changes = {
        name: _field(request, name)
        for name in people.EDITABLE
        if request.state.form and name in request.state.form
    }
    try:
        with transaction(state.engine) as session:
            changed = people.edit_profile(
                session, subscriber_id, changes, choices_of(state), actor_of(request), state.clock
            )
    except AudienceError as err:
        return subscriber(request, problem=_sentence(str(err)), status=400)
    return _back(request, subscriber_id, "edited" if changed else "unchanged")


def topics(request: Request) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    if not _exists(state, subscriber_id):
        return not_found(request)
    form = request.state.form
    wanted = [str(v) for v in form.getlist("topic")] if form else []
    known = {t.key for t in topics_of(state)}
    unknown = sorted(set(wanted) - known)
    if unknown:
        return subscriber(
            request, problem=f"Unknown topic {', '.join(unknown)}: reload the page.", status=400
        )
    try:
        with transaction(state.engine) as session:
            added, removed = people.set_topics(session, subscriber_id, wanted, actor_of(request), state.clock)
    except AudienceError as err:
        return subscriber(request, problem=_sentence(str(err)), status=400)
    return _back(request, subscriber_id, "topics" if added or removed else "unchanged")


def suppress(request: Request) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    if not _exists(state, subscriber_id):
        return not_found(request)
    try:
        with transaction(state.engine) as session:
            fresh = people.suppress_subscriber(
                session, subscriber_id, _field(request, "note"), actor_of(request), state.clock
            )
    except AudienceError as err:
        return subscriber(request, problem=_sentence(str(err)), status=400)
    return _back(request, subscriber_id, "suppressed" if fresh else "already")


def export(request: Request) -> Response:
    """Everything held about the person, as a JSON file (admins only: it is all their personal data)."""
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    with transaction(state.engine) as session:
        found = session.get(Subscriber, subscriber_id)
        address = found.email if found is not None else None
    if address is None:
        if found is None:
            return not_found(request)
        return subscriber(
            request, problem="This person was erased: nothing personal is held to export.", status=400
        )
    try:
        with transaction(state.engine) as session:
            data = people.export_for(session, address, actor_of(request), state.clock)
    except NothingHeld:
        return not_found(request)
    body = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return Response(
        body,
        media_type="application/json",
        headers={
            **NO_STORE,
            "Content-Disposition": f'attachment; filename="subscriber-{subscriber_id}.json"',
            "X-Content-Type-Options": "nosniff",
        },
    )


def erase_form(request: Request, problem: str = "", status: int = 200) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    try:
        with transaction(state.engine) as session:
            view = person_view(session, subscriber_id, shown=0)
    except AudienceError:
        return not_found(request)
    return state.render(request, "subscriber_erase.html.j2", status=status, view=view, problem=problem)


def erase(request: Request) -> Response:
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    with transaction(state.engine) as session:
        found = session.get(Subscriber, subscriber_id)
        address = found.email if found is not None else None
    if found is None:
        return not_found(request)
    if address is None:
        return erase_form(request, problem="This person is erased already.", status=400)
    typed = _field(request, "confirm").strip().lower()
    if typed != address.lower():
        problem = f"Nothing was erased: type the address {address} exactly in the box to confirm."
        return erase_form(request, problem=problem, status=400)
    try:
        with transaction(state.engine) as session:
            people.erase_person(session, address, actor_of(request), state.clock)
    except AudienceError as err:
        return erase_form(request, problem=_sentence(str(err)), status=400)
    return _back(request, subscriber_id, "erased")


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


ROUTES = [
    admin_route("/subscribers", subscribers, Role.VIEWER),
    admin_route("/subscribers/{subscriber_id:int}", subscriber, Role.VIEWER),
    admin_route("/subscribers/{subscriber_id:int}/edit", edit, Role.EDITOR, methods=("POST",)),
    admin_route("/subscribers/{subscriber_id:int}/topics", topics, Role.EDITOR, methods=("POST",)),
    admin_route("/subscribers/{subscriber_id:int}/suppress", suppress, Role.ADMIN, methods=("POST",)),
    admin_route("/subscribers/{subscriber_id:int}/export", export, Role.ADMIN, methods=("POST",)),
    admin_route("/subscribers/{subscriber_id:int}/erase", erase_form, Role.ADMIN),
    admin_route(
        "/subscribers/{subscriber_id:int}/erase", erase, Role.ADMIN, methods=("POST",), name="erase_post"
    ),
]
SECTIONS = [("/subscribers", "Subscribers", Role.VIEWER)]

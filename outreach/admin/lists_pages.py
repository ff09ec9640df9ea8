"""Topics and the suppression list.

Topics live in ``lists/topics.yaml``; editors add and rename them here and the file is rewritten
keeping its comments and order (``audience.topics_file``), mirrored into the database and audited.
Everyone reads the suppression list (searchable by the start of an address); admins suppress or
release addresses in bulk by pasting a list, and get an answer for every line.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import actor_of, state_of
from outreach.audience import transaction
from outreach.audience.subscriber_search import find_suppressions
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics
from outreach.errors import AudienceError, OutreachError
from outreach.operations import people
from outreach.operations.topic_edits import save_topic_for

DONE = {
    "topic-added": "The topic is added to lists/topics.yaml. People can choose it from now on.",
    "topic-changed": "The topic is changed in lists/topics.yaml.",
}
MAX_PASTE = 1_000_000  # characters


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def topics(
    request: Request, problem: str = "", status: int = 200, typed: dict[str, str] | None = None
) -> Response:
    state = state_of(request)
    found: tuple[TopicDefinition, ...] = ()
    try:
        found = load_topics(state.config.path("lists") / TOPICS_FILE, f"lists/{TOPICS_FILE}")
    except OutreachError as err:
        problem = problem or f"The topics file cannot be read: {err}"
    return state.render(
        request,
        "topics.html.j2",
        status=status,
        topics=found,
        problem=problem,
        done=DONE.get(request.query_params.get("done", "")),
        typed=typed or {},
    )


def _save(request: Request, new: bool) -> Response:
    state = state_of(request)
    typed = {name: _field(request, name) for name in ("key", "name", "description")}
    definition = TopicDefinition(
        key=typed["key"].strip(),
        name=typed["name"].strip(),
        description=typed["description"].strip(),
        default=_field(request, "default") == "yes",
    )
    try:
        with transaction(state.engine) as session:
            save_topic_for(
                session,
                state.config.path("lists") / TOPICS_FILE,
                definition,
                new=new,
                actor=actor_of(request),
                clock=state.clock,
            )
    except OutreachError as err:
        return topics(request, problem=f"Nothing was saved: {err}", status=400, typed=typed if new else None)
    done = "topic-added" if new else "topic-changed"
    return RedirectResponse(f"{prefix(request)}/topics?done={done}", status_code=303)


def add_topic(request: Request) -> Response:
    return _save(request, new=True)


def edit_topic(request: Request) -> Response:
    return _save(request, new=False)


def suppressions(
    request: Request,
    report: people.BulkReport | None = None,
    problem: str = "",
    status: int = 200,
    **extra: str,
) -> Response:
    state = state_of(request)
    text = request.query_params.get("q", "").strip()[:320]
    page_text = request.query_params.get("page", "")
    page = int(page_text) if page_text.isdigit() and 0 < len(page_text) <= 6 and int(page_text) > 0 else 1
    with transaction(state.engine) as session:
        rows, more = find_suppressions(session, text, page)
    return state.render(
        request,
        "suppressions.html.j2",
        status=status,
        rows=rows,
        more=more,
        page=page,
        q=text,
        report=report,
        problem=problem,
        zone=state.config.time_zone,
        **extra,
    )


def _bulk(request: Request, release: bool) -> Response:
    state = state_of(request)
    pasted = _field(request, "addresses")
    action = "release" if release else "suppress"
    if len(pasted) > MAX_PASTE:
        return suppressions(
            request, problem="That is too much at once: paste at most 10,000 lines.", status=413
        )
    if not pasted.strip():
        return suppressions(request, problem="Paste one address per line, then press the button.", status=400)
    try:
        with transaction(state.engine) as session:
            if release:
                report = people.bulk_release(session, pasted, actor_of(request), state.clock)
            else:
                report = people.bulk_suppress(
                    session, pasted, _field(request, "note"), actor_of(request), state.clock
                )
    except AudienceError as err:
        return suppressions(request, problem=f"Nothing was changed: {err}.", status=400)
    return suppressions(request, report=report, action=action)


def bulk_suppress(request: Request) -> Response:
    return _bulk(request, release=False)


def bulk_release(request: Request) -> Response:
    return _bulk(request, release=True)


ROUTES = [
    admin_route("/topics", topics, Role.VIEWER),
    admin_route("/topics/add", add_topic, Role.EDITOR, methods=("POST",)),
    admin_route("/topics/edit", edit_topic, Role.EDITOR, methods=("POST",)),
    admin_route("/suppressions", suppressions, Role.VIEWER),
    admin_route("/suppressions/add", bulk_suppress, Role.ADMIN, methods=("POST",)),
    admin_route("/suppressions/release", bulk_release, Role.ADMIN, methods=("POST",)),
]
SECTIONS = [("/topics", "Topics", Role.VIEWER), ("/suppressions", "Suppressions", Role.VIEWER)]

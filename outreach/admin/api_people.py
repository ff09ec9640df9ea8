"""The JSON API over people: find subscribers, read one, and keep the suppression list.

The same library calls as the Subscribers and Suppressions pages (``find_subscribers``,
``person_view``, ``find_suppressions``, ``bulk_suppress``/``bulk_release``), so a script and a
person see the same answers. Viewers read; only admins change the suppression list, and every
change is in the audit log as the token's user. Personal data exports stay on the pages (admins,
one person at a time, audited): the API has none.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.api_common import BadBody, answer, bad_body, body_of, iso, problem, text_field
from outreach.admin.routing import admin_route
from outreach.admin.state import actor_of, state_of
from outreach.admin.subscribers_pages import segments_of, today_of, topics_of
from outreach.audience import transaction
from outreach.audience.person_view import person_view
from outreach.audience.schema import SubscriberStatus
from outreach.audience.segments import Rule
from outreach.audience.subscriber_search import (
    MAILABLE,
    MAX_PAGE,
    SubscriberFilter,
    find_subscribers,
    find_suppressions,
)
from outreach.errors import AudienceError
from outreach.operations.people import BulkReport, bulk_release, bulk_suppress

MAX_ITEMS = 1_000  # addresses in one request given as a list (the OpenAPI document says so too)
MAX_ITEM = 320  # characters of one listed address (longer is no address)


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and times as JSON values (times in ISO 8601 with their offset)."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _page(text: str) -> int | None:
    if not text:
        return 1
    if text.isdigit() and 0 < int(text) <= MAX_PAGE:
        return int(text)
    return None


def subscribers(request: Request) -> Response:
    """``GET /api/subscribers?q=&topic=&segment=&status=&language=&page=``: one page, newest first."""
    state = state_of(request)
    params = request.query_params
    asked = {
        name: params.get(name, "").strip()[:200] for name in ("q", "topic", "segment", "status", "language")
    }
    page = _page(params.get("page", ""))
    if page is None:
        return problem(400, f"'page' must be a whole number from 1 to {MAX_PAGE}.", "page")
    statuses = [s.value for s in SubscriberStatus]
    if asked["status"] and asked["status"] not in statuses:
        return problem(
            400, f"There is no status {asked['status']!r}; use one of: {', '.join(statuses)}.", "status"
        )
    if asked["topic"] and asked["topic"] not in {t.key for t in topics_of(state)}:
        return problem(
            400, f"There is no topic {asked['topic']!r}; GET /admin/api/topics lists them.", "topic"
        )
    segment: Rule | str | None = None
    if asked["segment"] == MAILABLE:
        segment = MAILABLE
    elif asked["segment"]:
        segments, trouble = segments_of(state)
        if asked["segment"] not in segments:
            reason = trouble or "GET /admin/api/segments lists them"
            return problem(400, f"There is no segment {asked['segment']!r}; {reason}.", "segment")
        segment = segments[asked["segment"]].rule
    wanted = SubscriberFilter(
        text=asked["q"],
        topic=asked["topic"],
        segment=segment,
        status=asked["status"],
        language=asked["language"],
    )
    with transaction(state.engine) as session:
        found = find_subscribers(session, wanted, today_of(state), page)
    return answer(
        {
            "subscribers": [_plain(row) for row in found.rows],
            "page": found.page,
            "per_page": found.per_page,
            "has_next": found.has_next,
            "total": found.total,
            "total_is_at_least": found.capped,  # the count stops early on a large list
        }
    )


def subscriber(request: Request) -> Response:
    """``GET /api/subscribers/ID``: one person as their page shows them (no export)."""
    state = state_of(request)
    subscriber_id = int(request.path_params["subscriber_id"])
    try:
        with transaction(state.engine) as session:
            found = person_view(session, subscriber_id)
    except AudienceError:
        return problem(404, f"There is no subscriber {subscriber_id}; GET /admin/api/subscribers finds them.")
    return answer(_plain(found))


def suppressions(request: Request) -> Response:
    """``GET /api/suppressions?q=&page=``: the suppression list, newest first."""
    state = state_of(request)
    page = _page(request.query_params.get("page", ""))
    if page is None:
        return problem(400, f"'page' must be a whole number from 1 to {MAX_PAGE}.", "page")
    with transaction(state.engine) as session:
        rows, more = find_suppressions(session, request.query_params.get("q", "")[:200], page)
    return answer({"suppressions": [_plain(row) for row in rows], "page": page, "has_next": more})


def _addresses(body: dict[str, Any]) -> str:
    """``addresses`` as the pages take them: a list of addresses, or one text with one per line."""
    given = body.get("addresses")
    if isinstance(given, list) and all(isinstance(a, str) and len(a) <= MAX_ITEM for a in given):
        if not given or len(given) > MAX_ITEMS:
            raise BadBody("addresses", f"list from 1 to {MAX_ITEMS:,} addresses at a time")
        return "\n".join(" ".join(a.split()) for a in given)  # a blank entry is a blank line, answered
    if isinstance(given, str):
        if not given.strip():
            raise BadBody("addresses", "'addresses' names nobody")
        return given  # the JSON body cap (1 MB) bounds it
    raise BadBody(
        "addresses",
        f"'addresses' must be a list of addresses (each at most {MAX_ITEM}) or a text, one a line",
    )


def _report(done: BulkReport) -> dict[str, Any]:
    return {
        "done": done.count("done"),
        "unchanged": done.count("unchanged"),
        "refused": done.count("refused"),
        "lines": [_plain(line) for line in done.lines],
    }


def suppress(request: Request) -> Response:
    """``POST /api/suppressions/add`` ``{"addresses": [...], "note": "..."}``: every line answered."""
    state = state_of(request)
    try:
        body = body_of(request)
        text = _addresses(body)
        note = text_field(body, "note", required=False)
    except BadBody as err:
        return bad_body(err)
    with transaction(state.engine) as session:
        done = bulk_suppress(session, text, note, actor_of(request), state.clock)
    return answer(_report(done))


def release(request: Request) -> Response:
    """``POST /api/suppressions/release`` ``{"addresses": [...]}``: off the list (not re-subscribed)."""
    state = state_of(request)
    try:
        text = _addresses(body_of(request))
    except BadBody as err:
        return bad_body(err)
    with transaction(state.engine) as session:
        done = bulk_release(session, text, actor_of(request), state.clock)
    return answer(_report(done))


ROUTES = [
    admin_route("/api/subscribers", subscribers, Role.VIEWER, name="api_subscribers"),
    admin_route("/api/subscribers/{subscriber_id:int}", subscriber, Role.VIEWER, name="api_subscriber"),
    admin_route("/api/suppressions", suppressions, Role.VIEWER, name="api_suppressions"),
    admin_route("/api/suppressions/add", suppress, Role.ADMIN, ("POST",), "api_suppress"),
    admin_route("/api/suppressions/release", release, Role.ADMIN, ("POST",), "api_release"),
]

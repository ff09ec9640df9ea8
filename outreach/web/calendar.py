"""``GET /events/<issue>/<event>.ics``: an event card's calendar file, from the published issue.

The issue file is the truth about an event (staff fix a time there, and the next fetch says so); only
a ready issue's events are served, from ``newsletters/`` or ``newsletters/automations/`` (the event
reminder links the same event as the newsletter). Each fetch compares the event's fingerprint with
the one last served (``calendar_events``) and moves SEQUENCE and LAST-MODIFIED on when it changed, so
a calendar app that re-imports the file replaces the entry instead of keeping the old time.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach.audience import transaction
from outreach.config import Config
from outreach.content import read_issue
from outreach.content.walk import every_block
from outreach.errors import OutreachError
from outreach.models import Event, IssueStatus
from outreach.render.calendar import EventVersion, calendar_file, content_digest, uid
from outreach.web.calendar_schema import CalendarEvent
from outreach.web.state import WebState

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,119}$")
AUTOMATIONS = "automations"


def find_event(config: Config, issue_slug: str, key: str) -> Event | None:
    """The event ``key`` of the ready issue ``issue_slug``, as its file says now; None if there is none."""
    if not (_NAME.match(issue_slug) and _NAME.match(key)):
        return None
    folder = config.path("newsletters")
    for path in (folder / f"{issue_slug}.md", folder / AUTOMATIONS / f"{issue_slug}.md"):
        try:
            stat = path.stat()
        except OSError:
            continue
        events = _ready_events(path, stat.st_mtime_ns, stat.st_size, config.time_zone.key)
        return events.get(key)
    return None


@functools.lru_cache(maxsize=64)
def _ready_events(path: Path, mtime: int, size: int, zone: str) -> dict[str, Event]:
    """The dated events of a ready issue, by id; read once per version of the file (a mail just sent
    sends many readers here at once)."""
    del mtime, size  # the cache key: a saved file is read again
    try:
        issue = read_issue(path, ZoneInfo(zone))
    except OutreachError:
        return {}
    if issue.status is not IssueStatus.READY:
        return {}
    return {
        block.key: block
        for block in every_block(issue.blocks)
        if isinstance(block, Event) and block.starts is not None
    }


def event_version(engine: Engine, event_uid: str, digest: str, now: datetime) -> EventVersion:
    """The version of the entry to serve: the stored one while the event is unchanged; the next
    SEQUENCE, changed ``now``, when its fingerprint differs. Safe against two first fetches at once."""
    for _ in range(2):
        try:
            with transaction(engine) as session:
                return _versioned(session, event_uid, digest, now)
        except IntegrityError:  # another request stored the first version in between: read it
            continue
    with transaction(engine) as session:
        return _versioned(session, event_uid, digest, now)


def _versioned(session: Session, event_uid: str, digest: str, now: datetime) -> EventVersion:
    row = session.get(CalendarEvent, event_uid, with_for_update=True)
    if row is None:
        session.add(CalendarEvent(uid=event_uid, digest=digest, sequence=0, changed_at=now))
        session.flush()
        return EventVersion(0, now)
    if row.digest != digest:
        session.execute(
            sa.update(CalendarEvent)
            .where(CalendarEvent.uid == event_uid)
            .values(digest=digest, sequence=CalendarEvent.sequence + 1, changed_at=now)
        )
        session.refresh(row)
    return EventVersion(row.sequence, row.changed_at)


async def event_ics(request: Request) -> Response:
    state: WebState = request.app.state.web
    slug, key = request.path_params["slug"], request.path_params["event"]
    config = state.config

    def build() -> bytes | None:
        event = find_event(config, slug, key)
        if event is None:
            return None
        event_uid = uid(event, config.base_url)
        digest = content_digest(event, config.time_zone)
        version = event_version(state.engine, event_uid, digest, state.clock.now())
        return calendar_file(event, config.time_zone, config.base_url, version)

    body = await run_in_threadpool(build)
    if body is None:
        return state.pages.message(
            404, "No such event", "We could not find that event. It may have been removed from the issue."
        )
    headers = {
        "Content-Disposition": f'attachment; filename="{key}.ics"',
        "Cache-Control": "max-age=300",
    }
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


ROUTES = [Route("/events/{slug}/{event}.ics", event_ics, methods=["GET"])]

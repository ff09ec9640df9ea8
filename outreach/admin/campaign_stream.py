"""A campaign's progress as it sends, as server-sent events (``text/event-stream``).

Every second the stream sends one ``data:`` line of JSON (the ledger's counts, the rate, the time left,
the status) until the campaign stops sending (done, paused, cancelled), and then one last event with
``"finished": true``. ``static/admin.js`` fills the page's ``[data-field]`` elements from it; without
script the page has a refresh link. A stream ends after ``MAX_SECONDS`` and the browser's
``EventSource`` opens a new one by itself (``retry:``), so no connection is held for hours.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from outreach.accounts.schema import Role
from outreach.admin.campaigns_pages import not_found
from outreach.admin.routing import admin_route
from outreach.admin.state import AdminState, state_of
from outreach.audience import transaction
from outreach.errors import DeliveryError
from outreach.operations.progress import Progress, RateMeter, campaign_progress

INTERVAL = 1.0
MAX_SECONDS = 600.0
RETRY_MS = 3000


def _look(state: AdminState, campaign_id: int, meter: RateMeter) -> Progress:
    with transaction(state.engine) as session:
        return campaign_progress(session, campaign_id, state.clock.now(), meter)


def event(progress: Progress) -> str:
    """One server-sent event of the campaign's progress."""
    return f"data: {json.dumps(progress.as_event(), separators=(',', ':'))}\n\n"


async def _events(state: AdminState, first: Progress, meter: RateMeter) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n" + event(first)
    look = first
    ends = time.monotonic() + MAX_SECONDS
    while look.live and time.monotonic() < ends:
        await anyio.sleep(INTERVAL)
        try:
            look = await run_in_threadpool(_look, state, first.campaign_id, meter)
        except DeliveryError:  # the campaign was deleted while watched
            return
        yield event(look)


def progress_stream(request: Request) -> Response:
    state = state_of(request)
    meter = RateMeter()
    try:
        first = _look(state, int(request.path_params["campaign_id"]), meter)
    except DeliveryError:
        return not_found(request)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(state, first, meter), media_type="text/event-stream", headers=headers)


ROUTES = [admin_route("/campaigns/{campaign_id:int}/progress", progress_stream, Role.VIEWER)]

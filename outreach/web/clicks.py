"""``/c/TOKEN``: count a click on one link of one campaign and send the reader on.

Only a URL inside a token we signed is ever a destination, so this is never an open redirect; a
token we did not sign gets a plain 404 page.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from outreach.audience import transaction
from outreach.delivery.tracking import ClickRefused, count_click, read_click_token
from outreach.web.state import WebState


async def follow(request: Request) -> Response:
    state: WebState = request.app.state.web
    try:
        campaign_id, url = read_click_token(state.keys, request.path_params["token"])
    except ClickRefused:
        return state.pages.message(
            404, "This link is not valid", "Please check that the whole link was copied."
        )

    def count() -> None:
        with transaction(state.engine) as session:
            count_click(session, campaign_id, url, state.clock)

    await run_in_threadpool(count)
    return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})


ROUTES = [Route("/c/{token}", follow, methods=["GET"])]

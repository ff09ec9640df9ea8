"""The JSON endpoints: ``POST /api/subscribe`` (the form's behaviour, for other sites' scripts) and
``GET /api/archive``; described in ``openapi.py`` and fuzzed by schemathesis.

The sign-up endpoint only accepts ``application/json``: a page on another site cannot send that
without a CORS preflight, which this service never approves, so it needs no CSRF field.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from outreach.audience import transaction
from outreach.web.archive import ArchivedIssue, archived_issues
from outreach.web.signup import choices_for, validate
from outreach.web.state import WebState, client_ip, user_agent
from outreach.web.subscribe import _topics

ACCEPTED = "If the address can be signed up, a confirmation mail is on its way."


class SubscribeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    email: str = Field(max_length=320)
    first_name: str = Field(default="", max_length=100)
    last_name: str = Field(default="", max_length=100)
    role: str = Field(default="", max_length=100)
    language: str = Field(default="en", max_length=10)
    topics: list[str] = Field(min_length=1, max_length=20)


def _problem(status: int, errors: dict[str, str], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers)


async def subscribe(request: Request) -> Response:
    state: WebState = request.app.state.web
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        return _problem(415, {"body": "send the sign-up as application/json"})
    wait = state.signup_limiter.take(client_ip(request) or "unknown")
    if wait > 0:
        return _problem(
            429,
            {"body": "too many sign-ups from this address; try later"},
            {"Retry-After": str(int(wait) + 1)},
        )
    try:
        document: Any = json.loads(await request.body())
        body = SubscribeRequest.model_validate(document)
    except (ValueError, UnicodeDecodeError) as err:
        if isinstance(err, ValidationError):
            errors = {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in err.errors()}
            return _problem(422, errors)
        return _problem(400, {"body": "the body is not valid JSON"})
    known = {key for key, _, _ in await run_in_threadpool(_topics, state)}
    signup, problems = validate(
        body.email,
        body.first_name,
        body.last_name,
        body.role,
        body.language,
        body.topics,
        known,
        choices_for(state.config),
    )
    if signup is None:
        return _problem(422, problems)
    await run_in_threadpool(state.receive_sign_up, signup, client_ip(request), user_agent(request))
    return JSONResponse({"status": "pending", "message": ACCEPTED}, status_code=202)


def every_language(state: WebState) -> list[ArchivedIssue]:
    """The archive of every language: one entry per issue and edition."""
    with transaction(state.engine) as session:
        return archived_issues(session, state.base_url)


async def archive(request: Request) -> Response:
    state: WebState = request.app.state.web
    issues = await run_in_threadpool(every_language, state)
    return JSONResponse(
        {
            "issues": [
                {
                    "slug": issue.slug,
                    "subject": issue.subject,
                    "sent_at": issue.sent_at.isoformat(),
                    "url": f"{state.base_url}{state.pages.archive_path(issue.language)}/{issue.slug}",
                    "language": issue.language,
                }
                for issue in issues
            ]
        }
    )


ROUTES = [
    Route("/api/subscribe", subscribe, methods=["POST"]),
    Route("/api/archive", archive, methods=["GET"]),
]

"""What the JSON API's handlers share: answers, errors that say what to do, and reading a JSON body.

Every answer is JSON with ``Cache-Control: no-store`` (it may hold figures or addresses); an error is
``{"error": "..."}`` with the sentence the page would show, and for a field, ``"field": name``. The
role and the token were checked before a handler runs (``outreach.admin.routing``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store"}


def answer(data: Mapping[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(dict(data), status_code=status, headers=NO_STORE)


def problem(status: int, message: str, field: str | None = None) -> JSONResponse:
    """An error people can act on: what went wrong and what to do."""
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=NO_STORE)


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class BadBody(ValueError):
    """The JSON body lacks a field or has one of the wrong kind; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def body_of(request: Request) -> dict[str, Any]:
    """The request's JSON object (an empty one when no body was sent)."""
    found = request.state.json
    if found is None:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() not in (
            "",
            "application/json",
        ):
            raise BadBody("body", "send the request body as application/json")
        return {}
    if not isinstance(found, dict):
        raise BadBody("body", 'the body must be a JSON object, for example {"recipients": 120}')
    return found


def whole_number(body: Mapping[str, Any], name: str) -> int:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadBody(name, f"{name!r} must be a whole number of 0 or more, as in the plan")
    return value


def text_field(body: Mapping[str, Any], name: str, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value):
        raise BadBody(name, f"{name!r} must be a string, as given by the plan")
    return value


def flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise BadBody(name, f"{name!r} must be true or false")
    return value


def bad_body(err: BadBody) -> JSONResponse:
    return problem(422, str(err), err.field)

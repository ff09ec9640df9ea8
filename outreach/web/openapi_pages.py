"""The OpenAPI description of the service's pages and form posts (beside the JSON API of ``openapi``).

Browsers, not scripts, use these routes; they are described so that the RFC 8058 one-click endpoint
is documented for mail providers, and so that schemathesis can send every route what it likes and
check that nothing answers with a server error or an undocumented status or content type.
"""

from __future__ import annotations

from typing import Any

HTML = "text/html"
BUSY = "The database is busy; try again (see Retry-After)."
REFUSED = "The body cannot be read: malformed, too deeply nested, or holding NUL."


def _answers(media_type: str, **described: str) -> dict[str, Any]:
    """Responses by status; ``_302`` style keys are written ``s302``."""
    answers = {
        key.removeprefix("s"): {"description": text, "content": {media_type: {"schema": {"type": "string"}}}}
        for key, text in described.items()
    }
    answers.setdefault("503", {"description": BUSY, "content": {HTML: {"schema": {"type": "string"}}}})
    return answers


def _page(summary: str, media_type: str = HTML, **described: str) -> dict[str, Any]:
    return {"get": {"summary": summary, "responses": _answers(media_type, s200="The page.", **described)}}


def _form(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    # Fields we do not know are ignored; describing none keeps generated examples to real forms.
    schema: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = list(required)
    return {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {"schema": schema},
            "multipart/form-data": {"schema": schema},
        },
    }


def _post(summary: str, body: dict[str, Any], **described: str) -> dict[str, Any]:
    answers = _answers(HTML, s400=REFUSED, s413="The body is larger than 64 KB.", **described)
    return {"summary": summary, "requestBody": body, "responses": answers}


NO_NUL = r"^[^\x00]*$"
ONE_LINE = r"^[^\x00-\x1f]*$"  # names: no control characters


def text(limit: int, **more: Any) -> dict[str, Any]:
    """A text field: no NUL character (refused with 400 before any handler sees it)."""
    return {"type": "string", "maxLength": limit, "pattern": NO_NUL, **more}


TEXT = text(320)
CSRF = {"csrf": text(500)}
TOKEN = [{"name": "token", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 400}}]
SIGN_UP = {
    **CSRF,
    "email": TEXT,
    "first_name": TEXT,
    "last_name": TEXT,
    "role": TEXT,
    "language": text(10),
    "topics": {"type": "array", "items": text(64), "maxItems": 20},
    "website": text(200, description="the honeypot: left empty by people"),
    "embed": {"type": "string", "enum": ["", "1"]},
}
PREFERENCES = {**SIGN_UP, "action": {"type": "string", "enum": ["save", "leave"]}}
ONE_CLICK = {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}}

PAGE_PATHS: dict[str, Any] = {
    "/": _page("The sign-up form."),
    "/subscribe": {
        **_page("The sign-up form."),
        "post": _post(
            "Sign up (double opt-in); the same answer whatever the address.",
            _form(SIGN_UP),
            s200="Please check your inbox.",
            s403="The form's CSRF field is missing or old, or the post came from another site.",
            s429="Too many sign-ups from this client; see Retry-After.",
        ),
    },
    "/embed": _page("The sign-up form, compact, framable by the organisation's website."),
    "/embed/snippet": _page("The HTML to paste into the website.", "text/plain"),
    "/confirm/{token}": {
        "parameters": TOKEN,
        **_page(
            "A page with one button that confirms.", s404="Not a valid link.", s410="Expired or replaced."
        ),
        "post": _post(
            "Confirm the sign-up.",
            _form(CSRF),
            s200="Subscribed.",
            s403="The CSRF field is missing or old, or the post came from another site.",
            s404="Not a valid link.",
            s410="Expired or replaced.",
        ),
    },
    "/u/{token}": {
        "parameters": TOKEN,
        **_page("A page with an unsubscribe button; never unsubscribes by itself.", s404="Not a valid link."),
        "post": _post(
            "RFC 8058 one-click unsubscribe: no cookie, login, CSRF field or redirect; idempotent.",
            _form(ONE_CLICK, ("List-Unsubscribe",)),
            s200="Unsubscribed.",
            s404="Not a valid link.",
        ),
    },
    "/u/{token}/leave": {
        "parameters": TOKEN,
        "post": _post(
            "The unsubscribe page's button.",
            _form(CSRF),
            s200="Unsubscribed.",
            s403="The CSRF field is missing or old, or the post came from another site.",
            s404="Not a valid link.",
        ),
    },
    "/p/{token}": {
        "parameters": TOKEN,
        **_page("The preference centre.", s404="Not a valid link."),
        "post": _post(
            "Save the preferences, or unsubscribe from everything (action=leave).",
            _form(PREFERENCES),
            s200="Saved.",
            s403="The CSRF field is missing or old, or the post came from another site.",
            s404="Not a valid link.",
            s409="The subscriber has left; only leaving is possible.",
        ),
    },
    "/archive": _page("The sent issues."),
    "/archive/rss.xml": _page("RSS feed of the sent issues.", "application/rss+xml"),
    "/archive/atom.xml": _page("Atom feed of the sent issues.", "application/atom+xml"),
    "/archive/{slug}": {
        "parameters": [{"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}}],
        **_page("One sent issue's web version.", s404="No such issue."),
    },
    "/manage": _page("Where the archive's personal links lead: use the links in your mail."),
    "/events/{slug}/{event}.ics": {
        "parameters": [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "event", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "get": {
            "summary": "An event card's calendar file (RFC 5545).",
            "responses": {
                **_answers("text/calendar", s200="The calendar file."),
                **_answers(HTML, s404="No such event."),
            },
        },
    },
    "/c/{token}": {
        "parameters": TOKEN,
        "get": {
            "summary": "Count a click and go on to the link inside the signed token.",
            "responses": {
                "302": {"description": "To the link's destination."},
                **_answers(HTML, s404="Not a valid link."),
            },
        },
    },
    "/static/site.css": _page("The stylesheet (colours from [brand]).", "text/css"),
    "/healthz": _page("A liveness probe.", "text/plain"),
}

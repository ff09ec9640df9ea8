"""The OpenAPI 3.0 document of the JSON endpoints and the pages, written by hand (no framework
generates it; the pages' part is in ``openapi_pages``).

The webhook endpoints of ``outreach.web.webhooks`` add their paths through ``WEBHOOK_OPENAPI``, merged
in by ``document``: either a mapping of paths (``{"/webhooks/ses": {...}}``) or one with ``paths`` and
``components``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from outreach.web.openapi_pages import ONE_LINE, PAGE_PATHS, text

ERRORS = {
    "type": "object",
    "required": ["errors"],
    "properties": {"errors": {"type": "object", "additionalProperties": {"type": "string"}}},
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}},
    }


BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "outreach subscriber service",
        "version": "1",
        "description": "Sign-up (double opt-in), unsubscribe (RFC 8058 one-click), preferences and "
        "the archive of sent issues.",
    },
    "paths": {
        "/api/subscribe": {
            "post": {
                "summary": "Sign an address up; a confirmation mail follows. The answer never says "
                "whether the address was known.",
                "operationId": "subscribe",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SignUp"}}},
                },
                "responses": {
                    "202": {
                        "description": "Accepted: a confirmation mail is sent if the address can sign up.",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}
                        },
                    },
                    "400": _error("The body is not JSON."),
                    "413": _error("The body is larger than 64 KB."),
                    "415": _error("The body is not application/json."),
                    "422": _error("A field is missing or not valid; errors are keyed by field."),
                    "429": _error("Too many sign-ups from this client; see Retry-After."),
                    "503": _error("The database is busy; try again (see Retry-After)."),
                },
            }
        },
        "/api/archive": {
            "get": {
                "summary": "The sent issues, newest first.",
                "operationId": "archive",
                "responses": {
                    "200": {
                        "description": "The archive.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Archive"}}},
                    },
                    "503": _error("The database is busy; try again (see Retry-After)."),
                },
            }
        },
    },
    "components": {
        "schemas": {
            "SignUp": {
                "type": "object",
                "additionalProperties": False,
                "required": ["email", "topics"],
                "properties": {
                    "email": text(320, format="email"),
                    # Control characters are accepted and removed (names are cleaned, never refused).
                    "first_name": text(100),
                    "last_name": text(100),
                    "role": text(100, pattern=ONE_LINE),
                    "language": text(35, pattern=ONE_LINE),
                    "topics": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": text(50),
                    },
                },
            },
            "Accepted": {
                "type": "object",
                "required": ["status", "message"],
                "properties": {
                    "status": {"type": "string", "enum": ["pending"]},
                    "message": {"type": "string"},
                },
            },
            "Errors": ERRORS,
            "Archive": {
                "type": "object",
                "required": ["issues"],
                "properties": {
                    "issues": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["slug", "subject", "sent_at", "url"],
                            "properties": {
                                "slug": {"type": "string"},
                                "subject": {"type": "string"},
                                "sent_at": {"type": "string", "format": "date-time"},
                                "url": {"type": "string"},
                                "language": {"type": "string"},
                            },
                        },
                    }
                },
            },
        }
    },
}


def document(
    extra: Mapping[str, Any] | None = None,
    topics: Sequence[str] = (),
    roles: Sequence[str] = (),
    languages: Sequence[str] = (),
) -> dict[str, Any]:
    """The document (the JSON API and the pages), with another module's paths and components merged in;
    ``topics``, ``roles`` and ``languages``, when known, are the site's own lists (outreach.toml)."""
    merged = copy.deepcopy(BASE)
    merged["paths"].update(copy.deepcopy(PAGE_PATHS))
    sign_up = merged["components"]["schemas"]["SignUp"]["properties"]
    if topics:
        sign_up["topics"]["items"]["enum"] = list(topics)
    if roles:
        sign_up["role"] = {"type": "string", "enum": ["", *roles]}
    if languages:
        sign_up["language"] = {"type": "string", "enum": list(languages)}
    if extra and "paths" not in extra:
        extra = {"paths": extra}
    if extra:
        merged["paths"].update(copy.deepcopy(dict(extra.get("paths", {}))))
        for section, items in dict(extra.get("components", {})).items():
            merged["components"].setdefault(section, {}).update(copy.deepcopy(dict(items)))
    return merged

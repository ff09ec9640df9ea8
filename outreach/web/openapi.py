"""The OpenAPI 3.0 document of the JSON endpoints, written by hand (no framework generates it).

The webhook endpoints of ``outreach.web.webhooks`` add their paths through ``WEBHOOK_OPENAPI``, merged
in by ``document``: either a mapping of paths (``{"/webhooks/ses": {...}}``) or one with ``paths`` and
``components``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

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


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


BASE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "outreach subscriber service",
        "version": "1",
        "description": "Sign-up (double opt-in) and the archive of sent issues.",
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
                    "413": _html("The body is larger than 64 KB."),
                    "415": _error("The body is not application/json."),
                    "422": _error("A field is missing or not valid; errors are keyed by field."),
                    "429": _error("Too many sign-ups from this client; see Retry-After."),
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
                    }
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
                    "email": {"type": "string", "format": "email", "maxLength": 320},
                    "first_name": {"type": "string", "maxLength": 100},
                    "last_name": {"type": "string", "maxLength": 100},
                    "role": {"type": "string", "maxLength": 100},
                    "language": {"type": "string", "enum": ["en", "es"]},
                    "topics": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 20,
                        "items": {"type": "string", "maxLength": 50},
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
                            },
                        },
                    }
                },
            },
        }
    },
}


def document(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document, with another module's paths and components merged in."""
    merged = copy.deepcopy(BASE)
    if extra and "paths" not in extra:
        extra = {"paths": extra}
    if extra:
        merged["paths"].update(copy.deepcopy(dict(extra.get("paths", {}))))
        for section, items in dict(extra.get("components", {})).items():
            merged["components"].setdefault(section, {}).update(copy.deepcopy(dict(items)))
    return merged

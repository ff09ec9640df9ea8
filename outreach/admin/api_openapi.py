"""The OpenAPI 3.1 document of the admin JSON API, written by hand, served at ``/admin/api/openapi.json``.

The document is the contract the schemathesis tests hold the API to (every answer, errors included,
must match it). Each operation says the role it needs (``x-role``) and its token is a bearer token made
on the Account page or with ``outreach users token create``.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.api_common import answer
from outreach.admin.routing import admin_route

STRING = {"type": "string"}
INT = {"type": "integer", "minimum": 0}
WHEN = {"type": ["string", "null"], "format": "date-time"}
COUNTS = {"type": "object", "additionalProperties": {"type": "integer"}}


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(properties) if required is None else required,
        "properties": properties,
    }


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


COMMON_ERRORS = {
    "401": _error("No token, or a token that is revoked or unknown."),
    "403": _error("The token's role is below the one this needs."),
}
BODY_ERRORS = {
    "400": _error("The body could not be read as JSON."),
    "413": _error("The body is larger than 1 MB."),
    "422": _error("A field is missing or of the wrong kind; 'field' names it."),
}
CAMPAIGN_ID = {"name": "campaign_id", "in": "path", "required": True, "schema": {"type": "integer"}}
SLUG = {"name": "slug", "in": "path", "required": True, "schema": STRING}


def _get(
    op: str, summary: str, role: str, ok: dict[str, Any], params: list[Any] | None = None, **errors: str
) -> dict[str, Any]:
    responses = {"200": _json(ok, "OK"), **COMMON_ERRORS}
    responses.update({code.lstrip("e"): _error(text) for code, text in errors.items()})
    return {
        "get": {
            "operationId": op,
            "summary": summary,
            "x-role": role,
            "parameters": params or [],
            "responses": responses,
        }
    }


def _post(
    op: str,
    summary: str,
    role: str,
    status: str,
    ok: dict[str, Any],
    params: list[Any],
    body: dict[str, Any] | None = None,
    **errors: str,
) -> dict[str, Any]:
    responses = {status: _json(ok, "Done"), **COMMON_ERRORS}
    if body is not None:
        responses.update(BODY_ERRORS)
    responses.update({code.lstrip("e"): _error(text) for code, text in errors.items()})
    operation: dict[str, Any] = {
        "operationId": op,
        "summary": summary,
        "x-role": role,
        "parameters": params,
        "responses": responses,
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return {"post": operation}


CAMPAIGN_LINE = _obj(
    {
        "id": {"type": "integer"},
        "issue": STRING,
        "subject": STRING,
        "status": STRING,
        "created_at": WHEN,
        "started_at": WHEN,
        "send_at": WHEN,
        "recipients": INT,
        "sent": INT,
    }
)
CAMPAIGN = _obj(
    {
        "id": {"type": "integer"},
        "issue": STRING,
        "subject": STRING,
        "status": STRING,
        "transport": STRING,
        "created_at": WHEN,
        "send_at": WHEN,
        "started_at": WHEN,
        "finished_at": WHEN,
        "pause_reason": STRING,
    }
)
PROGRESS = _obj(
    {
        "campaign": {"type": "integer"},
        "status": STRING,
        "pause_reason": STRING,
        "counts": COUNTS,
        "total": INT,
        "done": INT,
        "percent": {"type": "integer", "minimum": 0, "maximum": 100},
        "per_minute": {"type": ["number", "null"]},
        "seconds_left": {"type": ["number", "null"]},
        "finished": {"type": "boolean"},
        "at": WHEN,
    }
)
CAMPAIGN_DETAIL = {
    "allOf": [
        _ref("Campaign"),
        _obj(
            {
                "audience": STRING,
                "progress": _ref("Progress"),
                "reasons": {
                    "type": "array",
                    "items": _obj({"state": STRING, "reason": STRING, "count": INT}),
                },
                "history": {"type": "array", "items": _obj({"at": WHEN, "kind": STRING, "detail": STRING})},
            }
        ),
    ]
}
FIGURES = _obj(
    {
        "id": {"type": "integer"},
        "issue": STRING,
        "subject": STRING,
        "status": STRING,
        "transport": STRING,
        "recipients": COUNTS,
        "refused_while_sending": INT,
        "events": COUNTS,
        "links": {"type": "array", "items": _obj({"url": STRING, "clicks": INT})},
    }
)
REPORT = {
    "allOf": [
        _ref("Figures"),
        _obj(
            {
                "figures": {
                    "type": "array",
                    "items": _obj({"name": STRING, "count": INT, "rate": {"type": ["number", "null"]}}),
                },
                "over_time": _obj(
                    {
                        "labels": {"type": "array", "items": STRING},
                        "starts": {"type": "array", "items": STRING},
                        "counts": {"type": "object", "additionalProperties": {"type": "array", "items": INT}},
                    }
                ),
                "editions": {"type": "array", "items": _ref("Figures")},
                "created_at": WHEN,
                "started_at": WHEN,
                "finished_at": WHEN,
                "made_at": WHEN,
            }
        ),
    ]
}
FINDING = _obj(
    {
        "code": STRING,
        "severity": {"type": "string", "enum": ["error", "warning"]},
        "message": STRING,
        "path": STRING,
        "line": {"type": ["integer", "null"]},
    }
)
DASHBOARD = _obj(
    {
        "as_of": WHEN,
        "subscribers": _obj(
            {
                "total": INT,
                "active": INT,
                "by_status": COUNTS,
                "by_topic": {
                    "type": "array",
                    "items": _obj({"topic": STRING, "name": STRING, "active": INT}),
                },
                "by_language": {"type": "array", "items": _obj({"language": STRING, "active": INT})},
            }
        ),
        "growth": _obj(
            {
                "weeks": {"type": "array", "items": {"type": "string", "format": "date"}},
                **{
                    name: {"type": "array", "items": INT}
                    for name in ("signups", "confirmations", "unsubscribes", "bounces")
                },
            }
        ),
        "campaigns": {"type": "array", "items": _ref("CampaignLine")},
        "scheduled": {"type": "array", "items": _ref("CampaignLine")},
        "health": {
            "type": "array",
            "items": _obj(
                {
                    "what": STRING,
                    "level": {"type": "string", "enum": ["good", "watch", "bad"]},
                    "count": INT,
                    "sent": INT,
                    "rate": {"type": "number", "minimum": 0},
                    "words": STRING,
                }
            ),
        },
    }
)
PLAN = _obj(
    {
        "issue": STRING,
        "subject": STRING,
        "cleared": {"type": "boolean"},
        "refusals": {"type": "array", "items": STRING},
        "notes": {"type": "array", "items": STRING},
        "warnings": {"type": "array", "items": _obj({"where": STRING, "message": STRING})},
        "recipients": INT,
        "excluded": COUNTS,
        "audience": _obj(
            {"topics": {"type": "array", "items": STRING}, "segments": {"type": "array", "items": STRING}}
        ),
        "transport": STRING,
        "goes": STRING,
        "rate": STRING,
        "concurrency": INT,
        "scheduling": {"type": "boolean"},
        "send_at": WHEN,
        "spam_score": {"type": ["number", "null"]},
        "content": {"type": ["string", "null"], "description": "Repeat it in POST .../send."},
    }
)
REFUSED = _obj({"issue": STRING, "cleared": {"const": False}, "refusals": {"type": "array", "items": STRING}})
NOT_SENT = _obj({"error": STRING, "refusals": {"type": "array", "items": STRING}})
STEERED = _obj({"campaign": {"type": "integer"}, "status": STRING, "moved": INT})
NOT_FOUND_CAMPAIGN = {"e404": "There is no such campaign."}
CHANGE_REFUSED = "The campaign is not in a state that allows this (the message says why)."

PATHS: dict[str, Any] = {
    "/api/dashboard": _get(
        "dashboard", "The dashboard's figures (kept for a minute).", "viewer", _ref("Dashboard")
    ),
    "/api/issues": _get(
        "issues",
        "Every issue file, newest first, with its status and counts of findings.",
        "viewer",
        _obj(
            {
                "issues": {
                    "type": "array",
                    "items": _obj(
                        {
                            "slug": STRING,
                            "file": STRING,
                            "subject": STRING,
                            "date": {"type": ["string", "null"], "format": "date"},
                            "status": STRING,
                            "send_at": WHEN,
                            "errors": INT,
                            "warnings": INT,
                        }
                    ),
                }
            }
        ),
    ),
    "/api/issues/{slug}": _get(
        "issue",
        "One issue's check findings, or the problems that stop it from rendering.",
        "viewer",
        _obj(
            {
                "slug": STRING,
                "file": STRING,
                "subject": {"type": ["string", "null"]},
                "rendered": {"type": "boolean"},
                "problems": {"type": "array", "items": _obj({"where": STRING, "message": STRING})},
                "html_bytes": {"type": ["integer", "null"]},
                "findings": {"type": "array", "items": FINDING},
            }
        ),
        [SLUG],
        e404="There is no such issue.",
    ),
    "/api/issues/{slug}/plan": {
        "get": {
            **_get("plan", "", "admin", _ref("Plan"))["get"],
            "summary": "What a send would do now: recipients, who is left out and why, the gate's refusals.",
            "parameters": [
                SLUG,
                {
                    "name": "now",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "enum": ["1"]},
                    "description": "Plan sending now, before the issue's send_at.",
                },
            ],
            "responses": {
                "200": _json(_ref("Plan"), "The plan ('cleared' says whether it may go)."),
                **COMMON_ERRORS,
                "400": _error("'now' is neither left out nor 1."),
                "404": _error("There is no such issue."),
                "409": _json(REFUSED, "The issue cannot be sent: the refusals say why."),
            },
        }
    },
    "/api/issues/{slug}/test-copy": _post(
        "test_copy",
        "Send a [TEST] copy to the token's own user (editors and admins).",
        "editor",
        "200",
        _obj({"to": STRING, "outcome": STRING}),
        [SLUG],
        e404="There is no such issue.",
        e409="The issue cannot be rendered; the message says why.",
        e502="The transport did not take the message.",
    ),
    "/api/issues/{slug}/send": {
        "post": {
            **_post(
                "send",
                "Send now to the plan's recipients; the campaign is sent by the app.",
                "admin",
                "202",
                _obj({"campaign": {"type": "integer"}, "status": STRING, "recipients": INT}),
                [SLUG],
                _obj(
                    {
                        "recipients": {**INT, "description": "The plan's 'recipients'."},
                        "content": {"type": "string", "minLength": 1, "description": "The plan's 'content'."},
                        "now": {"type": "boolean", "description": "Send before the issue's send_at."},
                    },
                    ["recipients", "content"],
                ),
                e404="There is no such issue.",
            )["post"],
        }
    },
    "/api/issues/{slug}/schedule": _post(
        "schedule",
        "Schedule the issue for its send_at (the scheduler sends it).",
        "admin",
        "201",
        _obj({"campaign": {"type": "integer"}, "status": STRING, "send_at": STRING}),
        [SLUG],
        _obj({"send_at": {"type": "string", "format": "date-time", "description": "The plan's 'send_at'."}}),
        e404="There is no such issue.",
        e409="It cannot be scheduled (the issue changed, is refused, or has no send_at).",
    ),
    "/api/campaigns": _get(
        "campaigns",
        "Campaigns, newest first, a page at a time.",
        "viewer",
        _obj(
            {"campaigns": {"type": "array", "items": _ref("Campaign")}, "more": {"type": ["integer", "null"]}}
        ),
        [
            {
                "name": "before",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "The 'more' of the previous page.",
            }
        ],
        e400="'before' is not a campaign id.",
    ),
    "/api/campaigns/{campaign_id}": _get(
        "campaign",
        "One campaign: its progress, reasons and history.",
        "viewer",
        _ref("CampaignDetail"),
        [CAMPAIGN_ID],
        **NOT_FOUND_CAMPAIGN,
    ),
    "/api/campaigns/{campaign_id}/progress": _get(
        "progress",
        "The ledger's counts now.",
        "viewer",
        _ref("Progress"),
        [CAMPAIGN_ID],
        **NOT_FOUND_CAMPAIGN,
    ),
    "/api/campaigns/{campaign_id}/report": _get(
        "report",
        "The report's figures, rates and timeline.",
        "viewer",
        _ref("Report"),
        [CAMPAIGN_ID],
        **NOT_FOUND_CAMPAIGN,
    ),
    **{
        f"/api/campaigns/{{campaign_id}}/{how}": _post(
            how.replace("-", "_"),
            summary,
            "admin",
            "200",
            _ref("Steered"),
            [CAMPAIGN_ID],
            e404="There is no such campaign.",
            e409=CHANGE_REFUSED,
        )
        for how, summary in (
            ("pause", "Pause a sending campaign: nothing more goes out until it is resumed."),
            ("resume", "Resume a paused campaign; the app sends it."),
            ("cancel", "Cancel a campaign: the people not yet sent to will not get it."),
            ("retry-failed", "Queue the recipients that failed for a passing reason again."),
        )
    },
    "/api/topics": _get(
        "topics",
        "The topics of lists/topics.yaml.",
        "viewer",
        _obj(
            {
                "topics": {
                    "type": "array",
                    "items": _obj(
                        {"key": STRING, "name": STRING, "description": STRING, "default": {"type": "boolean"}}
                    ),
                }
            }
        ),
        e409="The topics file cannot be read.",
    ),
    "/api/segments": _get(
        "segments",
        "The segments of lists/segments.yaml (and the built-in 'all'), with their rules in words.",
        "viewer",
        _obj(
            {
                "segments": {
                    "type": "array",
                    "items": _obj({"name": STRING, "description": STRING, "in_words": STRING}),
                }
            }
        ),
        e409="The segments file cannot be read.",
    ),
    "/api/segments/{name}/count": _get(
        "segment_count",
        "How many subscribers match the segment, and how many of them may be mailed.",
        "viewer",
        _obj({"segment": STRING, "matching": INT, "mailable": INT}),
        [{"name": "name", "in": "path", "required": True, "schema": STRING}],
        e404="There is no such segment.",
        e409="The segments file cannot be read.",
    ),
    "/api/audit": _get(
        "audit",
        "The audit log, newest first, a page of 100 at a time.",
        "admin",
        _obj(
            {
                "entries": {
                    "type": "array",
                    "items": _obj(
                        {
                            "id": {"type": "integer"},
                            "at": WHEN,
                            "actor": STRING,
                            "via": STRING,
                            "origin": STRING,
                            "action": STRING,
                            "target": STRING,
                            "detail": {"type": "object"},
                        }
                    ),
                },
                "more": {"type": ["integer", "null"]},
            }
        ),
        [
            {
                "name": "since",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "format": "date"},
                "description": "Only entries on or after this day (YYYY-MM-DD, the site's time zone).",
            },
            {
                "name": "before",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "pattern": "^[0-9]+$"},
                "description": "The 'more' of the previous page.",
            },
        ],
        e400="'since' or 'before' is not valid; the message says how to write it.",
    ),
}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema or STRING,
        "description": description,
    }


PAGE = _query("page", "Which page, from 1 (50 a page).", {"type": "integer", "minimum": 1, "maximum": 100000})
LISTED = _obj(
    {
        "id": {"type": "integer"},
        "email": {"type": ["string", "null"]},
        "first_name": STRING,
        "last_name": STRING,
        "organisation": STRING,
        "role": STRING,
        "language": STRING,
        "status": STRING,
    }
)
BULK_REPORT = _obj(
    {
        "done": INT,
        "unchanged": INT,
        "refused": INT,
        "lines": {
            "type": "array",
            "items": _obj(
                {"line": {"type": "integer"}, "given": STRING, "outcome": STRING, "message": STRING}
            ),
        },
    }
)
ADDRESS_LIST = {
    "oneOf": [
        {"type": "array", "minItems": 1, "maxItems": 1000, "items": {"type": "string", "maxLength": 320}},
        {"type": "string", "pattern": "\\S"},
    ],
    "description": "A list of addresses, or a text with one address per line ('address, anything').",
}
ADDRESSES = _obj({"addresses": ADDRESS_LIST, "note": STRING}, ["addresses"])
RELEASED = _obj({"addresses": ADDRESS_LIST}, ["addresses"])
PATHS.update(
    {
        "/api/subscribers": _get(
            "subscribers",
            "Find subscribers: by the start of an address, name or organisation, narrowed by topic, "
            "segment, status and language; newest first, a page of 50.",
            "viewer",
            _obj(
                {
                    "subscribers": {"type": "array", "items": LISTED},
                    "page": {"type": "integer"},
                    "per_page": {"type": "integer"},
                    "has_next": {"type": "boolean"},
                    "total": INT,
                    "total_is_at_least": {"type": "boolean"},
                }
            ),
            [
                _query("q", "Words each matching the start of the address, a name or the organisation."),
                _query("topic", "A topic key (GET /admin/api/topics)."),
                _query("segment", "A segment name (GET /admin/api/segments), or 'all'."),
                _query(
                    "status", "active, unconfirmed, unsubscribed, bounced, complained, erased or contact."
                ),
                _query("language", "A language key, e.g. es."),
                PAGE,
            ],
            e400="A filter names a topic, segment, status or page that does not exist.",
        ),
        "/api/subscribers/{subscriber_id}": _get(
            "subscriber",
            "One subscriber: profile, topics, tags, suppression, consent log, deliveries and events.",
            "viewer",
            {"type": "object"},
            [{"name": "subscriber_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            e404="There is no such subscriber.",
        ),
        "/api/suppressions": _get(
            "suppressions",
            "The suppression list, newest first, a page of 50.",
            "viewer",
            _obj(
                {
                    "suppressions": {
                        "type": "array",
                        "items": _obj(
                            {
                                "email": {"type": ["string", "null"]},
                                "email_hash": STRING,
                                "reason": STRING,
                                "note": STRING,
                                "created_at": WHEN,
                            }
                        ),
                    },
                    "page": {"type": "integer"},
                    "has_next": {"type": "boolean"},
                }
            ),
            [_query("q", "The start of an address."), PAGE],
            e400="'page' is not a page number.",
        ),
        "/api/suppressions/add": _post(
            "suppress",
            "Suppress addresses: each line is answered (done, unchanged or refused and why).",
            "admin",
            "200",
            BULK_REPORT,
            [],
            ADDRESSES,
        ),
        "/api/suppressions/release": _post(
            "release",
            "Take addresses off the suppression list (erased people stay on it; nobody is re-subscribed).",
            "admin",
            "200",
            BULK_REPORT,
            [],
            RELEASED,
        ),
    }
)

# The send's own 409 carries the gate's refusals when there are some.
PATHS["/api/issues/{slug}/send"]["post"]["responses"]["409"] = _json(
    {"oneOf": [_ref("Error"), NOT_SENT]},
    "Nothing was sent: refused, changed since the plan, or another count.",
)

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "outreach admin API",
        "version": "1",
        "description": "The admin app's operations for scripts: figures, issues and their checks, the send "
        "plan, test copies, sending and scheduling, campaigns and their reports, segments, topics and the "
        "audit log. Authenticate with 'Authorization: Bearer otk_...' (a token from the Account page or "
        "'outreach users token create'); each operation needs the role in its 'x-role'. Every change is "
        "written to the audit log as the token's user, via api.",
    },
    "servers": [{"url": "/admin"}],
    "security": [{"token": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer", "bearerFormat": "otk_..."}},
        "schemas": {
            "Error": _obj({"error": STRING, "field": STRING}, ["error"]),
            "Dashboard": DASHBOARD,
            "CampaignLine": CAMPAIGN_LINE,
            "Campaign": CAMPAIGN,
            "CampaignDetail": CAMPAIGN_DETAIL,
            "Progress": PROGRESS,
            "Figures": FIGURES,
            "Report": REPORT,
            "Plan": PLAN,
            "Steered": STEERED,
        },
    },
}


def document(root: str = "/admin") -> dict[str, Any]:
    """The document, its server being where the admin app is mounted."""
    found = copy.deepcopy(DOCUMENT)
    found["servers"] = [{"url": root or "/"}]
    return found


def openapi_json(request: Request) -> Response:
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return answer(document(root))


# Behind sign-in like the rest: the document holds no data, but a public listener need not map the API.
ROUTES = [admin_route("/api/openapi.json", openapi_json, Role.VIEWER, name="api_openapi")]

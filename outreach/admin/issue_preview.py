"""The rendered issue itself, for the preview frames of the issue page: HTML, text and .eml.

The mail's HTML is the issue's (and the layouts'), not the app's, so it is served with a policy of
its own: its inline styles and remote images may load, nothing may run (no script, no form, no
plugin), it may only be framed by the admin app's own pages, and it is sandboxed: a link opens in a
new tab, never inside the app. The admin pages' policy (``ADMIN_CSP``) forbids all of that inline
style, so the mail could not be shown under it; the app's pages could not be kept safe under this one.
"""

from __future__ import annotations

import re

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.issue_desk import desk_of
from outreach.admin.issues_pages import issue_path, not_found
from outreach.admin.routing import admin_route
from outreach.operations.sample import Failure, Rendered, SampleMail

MAIL_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; font-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox allow-same-origin"
)
MAIL_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": MAIL_CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

_PROBLEMS = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>This issue needs a fix</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; color: #a12a1a; padding: 16px;">
<h1 style="font-size: 18px;">This issue can't be shown yet</h1>
<ul>{% for p in failure.problems %}
<li>{% if p.where %}<code>{{ p.where }}</code>: {% endif %}{{ p.message }}</li>
{% endfor %}</ul>
</body></html>
"""
)


def _rendered(request: Request) -> Rendered | None:
    path = issue_path(request)
    if path is None:
        return None
    return desk_of(request).preview(request, path).current()


def _problem_text(failure: Failure) -> str:
    lines = [f"{p.where}: {p.message}" if p.where else p.message for p in failure.problems]
    return "\n".join(["This issue can't be shown yet:", *lines]) + "\n"


def mail_html(request: Request) -> Response:
    rendered = _rendered(request)
    if rendered is None:
        return not_found(request)
    if isinstance(rendered, Failure):
        return HTMLResponse(_PROBLEMS.render(failure=rendered), status_code=422, headers=MAIL_HEADERS)
    return HTMLResponse(rendered.html, headers=MAIL_HEADERS)


def mail_text(request: Request) -> Response:
    rendered = _rendered(request)
    if rendered is None:
        return not_found(request)
    if isinstance(rendered, Failure):
        return PlainTextResponse(_problem_text(rendered), status_code=422, headers=MAIL_HEADERS)
    return PlainTextResponse(rendered.text, headers=MAIL_HEADERS)


def mail_eml(request: Request) -> Response:
    rendered = _rendered(request)
    if rendered is None:
        return not_found(request)
    if isinstance(rendered, Failure):
        return PlainTextResponse(_problem_text(rendered), status_code=422, headers=MAIL_HEADERS)
    return _download(rendered)


def _download(mail: SampleMail) -> Response:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", mail.slug) or "issue"
    return Response(
        mail.eml,
        media_type="message/rfc822",
        headers={**MAIL_HEADERS, "Content-Disposition": f'attachment; filename="{name}.eml"'},
    )


ROUTES = [
    admin_route("/issues/{slug}/mail.html", mail_html, Role.VIEWER),
    admin_route("/issues/{slug}/mail.txt", mail_text, Role.VIEWER),
    admin_route("/issues/{slug}/mail.eml", mail_eml, Role.VIEWER),
]

"""The JSON API's reading endpoints: what the pages show, as data for scripts and other tools.

Each calls the library function its page calls (the dashboard's kept figures, the issue shelf, the
campaign view, the report, the segment count, the audit log), so the API and the pages never
disagree. Viewers read everything here except the audit log (admins), as on the pages.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from outreach.accounts.schema import Role
from outreach.admin.api_common import answer, iso, problem
from outreach.admin.dashboard_pages import figures_of
from outreach.admin.issue_desk import desk_of
from outreach.admin.issues_pages import issue_path, shown_path
from outreach.admin.routing import admin_route
from outreach.admin.state import state_of
from outreach.audience import transaction
from outreach.audience.audit import entries
from outreach.audience.choices import profile_choices
from outreach.audience.rule_text import in_words
from outreach.audience.segment_count import count_segment
from outreach.audience.segments import ALL, SEGMENTS_FILE, Segment, load_segments
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics
from outreach.config import Config
from outreach.errors import DeliveryError, OutreachError
from outreach.operations.campaign_view import CampaignRow, campaign_rows, campaign_view
from outreach.operations.overview import CampaignLine
from outreach.operations.progress import Progress, campaign_progress
from outreach.operations.reports import campaign_full_report
from outreach.operations.sample import Failure, SampleMail

AUDIT_PAGE = 100
ALL_MEANS = "every subscriber who is active and not suppressed (built in)"


def campaign_missing(campaign_id: int) -> Response:
    return problem(404, f"There is no campaign {campaign_id}; GET /admin/api/campaigns lists them.")


def issue_missing(slug: str) -> Response:
    return problem(404, f"There is no issue called {slug!r}; GET /admin/api/issues lists them.")


def _line(line: CampaignLine) -> dict[str, Any]:
    return {
        "id": line.id,
        "issue": line.issue,
        "subject": line.subject,
        "status": line.status,
        "created_at": iso(line.created_at),
        "started_at": iso(line.started_at),
        "send_at": iso(line.send_at),
        "recipients": line.recipients,
        "sent": line.sent,
    }


def dashboard(request: Request) -> Response:
    figures, _ = figures_of(request).get()
    people = figures.subscribers
    growth = figures.growth
    return answer(
        {
            "as_of": iso(figures.as_of),
            "subscribers": {
                "total": people.total,
                "active": people.active,
                "by_status": people.by_status,
                "by_topic": [{"topic": k, "name": n, "active": c} for k, n, c in people.by_topic],
                "by_language": [{"language": lang, "active": c} for lang, c in people.by_language],
            },
            "growth": {
                "weeks": [week.isoformat() for week in growth.weeks],
                "signups": list(growth.signups),
                "confirmations": list(growth.confirmations),
                "unsubscribes": list(growth.unsubscribes),
                "bounces": list(growth.bounces),
            },
            "campaigns": [_line(line) for line in figures.campaigns],
            "scheduled": [_line(line) for line in figures.scheduled],
            "health": [
                {
                    "what": h.threshold.what,
                    "level": str(h.level),
                    "count": h.count,
                    "sent": h.sent,
                    "rate": h.rate,
                    "words": h.words,
                }
                for h in figures.health
            ],
        }
    )


def issues(request: Request) -> Response:
    config = state_of(request).config
    return answer(
        {
            "issues": [
                {
                    "slug": s.slug,
                    "file": shown_path(s.path, config),
                    "subject": s.subject,
                    "date": s.date.isoformat() if s.date else None,
                    "status": s.status,
                    "send_at": iso(s.send_at),
                    "errors": s.errors,
                    "warnings": s.warnings,
                }
                for s in desk_of(request).shelf.summaries()
            ]
        }
    )


def issue(request: Request) -> Response:
    """One issue's check findings (what ``outreach check`` says, without the spam score)."""
    path = issue_path(request)
    if path is None:
        return issue_missing(str(request.path_params["slug"]))
    rendered = desk_of(request).preview(request, path).current()
    mail = rendered if isinstance(rendered, SampleMail) else None
    findings = mail.findings if mail else ()
    problems = rendered.problems if isinstance(rendered, Failure) else ()
    return answer(
        {
            "slug": path.stem,
            "file": shown_path(path, state_of(request).config),
            "subject": mail.subject if mail else None,
            "rendered": mail is not None,
            "problems": [{"where": p.where, "message": p.message} for p in problems],
            "html_bytes": mail.html_bytes if mail else None,
            "findings": [
                {
                    "code": f.code,
                    "severity": str(f.severity),
                    "message": f.message,
                    "path": f.path,
                    "line": f.line,
                }
                for f in findings
            ],
        }
    )


def campaign_json(row: CampaignRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "issue": row.issue,
        "subject": row.subject,
        "status": row.status,
        "transport": row.transport,
        "created_at": iso(row.created_at),
        "send_at": iso(row.send_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "pause_reason": row.pause_reason,
    }


def progress_json(progress: Progress) -> dict[str, Any]:
    return {
        "campaign": progress.campaign_id,
        "status": progress.status,
        "pause_reason": progress.pause_reason,
        "counts": dict(progress.counts),
        "total": progress.total,
        "done": progress.done,
        "percent": progress.percent,
        "per_minute": progress.per_minute,
        "seconds_left": progress.seconds_left,
        "finished": not progress.live,
        "at": iso(progress.at),
    }


def campaigns(request: Request) -> Response:
    state = state_of(request)
    before = request.query_params.get("before")
    if before is not None and not before.isdigit():
        return problem(400, "'before' must be a campaign id (the 'more' of the previous page).", "before")
    with transaction(state.engine) as session:
        rows, more = campaign_rows(session, int(before) if before else None)
    return answer({"campaigns": [campaign_json(r) for r in rows], "more": more})


def campaign(request: Request) -> Response:
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        with transaction(state.engine) as session:
            view = campaign_view(session, campaign_id, state.clock.now())
    except DeliveryError:
        return campaign_missing(campaign_id)
    return answer(
        {
            **campaign_json(view.campaign),
            "audience": view.audience,
            "progress": progress_json(view.progress),
            "reasons": [{"state": s, "reason": r, "count": c} for s, r, c in view.reasons],
            "history": [{"at": iso(at), "kind": kind, "detail": d} for at, kind, d in view.history],
        }
    )


def progress(request: Request) -> Response:
    """The ledger's counts now (the page's live stream sends the same every second)."""
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        with transaction(state.engine) as session:
            found = campaign_progress(session, campaign_id, state.clock.now())
    except DeliveryError:
        return campaign_missing(campaign_id)
    return answer(progress_json(found))


def report(request: Request) -> Response:
    state = state_of(request)
    campaign_id = int(request.path_params["campaign_id"])
    try:
        with transaction(state.engine) as session:
            found = campaign_full_report(session, campaign_id, state.config.time_zone, state.clock.now())
    except DeliveryError:
        return campaign_missing(campaign_id)
    timeline = found.whole.timeline
    return answer(
        {
            **found.figures.as_json(),
            "figures": [{"name": f.name, "count": f.count, "rate": f.rate} for f in found.whole.lines],
            "over_time": {
                "labels": list(timeline.labels),
                "starts": list(timeline.starts),
                "counts": {name: list(counts) for name, counts in timeline.counts.items()},
            },
            "editions": [e.figures.as_json() for e in found.editions],
            "created_at": iso(found.created_at),
            "started_at": iso(found.started_at),
            "finished_at": iso(found.finished_at),
            "made_at": iso(found.made_at),
        }
    )


def site_topics(config: Config) -> tuple[TopicDefinition, ...]:
    return load_topics(config.path("lists") / TOPICS_FILE, f"lists/{TOPICS_FILE}")


def site_segments(config: Config) -> dict[str, Segment]:
    keys = [t.key for t in site_topics(config)]
    choices = profile_choices(config.settings.audience)
    return load_segments(config.path("lists") / SEGMENTS_FILE, keys, f"lists/{SEGMENTS_FILE}", choices)


def topics(request: Request) -> Response:
    try:
        found = site_topics(state_of(request).config)
    except OutreachError as err:
        return problem(409, f"The topics file cannot be read: {err}")
    return answer(
        {
            "topics": [
                {"key": t.key, "name": t.name, "description": t.description, "default": t.default}
                for t in found
            ]
        }
    )


def segments(request: Request) -> Response:
    config = state_of(request).config
    try:
        found = site_segments(config)
    except OutreachError as err:
        return problem(409, f"The segments file cannot be read: {err}")
    choices = profile_choices(config.settings.audience)
    listed = [{"name": ALL, "description": ALL_MEANS, "in_words": ALL_MEANS}]
    listed += [
        {"name": s.name, "description": s.description, "in_words": in_words(s.rule, choices)}
        for s in found.values()
    ]
    return answer({"segments": listed})


def segment_count(request: Request) -> Response:
    """How many match the segment and how many of them may be mailed (no sample: that names people)."""
    state = state_of(request)
    name = str(request.path_params["name"])
    try:
        found = site_segments(state.config)
    except OutreachError as err:
        return problem(409, f"The segments file cannot be read: {err}")
    if name != ALL and name not in found:
        known = ", ".join([ALL, *found])
        return problem(404, f"There is no segment {name!r}; known: {known}.")
    rule = found[name].rule if name != ALL else None
    today = state.clock.now().astimezone(state.config.time_zone).date()
    with transaction(state.engine) as session:
        counted = count_segment(session, rule, today, sample_size=0)
    return answer({"segment": name, "matching": counted.matching, "mailable": counted.mailable})


def audit(request: Request) -> Response:
    state = state_of(request)
    since_text = request.query_params.get("since")
    before = request.query_params.get("before")
    since = None
    if since_text is not None:
        try:
            day = datetime.strptime(since_text, "%Y-%m-%d").date()
        except ValueError:
            return problem(400, "Write 'since' as YYYY-MM-DD, for example 2026-12-01.", "since")
        since = datetime.combine(day, time(), state.config.time_zone)
    if before is not None and not before.isdigit():
        return problem(400, "'before' must be an entry id (the 'more' of the previous page).", "before")
    with transaction(state.engine) as session:
        found = entries(session, since=since, limit=AUDIT_PAGE + 1, before_id=int(before) if before else None)
    more = found[AUDIT_PAGE].id + 1 if len(found) > AUDIT_PAGE else None
    return answer(
        {
            "entries": [
                {
                    "id": e.id,
                    "at": iso(e.at),
                    "actor": e.actor,
                    "via": e.via,
                    "origin": e.origin,
                    "action": e.action,
                    "target": e.target,
                    "detail": e.detail,
                }
                for e in found[:AUDIT_PAGE]
            ],
            "more": more,
        }
    )


ROUTES = [
    admin_route("/api/dashboard", dashboard, Role.VIEWER, name="api_dashboard"),
    admin_route("/api/issues", issues, Role.VIEWER, name="api_issues"),
    admin_route("/api/issues/{slug}", issue, Role.VIEWER, name="api_issue"),
    admin_route("/api/campaigns", campaigns, Role.VIEWER, name="api_campaigns"),
    admin_route("/api/campaigns/{campaign_id:int}", campaign, Role.VIEWER, name="api_campaign"),
    admin_route("/api/campaigns/{campaign_id:int}/progress", progress, Role.VIEWER, name="api_progress"),
    admin_route("/api/campaigns/{campaign_id:int}/report", report, Role.VIEWER, name="api_report"),
    admin_route("/api/topics", topics, Role.VIEWER, name="api_topics"),
    admin_route("/api/segments", segments, Role.VIEWER, name="api_segments"),
    admin_route("/api/segments/{name}/count", segment_count, Role.VIEWER, name="api_segment_count"),
    admin_route("/api/audit", audit, Role.ADMIN, name="api_audit"),
]

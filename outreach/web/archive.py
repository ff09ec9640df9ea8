"""The public archive: every sent issue's web version, and RSS and Atom feeds of them.

Only campaigns created to be archived count (``Campaign.archive``: a full send of a ready newsletter
issue that does not say ``archive: false``): an automation's mail to one person, a ``--limit`` send or
a campaign of an unready issue never appears here, and nor does its web version.

The web version is the campaign's stored HTML rendered for nobody in particular: no name, no
personal links (unsubscribe and preferences point to a page that explains where to find yours), and
tracked links turned back into their destinations. It is what every mail's "view online" link opens.

There is one archive per language: ``/archive`` lists the campaigns of the site's default language
(the first of ``[audience] languages``) and ``/es/archive`` those of Spanish, each with its own RSS
and Atom feeds (``/es/archive/rss.xml``) and pages in that language. ``/es/archive/SLUG`` is the
Spanish edition of an issue; ``/archive/SLUG`` the default language's, or, for an issue sent only in
another language, that edition (so a "view online" link never leads nowhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from outreach.audience import transaction
from outreach.delivery.editions import web_templates
from outreach.delivery.schema import Campaign, CampaignEdition, CampaignStatus, Delivery, DeliveryState
from outreach.delivery.tracking import untrack
from outreach.i18n import N_
from outreach.models import Recipient, RecipientLinks
from outreach.render.personal import PersonalTemplates
from outreach.tokens import Keys
from outreach.web.security import ARCHIVE_CSP
from outreach.web.state import WebState

LIMIT = 500
SENT_STATUSES = (CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.DONE)
NOBODY = Recipient(email="")


@dataclass(frozen=True)
class ArchivedIssue:
    slug: str
    subject: str
    sent_at: datetime
    campaign_id: int
    language: str = ""


def _aware(moment: datetime | None) -> datetime:
    moment = moment or datetime(1970, 1, 1, tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sent() -> sa.ColumnElement[bool]:
    """Archived campaigns that reached at least one reader."""
    went_out = sa.select(Delivery.id).where(
        Delivery.campaign_id == Campaign.id, Delivery.state == DeliveryState.SENT
    )
    return sa.and_(Campaign.archive.is_(True), Campaign.status.in_(SENT_STATUSES), went_out.exists())


def _public_links(base_url: str, slug: str) -> RecipientLinks:
    return RecipientLinks(
        unsubscribe=f"{base_url}/manage",
        preferences=f"{base_url}/manage",
        view_online=f"{base_url}/archive/{slug}",
    )


def archived_issues(session: Session, base_url: str, language: str | None = None) -> list[ArchivedIssue]:
    """Sent issues (of ``language``, or of every language), newest first, one entry per issue (the
    newest campaign of each slug)."""
    language_is = _in_language(language) if language is not None else sa.true()
    campaigns = list(
        session.scalars(
            sa.select(Campaign)
            .where(_sent(), language_is)
            .order_by(Campaign.started_at.desc(), Campaign.id.desc())
            .limit(LIMIT)
        )
    )
    # The subjects of the listed campaigns' editions in this language, in one query (not one each).
    edition_subjects: dict[int, str] = {}
    if language is not None:
        found = session.execute(
            sa.select(CampaignEdition.campaign_id, CampaignEdition.subject_source).where(
                CampaignEdition.campaign_id.in_([c.id for c in campaigns]),
                CampaignEdition.language == language,
            )
        )
        edition_subjects = {campaign_id: subject for campaign_id, subject in found}
    seen: set[tuple[str, str]] = set()
    issues: list[ArchivedIssue] = []
    for campaign in campaigns:
        shown = language or campaign.language  # the edition this archive lists
        if (campaign.issue_slug, shown) in seen:
            continue
        seen.add((campaign.issue_slug, shown))
        source = campaign.subject_source if shown == campaign.language else edition_subjects.get(campaign.id)
        if source is None:
            continue
        links = _public_links(base_url, campaign.issue_slug)
        subject = PersonalTemplates(source, "", "").render(NOBODY, links).subject
        issues.append(
            ArchivedIssue(
                campaign.issue_slug,
                subject,
                _aware(campaign.started_at or campaign.created_at),
                campaign.id,
                shown,
            )
        )
    return issues


def web_version(
    session: Session, slug: str, base_url: str, keys: Keys, language: str | None = None, strict: bool = True
) -> str | None:
    """The HTML of the newest sent campaign of ``slug`` in ``language`` (its default edition or one of
    its others), for nobody in particular. When the issue was not sent in that language: None, or unless
    ``strict`` the newest campaign's default edition (so an old ``/archive/SLUG`` link still works)."""
    newest = (
        sa.select(Campaign)
        .where(Campaign.issue_slug == slug, _sent())
        .order_by(Campaign.started_at.desc(), Campaign.id.desc())
        .limit(1)
    )
    if language is not None:
        found = session.scalars(newest.where(_in_language(language))).first()
        if found is not None:
            return edition_web_version(session, found, base_url, keys, language)
        if strict:
            return None
    campaign = session.scalars(newest).first()
    return edition_web_version(session, campaign, base_url, keys, None) if campaign is not None else None


def _in_language(language: str) -> sa.ColumnElement[bool]:
    """A campaign sent in ``language``: as its default edition or as one of its others."""
    has_edition = sa.select(CampaignEdition.id).where(
        CampaignEdition.campaign_id == Campaign.id, CampaignEdition.language == language
    )
    return sa.or_(Campaign.language == language, has_edition.exists())


def edition_web_version(
    session: Session, campaign: Campaign, base_url: str, keys: Keys, language: str | None = None
) -> str | None:
    """One edition of one campaign as the web shows it (None for a language it was not sent in)."""
    sources = web_templates(session, campaign, language)
    if sources is None:
        return None
    html = PersonalTemplates(*sources).render(NOBODY, _public_links(base_url, campaign.issue_slug)).html
    return untrack(html, keys, base_url)


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def _issues(state: WebState, language: str) -> list[ArchivedIssue]:
    with transaction(state.engine) as session:
        return archived_issues(session, state.base_url, language)


def _language(request: Request) -> str:
    """The archive's language: ``/es/archive...`` is Spanish; ``/archive...`` the default language."""
    first = request.url.path.lstrip("/").split("/", 1)[0]
    return _state(request).languages[0] if first == "archive" else first


async def archive_page(request: Request) -> Response:
    state = _state(request)
    language = _language(request)
    issues = await run_in_threadpool(_issues, state, language)
    return state.pages.page("archive.html.j2", lang=language, archive=True, issues=issues)


async def issue_page(request: Request) -> Response:
    state = _state(request)
    slug = request.path_params["slug"]
    language = _language(request)
    strict = not request.url.path.startswith("/archive/")

    def load() -> str | None:
        with transaction(state.engine) as session:
            return web_version(session, slug, state.base_url, state.keys, language, strict)

    html = await run_in_threadpool(load) if len(slug) <= 200 else None
    if html is None:
        return state.pages.message(
            404,
            N_("No such issue"),
            N_("We could not find that issue."),
            link=(state.pages.archive_path(language), N_("See all issues")),
            lang=language,
        )
    headers = {
        "Content-Security-Policy": ARCHIVE_CSP,
        "X-Frame-Options": "DENY",
        "Cache-Control": "max-age=300",
    }
    return Response(html, media_type="text/html; charset=utf-8", headers=headers)


async def rss(request: Request) -> Response:
    return await _feed(request, "rss.xml.j2", "application/rss+xml")


async def atom(request: Request) -> Response:
    return await _feed(request, "atom.xml.j2", "application/atom+xml")


async def _feed(request: Request, template: str, media_type: str) -> Response:
    state = _state(request)
    language = _language(request)
    issues = await run_in_threadpool(_issues, state, language)
    updated = issues[0].sent_at if issues else datetime(2026, 1, 1, tzinfo=UTC)
    body = state.pages.render(
        template,
        lang=language,
        issues=issues,
        updated=updated,
        rfc822=format_datetime,
        rfc3339=lambda d: d.isoformat(),
    )
    return Response(body, media_type=f"{media_type}; charset=utf-8", headers={"Cache-Control": "max-age=300"})


async def manage_page(request: Request) -> Response:
    return _state(request).pages.page("manage.html.j2")


ROUTES = [
    Route("/archive", archive_page, methods=["GET"]),
    Route("/archive/rss.xml", rss, methods=["GET"]),
    Route("/archive/atom.xml", atom, methods=["GET"]),
    Route("/archive/{slug}", issue_page, methods=["GET"]),
    Route("/manage", manage_page, methods=["GET"]),
]


def language_routes(languages: tuple[str, ...]) -> list[BaseRoute]:
    """``/es/archive`` and its feeds and issues, for each of the site's languages but the default.

    One route per language, not ``/{lang}/archive``: a path of another part of the service (the
    admin app's, say) can never be taken for an archive."""
    routes: list[BaseRoute] = []
    for language in languages[1:]:
        prefix = f"/{language}/archive"
        routes += [
            Route(prefix, archive_page, methods=["GET"]),
            Route(f"{prefix}/rss.xml", rss, methods=["GET"]),
            Route(f"{prefix}/atom.xml", atom, methods=["GET"]),
            Route(f"{prefix}/{{slug}}", issue_page, methods=["GET"]),
        ]
    return routes

"""The preview web app: the page, the mail as HTML, text and .eml, and a stream that says "reload".

Every request asks the ``SamplePreview`` for the mail as the files are now (it re-renders only
after a change), so a save shows on the next load; a mistake shows as a page to fix, never as
a dead server.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from outreach.audience.topics import TOPICS_FILE, load_topics
from outreach.config import Config
from outreach.errors import OutreachError
from outreach.preview.mail import Failure, SampleMail, SamplePreview, SampleReader
from outreach.preview.page import ReaderChoices, frame_error, preview_page
from outreach.preview.watch import ChangeFeed, WatchTargets, watch_files

NO_STORE = {"Cache-Control": "no-store"}
# How often a waiting stream looks up from its wait to notice that the server is stopping.
STREAM_POLL_SECONDS = 0.5
# A comment line now and then lets the browser (and any proxy) know the stream is alive.
HEARTBEAT_SECONDS = 15.0


def create_app(
    issue_path: Path, config: Config, templates_dir: Path | None = None, feed: ChangeFeed | None = None
) -> Starlette:
    """The preview of ``issue_path``; watches files for as long as the app's lifespan runs."""
    preview = SamplePreview(issue_path, config, templates_dir)
    changes = feed or ChangeFeed()
    targets = WatchTargets.for_issue(issue_path, preview.config_file, preview.templates)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_files(targets, changes, stop))
        try:
            yield
        finally:
            changes.close()
            stop.set()
            await watcher

    def page(request: Request) -> Response:
        reader = SampleReader.from_query(request.query_params)
        rendered = preview.current(reader)
        html = preview_page(rendered, _display(issue_path), changes.version, reader, reader_choices(config))
        return HTMLResponse(html, headers=NO_STORE)

    def mail_html(request: Request) -> Response:
        rendered = preview.current(SampleReader.from_query(request.query_params))
        if isinstance(rendered, Failure):
            return HTMLResponse(frame_error(rendered), status_code=422, headers=NO_STORE)
        return HTMLResponse(rendered.html, headers=NO_STORE)

    def mail_text(request: Request) -> Response:
        rendered = preview.current(SampleReader.from_query(request.query_params))
        if isinstance(rendered, Failure):
            return PlainTextResponse(_problem_lines(rendered), status_code=422, headers=NO_STORE)
        return PlainTextResponse(rendered.text, headers=NO_STORE)

    def mail_eml(request: Request) -> Response:
        rendered = preview.current(SampleReader.from_query(request.query_params))
        if isinstance(rendered, Failure):
            return PlainTextResponse(_problem_lines(rendered), status_code=422, headers=NO_STORE)
        return _download(rendered)

    async def events(request: Request) -> Response:
        seen = request.query_params.get("seen") or changes.version
        return StreamingResponse(
            reload_events(changes, seen),
            media_type="text/event-stream",
            headers={**NO_STORE, "X-Accel-Buffering": "no"},
        )

    routes = [
        Route("/", page),
        Route("/mail.html", mail_html),
        Route("/mail.txt", mail_text),
        Route("/mail.eml", mail_eml),
        Route("/events", events),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def reload_events(
    feed: ChangeFeed, seen: str, heartbeat: float = HEARTBEAT_SECONDS
) -> AsyncIterator[str]:
    """Server-Sent Events: ``reload`` whenever the version differs from the one the page showed."""
    yield "retry: 1000\n\n"
    quiet = 0.0
    while not feed.closed:
        if feed.version != seen:
            seen = feed.version
            yield f"event: reload\ndata: {seen}\n\n"
            quiet = 0.0
        await feed.wait(seen, STREAM_POLL_SECONDS)
        quiet += STREAM_POLL_SECONDS
        if quiet >= heartbeat:
            yield ": still here\n\n"
            quiet = 0.0


def reader_choices(config: Config) -> ReaderChoices:
    """The site's roles, languages and topics, for switching the sample reader (topics when readable)."""
    audience = config.settings.audience
    try:
        topics = tuple((t.key, t.name) for t in load_topics(config.path("lists") / TOPICS_FILE))
    except OutreachError:
        topics = ()
    return ReaderChoices(
        roles=tuple((c.key, c.label) for c in audience.roles),
        languages=tuple((c.key, c.label) for c in audience.languages),
        topics=topics,
    )


def _download(mail: SampleMail) -> Response:
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", mail.slug) or "issue"
    disposition = f'attachment; filename="{name}.eml"'
    return Response(
        mail.eml, media_type="message/rfc822", headers={**NO_STORE, "Content-Disposition": disposition}
    )


def _problem_lines(failure: Failure) -> str:
    lines = [f"{p.where}: {p.message}" if p.where else p.message for p in failure.problems]
    return "\n".join(["This issue can't be shown yet:", *lines]) + "\n"


def _display(path: Path) -> str:
    """The issue's path as staff typed it, or relative to the current folder when possible."""
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)

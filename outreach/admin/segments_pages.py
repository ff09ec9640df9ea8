"""Segments: the segments of ``lists/segments.yaml`` with their counts; one segment's rule, checked and
counted before it is saved; adding and deleting segments.

Everyone signed in reads. Editors and admins change rules and add segments; only admins delete. The
rule box is checked with the messages of ``outreach segments`` and a mistake names its line in the
box. "Check" works without script (the page comes back with the count and a few members); a few lines
of ``static/admin.js`` ask ``/segments/count`` again as one types. Saving goes through
``outreach.audience.segment_file``: the file keeps its comments and order, is replaced atomically,
is never written over a version the editor did not see, and the change is in the audit log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import ADMIN_CSP, NO_STORE, AdminState, actor_of, signed_of, state_of
from outreach.audience import transaction
from outreach.audience.choices import ProfileChoices, profile_choices
from outreach.audience.rule_text import in_words
from outreach.audience.segment_count import SegmentCount, count_segment
from outreach.audience.segment_file import (
    SegmentFile,
    check_rule,
    delete_segment,
    read_segment_file,
    save_segment,
)
from outreach.audience.segments import ALL, SEGMENTS_FILE, Rule, load_segments
from outreach.audience.topics import TOPICS_FILE, load_topics
from outreach.errors import AudienceError, Located, SegmentError, SegmentFileChanged
from outreach.operations.kept import Kept

FRESH_SECONDS = 60.0
SAMPLE = 5
_MAKING = threading.Lock()


@dataclass(frozen=True)
class Lists:
    """Where the segments live and what their rules are checked against."""

    path: Path
    display: str
    topics: tuple[str, ...]
    choices: ProfileChoices


@dataclass(frozen=True)
class Listed:
    """One row of the segments page."""

    name: str
    description: str
    words: str
    count: SegmentCount


@dataclass(frozen=True)
class Problem:
    """A mistake to show: the message, and the line of the rule box it is on (if it is there)."""

    message: str
    line: int | None = None
    text: str = ""  # that line, as typed


def lists_of(state: AdminState) -> Lists:
    config = state.config
    folder = config.path("lists")
    path = folder / SEGMENTS_FILE
    display = str(path.relative_to(config.root)) if path.is_relative_to(config.root) else str(path)
    topics_path = folder / TOPICS_FILE
    topics = tuple(t.key for t in load_topics(topics_path, str(topics_path.relative_to(config.root))))
    return Lists(path, display, topics, profile_choices(config.settings.audience))


def _today(state: AdminState) -> date:
    return state.clock.now().astimezone(state.config.time_zone).date()


def _count(state: AdminState, rule: Rule | None) -> SegmentCount:
    with transaction(state.engine) as session:
        return count_segment(session, rule, _today(state), sample_size=SAMPLE)


def _count_all(state: AdminState, lists: Lists) -> list[Listed]:
    segments = load_segments(lists.path, lists.topics, lists.display, lists.choices)
    rows = [Listed(ALL, "Every subscriber who may be mailed (built in)", "everyone", _count(state, None))]
    for segment in segments.values():
        words = in_words(segment.rule, lists.choices)
        rows.append(Listed(segment.name, segment.description, words, _count(state, segment.rule)))
    return rows


def counts_of(request: Request, lists: Lists, version: str) -> Kept[list[Listed]]:
    """The counts of this version of the file, kept for a minute (a million rows take a moment)."""
    app_state = request.app.state
    with _MAKING:
        kept: tuple[str, Kept[list[Listed]]] | None = getattr(app_state, "segment_counts", None)
        if kept is None or kept[0] != version:
            state = state_of(request)
            kept = (version, Kept(lambda: _count_all(state, lists), FRESH_SECONDS, state.clock))
            app_state.segment_counts = kept
    return kept[1]


def segments(request: Request) -> Response:
    state = state_of(request)
    lists = lists_of(state)
    problem = ""
    rows: list[Listed] = []
    made = None
    try:
        current = read_segment_file(lists.path, lists.display)
        rows, made = counts_of(request, lists, current.version).get()
    except SegmentError as err:
        problem = str(err)
    return state.render(
        request,
        "segments.html.j2",
        rows=rows,
        made=made,
        problem=problem,
        file=lists.display,
        can_edit=signed_of(request).role.allows(Role.EDITOR),
        zone=state.config.time_zone,
        deleted=request.query_params.get("done") == "deleted",
    )


def _form(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def _problem(err: Exception, rule_text: str) -> Problem:
    if isinstance(err, SegmentError) and err.path == "rule" and err.line:
        lines = rule_text.replace("\r\n", "\n").split("\n")
        shown = lines[err.line - 1] if err.line <= len(lines) else ""
        return Problem(err.message, err.line, shown)
    return Problem(str(err))


def _page(
    request: Request,
    *,
    name: str,
    description: str,
    rule_text: str,
    version: str,
    new: bool,
    status: int = 200,
    problem: Problem | None = None,
    count: SegmentCount | None = None,
    words: str = "",
    line: int | None = None,
    stale: SegmentFile | None = None,
) -> Response:
    state = state_of(request)
    signed = signed_of(request)
    return state.render(
        request,
        "segment.html.j2",
        status=status,
        segment_name=name,
        description=description,
        rule_text=rule_text,
        version=version,
        new=new,
        problem=problem,
        count=count,
        words=words,
        file=lists_of(state).display,
        line=line,
        stale=stale.sources.get(name) if stale else None,
        can_edit=signed.role.allows(Role.EDITOR),
        can_delete=signed.role.allows(Role.ADMIN) and not new,
        saved=request.query_params.get("done") == "saved",
    )


def _unreadable(request: Request, err: SegmentError) -> Response:
    title = "The segments file cannot be read"
    return state_of(request).render(request, "message.html.j2", status=409, title=title, message=str(err))


def _not_found(request: Request, name: str) -> Response:
    return state_of(request).render(
        request,
        "message.html.j2",
        status=404,
        title="No such segment",
        message=f"There is no segment called {name!r}. The Segments page lists every one.",
    )


def segment(request: Request) -> Response:
    state = state_of(request)
    lists = lists_of(state)
    name = str(request.path_params["name"])
    try:
        current = read_segment_file(lists.path, lists.display)
    except SegmentError as err:
        return _unreadable(request, err)
    source = current.sources.get(name)
    if source is None:
        return _not_found(request, name)
    return _checked(
        request, name, source.description, source.rule_text, current.version, new=False, line=source.line
    )


def _checked(
    request: Request,
    name: str,
    description: str,
    rule_text: str,
    version: str,
    *,
    new: bool,
    line: int | None = None,
    status: int = 200,
    problem: Problem | None = None,
    stale: SegmentFile | None = None,
) -> Response:
    """The page with the rule checked, counted and said in words (or the mistake at its line)."""
    state = state_of(request)
    lists = lists_of(state)
    count, words = None, ""
    if rule_text.strip():
        try:
            rule = check_rule(rule_text, lists.topics, lists.choices)
            count, words = _count(state, rule), in_words(rule, lists.choices)
        except SegmentError as err:
            problem, status = problem or _problem(err, rule_text), 400 if status == 200 else status
    return _page(
        request,
        name=name,
        description=description,
        rule_text=rule_text,
        version=version,
        new=new,
        status=status,
        problem=problem,
        count=count,
        words=words,
        line=line,
        stale=stale,
    )


def new_segment(request: Request) -> Response:
    state = state_of(request)
    lists = lists_of(state)
    try:
        version = read_segment_file(lists.path, lists.display).version
    except SegmentError as err:
        return _unreadable(request, err)
    return _page(request, name="", description="", rule_text="", version=version, new=True)


def _submit(request: Request, name: str, new: bool) -> Response:
    state = state_of(request)
    lists = lists_of(state)
    description, rule_text, version = (
        _form(request, "description"),
        _form(request, "rule"),
        _form(request, "version"),
    )
    if _form(request, "action") != "save":
        return _checked(request, name, description, rule_text, version, new=new)
    if not rule_text.strip():
        problem = Problem("the rule is empty; write one, for example 'role: home-visitor'", 1)
        return _page(
            request,
            name=name,
            description=description,
            rule_text=rule_text,
            version=version,
            new=new,
            status=400,
            problem=problem,
        )
    try:
        with transaction(state.engine) as session:
            save_segment(
                session,
                lists.path,
                name=name,
                description=description,
                rule_text=rule_text,
                version=version,
                actor=actor_of(request),
                clock=state.clock,
                new=new,
                topics=lists.topics,
                choices=lists.choices,
                display=lists.display,
            )
    except SegmentFileChanged as err:
        # Nothing is lost: their text stays in the box, the saved version is shown beside it, and the
        # next save knowingly replaces the version they have now seen.
        current = read_segment_file(lists.path, lists.display)
        problem = Problem(str(err) + " Your text is kept below; the saved rule is shown under it.")
        return _checked(
            request,
            name,
            description,
            rule_text,
            current.version,
            new=new,
            status=409,
            problem=problem,
            stale=current,
        )
    except (SegmentError, AudienceError) as err:
        return _checked(
            request,
            name,
            description,
            rule_text,
            version,
            new=new,
            status=400,
            problem=_problem(err, rule_text),
        )
    return RedirectResponse(f"{prefix(request)}/segments/{name}?done=saved", status_code=303)


def edit(request: Request) -> Response:
    name = str(request.path_params["name"])
    return _submit(request, name, new=False)


# The pages' own addresses (/segments/new, /segments/count): a segment so named could not be opened.
TAKEN = ("new", "count")


def add(request: Request) -> Response:
    name = _form(request, "name").strip()
    if name in TAKEN and _form(request, "action") == "save":
        problem = Problem(f"the name {name!r} is used by these pages; choose another")
        return _page(
            request,
            name=name,
            description=_form(request, "description"),
            rule_text=_form(request, "rule"),
            version=_form(request, "version"),
            new=True,
            status=400,
            problem=problem,
        )
    return _submit(request, name, new=True)


def delete(request: Request) -> Response:
    state = state_of(request)
    lists = lists_of(state)
    name = str(request.path_params["name"])
    if _form(request, "confirm").strip() != name:
        try:
            current = read_segment_file(lists.path, lists.display)
        except SegmentError as err:
            return _unreadable(request, err)
        source = current.sources.get(name)
        if source is None:
            return _not_found(request, name)
        problem = Problem(f"Nothing was deleted: type {name} in the box to confirm deleting it.")
        return _checked(
            request,
            name,
            source.description,
            source.rule_text,
            current.version,
            new=False,
            status=400,
            problem=problem,
        )
    try:
        with transaction(state.engine) as session:
            delete_segment(
                session,
                lists.path,
                name=name,
                version=_form(request, "version"),
                actor=actor_of(request),
                clock=state.clock,
                topics=lists.topics,
                choices=lists.choices,
                display=lists.display,
            )
    except SegmentFileChanged as err:
        return state.render(request, "message.html.j2", status=409, title="Not deleted", message=str(err))
    except SegmentError as err:
        if name not in read_segment_file(lists.path, lists.display).sources:
            return _not_found(request, name)
        return state.render(request, "message.html.j2", status=400, title="Not deleted", message=str(err))
    return RedirectResponse(f"{prefix(request)}/segments?done=deleted", status_code=303)


def live_count(request: Request) -> Response:
    """The count and sample of the rule box as it is now: a fragment for the page's script."""
    state = state_of(request)
    lists = lists_of(state)
    rule_text = _form(request, "rule")
    count, words, problem = None, "", None
    if rule_text.strip():
        try:
            rule = check_rule(rule_text, lists.topics, lists.choices)
            count, words = _count(state, rule), in_words(rule, lists.choices)
        except Located as err:
            problem = _problem(err, rule_text)
    html = state.env.get_template("segment_count.html.j2").render(
        count=count, words=words, rule_problem=problem, root=prefix(request)
    )
    return HTMLResponse(html, headers={**NO_STORE, "Content-Security-Policy": ADMIN_CSP})


ROUTES = [
    admin_route("/segments", segments, Role.VIEWER),
    admin_route("/segments/count", live_count, Role.EDITOR, methods=("POST",)),
    admin_route("/segments/new", new_segment, Role.EDITOR),
    admin_route("/segments/new", add, Role.EDITOR, methods=("POST",), name="add_segment"),
    admin_route("/segments/{name}", segment, Role.VIEWER),
    admin_route("/segments/{name}", edit, Role.EDITOR, methods=("POST",), name="edit_segment"),
    admin_route("/segments/{name}/delete", delete, Role.ADMIN, methods=("POST",)),
]
SECTIONS = [("/segments", "Segments", Role.VIEWER)]

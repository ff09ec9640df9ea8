"""Imports: upload a CSV export, see how it is read and what it would do, change how it is read, then
apply it, all or nothing, and follow the progress of a large file.

Editors and admins use these pages; the calls are those of ``outreach lists import``
(``outreach.operations.imports`` keeps the upload and applies it in a thread of this app). The plan
shown is a dry run of the very import that applying runs; applying is refused when the way the file
is read changed since the plan was shown (the person would apply something they have not seen) and
when no consent basis is given for a file that carries none. The rejected rows download as CSV with
their line and reason, formulas neutralised.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, replace

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from outreach.accounts.schema import Role
from outreach.admin.routing import admin_route, prefix
from outreach.admin.state import NO_STORE, actor_of, signed_of, state_of
from outreach.audience.csv_import import ImportReport
from outreach.audience.csv_read import (
    DELIMITERS,
    ENCODINGS,
    FIELDS,
    Peek,
    column_target,
    header_key,
    is_target,
    peek,
    snake_case,
)
from outreach.audience.free_text import clean_text
from outreach.errors import ImportRejected, OutreachError
from outreach.operations.imports import (
    BackgroundImports,
    ImportSettings,
    ImportState,
    Upload,
    consent_needed,
    site_topics,
)

SHOWN_REJECTS = 100
INTERVAL = 1.0
MAX_SECONDS = 600.0
SEPARATORS = {",": "comma (,)", ";": "semicolon (;)", "\t": "tab"}
_MAKING = threading.Lock()


def imports_of(request: Request) -> BackgroundImports:
    """This app's background imports, made on first use."""
    app_state = request.app.state
    found: BackgroundImports | None = getattr(app_state, "background_imports", None)
    if found is None:
        with _MAKING:
            found = getattr(app_state, "background_imports", None)
            if found is None:
                state = state_of(request)
                found = BackgroundImports(state.config, state.engine, state.clock)
                app_state.background_imports = found
    return found


def _field(request: Request, name: str) -> str:
    form = request.state.form
    return str(form.get(name) or "") if form else ""


def imports(request: Request, problem: str = "", status: int = 200) -> Response:
    state = state_of(request)
    return state.render(
        request,
        "imports.html.j2",
        status=status,
        uploads=imports_of(request).shelf.recent(),
        problem=problem,
        zone=state.config.time_zone,
    )


def upload(request: Request) -> Response:
    state = state_of(request)
    form = request.state.form
    chosen = form.get("file") if form else None
    if not isinstance(chosen, UploadFile) or not chosen.filename:
        return imports(request, problem="Choose a CSV file to upload.", status=400)
    try:
        kept = imports_of(request).shelf.store(
            chosen.file, chosen.filename, signed_of(request).user.email, state.clock.now()
        )
    except ImportRejected as err:
        return imports(request, problem=str(err), status=400)
    return RedirectResponse(f"{prefix(request)}/imports/{kept.id}", status_code=303)


def _upload_of(request: Request) -> Upload | None:
    return imports_of(request).shelf.get(str(request.path_params["upload_id"]))


def _not_found(request: Request) -> Response:
    return state_of(request).render(
        request,
        "message.html.j2",
        status=404,
        title="No such import",
        message="There is no such upload (uploads are kept for a week). The Imports page lists them.",
    )


def plan_key(settings: ImportSettings) -> str:
    """What the shown plan depends on: everything but the consent basis and the notice version."""
    data = asdict(replace(settings, consent="", notice_version=""))
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def one_import(
    request: Request, problem: str = "", status: int = 200, chosen: Upload | None = None
) -> Response:
    state = state_of(request)
    found = chosen or _upload_of(request)
    if found is None:
        return _not_found(request)
    progress = imports_of(request).progress(found)
    report: ImportReport | None = None
    peeked: Peek | None = None
    failure = progress.error if progress.state is ImportState.FAILED else ""
    unreadable = ""
    if progress.state in (ImportState.READY, ImportState.FAILED):
        settings = found.settings
        try:
            peeked = peek(
                found.path, encoding=settings.encoding or None, delimiter=settings.delimiter or None
            )
            report = imports_of(request).look(found)
        except OutreachError as err:
            unreadable = str(err).replace(str(found.path), found.filename)
    topics = site_topics(state.config)
    columns = []
    if peeked is not None:
        for index, name in enumerate(peeked.header):
            target = column_target(name, found.settings.mapping, peeked.format)
            choices = [*FIELDS, "ignore", f"attributes.{snake_case(name)}"]
            if target not in choices:
                choices.append(target)
            samples = peeked.samples[index] if index < len(peeked.samples) else ()
            columns.append((index, name, header_key(name), samples, target, choices))
    return state.render(
        request,
        "import.html.j2",
        status=status,
        upload=found,
        progress=progress,
        report=report,
        rejects=report.rejects[:SHOWN_REJECTS] if report else (),
        peeked=peeked,
        columns=columns,
        encodings=ENCODINGS,
        separators=SEPARATORS,
        topics=topics,
        problem=problem,
        failure=failure,
        unreadable=unreadable,
        plan_key=plan_key(found.settings),
        zone=state.config.time_zone,
        shown_rejects=SHOWN_REJECTS,
    )


def _settings_from(request: Request, found: Upload, topic_keys: set[str]) -> ImportSettings:
    """The choices of the import form; anything not offered is refused with the field named."""
    form = request.state.form
    encoding = _field(request, "encoding")
    if encoding and encoding not in ENCODINGS:
        raise ImportRejected(f"Encoding: choose one of {', '.join(ENCODINGS)}")
    delimiter = {"comma": ",", "semicolon": ";", "tab": "\t"}.get(_field(request, "delimiter"), "")
    mapping: dict[str, str] = {}
    index = 0
    while form is not None and f"column-{index}" in form:
        key, target = _field(request, f"header-{index}"), _field(request, f"column-{index}").strip()
        if not is_target(target):
            raise ImportRejected(f"Column {index + 1}: {target!r} is not a field one can import into")
        if key:
            mapping[key] = target
        index += 1
    topics = tuple(t for t in (form.getlist("topics") if form else []) if str(t) in topic_keys)
    tags = tuple(t for t in (clean_text(part) for part in _field(request, "tags").split(",")) if t)
    return ImportSettings(
        mapping=mapping if index else found.settings.mapping,
        encoding=encoding,
        delimiter=delimiter if delimiter in DELIMITERS else "",
        consent=clean_text(_field(request, "consent")),
        update=_field(request, "existing") == "update",
        topics=tuple(str(t) for t in topics),
        tags=tags,
        notice_version=clean_text(_field(request, "notice_version")),
    )


def _changed(request: Request) -> tuple[Upload | None, Response | None]:
    """The upload with the form's choices saved, or the page that says why not."""
    state = state_of(request)
    found = _upload_of(request)
    if found is None:
        return None, _not_found(request)
    if imports_of(request).progress(found).state in (ImportState.APPLYING, ImportState.DONE):
        return None, one_import(
            request, problem="This file is being applied or was applied already.", status=409
        )
    try:
        settings = _settings_from(request, found, {t.key for t in site_topics(state.config)})
    except ImportRejected as err:
        return None, one_import(request, problem=str(err), status=400)
    changed = replace(found, settings=_only_changes(found, settings))
    imports_of(request).shelf.save(changed)
    return changed, None


def _only_changes(found: Upload, settings: ImportSettings) -> ImportSettings:
    """The mapping without the columns read as they would be anyway: the plan shown and the plan
    applied then compare equal whatever the form repeated."""
    try:
        peeked = peek(found.path, encoding=settings.encoding or None, delimiter=settings.delimiter or None)
    except ImportRejected:
        return settings
    defaults = {header_key(name): column_target(name, {}, peeked.format) for name in peeked.header}
    kept = {
        key: target for key, target in settings.mapping.items() if key in defaults and defaults[key] != target
    }
    return replace(settings, mapping=kept)


def check(request: Request) -> Response:
    changed, refused = _changed(request)
    if refused is not None:
        return refused
    assert changed is not None
    return RedirectResponse(f"{prefix(request)}/imports/{changed.id}", status_code=303)


def apply(request: Request) -> Response:
    state = state_of(request)
    changed, refused = _changed(request)
    if refused is not None:
        return refused
    assert changed is not None
    if _field(request, "plan") != plan_key(changed.settings):
        problem = "You changed how the file is read: here is the new plan. Check it, then apply."
        return one_import(request, problem=problem, status=409, chosen=changed)
    try:
        needed = consent_needed(changed, state.config)
    except OutreachError as err:
        return one_import(request, problem=f"Nothing was imported: {err}", status=400, chosen=changed)
    if needed:
        problem = (
            "Nothing was imported: write the consent basis, how these people agreed to hear from you "
            "(for example “Spring conference sign-up sheet, 2026-03”); the file has no consent column."
        )
        return one_import(request, problem=problem, status=400, chosen=changed)
    if not imports_of(request).start(changed, actor_of(request)):
        return one_import(request, problem="This file is being applied or was applied already.", status=409)
    return RedirectResponse(f"{prefix(request)}/imports/{changed.id}", status_code=303)


def rejects_file(request: Request) -> Response:
    found = _upload_of(request)
    if found is None:
        return _not_found(request)
    if found.state is not ImportState.DONE:
        try:
            imports_of(request).look(found)
        except OutreachError as err:
            return one_import(request, problem=str(err), status=400)
    if not found.rejects_path.exists():
        return one_import(request, problem="No row of this file is rejected.", status=404)
    stem = found.filename.rsplit(".", 1)[0] or "import"
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)[:80]
    return FileResponse(
        found.rejects_path,
        media_type="text/csv; charset=utf-8",
        filename=f"{safe}.rejects.csv",
        headers=NO_STORE,
    )


async def _events(request: Request, found: Upload) -> AsyncIterator[str]:
    background = imports_of(request)
    ends = time.monotonic() + MAX_SECONDS
    yield "retry: 3000\n"
    while True:
        progress = await run_in_threadpool(background.progress, found)
        event = progress.as_event()
        yield f"data: {json.dumps(event, separators=(',', ':'))}\n\n"
        if event["finished"] or time.monotonic() > ends:
            return
        await anyio.sleep(INTERVAL)


def progress_stream(request: Request) -> Response:
    found = _upload_of(request)
    if found is None:
        return _not_found(request)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(_events(request, found), media_type="text/event-stream", headers=headers)


ROUTES = [
    admin_route("/imports", imports, Role.EDITOR),
    admin_route("/imports", upload, Role.EDITOR, methods=("POST",), name="upload_import"),
    admin_route("/imports/{upload_id}", one_import, Role.EDITOR),
    admin_route("/imports/{upload_id}", check, Role.EDITOR, methods=("POST",), name="check_import"),
    admin_route("/imports/{upload_id}/apply", apply, Role.EDITOR, methods=("POST",)),
    admin_route("/imports/{upload_id}/progress", progress_stream, Role.EDITOR),
    admin_route("/imports/{upload_id}/rejects.csv", rejects_file, Role.EDITOR),
]
SECTIONS = [("/imports", "Imports", Role.EDITOR)]

"""The live preview: its pages for a good issue and a broken one, its reload stream, a real server."""

from __future__ import annotations

import asyncio
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from outreach.config import Config, load_config
from outreach.errors import ContentError, ContentErrors, OutreachError, TemplateError
from outreach.preview import create_app, serve_preview
from outreach.preview.app import reload_events
from outreach.preview.mail import GMAIL_CLIP_BYTES, WARN_BYTES, Problem, SizeLevel, problems_of
from outreach.preview.watch import ChangeFeed, WatchTargets
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[1]
GOOD = """\
---
subject: Hello
preheader: A warm hello from the team at VAIMH this month
date: 2026-12-01
---
Dear {{ subscriber.first_name | default("friend") }}, hello.
"""
# Line 4 is the mistake: the date is not a date.
BROKEN = GOOD.replace("date: 2026-12-01", "date: the first of December")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder: the real outreach.toml and templates, and one small issue."""
    shutil.copy(REPO / "outreach.toml", tmp_path / "outreach.toml")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "newsletters").mkdir()
    (tmp_path / "newsletters" / "2026-12-hello.md").write_text(GOOD, encoding="utf-8")
    return tmp_path


@pytest.fixture
def issue(project: Path) -> Path:
    return project / "newsletters" / "2026-12-hello.md"


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project, environ={})


@pytest.fixture
def client(issue: Path, config: Config) -> TestClient:
    return TestClient(create_app(issue, config))


def save(path: Path, text: str) -> None:
    """Write ``text`` and make sure the modification time moves, however coarse the clock."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns == before:
        bump = before + 1_000_000
        os.utime(path, ns=(bump, bump))


# --- the pages ------------------------------------------------------------------------------------


def test_page_shows_both_frames_text_headers_and_size(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = response.text
    assert "Phone (375 px)" in page and "Desktop (640 px)" in page
    assert 'width="375"' in page and 'width="640"' in page
    assert page.count('src="/mail.html?v=') == 2
    assert "<h1>Hello</h1>" in page
    assert "A warm hello from the team at VAIMH this month" in page
    assert "Dear Ana, hello." in page  # the text part, in the page
    for header in (
        "From",
        "To",
        "Subject",
        "Reply-To",
        "List-Id",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
        "Message-ID",
    ):
        assert f'<th scope="row">{header}</th>' in page
    assert "ana.rivera@example.org" in page
    assert "List-Unsubscribe=One-Click" in page
    assert 'class="size ok"' in page and " KB" in page
    assert 'new EventSource("/events?seen="' in page


def test_mail_routes_serve_the_sample_readers_mail(client: TestClient, issue: Path) -> None:
    html = client.get("/mail.html")
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "Dear Ana, hello." in html.text
    assert html.text.lower().startswith("<!doctype html")

    text = client.get("/mail.txt")
    assert text.status_code == 200
    assert text.headers["content-type"].startswith("text/plain")
    assert "Dear Ana, hello." in text.text and "<p>" not in text.text

    eml = client.get("/mail.eml")
    assert eml.status_code == 200
    assert eml.headers["content-type"].startswith("message/rfc822")
    assert 'filename="2026-12-hello.eml"' in eml.headers["content-disposition"]
    assert b"Subject: Hello" in eml.content
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in eml.content
    assert all(r.headers["cache-control"] == "no-store" for r in (html, text, eml))


def test_a_mistake_shows_path_line_and_fixing_it_brings_the_preview_back(
    client: TestClient, issue: Path
) -> None:
    save(issue, BROKEN)
    page = client.get("/")
    assert page.status_code == 200
    assert "This issue needs a fix before it can be shown" in page.text
    assert f"<code>{issue}:4</code>" in page.text
    assert "date" in page.text.split(f"<code>{issue}:4</code>", 1)[1][:300]
    assert "Traceback" not in page.text
    assert "new EventSource" in page.text  # still listening, so saving a fix reloads

    frame = client.get("/mail.html")
    assert frame.status_code == 422
    assert f"{issue}:4" in frame.text and "<!doctype html>" in frame.text

    assert f"{issue}:4" in client.get("/mail.txt").text

    save(issue, GOOD)
    again = client.get("/")
    assert again.status_code == 200
    assert "Phone (375 px)" in again.text and "needs a fix" not in again.text
    assert "Dear Ana, hello." in client.get("/mail.html").text


def test_a_template_mistake_is_shown_and_a_missing_file_is_explained(
    client: TestClient, issue: Path, project: Path
) -> None:
    layout = project / "templates" / "newsletter.mjml.j2"
    good_layout = layout.read_text(encoding="utf-8")
    save(layout, good_layout + "\n{% if %}\n")
    page = client.get("/")
    assert page.status_code == 200 and "needs a fix" in page.text
    assert "newsletter.mjml.j2" in page.text and "Traceback" not in page.text

    save(layout, good_layout)
    assert "Phone (375 px)" in client.get("/").text

    issue.unlink()
    gone = client.get("/")
    assert gone.status_code == 200 and "no such issue file" in gone.text


def test_issue_text_is_escaped_in_the_page(client: TestClient, issue: Path) -> None:
    save(issue, GOOD.replace("subject: Hello", 'subject: "Hello <b>you</b> & all"'))
    page = client.get("/").text
    assert "Hello &lt;b&gt;you&lt;/b&gt; &amp; all" in page
    assert "<b>you</b>" not in page


def test_an_unexpected_error_is_one_line_not_a_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object) -> None:
        raise RuntimeError("the sky fell\nand more")

    monkeypatch.setattr("outreach.operations.sample.render_sample", explode)
    page = client.get("/")
    assert page.status_code == 200
    assert "something went wrong: RuntimeError: the sky fell" in page.text
    assert "and more" not in page.text and "Traceback" not in page.text


def test_problems_of_each_kind_of_error() -> None:
    many = ContentErrors([ContentError("first", "a.md", 2), ContentError("second", "a.md", 9)])
    assert problems_of(many) == (Problem("a.md:2", "first"), Problem("a.md:9", "second"))
    assert problems_of(TemplateError("bad tag", "x.mjml.j2", 4)) == (Problem("x.mjml.j2:4", "bad tag"),)


def test_size_levels_follow_gmail_clipping() -> None:
    from outreach.preview.mail import SampleMail

    def sized(n: int) -> SampleMail:
        return SampleMail("s", "", "", "", "x" * n, "", b"", ())

    assert sized(WARN_BYTES - 1).size_level is SizeLevel.OK
    assert sized(WARN_BYTES).size_level is SizeLevel.WARNING
    assert sized(GMAIL_CLIP_BYTES).size_level is SizeLevel.WARNING
    assert sized(GMAIL_CLIP_BYTES + 1).size_level is SizeLevel.CLIPPED


# --- the reload stream ----------------------------------------------------------------------------


def test_stream_reloads_a_page_that_missed_a_change_and_stops_when_closed() -> None:
    async def scenario() -> list[str]:
        feed = ChangeFeed()
        stale = feed.version
        feed.publish()
        stream = reload_events(feed, stale)
        received = [await anext(stream), await anext(stream)]
        waiting = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0.05)
        feed.publish()
        received.append(await asyncio.wait_for(waiting, 2))
        feed.close()
        received.extend([item async for item in stream])
        return received

    events = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert events[0].startswith("retry:")
    assert events[1].startswith("event: reload\n") and events[2].startswith("event: reload\n")
    assert events[1] != events[2]
    assert all(not e.startswith("event:") for e in events[3:])


def test_watch_targets_accept_only_the_issue_templates_and_config(project: Path) -> None:
    issue = project / "newsletters" / "2026-12-hello.md"
    targets = WatchTargets.for_issue(issue, project / "outreach.toml", project / "templates")
    root = project.resolve()
    assert targets.accepts(root / "newsletters" / "2026-12-hello.md")
    assert targets.accepts(root / "outreach.toml")
    assert targets.accepts(root / "templates" / "partials" / "footer.mjml.j2")
    assert not targets.accepts(root / "newsletters" / "2026-11-other.md")
    assert set(targets.file_folders) == {root, root / "newsletters"}


# --- a real server --------------------------------------------------------------------------------


def wait_until_up(base: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"preview exited early: {process.communicate()}")
        try:
            if httpx.get(base + "/", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("preview did not start")


def read_events(url: str, into: queue.Queue[str]) -> None:
    """Put each SSE event name on ``into``; ends when the server closes the stream."""
    try:
        with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=None)) as response:
            into.put(f"status {response.status_code}")
            for line in response.iter_lines():
                if line.startswith("event: "):
                    into.put(line.removeprefix("event: "))
    except httpx.HTTPError as err:
        into.put(f"error {err}")
    into.put("closed")


def test_a_busy_port_is_one_readable_error(issue: Path, config: Config) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        with pytest.raises(OutreachError, match=f"127.0.0.1:{port}.*--port {port + 1}"):
            serve_preview(issue, config, "127.0.0.1", port)


def test_real_server_reloads_on_save_and_stops_on_ctrl_c(project: Path, issue: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-c",
        "from outreach.cli import main; main()",
        "preview",
        "newsletters/2026-12-hello.md",
        "--port",
        str(port),
    ]
    process = subprocess.Popen(command, cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_until_up(base, process)
        events: queue.Queue[str] = queue.Queue()
        threading.Thread(target=read_events, args=(base + "/events", events), daemon=True).start()
        assert events.get(timeout=10) == "status 200"
        got = ""
        deadline = time.monotonic() + 10
        edit = 0
        while got != "reload" and time.monotonic() < deadline:
            edit += 1  # save again now and then in case the first save beat the watcher's start
            save(issue, GOOD.replace("hello.", f"hello, edit {edit}."))
            try:
                got = events.get(timeout=1.5)
            except queue.Empty:
                continue
        assert got == "reload"
        assert "edit" in httpx.get(base + "/mail.txt", timeout=5).text

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        while events.get(timeout=5) != "closed":
            pass  # the stream ended with the server, not by timing out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=5)


def test_the_page_shows_what_check_finds_beside_the_mail(client: TestClient, issue: Path) -> None:
    save(issue, GOOD.replace("subscriber.first_name", "subscriber.frist_name"))
    page = client.get("/")
    assert "Phone (375 px)" in page.text  # the mail still shows, with "Dear friend, hello."
    findings = page.text.split('id="findings-title"', 1)[1]
    assert "subscribers have no field &#39;frist_name&#39;" in findings and f"{issue}:6" in findings


SECTIONS = GOOD.replace(
    "Dear {{",
    "::: only role=mental-health-clinician\nFor clinicians only.\n:::\n\n"
    "::: unless language=es\nNot for Spanish readers.\n:::\n\n"
    "::: only topic=trainings-events\nAbout trainings.\n:::\n\nDear {{",
)


def test_the_sample_reader_can_be_switched_to_see_each_variant(issue: Path, client: TestClient) -> None:
    save(issue, SECTIONS)
    default = client.get("/mail.txt").text
    assert "For clinicians only." not in default and "Not for Spanish readers." in default
    assert "About trainings." not in default
    clinician = client.get("/mail.txt?role=mental-health-clinician&topic=trainings-events").text
    assert "For clinicians only." in clinician and "About trainings." in clinician
    spanish = client.get("/mail.html?language=es").text
    assert "Not for Spanish readers." not in spanish and "Dear Ana" in spanish
    page = client.get("/?role=mental-health-clinician").text
    # The form offers the site's lists, keeps the choice, and the frames and links show that reader.
    assert '<option value="mental-health-clinician" selected>' in page
    assert '<option value="es">' in page
    assert 'src="/mail.html?v=' in page and "&amp;role=mental-health-clinician" in page
    assert 'href="/mail.txt?role=mental-health-clinician"' in page

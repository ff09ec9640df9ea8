"""The admin app under a real uvicorn on 127.0.0.1, for the browser journeys, axe-core and schemathesis.

``live_admin`` mounts the app at /admin/ as ``outreach serve`` does, on a free port that is also the
site's base URL (so the Origin check and the links agree), and stops the server when the block ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.routing import Mount

from outreach.admin.app import create_admin_app, stop_background_sends
from outreach.clock import Clock
from outreach.config import Config, load_config
from tests.conftest import TEST_SECRET
from tests.ports import free_port


@contextmanager
def live_admin(project: Path, engine: Engine, clock: Clock | None = None) -> Iterator[tuple[str, Config]]:
    """The project's admin app served at ``http://127.0.0.1:PORT/admin/``; yields (base, config)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_BASE_URL": base})
    admin = create_admin_app(config, engine, clock)
    app = Starlette(routes=[Mount("/admin", admin)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # a start-up guard, not a timing
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield base, config
    finally:
        stop_background_sends(admin)
        server.should_exit = True
        thread.join(timeout=30)

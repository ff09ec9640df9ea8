"""``outreach preview``: uvicorn on the address the user asked for, stopping cleanly on Ctrl+C.

Browser streams stay open for as long as a page is; uvicorn waits for open requests before it stops,
so the first Ctrl+C also closes the change feed, which ends every stream within half a second.
"""

from __future__ import annotations

import logging
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from outreach.config import Config
from outreach.errors import OutreachError
from outreach.preview.app import create_app
from outreach.preview.watch import ChangeFeed

log = logging.getLogger("outreach.preview")


class _PreviewServer(uvicorn.Server):
    """uvicorn, plus closing the change feed when asked to stop."""

    def __init__(self, config: uvicorn.Config, feed: ChangeFeed) -> None:
        super().__init__(config)
        self.feed = feed

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.feed.close()
        super().handle_exit(sig, frame)


def serve_preview(issue_path: Path, config: Config, host: str, port: int) -> None:
    """Serve the live preview of ``issue_path`` on ``host:port`` until interrupted."""
    _show_our_log()
    listening = _listen(host, port)
    feed = ChangeFeed()
    app = create_app(issue_path, config, feed=feed)
    settings = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=3, lifespan="on"
    )
    server = _PreviewServer(settings, feed)
    try:
        server.run(sockets=[listening])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl+C it handled; stopping is what the user asked for
    finally:
        listening.close()


def _listen(host: str, port: int) -> socket.socket:
    """Bind exactly ``host:port`` now: a busy port becomes one readable error, not a traceback."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        reason = err.strerror or str(err)
        raise OutreachError(
            f"cannot serve the preview on {host}:{port} ({reason}); "
            f"is another preview running? Try --port {port + 1}"
        ) from err
    sock.set_inheritable(True)
    return sock


def _show_our_log() -> None:
    """Changes and problems go to the terminal, one line each."""
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False

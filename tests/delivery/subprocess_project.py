"""What the tests that drive real ``outreach`` processes share: the command, a small issue and the
transport table that points a project at a local SMTP sink."""

from __future__ import annotations

import os
import sys

CLI = [sys.executable, "-c", "from outreach.cli import main; main()"]
ISSUE = """---
subject: A test issue
preheader: A preheader long enough to pass the check
date: 2026-12-01
audience: {topics: [monthly-newsletter]}
status: ready
---
Hello {{ subscriber.first_name | default("there") }}, and welcome.
"""


def without_spamassassin(env: dict[str, str]) -> dict[str, str]:
    """``env`` with a PATH that holds only this Python: these tests are about sending, and the send
    gate's SpamAssassin score (a second or two per run) is tested on its own."""
    return {**env, "PATH": os.path.dirname(sys.executable)}


def sink_settings(port: int, batch_size: int, max_batch: int, timeout: float) -> str:
    """``[delivery]`` sending through ``[transports.sink]``: SMTP to 127.0.0.1:``port``, 2 connections."""
    return (
        f'[delivery]\ntransport = "sink"\nbatch_size = {batch_size}\n\n'
        f'[transports.sink]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = 2\nmax_batch = {max_batch}\ntimeout = {timeout:g}\n"
    )

"""What the tests that drive real ``outreach`` processes share: the command, a small issue and the
transport table that points a project at a local SMTP sink, and running the CLI in a project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_SECRET

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


def sink_settings(
    port: int,
    batch_size: int,
    max_batch: int,
    timeout: float,
    *,
    connections: int = 2,
    processes: int = 1,
    extra: str = "",
) -> str:
    """``[delivery]`` sending through ``[transports.sink]``: SMTP to 127.0.0.1:``port`` over
    ``connections`` connections (per sending process), plus any ``extra`` keys of the transport."""
    return (
        f'[delivery]\ntransport = "sink"\nbatch_size = {batch_size}\nprocesses = {processes}\n\n'
        f'[transports.sink]\nbackend = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = {connections}\nmax_batch = {max_batch}\ntimeout = {timeout:g}\n{extra}"
    )


def environment(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    env.update(OUTREACH_SECRET_KEY=TEST_SECRET, OUTREACH_ROOT=str(root), COLUMNS="200", NO_COLOR="1")
    return without_spamassassin(env)


def outreach(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*CLI, *args],
        cwd=root,
        env=environment(root),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"outreach {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done

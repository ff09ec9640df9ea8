"""``outreach serve``: the subscriber web service under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from outreach.cli.common import RootOption, config_for, console
from outreach.delivery.wiring import build_transport, database, requires_public_links, transport_name


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    root: Path | None = RootOption,
) -> None:
    """Run the subscriber web service: sign-up, unsubscribe, preferences, archive.

    Every link in every mail points to [web] base_url of outreach.toml; run the service there (behind
    a TLS proxy in production, which passes X-Forwarded-For).

    Example: outreach serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from outreach.web.app import create_app

    config = config_for(root)
    engine = database(config)
    transport = build_transport(config, transport_name(config, None))
    requires_public_links(config, transport)
    app = create_app(config, engine, transport)
    app.state.web.mail.prepare()  # a broken confirm layout stops here, not at the first sign-up
    console.print(f"serving on http://{host}:{port}  (links in mail point to {config.base_url})")
    uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=True, server_header=False)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

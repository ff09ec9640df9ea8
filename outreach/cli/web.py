"""``outreach serve``: the subscriber web service under uvicorn."""

from __future__ import annotations

from pathlib import Path

import typer

from outreach.cli.common import RootOption, config_for, console
from outreach.config import Config
from outreach.delivery.wiring import build_transport, database, requires_public_links, transport_name


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    root: Path | None = RootOption,
) -> None:
    """Run the subscriber web service: sign-up, unsubscribe, preferences, archive.

    Every link in every mail points to [web] base_url of outreach.toml; run the service there (behind
    a TLS proxy in production: name it in [web] trusted_proxies). For a local try-out, set
    OUTREACH_BASE_URL=http://127.0.0.1:8000 so the links point here.

    Example: outreach serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from outreach.web.app import create_app
    from outreach.web.logs import log_config

    config = config_for(root)
    engine = database(config)
    transport = build_transport(config, transport_name(config, None))
    requires_public_links(config, transport)
    app = create_app(config, engine, transport)
    app.state.web.mail.prepare()  # a broken confirm layout stops here, not at the first sign-up
    for line in start_message(config, host, port):
        console.print(line, soft_wrap=True)
    # The app itself applies X-Forwarded-For, from [web] trusted_proxies only; uvicorn's own handling
    # would trust any local connection.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=log_config(),
        proxy_headers=False,
        server_header=False,
    )


def start_message(config: Config, host: str, port: int) -> list[str]:
    """What serve says as it starts: where it listens, where the mail's links point, and how to try
    it out locally when those differ."""
    here = f"http://{host}:{port}"
    source = (
        "OUTREACH_BASE_URL" if config.environ.get("OUTREACH_BASE_URL") else "[web] base_url in outreach.toml"
    )
    lines = [f"serving on {here}", f"links in mail point to {config.base_url} ({source})"]
    if config.base_url.rstrip("/") != here:
        lines.append(
            f"for a local try-out, start it with OUTREACH_BASE_URL={here} so that the links point here"
        )
    proxies = config.settings.web.trusted_proxies
    lines.append(
        f"X-Forwarded-For is believed from {', '.join(proxies)} ([web] trusted_proxies)"
        if proxies
        else "X-Forwarded-For is ignored: no [web] trusted_proxies are configured"
    )
    return lines


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

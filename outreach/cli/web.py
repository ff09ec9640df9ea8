"""``outreach serve``: the subscriber web service under uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from outreach.cli.common import RootOption, config_for, console
from outreach.config import Config
from outreach.delivery.wiring import build_transport, database, requires_public_links, transport_name


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    no_admin: bool = typer.Option(
        False, "--no-admin", help="Leave the admin app out (a public listener); also [admin] enabled = false."
    ),
    admin_only: bool = typer.Option(
        False, "--admin-only", help="Serve only the admin app, at /admin/ (a private listener)."
    ),
    root: Path | None = RootOption,
) -> None:
    """Run the subscriber web service (sign-up, unsubscribe, preferences, archive) and the admin app
    at /admin/.

    Every link in every mail points to [web] base_url of outreach.toml; run the service there (behind
    a TLS proxy in production: name it in [web] trusted_proxies). For a local try-out, set
    OUTREACH_BASE_URL=http://127.0.0.1:8000 so the links point here. To keep the admin app off the
    public listener, run `outreach serve --no-admin` there and `outreach serve --admin-only --host
    127.0.0.1 --port 8001` on a private one.

    Example: outreach serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from outreach.web.app import create_app
    from outreach.web.logs import log_config

    config = config_for(root)
    engine = database(config)
    transport = build_transport(config, transport_name(config, None))
    requires_public_links(config, transport)
    if no_admin and admin_only:
        raise typer.BadParameter("choose one of --no-admin and --admin-only")
    admin = False if no_admin else (True if admin_only else None)
    app = create_app(config, engine, transport, admin=admin, subscriber_pages=not admin_only)
    app.state.web.mail.prepare()  # a broken confirm layout stops here, not at the first sign-up
    for line in start_message(config, host, port, admin=admin_present(app), admin_only=admin_only):
        console.print(line, soft_wrap=True, markup=False)
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


def admin_present(app: Any) -> bool:
    return any(getattr(route, "path", "") == "/admin" for route in app.routes)


def start_message(
    config: Config, host: str, port: int, admin: bool = False, admin_only: bool = False
) -> list[str]:
    """What serve says as it starts: where it listens, where the mail's links point, and how to try
    it out locally when those differ."""
    here = f"http://{host}:{port}"
    if admin_only:
        return [
            f"serving the admin app only on {here}/admin/",
            "sign in with a user of `outreach users list`",
        ]
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
    lines.append(f"the admin app is at {here}/admin/" if admin else "the admin app is not served here")
    return lines


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

"""Where mail sent through a named transport goes, said so that staff know where to look for it."""

from __future__ import annotations

from outreach.config import Config

PROVIDERS = {
    "ses": "Amazon SES",
    "sendgrid": "SendGrid",
    "postmark": "Postmark",
    "mailgun": "Mailgun",
}


def where_mail_goes(config: Config, name: str) -> str:
    """One phrase: 'the outbox transport: files in /srv/vaimh/outbox/new on the server (...)'."""
    settings = config.transport(name)
    options = settings.options
    if settings.backend == "maildir":
        folder = config.root / str(options.get("path", "outbox")) / "new"
        return (
            f"the {name} transport: one file per message in {folder} on the server "
            "(a Maildir folder any mail program opens; nothing leaves this machine)"
        )
    if settings.backend == "memory":
        return f"the {name} transport: kept in memory by this process (for tests; nothing is delivered)"
    if settings.backend == "smtp":
        host = options.get("host", "localhost")
        port = options.get("port")
        return f"the {name} transport: the SMTP server {host}" + (f":{port}" if port else "")
    return f"the {name} transport: {PROVIDERS.get(settings.backend, settings.backend)}'s sending API"

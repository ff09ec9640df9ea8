"""The ways a message leaves: one module per transport, all behind the contract in ``base``.

``transport_from_config`` is the only place that reads a ``[transports.NAME]`` table and the
environment; constructors take plain values, so tests build transports directly. Backend modules are
imported only when used (boto3 is heavy and optional).

    [transports.outbox]            [transports.relay]              [transports.postmark]
    backend = "maildir"            backend = "smtp"                backend = "postmark"
    path = "outbox"                host = "smtp.example.org"       # OUTREACH_POSTMARK_TOKEN
                                   port = 587
                                   security = "starttls"
                                   username = "news"
                                   # OUTREACH_SMTP_PASSWORD
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from outreach.transports.base import Outcome, OutgoingMessage, SendResult, Transport
from outreach.transports.options import Options

if TYPE_CHECKING:  # a sending process builds its transport without loading the settings' models
    from outreach.config import Transport as TransportSettings

__all__ = [
    "Outcome",
    "OutgoingMessage",
    "SendResult",
    "Transport",
    "backend_modules",
    "transport_from_config",
]


def transport_from_config(
    name: str, settings: TransportSettings, environ: Mapping[str, str], root: Path
) -> Transport:
    """Build the transport ``[transports.NAME]`` describes; ConfigError names the key or variable at fault."""
    options = Options(name, settings.options, environ)
    transport = _BUILDERS[settings.backend](options, root)
    options.done()
    return transport


def _maildir(options: Options, root: Path) -> Transport:
    from outreach.transports.maildir import MaildirTransport

    return MaildirTransport(options.name, root / options.text("path", "outbox"))


def _memory(options: Options, root: Path) -> Transport:
    from outreach.transports.memory import MemoryTransport

    return MemoryTransport(options.name)


def _smtp(options: Options, root: Path) -> Transport:
    from outreach.transports.smtp import Security, SmtpSettings, SmtpTransport

    security = options.choice("security", ("none", "starttls", "tls"), "starttls")
    default_port = {"none": 25, "starttls": 587, "tls": 465}[security]
    username = options.text("username", "")
    password = ""
    if username:
        password = options.secret(
            "password_env", "OUTREACH_SMTP_PASSWORD", f"the SMTP password of {username}"
        )
    else:
        options.text("password_env", "")
    settings = SmtpSettings(
        host=options.text("host"),
        port=options.integer("port", default_port, minimum=1, maximum=65535),
        security=cast(Security, security),
        username=username,
        password=password,
        timeout=options.number("timeout", 30.0),
        connections=options.integer("connections", 4, minimum=1, maximum=100),
        tls_verify=options.flag("tls_verify", True),
        local_hostname=options.text("local_hostname", "") or None,
        max_batch=options.integer("max_batch", 50, minimum=1),
    )
    return SmtpTransport(options.name, settings)


def _ses(options: Options, root: Path) -> Transport:
    from outreach.transports.ses import SesCredentials, SesTransport

    chain = options.choice("credentials", ("environment", "default-chain"), "environment")
    credentials = None
    if chain == "environment":
        credentials = SesCredentials(
            access_key_id=options.secret("access_key_id_env", "AWS_ACCESS_KEY_ID", "the AWS access key id"),
            secret_access_key=options.secret(
                "secret_access_key_env", "AWS_SECRET_ACCESS_KEY", "the AWS secret access key"
            ),
            session_token=options.secret(
                "session_token_env", "AWS_SESSION_TOKEN", "the AWS session token", required=False
            ),
        )
    return SesTransport(
        options.name,
        region=options.text("region", "us-east-1"),
        credentials=credentials,
        endpoint_url=options.text("base_url", "") or None,
        configuration_set=options.text("configuration_set", ""),
        timeout=options.number("timeout", 30.0),
        max_batch=options.integer("max_batch", 50, minimum=1),
    )


def _sendgrid(options: Options, root: Path) -> Transport:
    from outreach.transports.sendgrid import DEFAULT_BASE_URL, SendgridTransport

    return SendgridTransport(
        options.name,
        api_key=options.secret("api_key_env", "OUTREACH_SENDGRID_API_KEY", "the SendGrid API key"),
        base_url=options.text("base_url", DEFAULT_BASE_URL),
        timeout=options.number("timeout", 30.0),
        max_batch=options.integer("max_batch", 50, minimum=1),
    )


def _postmark(options: Options, root: Path) -> Transport:
    from outreach.transports.postmark import BATCH_LIMIT, DEFAULT_BASE_URL, PostmarkTransport

    return PostmarkTransport(
        options.name,
        server_token=options.secret("token_env", "OUTREACH_POSTMARK_TOKEN", "the Postmark server token"),
        base_url=options.text("base_url", DEFAULT_BASE_URL),
        message_stream=options.text("message_stream", "broadcast"),
        timeout=options.number("timeout", 30.0),
        max_batch=options.integer("max_batch", BATCH_LIMIT, minimum=1, maximum=BATCH_LIMIT),
    )


def _mailgun(options: Options, root: Path) -> Transport:
    from outreach.transports.mailgun import REGION_URLS, MailgunTransport

    region = options.choice("region", tuple(REGION_URLS), "us")
    return MailgunTransport(
        options.name,
        domain=options.text("domain"),
        api_key=options.secret("api_key_env", "OUTREACH_MAILGUN_API_KEY", "the Mailgun API key"),
        base_url=options.text("base_url", REGION_URLS[region]),
        timeout=options.number("timeout", 30.0),
        max_batch=options.integer("max_batch", 50, minimum=1),
    )


_BUILDERS: dict[str, Callable[[Options, Path], Transport]] = {
    "maildir": _maildir,
    "memory": _memory,
    "smtp": _smtp,
    "ses": _ses,
    "sendgrid": _sendgrid,
    "postmark": _postmark,
    "mailgun": _mailgun,
}


def backend_modules() -> list[str]:
    """The module each backend's transport lives in (the builders import them only when asked): a
    process that is about to build transports can import them ahead, once."""
    return [f"outreach.transports.{backend}" for backend in _BUILDERS]

"""transport_from_config: every backend from outreach.toml; every mistake names its key or variable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outreach.config import Transport as TransportSettings
from outreach.errors import ConfigError
from outreach.transports import transport_from_config
from outreach.transports.maildir import MaildirTransport
from outreach.transports.mailgun import MailgunTransport
from outreach.transports.memory import MemoryTransport
from outreach.transports.postmark import PostmarkTransport
from outreach.transports.sendgrid import SendgridTransport
from outreach.transports.smtp import SmtpTransport

ENV = {
    "OUTREACH_SMTP_PASSWORD": "pw",
    "OUTREACH_SENDGRID_API_KEY": "sg",
    "OUTREACH_POSTMARK_TOKEN": "pm",
    "OUTREACH_MAILGUN_API_KEY": "mg",
    "AWS_ACCESS_KEY_ID": "id",
    "AWS_SECRET_ACCESS_KEY": "secret",
}


def build(table: dict[str, Any], environ: dict[str, str] | None = None, name: str = "out") -> Any:
    settings = TransportSettings.model_validate(table)
    return transport_from_config(name, settings, ENV if environ is None else environ, Path("/project"))


def test_maildir_default_path_is_under_the_project_root() -> None:
    transport = build({"backend": "maildir"})
    assert isinstance(transport, MaildirTransport)
    assert transport.path == Path("/project/outbox")
    assert build({"backend": "maildir", "path": "spool/out"}).path == Path("/project/spool/out")


def test_every_backend_builds() -> None:
    assert isinstance(build({"backend": "memory"}), MemoryTransport)
    smtp = build({"backend": "smtp", "host": "mail.example.org", "username": "news"})
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.settings.port, smtp.settings.security, smtp.settings.password) == (587, "starttls", "pw")
    assert build({"backend": "smtp", "host": "h", "security": "tls"}).settings.port == 465
    assert isinstance(build({"backend": "sendgrid"}), SendgridTransport)
    postmark = build({"backend": "postmark", "message_stream": "newsletter"})
    assert isinstance(postmark, PostmarkTransport) and postmark.message_stream == "newsletter"
    mailgun = build({"backend": "mailgun", "domain": "mg.vaimh.example", "region": "eu"})
    assert isinstance(mailgun, MailgunTransport) and mailgun.base_url == "https://api.eu.mailgun.net"
    assert build({"backend": "sendgrid", "base_url": "http://127.0.0.1:9"}).base_url == "http://127.0.0.1:9"


def test_ses_builds_without_touching_the_network() -> None:
    pytest.importorskip("boto3")
    ses = build({"backend": "ses", "region": "eu-west-1"})
    assert ses.region == "eu-west-1" and ses.endpoint == "email.eu-west-1.amazonaws.com"


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"backend": "smtp"}, "transports.out.host"),
        ({"backend": "smtp", "host": "h", "port": "587"}, "transports.out.port"),
        ({"backend": "smtp", "host": "h", "port": 70000}, "transports.out.port"),
        ({"backend": "smtp", "host": "h", "security": "ssl"}, "transports.out.security"),
        ({"backend": "smtp", "host": "h", "tls_verify": "no"}, "transports.out.tls_verify"),
        ({"backend": "smtp", "host": "h", "timeout": 0}, "transports.out.timeout"),
        ({"backend": "smtp", "host": "h", "hots": "x"}, "transports.out.hots"),
        ({"backend": "mailgun", "domain": "d", "region": "asia"}, "transports.out.region"),
        ({"backend": "mailgun"}, "transports.out.domain"),
        ({"backend": "postmark", "max_batch": 501}, "transports.out.max_batch"),
        ({"backend": "maildir", "password": "oops"}, "transports.out.password"),
    ],
)
def test_a_wrong_option_names_its_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(table)
    assert caught.value.key == key
    assert f"[{key}]" in str(caught.value)


@pytest.mark.parametrize(
    ("table", "variable"),
    [
        ({"backend": "smtp", "host": "h", "username": "news"}, "OUTREACH_SMTP_PASSWORD"),
        ({"backend": "smtp", "host": "h", "username": "news", "password_env": "RELAY_PW"}, "RELAY_PW"),
        ({"backend": "sendgrid"}, "OUTREACH_SENDGRID_API_KEY"),
        ({"backend": "postmark"}, "OUTREACH_POSTMARK_TOKEN"),
        ({"backend": "mailgun", "domain": "d"}, "OUTREACH_MAILGUN_API_KEY"),
        ({"backend": "ses"}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_a_missing_secret_names_the_variable(table: dict[str, Any], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build(table, environ={})
    assert caught.value.key == variable
    assert f"set the environment variable {variable}" in str(caught.value)


def test_ses_may_use_the_default_credential_chain() -> None:
    pytest.importorskip("boto3")
    assert build({"backend": "ses", "credentials": "default-chain"}, environ={}).backend == "ses"


def test_the_sites_own_config_builds_its_default_transport(tmp_path: Path) -> None:
    from outreach.config import load_config

    repo = Path(__file__).resolve().parents[2]
    config = load_config(repo, environ={})
    transport = transport_from_config(
        config.settings.delivery.transport, config.transport(), config.environ, config.root
    )
    assert isinstance(transport, MaildirTransport)

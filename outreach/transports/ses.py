"""Amazon SES (API v2) through boto3: ``SendEmail`` with ``Content.Raw``, one call per message.

SES v2 has no batch form for raw messages (bulk sending needs templates, which would mean composing
on Amazon's side), so each message is one signed request; boto3's client is thread-safe and keeps a
connection pool, so the workers' threads give the parallelism. boto3 does the SigV4 signing, which is
not worth owning. Its own retries are switched off: a retried request whose first answer was lost
could send a message twice, and retrying is the ledger's decision.

SES sets the envelope return path itself (or a custom MAIL FROM domain configured there), so
``envelope_from`` is not used; ``FromEmailAddress`` is the From header's address, which must be a
verified identity. The ledger key travels as the message tag ``outreach_key`` when it fits SES's tag
alphabet.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from outreach.errors import TransportError
from outreach.transports.base import (
    Outcome,
    OutgoingMessage,
    Receipts,
    SendResult,
    Transport,
    not_attempted,
    one_line,
    stopped,
)
from outreach.transports.http import classify_http

_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

ERROR_CODES: dict[str, Outcome] = {
    "TooManyRequestsException": Outcome.RETRY,
    "LimitExceededException": Outcome.RETRY,
    "ThrottlingException": Outcome.RETRY,
    "Throttling": Outcome.RETRY,
    "ServiceUnavailable": Outcome.RETRY,
    "InternalFailure": Outcome.RETRY,
    "MailFromDomainNotVerifiedException": Outcome.BLOCKED,
    "AccountSuspendedException": Outcome.BLOCKED,
    "SendingPausedException": Outcome.BLOCKED,
    "NotFoundException": Outcome.BLOCKED,  # the configuration set does not exist
    "AccessDeniedException": Outcome.BLOCKED,
    "UnrecognizedClientException": Outcome.BLOCKED,
    "InvalidClientTokenId": Outcome.BLOCKED,
    "SignatureDoesNotMatch": Outcome.BLOCKED,
    "ExpiredTokenException": Outcome.BLOCKED,
    "MessageRejected": Outcome.REJECTED,  # unless it is about our identity: see _outcome
    "BadRequestException": Outcome.REJECTED,
    "InvalidParameterValue": Outcome.REJECTED,
}


@dataclass(frozen=True, slots=True)
class SesCredentials:
    """Keys read from the environment by the factory; None means boto3's own chain (an instance role)."""

    access_key_id: str
    secret_access_key: str
    session_token: str = ""


class SesTransport(Transport):
    backend = "ses"

    def __init__(
        self,
        name: str,
        region: str,
        credentials: SesCredentials | None,
        endpoint_url: str | None = None,
        configuration_set: str = "",
        timeout: float = 30.0,
        max_batch: int = 50,
    ) -> None:
        super().__init__(name)
        self.region = region
        self.endpoint_url = endpoint_url
        self.configuration_set = configuration_set
        self.timeout = timeout
        self.max_batch = max_batch
        self._credentials = credentials
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return self.endpoint_url or f"email.{self.region}.amazonaws.com"

    def open(self) -> None:
        with self._lock:
            if self._client is not None:
                return
            try:
                import boto3
                from botocore.config import Config as BotoConfig
            except ImportError as err:
                raise TransportError(
                    "boto3 is not installed; pip install boto3", provider="ses", endpoint=self.endpoint
                ) from err
            keys: dict[str, str] = {}
            if self._credentials is not None:
                keys = {
                    "aws_access_key_id": self._credentials.access_key_id,
                    "aws_secret_access_key": self._credentials.secret_access_key,
                }
                if self._credentials.session_token:
                    keys["aws_session_token"] = self._credentials.session_token
            session = boto3.session.Session(region_name=self.region, **keys)
            config = BotoConfig(
                retries={"total_max_attempts": 1, "mode": "standard"},
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                max_pool_connections=32,
            )
            self._client = session.client("sesv2", endpoint_url=self.endpoint_url, config=config)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def deliver(self, messages: Sequence[OutgoingMessage], receipts: Receipts) -> None:
        self.open()
        halt: SendResult | None = None
        for message in messages:
            if halt is None and not receipts.handing((message,)):
                halt = stopped(message.key)
            if halt is not None:
                receipts.answered(not_attempted(message, halt))
                continue
            result = self._send_one(message)
            receipts.answered(result)
            if result.outcome in (Outcome.RETRY, Outcome.BLOCKED):
                halt = result

    def _request(self, message: OutgoingMessage) -> dict[str, Any]:
        request: dict[str, Any] = {
            "FromEmailAddress": parseaddr(message.from_header)[1] or message.from_header,
            "Destination": {"ToAddresses": [message.recipient]},
            "Content": {"Raw": {"Data": message.raw}},
        }
        if _TAG_VALUE.match(message.key):
            request["EmailTags"] = [{"Name": "outreach_key", "Value": message.key}]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        return request

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        try:
            answer = self._client.send_email(**self._request(message))
        except ClientError as err:
            return self._client_error(message, err.response)
        except (ReadTimeoutError, ConnectionClosedError) as err:
            detail = f"{self.endpoint}: {err}; the message may have been accepted"
            return SendResult(message.key, Outcome.RETRY, "timeout", detail, uncertain=True)
        except (ConnectTimeoutError, EndpointConnectionError) as err:
            return SendResult(message.key, Outcome.RETRY, "connect", f"{self.endpoint}: {err}")
        except BotoCoreError as err:
            return SendResult(message.key, Outcome.RETRY, "error", f"{self.endpoint}: {err}")
        status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
        return SendResult(
            message.key, Outcome.SENT, f"HTTP {status}", "accepted", str(answer.get("MessageId", ""))
        )

    def _client_error(self, message: OutgoingMessage, response: dict[str, Any]) -> SendResult:
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        text = one_line(str(error.get("Message", "")))
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        outcome = _outcome(code, text, status)
        return SendResult(message.key, outcome, f"HTTP {status} {code}".strip(), text)


def _outcome(code: str, text: str, status: int) -> Outcome:
    """SES's error code first; "MessageRejected" about an unverified identity is ours to fix: pause."""
    if code == "MessageRejected" and re.search(r"not verified|authority to send", text, re.IGNORECASE):
        return Outcome.BLOCKED
    return ERROR_CODES.get(code) or classify_http(status or 500)

"""The only two requests the SES webhook makes: fetch an SNS signing certificate, confirm a subscription.

Both URLs are checked before they get here (``ses.SnsVerifier.check``: Amazon's SNS host of the
topic's region, an allowed topic). The requests follow no redirects (a redirect could lead anywhere),
time out after a few seconds, and read at most ``MAX_CERTIFICATE`` bytes of a certificate. A failure
is ``Unavailable`` (HTTP 503), so SNS retries the delivery later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from outreach.events.model import Unavailable

MAX_CERTIFICATE = 16 * 1024
"""Bytes; an SNS certificate in PEM is about 2 KB."""
TIMEOUT = 10.0


def _client() -> httpx.Client:
    return httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False)


@dataclass
class SnsHttp:
    """GETs through one ``httpx.Client`` (tests hand in one routed to a local server)."""

    client: httpx.Client = field(default_factory=_client)

    def fetch_certificate(self, url: str) -> bytes:
        """The body of ``url`` (a PEM certificate), or Unavailable."""
        try:
            with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise Unavailable(
                        f"the SNS signing certificate {url} answered HTTP {response.status_code}"
                    )
                body = b""
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_CERTIFICATE:
                        raise Unavailable(
                            f"the SNS signing certificate {url} is larger than {MAX_CERTIFICATE} bytes"
                        )
                return body
        except httpx.HTTPError as err:
            raise Unavailable(f"cannot fetch the SNS signing certificate {url}: {err}") from err

    def visit(self, url: str) -> None:
        """GET a SubscribeURL, which confirms the subscription; Unavailable unless it answers 2xx."""
        try:
            response = self.client.get(url)
        except httpx.HTTPError as err:
            raise Unavailable(f"cannot confirm the SNS subscription at {url}: {err}") from err
        if not response.is_success:
            raise Unavailable(
                f"confirming the SNS subscription at {url} answered HTTP {response.status_code}"
            )

    def close(self) -> None:
        self.client.close()

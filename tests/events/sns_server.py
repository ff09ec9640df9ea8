"""A local stand-in for Amazon's SNS host: the service's real HTTP requests, answered on 127.0.0.1.

``SnsHttp`` (the production fetcher) gets an httpx client whose transport sends every request for
``https://sns.<region>.amazonaws.com/...`` to a pytest-httpserver instead, which serves the test
signer's certificate and accepts subscription confirmations, and logs every request it received.
"""

from __future__ import annotations

import httpx
from pytest_httpserver import HTTPServer

from outreach.events.sns_http import SnsHttp
from tests.events.signing import CERT_URL, SnsSigner

CERT_PATH = httpx.URL(CERT_URL).path


class ToLocalServer(httpx.BaseTransport):
    """Sends every request to the local server instead of the host in its URL (Amazon's)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server, self.inner = server, httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url.copy_with(scheme="http", host=self.server.host, port=self.server.port)
        return self.inner.handle_request(httpx.Request(request.method, url, headers=request.headers))

    def close(self) -> None:
        self.inner.close()


def serve_sns(server: HTTPServer, signer: SnsSigner) -> SnsHttp:
    """Make ``server`` answer as SNS does for ``signer``; the fetcher that reaches it."""
    server.expect_request(CERT_PATH).respond_with_data(signer.pem, content_type="application/x-pem-file")
    server.expect_request("/").respond_with_data("ok")  # SubscribeURL: ?Action=ConfirmSubscription&...
    return SnsHttp(httpx.Client(transport=ToLocalServer(server), follow_redirects=False, timeout=5))


def requests(server: HTTPServer) -> list[str]:
    """The path and query of every request the server received, in order."""
    return [request.full_path.rstrip("?") for request, _ in server.log]

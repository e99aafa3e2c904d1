"""The one outbound HTTP seam (ARCHITECTURE: Network): every call to a vendor goes through here.

A `client()` has bounded timeouts, a user agent naming Relance, and no redirects followed (a
vendor that redirects a send is misconfigured, not something to chase). `HttpFailure` turns
transport errors and HTTP statuses into the one question a provider asks: may a retry help?
Nothing here logs a URL query, a header or a body: they carry credentials and personal data.
"""

from __future__ import annotations

import httpx

USER_AGENT = "Relance/0.1 (+https://relance.invalid)"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Statuses after which the same request may succeed later.
TEMPORARY = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class HttpFailure(Exception):
    """A request that did not succeed: `status` is 0 when no answer came (refused, timeout)."""

    def __init__(self, message: str, *, status: int = 0, temporary: bool = True):
        super().__init__(message)
        self.status = status
        self.temporary = temporary


def client(*, base_url: str = "", auth=None, headers: dict | None = None, timeout=TIMEOUT) -> httpx.Client:
    return httpx.Client(base_url=base_url, auth=auth, timeout=timeout, follow_redirects=False,
                        headers={"User-Agent": USER_AGENT, **(headers or {})})


def request(http: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    """Send; raise HttpFailure for a transport error or a status ≥ 400 (temporary or not)."""
    try:
        response = http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise HttpFailure("timeout") from None
    except httpx.TransportError as exc:
        raise HttpFailure(f"transport error: {type(exc).__name__}") from None
    if response.status_code >= 400:
        raise HttpFailure(f"HTTP {response.status_code}", status=response.status_code,
                          temporary=response.status_code in TEMPORARY)
    return response

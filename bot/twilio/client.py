"""The official twilio Client, optionally pointed at another API base (``TWILIO_API_URL``).

Twilio's region/edge settings only rewrite ``*.twilio.com`` host names, so a proxy or a local stand-in
needs an HTTP client that rewrites the whole base. It also keeps the last response per thread, because
``TwilioRestException`` drops the headers (we need ``Retry-After`` on a 429).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

from requests.adapters import HTTPAdapter
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from bot.config import Settings

DEFAULT_TIMEOUT = 30.0


class RewritingHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` that sends ``https://*.twilio.com/...`` to ``api_url`` instead."""

    def __init__(self, api_url: str = "", *, timeout: float = DEFAULT_TIMEOUT, pool_size: int = 16) -> None:
        super().__init__(timeout=timeout)
        self.api_url = api_url.rstrip("/")
        self._local = threading.local()
        if self.session is not None:
            for scheme in ("http://", "https://"):
                self.session.mount(scheme, HTTPAdapter(pool_connections=4, pool_maxsize=pool_size))

    def rewrite(self, url: str) -> str:
        if not self.api_url:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        base = urlsplit(self.api_url)
        path = base.path.rstrip("/") + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self._local.last_response = None
        response = super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._local.last_response = response
        return response

    def last_response(self) -> Response | None:
        """The response of this thread's latest request (None if it got no answer)."""
        return getattr(self._local, "last_response", None)


def build_client(settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, pool_size: int = 16) -> Client:
    """A twilio ``Client`` for the configured account, through ``RewritingHttpClient``."""
    http_client = RewritingHttpClient(settings.twilio_api_url, timeout=timeout, pool_size=pool_size)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)

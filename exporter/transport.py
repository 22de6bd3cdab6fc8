"""Send a vendor SDK's https URLs to a configured http base URL.

simple-salesforce builds every URL as ``https://{instance}/...`` and logs in at
``https://login.salesforce.com``; Google's media URLs keep https too. When a source's base
URL is plain http (the sandbox, or a vendor-provided test double), its SDK is handed a
:class:`LoopbackSession`, which rewrites those URLs. This is the one place that does it:
the sandbox tests and the connectors both use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

__all__ = ["LoopbackHttp", "LoopbackSession", "rewrite_url"]

#: Hosts that SDKs hard-code for login; they go to the configured base URL too.
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")


def rewrite_url(url: str, base_url: str, extra_hosts: Iterable[str] = LOGIN_HOSTS) -> str:
    """``url`` with its scheme and host replaced by ``base_url``'s, when it points at
    ``base_url``'s host or one of ``extra_hosts``; otherwise ``url`` unchanged."""
    target = urlsplit(base_url)
    parts = urlsplit(url)
    if parts.netloc == target.netloc or parts.hostname in set(extra_hosts):
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
    return url


class LoopbackSession(requests.Session):
    """A ``requests.Session`` whose requests to the base URL's host (whatever scheme the SDK
    used) and to the vendors' login hosts go to ``base_url``."""

    def __init__(self, base_url: str, extra_hosts: Iterable[str] = LOGIN_HOSTS) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.extra_hosts = tuple(extra_hosts)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if isinstance(url, bytes):
            url = url.decode()
        if isinstance(method, bytes):
            method = method.decode()
        return super().request(method, rewrite_url(url, self.base_url, self.extra_hosts),
                               *args, **kwargs)


class LoopbackHttp:
    """An ``httplib2.Http`` look-alike over :class:`LoopbackSession`, for
    google-api-python-client: its media-upload URLs keep https even when ``api_endpoint`` is
    http, and this sends them to the http base URL as well."""

    def __init__(self, base_url: str, timeout: float = 60) -> None:
        self.session = LoopbackSession(base_url, extra_hosts=())
        self.timeout = timeout
        self.connections: dict[str, Any] = {}  # httplib2.Http has it; google-auth reads it

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: dict[str, str] | None = None, redirections: int = 5,
                connection_type: Any = None) -> tuple[Any, bytes]:
        import httplib2  # google-api-python-client's transport; only needed here

        r = self.session.request(method, uri, data=body, headers=headers, timeout=self.timeout,
                                 allow_redirects=False)
        info = {k.lower(): v for k, v in r.headers.items()}
        info["status"] = str(r.status_code)
        return httplib2.Response(info), r.content

"""HTTP for the vulnerability feature: fetching KEV/EPSS feeds and posting tickets to a webhook.

The only module under tools/vulns that speaks HTTP. httpx errors become the project's own error types, and
response bodies are size-capped while streaming so a wrong URL cannot fill memory.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from tools.errors import BadResponse, ConfigError, Unreachable, UpstreamError

DEFAULT_TIMEOUT = 60.0


def require_http_url(url: str) -> str:
    """The URL itself when it is http(s) with a host; ConfigError otherwise (no file://, ftp://, …)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"{url!r}: only http:// and https:// URLs are allowed")
    return url


def fetch_bytes(
    url: str, *, http: httpx.Client | None = None, max_bytes: int, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """GET a feed; the body, or UpstreamError naming the URL and status (bigger than max_bytes is one)."""
    require_http_url(url)
    client = http or httpx.Client(timeout=timeout, follow_redirects=True)
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise UpstreamError(f"GET {url} answered {response.status_code}", status=response.status_code)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise BadResponse(f"GET {url}: body larger than {max_bytes} bytes", url=url)
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TransportError as exc:
        raise Unreachable(f"GET {url} failed ({type(exc).__name__})", url=url) from None
    finally:
        if http is None:
            client.close()


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str],
    http: httpx.Client | None = None,
    timeout: float = 30.0,
) -> tuple[int, str]:
    """POST a JSON document (a ticket); returns (status, first 500 characters of the body) on 2xx."""
    require_http_url(url)
    client = http or httpx.Client(timeout=timeout)
    try:
        response = client.post(url, json=payload, headers=headers)
    except httpx.TransportError as exc:
        raise Unreachable(f"POST {url} failed ({type(exc).__name__})", url=url) from None
    finally:
        if http is None:
            client.close()
    if not 200 <= response.status_code < 300:
        raise UpstreamError(
            f"POST {url} answered {response.status_code}: {response.text[:200]}",
            status=response.status_code,
            url=url,
        )
    return response.status_code, response.text[:500]

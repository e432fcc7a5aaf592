"""Docker Hub's pull rate limit, read the documented way: an anonymous (or authenticated) pull token for
`ratelimitpreview/test`, then a HEAD of its manifest, whose `ratelimit-limit` / `ratelimit-remaining`
headers (`100;w=21600`) say the limit, what is left and the window. A HEAD does not count as a pull.

The only module in tools/events that speaks HTTP; URLs are parameters so tests use a local fake.
"""

from __future__ import annotations

import re
from datetime import datetime

import httpx
from pydantic import BaseModel, Field, SecretStr

from tools.errors import AuthError, BadResponse, RateLimited, Unreachable, UpstreamError
from tools.registry.media_types import ACCEPT_MANIFESTS

DOCKER_HUB_AUTH_URL = "https://auth.docker.io/token"
DOCKER_HUB_REGISTRY_URL = "https://registry-1.docker.io"
RATE_LIMIT_REPOSITORY = "ratelimitpreview/test"
_HEADER = re.compile(r"^\s*(\d+)\s*(?:;\s*w\s*=\s*(\d+))?")


class RateLimit(BaseModel):
    """Docker Hub's pull allowance as seen from the address (and account) that asked."""

    limit: int | None = Field(description="pulls allowed per window; None when Docker Hub sent no header")
    remaining: int | None = Field(description="pulls left in the window")
    window_seconds: int | None = None
    source: str = Field(default="", description="what Docker Hub counts against (an IP or an account id)")
    authenticated: bool
    checked_at: datetime
    note: str | None = None


def parse_rate_header(value: str | None) -> tuple[int | None, int | None]:
    """`100;w=21600` -> (100, 21600); (None, None) when absent or unreadable."""
    match = _HEADER.match(value or "")
    if match is None:
        return None, None
    window = match.group(2)
    return int(match.group(1)), int(window) if window else None


class DockerHubClient:
    """Reads Docker Hub's rate-limit headers; never pulls anything."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        auth_url: str = DOCKER_HUB_AUTH_URL,
        registry_url: str = DOCKER_HUB_REGISTRY_URL,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._http = http
        self._auth_url = auth_url
        self._registry_url = registry_url.rstrip("/")
        self._username = username
        self._password = SecretStr(password) if password else None

    def rate_limit(self, *, now: datetime) -> RateLimit:
        """The current limit and remaining pulls (UpstreamError subclasses when Docker Hub cannot say)."""
        token = self._token()
        url = f"{self._registry_url}/v2/{RATE_LIMIT_REPOSITORY}/manifests/latest"
        headers = {"Authorization": f"Bearer {token}", "Accept": ACCEPT_MANIFESTS}
        response = self._send("HEAD", url, headers=headers)
        if response.status_code in (401, 403):
            raise AuthError(f"Docker Hub refused the rate-limit check (HTTP {response.status_code})")
        limit, window = parse_rate_header(response.headers.get("ratelimit-limit"))
        remaining, _ = parse_rate_header(response.headers.get("ratelimit-remaining"))
        if response.status_code == 429 and remaining is None:
            raise RateLimited("Docker Hub answered 429 without rate-limit headers", status=429)
        if response.status_code >= 400 and response.status_code != 429:
            raise UpstreamError(f"Docker Hub HEAD manifest failed with HTTP {response.status_code}")
        note = None
        if limit is None:
            note = "no rate-limit headers: this account is not limited (or Docker Hub stopped sending them)"
        return RateLimit(
            limit=limit,
            remaining=remaining,
            window_seconds=window,
            source=response.headers.get("docker-ratelimit-source", ""),
            authenticated=self._username is not None,
            checked_at=now,
            note=note,
        )

    def _token(self) -> str:
        params = {"service": "registry.docker.io", "scope": f"repository:{RATE_LIMIT_REPOSITORY}:pull"}
        auth = None
        if self._username and self._password is not None:
            auth = httpx.BasicAuth(self._username, self._password.get_secret_value())
        response = self._send("GET", self._auth_url, params=params, auth=auth)
        if response.status_code in (401, 403):
            raise AuthError("Docker Hub rejected the credentials for the rate-limit check")
        if response.status_code >= 400:
            raise UpstreamError(f"Docker Hub token request failed with HTTP {response.status_code}")
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
            raise BadResponse("Docker Hub's token answer is not JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse("Docker Hub's token answer has no token")
        return token

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.Response:
        try:
            return self._http.request(method, url, params=params, headers=headers, auth=auth)
        except httpx.TimeoutException:
            raise Unreachable(f"Docker Hub ({httpx.URL(url).host}) did not answer in time") from None
        except httpx.HTTPError as exc:
            raise Unreachable(
                f"cannot reach Docker Hub ({httpx.URL(url).host}): {type(exc).__name__}"
            ) from None

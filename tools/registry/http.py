"""The pooled HTTP client shared by registry clients: no cookie jar, since registries need none."""

from __future__ import annotations

import httpx

# Registries report every manifest GET/HEAD as a pull; this user agent lets the event statistics tell
# Regent's own crawling apart from real use (tools/events/stats.py never counts it).
USER_AGENT = "regent/0.1 (+inventory)"


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing; skips httpx's per-response cookie parsing (~0.1 ms a request)."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Ignore Set-Cookie: a registry session must never ride on cookies."""


class CookielessClient(httpx.Client):
    """httpx.Client that never stores or sends cookies."""

    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        """Always empty."""
        return self._no_cookies

    @cookies.setter
    def cookies(self, value: object) -> None:
        del value  # ignored on purpose


def pooled_client(*, connections: int, timeout: float = 30.0, verify: bool | str = True) -> httpx.Client:
    """One pooled client for many registries (building an httpx.Client costs ~0.3 s of CPU)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return CookielessClient(
        limits=limits,
        timeout=httpx.Timeout(timeout, connect=5.0),
        verify=verify,
        headers={"User-Agent": USER_AGENT},
    )

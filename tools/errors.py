"""The project's own error types; clients translate third-party exceptions into these."""

from __future__ import annotations


class RegentError(Exception):
    """Base of every error Regent raises on purpose; its message is safe to show a user."""


class ConfigError(RegentError):
    """Configuration or input file is invalid; the message names the location."""


class UpstreamError(RegentError):
    """A remote system (registry, Portainer, engine) failed or answered unexpectedly."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class Unreachable(UpstreamError):
    """The remote system could not be reached at all (connection refused, DNS, timeout)."""


class AuthError(UpstreamError):
    """The remote system rejected our credentials (401/403)."""


class NotFound(UpstreamError):
    """The remote object does not exist (404 and registry *_UNKNOWN codes)."""


class RateLimited(UpstreamError):
    """The remote system asked us to slow down (429) and retries ran out."""


class BadResponse(UpstreamError):
    """The remote system answered with something we cannot parse or trust."""

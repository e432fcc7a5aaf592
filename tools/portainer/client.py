"""Portainer HTTP client (CE and BE): the only module in tools/portainer that speaks HTTP.

Registry, user and deployment methods are mixed in from tools/portainer/registries.py, users.py and
deployments.py; they call this class's `_get`/`_write` and speak no HTTP themselves.

API key auth by default; username/password logs in once and caches the JWT (Portainer bans an IP that
logs in more than 10 times a second). GETs are retried on transport errors, 429 and 5xx; nothing else is.
Every httpx exception and error status becomes a tools.errors type whose message never holds a secret.
"""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from tools.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    NotFound,
    RateLimited,
    Unreachable,
    UpstreamError,
)
from tools.inventory.models import Environment
from tools.portainer import environments as convert
from tools.portainer.deployments import DeploymentCalls
from tools.portainer.engine import EngineCalls
from tools.portainer.models import (
    AuthLog,
    AuthLogPage,
    EditionSeen,
    Endpoint,
    PortainerStatus,
    SystemStatus,
    SystemVersion,
    parse_as,
)
from tools.portainer.registries import EcrCredentials, RegistryCalls, RegistryProxy
from tools.portainer.users import UserCalls
from tools.registry.retry import RetryableStatus, wait_for_retry

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_PAGES = 10_000
__all__ = ["EcrCredentials", "PortainerClient", "RegistryProxy"]


class PortainerClient(RegistryCalls, UserCalls, DeploymentCalls, EngineCalls):
    """A synchronous client for one Portainer server."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        verify: bool | str = True,
        http: httpx.Client | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        attempts: int = 3,
        max_retry_wait: float = 10.0,
        page_size: int = 100,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"Portainer URL {url!r} must start with http:// or https://")
        if not api_key and not (username and password):
            raise ConfigError("Portainer needs an API key, or a username and password")
        self.url = url.rstrip("/")
        self._api_key = SecretStr(api_key) if api_key else None
        self._username = username or ""
        self._password = SecretStr(password or "")
        self._jwt: SecretStr | None = None
        self._login_lock = threading.Lock()
        self._owns_http = http is None
        self._http = http or httpx.Client(verify=_tls(verify), timeout=timeout)
        self._attempts = attempts
        self._max_retry_wait = max_retry_wait
        self._page_size = page_size
        self._edition: EditionSeen | None = None
        self._count_lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # HTTP requests sent, by method (retries included)

    def close(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> PortainerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PortainerClient({self.url!r})"

    # --- server and users ------------------------------------------------------------------------------

    @property
    def uses_api_key(self) -> bool:
        """True when requests carry the long-lived API key (False: a JWT from a login)."""
        return self._api_key is not None

    def status(self) -> PortainerStatus:
        """Version and edition. The edition is read, never guessed: "unknown" when the server does not say.

        `/api/system/status` and `/api/system/version` exist since 2.17 only; an older server answers
        `/api/status` (public, `{Version, InstanceID}`) and has no edition route at all.
        """
        try:
            public = self._get(SystemStatus, "/api/system/status", auth=False)
        except NotFound:
            public = self._get(SystemStatus, "/api/status", auth=False)
            self._edition = "unknown"
            return PortainerStatus(
                version=public.version,
                edition="unknown",
                instance_id=public.instance_id,
                edition_source="servers older than 2.17 have no /api/system/version",
            )
        edition: EditionSeen = "unknown"
        try:
            version = self._get(SystemVersion, "/api/system/version")
        except (AuthError, Unreachable):
            raise
        except UpstreamError as exc:
            source = f"/api/system/version failed ({exc.status or 'no answer'})"
        else:
            edition = _edition(version.server_edition)
            source = f"/api/system/version says {version.server_edition or 'nothing'!r}"
        self._edition = edition
        return PortainerStatus(
            version=public.version, edition=edition, instance_id=public.instance_id, edition_source=source
        )

    # --- environments ----------------------------------------------------------------------------------

    def environments(self) -> list[Environment]:
        """Every environment the credentials may see, page by page, without snapshot payloads."""
        found: dict[int, Endpoint] = {}
        for _ in range(MAX_PAGES):
            params = {"start": len(found) + 1, "limit": self._page_size, "excludeSnapshots": "true"}
            response = self._call("GET", "/api/endpoints", params=params)
            page = parse_as(list[Endpoint], _json(response), "environment list")
            found.update((endpoint.id, endpoint) for endpoint in page)
            total = _int_header(response, "X-Total-Count")
            # A server without the count header does not page: it has just sent everything.
            if total is None or not page or len(found) >= total:
                break
        return [env for env in map(convert.to_environment, found.values()) if env is not None]

    # --- activity (BE) ---------------------------------------------------------------------------------

    def auth_logs(self, *, after: int | None = None, max_entries: int = 10_000) -> list[AuthLog]:
        """BE login activity strictly after a unix time, oldest first, each entry once.

        NotFound on CE, AuthError for non-admins. Accepts both documented shapes (a bare array, or
        `{logs, totalCount}`) and pages by offset. BE's `after` is inclusive, so the entry at exactly
        `after` (which the previous poll already returned) is dropped here, as is any entry repeated
        across pages (offsets shift when BE purges old entries meanwhile).
        """
        found: dict[int, AuthLog] = {}
        for page_number in range(MAX_PAGES):
            params: dict[str, Any] = {
                "offset": page_number * self._page_size,
                "limit": self._page_size,
                "sortBy": "Timestamp",
                "sortDesc": "false",
            }
            if after is not None:
                params["after"] = after
            data = _json(self._call("GET", "/api/useractivity/authlogs", params=params))
            if isinstance(data, list):
                page, total = parse_as(list[AuthLog], data, "auth logs"), None
            else:
                parsed = parse_as(AuthLogPage, data, "auth logs")
                page, total = parsed.logs, parsed.total_count
            for entry in page:
                if after is None or entry.timestamp > after:
                    found.setdefault(entry.id, entry)
            seen = (page_number + 1) * self._page_size
            if len(page) < self._page_size or len(found) >= max_entries or (total and seen >= total):
                break
        return sorted(found.values(), key=lambda e: (e.timestamp, e.id))[:max_entries]

    # --- HTTP ------------------------------------------------------------------------------------------

    def _write(self, method: str, path: str, *, body: Any = None) -> httpx.Response:
        """One unsafe request with an optional JSON body: not retried, not redirected, errors translated."""
        for attempt in range(2):
            headers = self._auth_headers()
            with self._count_lock:
                self.requests[method] += 1
            try:
                response = self._http.request(
                    method, self.url + path, json=body, headers=headers, follow_redirects=False
                )
            except httpx.TimeoutException:
                raise Unreachable(f"Portainer at {self.url} did not answer {method} {path} in time") from None
            except httpx.HTTPError as exc:
                reason = self._scrub(str(exc)) or type(exc).__name__
                raise Unreachable(f"cannot reach Portainer at {self.url}: {reason}") from None
            # A refused cached JWT means the request did nothing: log in again once and resend.
            if response.status_code == 401 and self._api_key is None and attempt == 0:
                self._forget_jwt(response.request.headers.get("authorization", ""))
                continue
            break
        return self._check(response, method, path)

    def _write_json(self, method: str, path: str, *, body: Any = None) -> Any:
        """`_write`, then the answer's JSON (BadResponse if it is not JSON)."""
        return _json(self._write(method, path, body=body))

    def _get(
        self, shape: type[T], path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
    ) -> T:
        response = self._call("GET", path, params=params, auth=auth)
        return parse_as(shape, _json(response), path)

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
    ) -> httpx.Response:
        """One logical request: retries, one re-login if a cached JWT was refused, errors translated."""
        response = self._with_retries(method, path, params, auth)
        if response.status_code == 401 and auth and self._api_key is None:
            self._forget_jwt(response.request.headers.get("authorization", ""))
            response = self._with_retries(method, path, params, auth)
        return self._check(response, method, path)

    def _with_retries(
        self, method: str, path: str, params: Mapping[str, Any] | None, auth: bool
    ) -> httpx.Response:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts if method == "GET" else 1),
            wait=wait_for_retry(max_wait=self._max_retry_wait),
            retry=retry_if_exception_type((RetryableStatus, Unreachable)),
            reraise=True,
        )
        try:
            return retrying(self._send, method, path, params, auth)
        except RetryableStatus as exc:
            if exc.status == 429:
                raise RateLimited(
                    f"Portainer rate-limited {method} {path}; try again later", status=429
                ) from None
            raise UpstreamError(
                f"{exc.where} (HTTP {exc.status}, after {self._attempts} attempts)", status=exc.status
            ) from None

    def _send(self, method: str, path: str, params: Mapping[str, Any] | None, auth: bool) -> httpx.Response:
        headers = self._auth_headers() if auth else {}
        with self._count_lock:
            self.requests[method] += 1
        try:
            response = self._http.request(
                method, self.url + path, params=params, headers=headers, follow_redirects=False
            )
        except httpx.TimeoutException:
            raise Unreachable(f"Portainer at {self.url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise Unreachable(f"cannot reach Portainer at {self.url}: {reason}") from None
        if method == "GET" and (response.status_code == 429 or response.status_code >= 500):
            # Portainer's own message says why (an Edge environment without its tunnel, say): keep it.
            detail = self._scrub(_error_text(response))
            raise RetryableStatus(response, f"Portainer {method} {path} failed: {detail}")
        return response

    def _auth_headers(self) -> dict[str, str]:
        if self._api_key is not None:
            return {"X-API-Key": self._api_key.get_secret_value()}
        return {"Authorization": f"Bearer {self._login()}"}

    def _login(self) -> str:
        with self._login_lock:
            if self._jwt is None:
                body = {"Username": self._username, "Password": self._password.get_secret_value()}
                with self._count_lock:
                    self.requests["POST"] += 1
                try:
                    response = self._http.post(f"{self.url}/api/auth", json=body, follow_redirects=False)
                except httpx.HTTPError as exc:
                    raise Unreachable(f"cannot reach Portainer at {self.url}: {type(exc).__name__}") from None
                finally:
                    # The login also sets a session cookie; keeping it would make later unsafe requests
                    # fail Portainer's CSRF check (reference §11.2), and it is a credential.
                    self._http.cookies.clear()
                if response.status_code == 422:
                    raise AuthError("Portainer rejected the username or password", status=422)
                token = parse_as(
                    dict[str, Any], _json(self._check(response, "POST", "/api/auth")), "login"
                ).get("jwt")
                if not isinstance(token, str) or not token:
                    raise BadResponse("Portainer's login answer has no token")
                self._jwt = SecretStr(token)
            return self._jwt.get_secret_value()

    def _forget_jwt(self, sent: str) -> None:
        with self._login_lock:
            if self._jwt is not None and sent == f"Bearer {self._jwt.get_secret_value()}":
                self._jwt = None

    def _check(self, response: httpx.Response, method: str, path: str) -> httpx.Response:
        status = response.status_code
        if status < 300:
            return response
        if status < 400:  # never followed: the next hop would get our key, and could be any host
            target = self._scrub(response.headers.get("location", "?"))[:200]
            raise UpstreamError(
                f"Portainer {method} {path}: redirected ({status}) to {target}; redirects are refused, "
                "set portainer.url to the address Portainer really answers on",
                status=status,
                url=self.url + path,
            )
        detail = self._scrub(_error_text(response))
        message = f"Portainer {method} {path}: HTTP {status}: {detail}"
        url = self.url + path
        if status in (401, 403):
            raise AuthError(message, status=status, url=url)
        if status == 404:
            raise NotFound(message, status=status, url=url)
        if status == 429:
            raise RateLimited(message, status=status, url=url)
        raise UpstreamError(message, status=status, url=url)

    def _scrub(self, text: str) -> str:
        """Remove every secret this client holds from `text` (belt and braces for error messages)."""
        for secret in (self._api_key, self._password, self._jwt):
            value = secret.get_secret_value() if secret is not None else ""
            if value:
                text = text.replace(value, "***")
        return text


def _edition(server_edition: str) -> EditionSeen:
    """`ServerEdition` as Regent names it: "EE" (and "BE") is the Business Edition."""
    named = server_edition.strip().upper()
    return "BE" if named in ("EE", "BE") else "CE" if named == "CE" else "unknown"


def _tls(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx wants an SSLContext for a CA bundle path (a plain string is deprecated in 0.28)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands of levels deep
        raise BadResponse(
            f"Portainer {response.request.method} {response.request.url.path} did not answer JSON",
            status=response.status_code,
        ) from None


def _error_text(response: httpx.Response) -> str:
    """Portainer's {message, details}, Docker's {message}, a Kubernetes Status, or the start of the text."""
    try:
        body = response.json()
    except (ValueError, RecursionError):
        return response.text.strip()[:200] or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("message", "details") if body.get(key)]
        if parts:
            return ": ".join(parts)[:300]
    return response.reason_phrase


def _int_header(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None

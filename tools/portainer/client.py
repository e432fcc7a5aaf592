"""Portainer HTTP client (CE and BE): the only module in tools/portainer that speaks HTTP.

API key auth by default; username/password logs in once and caches the JWT (Portainer bans an IP that
logs in more than 10 times a second). GETs are retried on transport errors, 429 and 5xx; nothing else is.
Every httpx exception and error status becomes a tools.errors type whose message never holds a secret.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import httpx
from pydantic import SecretStr
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt

from tools.docker.deployments import container_deployments
from tools.docker.models import Container, Image
from tools.errors import (
    AuthError,
    BadResponse,
    ConfigError,
    NotFound,
    RateLimited,
    Unreachable,
    UpstreamError,
)
from tools.inventory.models import Deployment, Environment, RegistrySource
from tools.portainer import environments as convert
from tools.portainer.models import (
    APIKey,
    AuthLog,
    AuthLogPage,
    DockerInfo,
    Edition,
    Endpoint,
    Pod,
    PodList,
    PortainerStatus,
    Registry,
    Service,
    Stack,
    StackFile,
    SystemStatus,
    SystemVersion,
    Team,
    TeamMembership,
    User,
    parse_as,
)
from tools.registry.retry import RetryableStatus, wait_for_retry

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
MAX_PAGES = 10_000


@dataclass(frozen=True, slots=True)
class RegistryProxy:
    """How to reach a registry through Portainer BE: append `/v2/...` to `base_url`, send `headers`."""

    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # carries the API key or JWT
    params: Mapping[str, str] = field(default_factory=dict)


class PortainerClient:
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
        self._edition: Edition | None = None
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

    def status(self) -> PortainerStatus:
        """Version and edition; `ServerEdition` decides, and CE is assumed when it cannot be read."""
        public = self._get(SystemStatus, "/api/system/status", auth=False)
        try:
            version = self._get(SystemVersion, "/api/system/version")
            edition: Edition = "BE" if version.server_edition.upper() in ("EE", "BE") else "CE"
        except (AuthError, Unreachable):
            raise
        except UpstreamError:
            edition = "CE"
        self._edition = edition
        return PortainerStatus(version=public.version, edition=edition, instance_id=public.instance_id)

    def current_user(self) -> User:
        """The user the credentials belong to (role 1 = administrator)."""
        return self._get(User, "/api/users/me")

    # --- registries ------------------------------------------------------------------------------------

    def registries(self) -> list[Registry]:
        """Every registry record, credentials dropped while parsing (CE lists them to admins only)."""
        return self._get(list[Registry], "/api/registries")

    def registry_proxy(self, registry_id: int, *, environment_id: int | None = None) -> RegistryProxy:
        """Base URL and headers for BE's `/api/registries/{id}/v2/...` proxy (non-admins need an env id)."""
        params = {"endpointId": str(environment_id)} if environment_id is not None else {}
        return RegistryProxy(f"{self.url}/api/registries/{registry_id}", self._auth_headers(), params)

    def ping_registry_proxy(self, registry_id: int, *, environment_id: int | None = None) -> None:
        """Check that BE's registry proxy answers `/v2/` for this registry (CE has none: NotFound)."""
        params = {"endpointId": str(environment_id)} if environment_id is not None else None
        self._call("GET", f"/api/registries/{registry_id}/v2/", params=params)

    def registry_sources(
        self,
        *,
        edition: Edition | None = None,
        schemes: Mapping[str, str] | None = None,
        default_scheme: str = "https",
    ) -> list[RegistrySource]:
        """Registries as inventory sources: BE through Portainer's proxy, CE directly.

        `schemes` maps a registry name or its Portainer URL (`host:port`) to "http" or "https", for
        direct access; anything else gets `default_scheme`.
        """
        edition = edition or self._edition or self.status().edition
        chosen = schemes or {}
        return [
            replace(
                convert.registry_source(
                    registry,
                    portainer_url=self.url,
                    proxied=edition == "BE",
                    scheme=chosen.get(registry.name) or chosen.get(registry.url) or default_scheme,
                ),
                proxy_environment_id=environment_id if edition == "BE" else None,
            )
            for registry, environment_id in self.registry_access(edition=edition)
        ]

    def environment_registries(self, environment_id: int) -> list[Registry]:
        """Registries the credentials may use on one environment (full records for non-administrators)."""
        return self._get(list[Registry], f"/api/endpoints/{environment_id}/registries")

    def registry_access(self, *, edition: Edition) -> list[tuple[Registry, int | None]]:
        """Every registry with, for a BE non-administrator, an environment that grants it (`endpointId`).

        Administrators list `/api/registries` and need no environment. BE gives other users only a
        scrubbed list there (no URL) and wants `?endpointId=` on its registry proxy, so their registries
        come from `/api/endpoints/{id}/registries` of the environments they may see, first one wins.
        """
        if edition != "BE" or self.current_user().is_admin:
            return [(registry, None) for registry in self.registries()]
        granted: dict[int, tuple[Registry, int | None]] = {}
        for environment in self.environments():
            for registry in self.environment_registries(environment.id):
                granted.setdefault(registry.id, (registry, environment.id))
        return list(granted.values())

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

    def docker_info(self, environment_id: int) -> DockerInfo:
        """Docker's `GET /info` on an environment (tells a Swarm manager apart)."""
        return self._get(DockerInfo, f"/api/endpoints/{environment_id}/docker/info")

    def containers(self, environment_id: int) -> list[Container]:
        """All containers, running or not."""
        path = f"/api/endpoints/{environment_id}/docker/containers/json"
        return self._get(list[Container], path, params={"all": "1"})

    def images(self, environment_id: int) -> list[Image]:
        """Top-level images with their RepoDigests."""
        return self._get(list[Image], f"/api/endpoints/{environment_id}/docker/images/json")

    def services(self, environment_id: int) -> list[Service]:
        """Swarm services (the environment must be a Swarm manager)."""
        return self._get(list[Service], f"/api/endpoints/{environment_id}/docker/services")

    def pods(self, environment_id: int, *, namespace: str | None = None) -> list[Pod]:
        """Kubernetes pods, cluster-wide or in one namespace."""
        scope = f"/namespaces/{namespace}" if namespace else ""
        path = f"/api/endpoints/{environment_id}/kubernetes/api/v1{scope}/pods"
        return self._get(PodList, path).items

    def stacks(self, *, environment_id: int | None = None) -> list[Stack]:
        """Stacks Portainer manages, optionally only those of one environment."""
        filters = {"EndpointID": environment_id} if environment_id is not None else None
        params = {"filters": json.dumps(filters)} if filters else None
        return self._get(list[Stack], "/api/stacks", params=params)

    def stack_file(self, stack_id: int) -> str:
        """The stack's file (compose YAML, or Kubernetes manifests for type 3)."""
        return self._get(StackFile, f"/api/stacks/{stack_id}/file").content

    def deployments(self, env: Environment) -> tuple[list[Deployment], list[str]]:
        """Everything deployed in `env`, and what could not be read; one failing part never hides the rest."""
        steps: list[tuple[str, Callable[[], list[Deployment]]]] = []
        if env.kind == "kubernetes":
            steps.append(("pods", lambda: convert.pod_deployments(env, self.pods(env.id))))
        else:
            steps.append(("containers", lambda: self._container_deployments(env)))
            steps.append(("services", lambda: self._service_deployments(env)))
        found: list[Deployment] = []
        errors: list[str] = []
        for part, step in steps:
            try:
                found.extend(step())
            except UpstreamError as exc:
                errors.append(f"environment {env.name}: {part}: {exc}")
        stacks, stack_errors = self._stack_deployments(env)
        return found + stacks, errors + stack_errors

    def _container_deployments(self, env: Environment) -> list[Deployment]:
        return container_deployments(env, self.containers(env.id), self.images(env.id))

    def _service_deployments(self, env: Environment) -> list[Deployment]:
        # Asking a non-manager for services gives a 503 that retries would repeat; /info says it up front.
        swarm = self.docker_info(env.id).swarm
        if not (swarm.local_node_state == "active" and swarm.control_available):
            return []
        return convert.service_deployments(env, self.services(env.id))

    def _stack_deployments(self, env: Environment) -> tuple[list[Deployment], list[str]]:
        try:
            stacks = self.stacks(environment_id=env.id)
        except UpstreamError as exc:
            return [], [f"environment {env.name}: stacks: {exc}"]
        found: list[Deployment] = []
        errors: list[str] = []
        for stack in stacks:
            try:
                found.extend(convert.stack_deployments(env, stack, self.stack_file(stack.id)))
            except UpstreamError as exc:
                errors.append(f"environment {env.name}: stack {stack.name}: {exc}")
        return found, errors

    # --- activity (BE) ---------------------------------------------------------------------------------

    def auth_logs(self, *, after: int | None = None, max_entries: int = 10_000) -> list[AuthLog]:
        """BE login activity after a unix time, oldest first; NotFound on CE, AuthError for non-admins.

        Accepts both documented shapes (a bare array, or `{logs, totalCount}`) and pages by offset.
        """
        found: list[AuthLog] = []
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {
                "offset": len(found),
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
            found.extend(page)
            if len(page) < self._page_size or len(found) >= max_entries or (total and len(found) >= total):
                break
        return found[:max_entries]

    # --- users, API keys, team memberships (suspension) ---------------------------------------------------

    def users(self) -> list[User]:
        """Every user (admins see all; others see themselves and their teams' members)."""
        return self._get(list[User], "/api/users")

    def user(self, user_id: int) -> User:
        """One user by id; NotFound when it does not exist."""
        return self._get(User, f"/api/users/{user_id}")

    def api_keys(self, user_id: int) -> list[APIKey]:
        """A user's API keys (self or admin), without their digests."""
        return self._get(list[APIKey], f"/api/users/{user_id}/tokens")

    def delete_api_key(self, user_id: int, key_id: int) -> None:
        """Revoke one API key (`DELETE /api/users/{id}/tokens/{keyID}`, 204); NotFound if already gone."""
        self._write("DELETE", f"/api/users/{user_id}/tokens/{key_id}")

    def user_memberships(self, user_id: int) -> list[TeamMembership]:
        """A user's team memberships (self or admin)."""
        return self._get(list[TeamMembership], f"/api/users/{user_id}/memberships")

    def teams(self) -> list[Team]:
        """Teams (id and name)."""
        return self._get(list[Team], "/api/teams")

    def delete_team_membership(self, membership_id: int) -> None:
        """Remove one membership (`DELETE /api/team_memberships/{id}`, 204); NotFound if already gone."""
        self._write("DELETE", f"/api/team_memberships/{membership_id}")

    def set_user_role(self, user_id: int, role: int) -> User:
        """`PUT /api/users/{id}` with only `{"Role": role}`: Portainer leaves absent fields unchanged."""
        response = self._write("PUT", f"/api/users/{user_id}", body={"Role": role})
        return parse_as(User, _json(response), f"/api/users/{user_id}")

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
                f"Portainer {method} {path} failed with HTTP {exc.status}", status=exc.status
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
            raise RetryableStatus(response, f"Portainer {method} {path}")
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


def _tls(verify: bool | str) -> bool | ssl.SSLContext:
    """httpx wants an SSLContext for a CA bundle path (a plain string is deprecated in 0.28)."""
    return ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise BadResponse(
            f"Portainer {response.request.method} {response.request.url.path} did not answer JSON",
            status=response.status_code,
        ) from None


def _error_text(response: httpx.Response) -> str:
    """Portainer's {message, details}, Docker's {message}, a Kubernetes Status, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
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

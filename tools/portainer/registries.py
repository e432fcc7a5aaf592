"""Portainer's registries: records, ECR keys, the BE registry proxy, and which environment grants each one.

A mixin of PortainerClient (tools/portainer/client.py), which does every HTTP request; nothing here
speaks HTTP. What the routes answer (CE 2.23, shared/reference/portainer-real.md):

- `/api/registries` is for administrators only on CE and returns every stored record **with its
  password** (registry_list.go:30-39). `registries()` drops the credentials while parsing; only
  `stored_credentials()` (and `ecr_credentials()`, an ECR record's keys and region) keeps them, for a
  registry adapter's login, in a SecretStr.
- `/api/endpoints/{id}/registries` gives a non-administrator only the registries granted to them on that
  environment (endpoint_registries_list.go:53-96); a Kubernetes environment can refuse (403) or fail
  (500, cluster unreachable) without saying anything about the others.
- The registry proxy `/api/registries/{id}/v2/...` exists on BE only. BE-old deletes just the
  `Authorization` header before forwarding to the registry; whether current BE forwards `X-API-Key` is
  unverified. So `registry_proxy` refuses to put an API key on proxy requests unless the caller opts in
  (`allow_api_key=True`): the safe way is a client logged in with a username and password, whose JWT
  travels in `Authorization` and is stripped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import SecretStr

from tools.errors import ConfigError, NotFound, Unreachable, UpstreamError
from tools.inventory.models import Environment, RegistrySource
from tools.portainer import environments as convert
from tools.portainer.models import Edition, EditionSeen, Registry, StoredRegistryKeys

T = TypeVar("T")
ECR_TYPE = 7


@dataclass(frozen=True, slots=True)
class RegistryProxy:
    """How to reach a registry through Portainer BE: append `/v2/...` to `base_url`, send `headers`."""

    base_url: str
    headers: Mapping[str, str] = field(repr=False)  # a JWT in Authorization (or, opted in, the API key)
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """The login Portainer stores for a registry: for that registry's adapter only, never the inventory."""

    registry_id: int
    username: str = field(repr=False)
    password: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class EcrCredentials:
    """What Portainer stores for an ECR registry: for AWS only, never for the inventory or the LLM."""

    registry_id: int
    access_key_id: str = field(repr=False)
    secret_access_key: SecretStr = field(repr=False)
    region: str


class RegistryCalls:
    """Registry methods of PortainerClient."""

    url: str
    _edition: EditionSeen | None

    if TYPE_CHECKING:  # implemented by PortainerClient

        def _get(
            self, shape: type[T], path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
        ) -> T: ...

        def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None) -> Any: ...

        def _auth_headers(self) -> dict[str, str]: ...

        @property
        def uses_api_key(self) -> bool: ...

        def status(self) -> Any: ...

        def current_user(self) -> Any: ...

        def environments(self) -> list[Environment]: ...

    def registries(self) -> list[Registry]:
        """Every registry record, credentials dropped while parsing (CE lists them to admins only)."""
        return self._get(list[Registry], "/api/registries")

    def stored_credentials(self) -> dict[int, StoredCredentials]:
        """The login of every record that has one, as CE stores it (admin only; BE leaves passwords out).

        Read once per inventory run for the registries Regent has no credentials of its own for: "auth
        from what Portainer stores" (issue #13). A record whose password comes back empty (BE) is left out.
        """
        records = self._get(list[StoredRegistryKeys], "/api/registries")
        return {
            record.id: StoredCredentials(record.id, record.username, record.password)
            for record in records
            if record.username and record.password.get_secret_value()
        }

    def ecr_credentials(self, registry_id: int) -> EcrCredentials:
        """An ECR registry's access key id, secret and region, as Portainer stores them.

        Needs an administrator's key on CE (the list route is the only one that returns the secret; BE
        leaves passwords out, which is a ConfigError here). The result is for an ECR reader to sign AWS
        requests with; it never goes into the inventory, a log, Slack or the LLM.
        """
        records = self._get(list[StoredRegistryKeys], "/api/registries")
        record = next((r for r in records if r.id == registry_id), None)
        if record is None:
            raise NotFound(f"Portainer has no registry {registry_id}")
        if record.type != ECR_TYPE:
            raise ConfigError(f"Portainer registry {registry_id} is not an ECR registry")
        if not record.username or not record.password.get_secret_value():
            raise ConfigError(
                f"Portainer did not return the AWS keys of registry {registry_id} (BE leaves passwords "
                "out); configure the ECR credentials for Regent directly"
            )
        return EcrCredentials(registry_id, record.username, record.password, record.ecr.region)

    def registry_proxy(
        self, registry_id: int, *, environment_id: int | None = None, allow_api_key: bool = False
    ) -> RegistryProxy:
        """Base URL and headers for BE's `/api/registries/{id}/v2/...` proxy (non-admins need an env id).

        A client holding an API key refuses unless `allow_api_key`: BE may forward `X-API-Key` to the
        registry, and the key would reach a third party (see the module docstring).
        """
        params = {"endpointId": str(environment_id)} if environment_id is not None else {}
        return RegistryProxy(
            f"{self.url}/api/registries/{registry_id}", self._proxy_headers(allow_api_key), params
        )

    def ping_registry_proxy(
        self, registry_id: int, *, environment_id: int | None = None, allow_api_key: bool = False
    ) -> None:
        """Check that BE's registry proxy answers `/v2/` for this registry (CE has none: NotFound)."""
        self._proxy_headers(allow_api_key)  # the same refusal: this request is forwarded too
        params = {"endpointId": str(environment_id)} if environment_id is not None else None
        self._call("GET", f"/api/registries/{registry_id}/v2/", params=params)

    def _proxy_headers(self, allow_api_key: bool) -> dict[str, str]:
        if self.uses_api_key and not allow_api_key:
            raise ConfigError(
                "refusing to send the Portainer API key through the registry proxy (BE may forward it "
                "to the registry): log in with a service account, or set portainer.registry_proxy_auth"
                ": api-key to accept the risk"
            )
        return self._auth_headers()

    def registry_sources(
        self,
        *,
        edition: EditionSeen | None = None,
        proxied: bool | None = None,
        schemes: Mapping[str, str] | None = None,
        default_scheme: str = "https",
    ) -> list[RegistrySource]:
        """Registries as inventory sources: through BE's proxy when `proxied`, else directly.

        `proxied` defaults to "the edition is BE" (CE has no proxy; an unknown edition is not guessed).
        `schemes` maps a registry name or its Portainer URL (`host:port`) to "http" or "https", for
        direct access; anything else gets `default_scheme`.
        """
        seen = edition or self._edition or self.status().edition
        through_proxy = seen == "BE" if proxied is None else proxied and seen == "BE"
        chosen = schemes or {}
        return [
            replace(
                convert.registry_source(
                    registry,
                    portainer_url=self.url,
                    proxied=through_proxy,
                    scheme=chosen.get(registry.name) or chosen.get(registry.url) or default_scheme,
                ),
                proxy_environment_id=environment_id if through_proxy else None,
            )
            for registry, environment_id in self.registry_access(edition="BE" if seen == "BE" else "CE")
        ]

    def environment_registries(self, environment_id: int) -> list[Registry]:
        """Registries the credentials may use on one environment (full records for non-administrators)."""
        return self._get(list[Registry], f"/api/endpoints/{environment_id}/registries")

    def registry_access(self, *, edition: Edition) -> list[tuple[Registry, int | None]]:
        """Every registry with, for a BE non-administrator, an environment that grants it (`endpointId`).

        Administrators list `/api/registries` and need no environment. BE gives other users only a
        scrubbed list there (no URL) and wants `?endpointId=` on its registry proxy, so their registries
        come from `/api/endpoints/{id}/registries` of the environments they may see, first one wins. An
        environment that refuses or fails (a Kubernetes cluster that is down) is skipped: the others
        still tell which registries are granted; only when every one fails is the error raised.
        """
        if edition != "BE" or self.current_user().is_admin:
            return [(registry, None) for registry in self.registries()]
        granted: dict[int, tuple[Registry, int | None]] = {}
        failure: UpstreamError | None = None
        environments = self.environments()
        for environment in environments:
            try:
                found = self.environment_registries(environment.id)
            except UpstreamError as exc:
                # 403 (no access to a Kubernetes environment) or 5xx (its cluster is down) concern that
                # environment only; Portainer unreachable, or our key refused (401), concern them all.
                if not _environment_specific(exc):
                    raise
                failure = exc
                continue
            for registry in found:
                granted.setdefault(registry.id, (registry, environment.id))
        if failure is not None and not granted:
            raise failure
        return list(granted.values())


def _environment_specific(exc: UpstreamError) -> bool:
    status = exc.status or 0
    return not isinstance(exc, Unreachable) and (status == 403 or status >= 500)

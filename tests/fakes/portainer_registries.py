"""The fake Portainer's registry routes, as CE 2.23's handlers answer them (BE differences marked).

Paths are under `api/` of portainer/portainer (shared/reference/portainer-real.md):

- `GET /registries` (http/handler/registries/registry_list.go:30-39): CE: **administrators only** (403
  "Access denied" for anyone else), the stored records as they are, **Password and
  ManagementConfiguration included**. BE (EE 2.44 spec, not verified in code): every authenticated user;
  administrators get the records minus passwords, others only `{Id, Name, Type}`.
- `GET /registries/{id}` (registry_inspect.go:41-49): non-administrators must name an environment with
  `?endpointId=` (missing or unknown: 500; no access to it or the registry there: 403). Password and
  ManagementConfiguration stripped, `AccessToken` kept, `RegistryAccesses` hidden from non-admins.
- `GET /endpoints/{id}/registries` (http/handler/endpoints/endpoint_registries_list.go:53-96):
  administrators see every registry; others only those granted to them (or a team of theirs) in
  `RegistryAccesses[env]`. On Docker environments there is no environment-access check; on Kubernetes the
  caller needs access to the environment (403) and sees the registries of the namespaces they may use
  (`?namespace=` narrows to one: 403 if not theirs); an unreachable cluster is a 500.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes import portainer_records as rec
from tests.fakes.portainer_http import Request, Response, error, json_response
from tests.fakes.portainer_records import FakeEnvironment, FakeRegistry, FakeUser

NOT_FOUND_DB = "Object not found inside the database"
REGISTRY_NOT_FOUND = "Unable to find a registry with the specified identifier inside the database"
ENV_NOT_FOUND = "Unable to find an environment with the specified identifier inside the database"


class RegistryRoutes:
    """Mixed into FakePortainer; the environment and team lookups it needs are implemented there."""

    registries: list[FakeRegistry]
    environments: list[FakeEnvironment]
    edition: str

    if TYPE_CHECKING:  # implemented by CoreRoutes

        def _team_ids(self, user: FakeUser) -> set[int]: ...

        def _may_use(self, user: FakeUser, env: FakeEnvironment) -> bool: ...

    def _find_registry(self, registry_id: str) -> FakeRegistry | None:
        return next((r for r in self.registries if r.id == int(registry_id)), None)

    def _granted(self, user: FakeUser, registry: FakeRegistry, env_id: int) -> bool:
        """security.AuthorizedRegistryAccess: the user, or a team of theirs, in RegistryAccesses[env]."""
        access = registry.accesses.get(env_id)
        if access is None:
            return False
        return user.id in access.user_ids or bool(self._team_ids(user) & access.team_ids)

    def _registries(self, req: Request) -> Response:
        assert req.user is not None
        if self.edition == "BE":  # EE 2.44 spec: authenticated; scrubbed for non-admins
            view = "admin" if req.user.is_admin else "scrubbed"
            return json_response(200, [rec.registry_json(r, view=view) for r in self.registries])
        if not req.user.is_admin:
            return error(403, "Access denied", "Unauthorized")
        return json_response(200, [rec.registry_json(r, view="raw") for r in self.registries])

    def _registry(self, req: Request, registry_id: str) -> Response:
        assert req.user is not None
        registry = self._find_registry(registry_id)
        if registry is None:
            return error(404, REGISTRY_NOT_FOUND, NOT_FOUND_DB)
        if not req.user.is_admin and (denied := self._registry_env_denied(req, registry)) is not None:
            return denied
        return json_response(200, rec.registry_json(registry, view="inspect", admin=req.user.is_admin))

    def _registry_env_denied(self, req: Request, registry: FakeRegistry) -> Response | None:
        """Non-admins: `?endpointId=` must name an environment they may use that grants the registry."""
        assert req.user is not None
        env_id = req.arg("endpointId") or ""
        env = next((e for e in self.environments if env_id.isdigit() and e.id == int(env_id)), None)
        if env is None:  # registry_inspect.go: a missing or unknown environment is a 500
            return error(500, ENV_NOT_FOUND, "Invalid query parameter: endpointId")
        if not self._may_use(req.user, env) or not self._granted(req.user, registry, env.id):
            return error(403, "Access denied to resource", "Unauthorized")
        return None

    def _endpoint_registries(self, req: Request, env_id: str) -> Response:
        assert req.user is not None
        env = next((e for e in self.environments if e.id == int(env_id)), None)
        if env is None:
            return error(404, ENV_NOT_FOUND, NOT_FOUND_DB)
        found = self._usable_registries(req, req.user, env)
        if isinstance(found, Response):
            return found
        admin = req.user.is_admin
        return json_response(200, [rec.registry_json(r, view="inspect", admin=admin) for r in found])

    def _usable_registries(
        self, req: Request, user: FakeUser, env: FakeEnvironment
    ) -> list[FakeRegistry] | Response:
        if not env.is_kubernetes:  # security.FilterRegistries: no environment-access check here
            return [r for r in self.registries if user.is_admin or self._granted(user, r, env.id)]
        namespace = req.arg("namespace") or ""
        if namespace:
            mine = (
                namespace == "default" or user.is_admin or user.id in env.namespace_users.get(namespace, ())
            )
            if not mine:
                return error(403, "User is not authorized to use namespace", "Forbidden")
            return self._in_namespaces(env, [namespace])
        if user.is_admin:
            return list(self.registries)
        if not self._may_use(user, env):
            return error(403, "User is not authorized", "Forbidden")
        if env.status != 1:  # the namespace policies come from the cluster itself
            return error(500, "unable to retrieve user namespaces", "cluster unreachable")
        namespaces = [ns for ns, users in env.namespace_users.items() if user.id in users]
        return self._in_namespaces(env, namespaces)

    def _in_namespaces(self, env: FakeEnvironment, namespaces: list[str]) -> list[FakeRegistry]:
        def allowed(registry: FakeRegistry) -> bool:
            access = registry.accesses.get(env.id)
            return access is not None and bool(set(access.namespaces) & set(namespaces))

        return [r for r in self.registries if allowed(r)]

"""The fake Portainer's routes for registry maintenance: stack inspect and update, Docker exec.

Each follows the CE 2.23 handler named next to it (paths under `api/` of portainer/portainer, develop at
cc75167437c0; read with `git show` on the mirror):

- `GET /api/stacks/{id}`: http/handler/stacks/stack_inspect.go (404 unknown stack, 403 without access to
  the environment, the stack's JSON).
- `PUT /api/stacks/{id}?endpointId=`: http/handler/stacks/stack_update.go. `endpointId` is required (400
  "Invalid query parameter: endpointId"); an empty `StackFileContent` is 400 "Invalid request payload";
  the stack's Env is **replaced** by the payload's (`stack.Env = payload.Env`); the file is stored, the
  stack redeployed, and on a deploy failure the file is rolled back and the answer is 500 with the
  deployer's error (`RollbackStackFile`); non-admins get 403 "Stack editing is disabled for non-admin
  users" (the fake's stand-in for userCanManageStacks with the default settings).
- `POST /api/endpoints/{id}/docker/containers/{cid}/exec`: http/proxy/factory/docker/transport.go,
  proxyContainerRequest: `/containers/{id}/{action}` is a restrictedResourceOperation (administrators
  pass; a non-admin without a resource control on the container gets 403 "Access denied to resource").
- `POST .../docker/exec/{eid}/start`, `GET .../docker/exec/{eid}/json`: transport.go ProxyDockerRequest
  has no prefix handler for `exec`, so they go straight to the engine (executeDockerRequest); the local
  proxy copies the engine's answer through (http/proxy/factory/docker.go dockerLocalProxy), so the exec's
  multiplexed stream is the body.

**Test fake behaviour, not Portainer's code:** the redeploy. Portainer runs `docker compose up -d` on
the stack file (exec/compose_stack.go). The fake does what that does for the subset of Compose our
stacks use, against the environment's real dockerd: per service `image`, `command`, `entrypoint`,
`environment` (map or list, `${VAR}` from the stack's Env), `network_mode`, `volumes` (bind mounts),
`restart`, `labels`, `container_name`; containers named `<project>-<service>-1` with Compose's
`com.docker.compose.*` labels; a service whose configuration changed is recreated (stop, remove, create,
start), an unchanged running one is left alone. Anything else in a service is a deploy error, so a test
never passes on a key the fake ignored.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from tests.fakes.portainer_http import Request, Response, error, json_response
from tests.fakes.portainer_records import FakeEnvironment, FakeStack, stack_json
from tests.fakes.portainer_routes import RouteSpec

NOT_FOUND_DB = "Object not found inside the database"
STACK_NOT_FOUND = "Unable to find a stack with the specified identifier inside the database"
ACCESS_DENIED = {"message": "Access denied to resource", "details": "Access denied to resource"}
COMPOSE_STACK = 2
API = "/v1.41"
_SUPPORTED = {
    "image",
    "command",
    "entrypoint",
    "environment",
    "network_mode",
    "volumes",
    "restart",
    "labels",
    "container_name",
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class DeployError(Exception):
    """What `docker compose up` would have printed when it failed."""


_H = "http/handler/stacks/"
_TRANSPORT = "http/proxy/factory/docker/transport.go"
# In the format of tests/fakes/portainer_routes.py; FakePortainer puts them before the generic Docker proxy.
EXEC_ROUTES: tuple[RouteSpec, ...] = (
    ("GET,PUT", r"/api/stacks/(\d+)", False, "_stack", _H + "stack_inspect.go (GET), stack_update.go (PUT)"),
    (
        "POST",
        r"/api/endpoints/(\d+)/docker((?:/v[\d.]+)?/containers/[^/]+/exec)",
        False,
        "_exec_create",
        _TRANSPORT + " proxyContainerRequest: restrictedResourceOperation",
    ),
    (
        "*",
        r"/api/endpoints/(\d+)/docker((?:/v[\d.]+)?/exec/[^/]+/(?:start|json|resize))",
        False,
        "_docker",
        _TRANSPORT + " ProxyDockerRequest: no prefix handler, executeDockerRequest",
    ),
)


class ExecRoutes:
    """Mixed into FakePortainer; the environment lookup and the Docker proxy are implemented there."""

    stacks: list[FakeStack]
    environments: list[FakeEnvironment]

    if TYPE_CHECKING:

        def _find_env(self, req: Request, env_id: str) -> FakeEnvironment | Response: ...

        def _docker(self, req: Request, env_id: str, rest: str) -> Response: ...

        def _http_client(self, socket: str) -> httpx.Client: ...

    def _stack(self, req: Request, stack_id: str) -> Response:
        if req.method == "PUT":
            return self._stack_update(req, stack_id)
        return self._stack_inspect(req, stack_id)

    def _stack_inspect(self, req: Request, stack_id: str) -> Response:
        stack = next((s for s in self.stacks if s.id == int(stack_id)), None)
        if stack is None:
            return error(404, STACK_NOT_FOUND, NOT_FOUND_DB)
        env = self._find_env(req, str(stack.endpoint_id))
        if isinstance(env, Response):
            return env
        return json_response(200, stack_json(stack))

    def _stack_update(self, req: Request, stack_id: str) -> Response:
        assert req.user is not None
        stack = next((s for s in self.stacks if s.id == int(stack_id)), None)
        if stack is None:
            return error(404, STACK_NOT_FOUND, NOT_FOUND_DB)
        try:
            endpoint_id = int(req.arg("endpointId") or "")
        except ValueError:
            return error(400, "Invalid query parameter: endpointId", "missing or not a number")
        env = self._find_env(req, str(endpoint_id))
        if isinstance(env, Response):
            return env
        if not req.user.is_admin:
            message = "Stack editing is disabled for non-admin users"
            return error(403, message, message)
        try:
            payload = json.loads(req.body or b"{}")
            content = payload.get("StackFileContent") or ""
            pairs = payload.get("Env") or []
            new_env = {str(p["name"]): str(p.get("value", "")) for p in pairs}
        except (ValueError, AttributeError, KeyError, TypeError):
            return error(400, "Invalid request payload", "invalid JSON")
        if not content:
            return error(400, "Invalid request payload", "Invalid stack file content")
        stack.endpoint_id = endpoint_id
        old_content, old_env = stack.content, stack.env
        stack.content, stack.env = content, new_env
        if stack.type == COMPOSE_STACK and env.docker_socket:
            try:
                compose_up(self._http_client(env.docker_socket), stack)
            except DeployError as exc:  # RollbackStackFile: the old file is stored again
                stack.content, stack.env = old_content, old_env
                return error(500, str(exc), str(exc))
        return json_response(200, stack_json(stack) | {"UpdatedBy": req.user.username})

    def _exec_create(self, req: Request, env_id: str, rest: str) -> Response:
        assert req.user is not None
        if not req.user.is_admin:  # no resource controls in the fake: a non-admin never has access
            return json_response(403, ACCESS_DENIED)
        return self._docker(req, env_id, rest)


# -- the fake's `docker compose up -d` ------------------------------------------------------------------


def compose_project(name: str) -> str:
    """ComposeStackManager.NormalizeStackName (exec/compose_stack.go:146)."""
    return re.sub(r"[^-_a-z0-9]+", "", name.lower())


def compose_up(docker: httpx.Client, stack: FakeStack) -> None:
    """Bring the stack's services to what its file says (see the module docstring for the subset)."""
    try:
        document = yaml.safe_load(stack.content)
    except yaml.YAMLError as exc:
        raise DeployError(f"failed to parse the stack file: {exc}") from None
    services = document.get("services") if isinstance(document, dict) else None
    if not isinstance(services, dict) or not services:
        raise DeployError("the stack file has no services")
    project = compose_project(stack.name)
    for name, spec in services.items():
        if not isinstance(spec, dict):
            raise DeployError(f"service {name}: not a map")
        unknown = sorted(set(spec) - _SUPPORTED)
        if unknown:
            raise DeployError(f"service {name}: the fake compose does not support {unknown}")
        _up_service(docker, project, str(name), _interpolate(spec, stack.env))


def compose_down(docker: httpx.Client, stack: FakeStack) -> None:
    """Remove the stack's containers (what the test does when it is done)."""
    filters = json.dumps({"label": [f"com.docker.compose.project={compose_project(stack.name)}"]})
    found = docker.get(f"{API}/containers/json", params={"all": "1", "filters": filters}).json()
    for container in found:
        docker.delete(f"{API}/containers/{container['Id']}", params={"force": "1"})


def _interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), value)
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    return value


def _up_service(docker: httpx.Client, project: str, service: str, spec: dict[str, Any]) -> None:
    body = _create_body(project, service, spec)
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    body["Labels"]["com.docker.compose.config-hash"] = digest
    labels = [f"com.docker.compose.project={project}", f"com.docker.compose.service={service}"]
    found = docker.get(
        f"{API}/containers/json", params={"all": "1", "filters": json.dumps({"label": labels})}
    ).json()
    current = [c for c in found if c.get("Labels", {}).get("com.docker.compose.config-hash") == digest]
    if len(found) == 1 and current and current[0].get("State") == "running":
        return  # unchanged and running: compose leaves it alone
    for container in found:
        _ok(docker.post(f"{API}/containers/{container['Id']}/stop", params={"t": "10"}), "stop", (304,))
        _ok(docker.delete(f"{API}/containers/{container['Id']}", params={"force": "1"}), "remove")
    name = str(spec.get("container_name") or f"{project}-{service}-1")
    created = docker.post(f"{API}/containers/create", params={"name": name}, json=body)
    if created.status_code == 404 and "image" in created.text.lower():
        image, tag = _split_image(str(spec["image"]))
        pulled = docker.post(f"{API}/images/create", params={"fromImage": image, "tag": tag}, timeout=120)
        _ok(pulled, f"pull {spec['image']}")
        created = docker.post(f"{API}/containers/create", params={"name": name}, json=body)
    _ok(created, f"create {name}")
    _ok(docker.post(f"{API}/containers/{created.json()['Id']}/start"), f"start {name}", (304,))


def _split_image(reference: str) -> tuple[str, str]:
    if "@" in reference:
        return tuple(reference.split("@", 1))  # type: ignore[return-value]
    if ":" in reference.rsplit("/", 1)[-1]:
        name, tag = reference.rsplit(":", 1)
        return name, tag
    return reference, "latest"


def _create_body(project: str, service: str, spec: dict[str, Any]) -> dict[str, Any]:
    if not spec.get("image"):
        raise DeployError(f"service {service} has neither an image nor a build section")
    host_config: dict[str, Any] = {"NetworkMode": str(spec.get("network_mode") or "default")}
    binds = []
    for volume in spec.get("volumes") or []:
        source, _, target = str(volume).partition(":")
        if not source.startswith("/"):
            raise DeployError(f"service {service}: only bind mounts are supported by the fake ({volume})")
        binds.append(f"{source}:{target}")
    if binds:
        host_config["Binds"] = binds
    if spec.get("restart"):
        host_config["RestartPolicy"] = {"Name": str(spec["restart"]).split(":")[0]}
    body: dict[str, Any] = {
        "Image": str(spec["image"]),
        "Env": _environment(spec.get("environment")),
        "Labels": {
            **{str(k): str(v) for k, v in _labels(spec.get("labels")).items()},
            "com.docker.compose.project": project,
            "com.docker.compose.service": service,
            "com.docker.compose.container-number": "1",
            "com.docker.compose.oneoff": "False",
        },
        "HostConfig": host_config,
    }
    for key, field in (("command", "Cmd"), ("entrypoint", "Entrypoint")):
        value = spec.get(key)
        if value is not None:
            body[field] = shlex.split(value) if isinstance(value, str) else [str(v) for v in value]
    return body


def _environment(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}={'' if v is None else _text(v)}" for k, v in value.items()]
    if isinstance(value, list):
        return [str(item) for item in value]
    return []


def _labels(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        return dict(str(item).partition("=")[::2] for item in value)
    return dict(value or {})


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _ok(response: httpx.Response, what: str, also: tuple[int, ...] = ()) -> None:
    if response.status_code >= 300 and response.status_code not in also:
        raise DeployError(f"{what}: {response.status_code} {response.text[:300]}")

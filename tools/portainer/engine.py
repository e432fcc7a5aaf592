"""Docker Engine calls behind Portainer's proxy, and stack updates: what registry maintenance needs.

A mixin of PortainerClient (tools/portainer/client.py). Everything goes through
`/api/endpoints/{id}/docker/...`, which Portainer hands to its Docker transport
(http/proxy/factory/docker/transport.go): `containers/{id}/{action}` (stop, start, exec, wait, logs) is a
restricted resource operation (administrators pass; others need access to the container's resource
control), `exec/{id}/start` and `exec/{id}/json` have no prefix handler and go straight to the engine,
and the local proxy copies the engine's answer through (http/proxy/factory/docker.go), so the exec's
multiplexed stdout/stderr stream arrives as the body. `PUT /api/stacks/{id}?endpointId=` replaces the
stack file *and its Env* and redeploys (http/handler/stacks/stack_update.go): Env is always sent back.

Every method here except the reads changes something; only tools/changes calls them, for an approved
change (tests/unit/test_policy_boundaries.py). Container environments can hold secrets: nothing here
logs or returns them except `ContainerDetails.env`, which the caller uses only to clone the container.
"""

from __future__ import annotations

import json
import struct
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from pydantic import BaseModel, Field, field_validator

from tools.docker.models import ApiModel, Container, none_to_empty
from tools.errors import BadResponse, Unreachable
from tools.portainer.models import Stack, StackEnv, parse_as

T = TypeVar("T")
OUTPUT_LIMIT = 16 << 20  # bytes of exec output kept per stream; the rest is counted, not kept


class ContainerState(ApiModel):
    """`State` of a container inspect."""

    running: bool = Field(False, alias="Running")
    status: str = Field("", alias="Status")


class ContainerConfig(ApiModel):
    """`Config` of a container inspect: what a clone needs."""

    image: str = Field("", alias="Image")
    cmd: list[str] = Field(default_factory=list, alias="Cmd")
    entrypoint: list[str] = Field(default_factory=list, alias="Entrypoint")
    env: list[str] = Field(default_factory=list, alias="Env")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")
    working_dir: str = Field("", alias="WorkingDir")
    user: str = Field("", alias="User")
    exposed_ports: dict[str, Any] = Field(default_factory=dict, alias="ExposedPorts")

    _nulls = field_validator("cmd", "entrypoint", "env", "labels", "exposed_ports", mode="before")(
        none_to_empty
    )


class ContainerDetails(ApiModel):
    """`GET /containers/{id}/json`, the parts registry maintenance reads."""

    id: str = Field(alias="Id")
    name: str = Field("", alias="Name")
    image_id: str = Field("", alias="Image")
    state: ContainerState = Field(default_factory=lambda: ContainerState.model_validate({}), alias="State")
    config: ContainerConfig = Field(
        default_factory=lambda: ContainerConfig.model_validate({}), alias="Config"
    )
    host_config: dict[str, Any] = Field(default_factory=dict, alias="HostConfig")

    _nulls = field_validator("host_config", mode="before")(none_to_empty)

    @property
    def short_name(self) -> str:
        """The name without Docker's leading slash."""
        return self.name.lstrip("/") or self.id[:12]

    def env_value(self, name: str) -> str | None:
        """The value of one environment variable, or None."""
        for item in self.config.env:
            key, _, value = item.partition("=")
            if key == name:
                return value
        return None


class ExecResult(BaseModel):
    """What a command run in a container printed, and its exit code."""

    exit_code: int
    stdout: str
    stderr: str
    truncated: bool = False


class EngineCalls:
    """Container, exec and stack-update methods of PortainerClient."""

    url: str
    requests: Counter[str]
    _http: httpx.Client
    _count_lock: threading.Lock

    if TYPE_CHECKING:  # implemented by PortainerClient

        def _get(
            self, shape: type[T], path: str, *, params: Mapping[str, Any] | None = None, auth: bool = True
        ) -> T: ...

        def _auth_headers(self) -> dict[str, str]: ...

        def _check(self, response: httpx.Response, method: str, path: str) -> httpx.Response: ...

        def _scrub(self, text: str) -> str: ...

    # --- reads -----------------------------------------------------------------------------------------

    def container_details(self, environment_id: int, container: str) -> ContainerDetails:
        """Inspect one container by id or name."""
        return self._get(
            ContainerDetails, f"/api/endpoints/{environment_id}/docker/containers/{container}/json"
        )

    def labelled_containers(self, environment_id: int, labels: Mapping[str, str]) -> list[Container]:
        """Containers (any state) carrying every one of these labels, e.g. a Compose project's service."""
        filters = json.dumps({"label": [f"{key}={value}" for key, value in labels.items()]})
        path = f"/api/endpoints/{environment_id}/docker/containers/json"
        return self._get(list[Container], path, params={"all": "1", "filters": filters})

    def stack(self, stack_id: int) -> Stack:
        """One stack's record (`GET /api/stacks/{id}`), with its Env."""
        return self._get(Stack, f"/api/stacks/{stack_id}")

    # --- changes (tools/changes only) ----------------------------------------------------------------

    def stop_container(self, environment_id: int, container: str, *, timeout_s: int = 10) -> None:
        """Stop a container (SIGTERM, SIGKILL after `timeout_s`); one already stopped is fine (304)."""
        self._engine("POST", environment_id, f"/containers/{container}/stop", params={"t": str(timeout_s)})

    def start_container(self, environment_id: int, container: str) -> None:
        """Start a container; one already running is fine (304)."""
        self._engine("POST", environment_id, f"/containers/{container}/start")

    def create_container(self, environment_id: int, *, name: str, body: Mapping[str, Any]) -> str:
        """Create (not start) a container; returns its id."""
        response = self._engine(
            "POST", environment_id, "/containers/create", params={"name": name}, body=body
        )
        created = parse_as(dict[str, Any], _json(response), "container create")
        if not isinstance(created.get("Id"), str):
            raise BadResponse("the engine's container create answer has no Id")
        return str(created["Id"])

    def remove_container(self, environment_id: int, container: str) -> None:
        """Remove a container, killing it if it runs (its anonymous volumes stay)."""
        self._engine("DELETE", environment_id, f"/containers/{container}", params={"force": "1"})

    def wait_container(self, environment_id: int, container: str, *, timeout_s: float) -> int:
        """Block until the container exits; its exit code."""
        path = f"/containers/{container}/wait"
        response = self._engine("POST", environment_id, path, timeout_s=timeout_s)
        answer = parse_as(dict[str, Any], _json(response), "container wait")
        return int(answer.get("StatusCode", -1))

    def container_logs(self, environment_id: int, container: str) -> tuple[str, str]:
        """(stdout, stderr) of a container started without a TTY."""
        params = {"stdout": "1", "stderr": "1"}
        response = self._engine("GET", environment_id, f"/containers/{container}/logs", params=params)
        out, err, _ = demultiplex(response.content)
        return out, err

    def run_exec(
        self, environment_id: int, container: str, command: Sequence[str], *, timeout_s: float = 60.0
    ) -> ExecResult:
        """Run a command in a running container (`exec` create, start attached, inspect); never a TTY."""
        body = {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": list(command)}
        created = self._engine("POST", environment_id, f"/containers/{container}/exec", body=body)
        exec_id = parse_as(dict[str, Any], _json(created), "exec create").get("Id")
        if not isinstance(exec_id, str) or not exec_id:
            raise BadResponse("the engine's exec create answer has no Id")
        started = self._engine(
            "POST",
            environment_id,
            f"/exec/{exec_id}/start",
            body={"Detach": False, "Tty": False},
            timeout_s=timeout_s,
        )
        stdout, stderr, truncated = demultiplex(started.content)
        inspect = self._engine("GET", environment_id, f"/exec/{exec_id}/json")
        code = parse_as(dict[str, Any], _json(inspect), "exec inspect").get("ExitCode")
        return ExecResult(
            exit_code=code if isinstance(code, int) else -1, stdout=stdout, stderr=stderr, truncated=truncated
        )

    def update_stack(
        self, stack_id: int, *, environment_id: int, content: str, env: Sequence[StackEnv]
    ) -> Stack:
        """Replace a Compose/Swarm stack's file and redeploy it (`PUT /api/stacks/{id}?endpointId=`).

        Portainer replaces the stack's Env with the one sent (stack_update.go), so the current Env goes
        along unchanged; images are not re-pulled (`PullImage: false`).
        """
        path = f"/api/stacks/{stack_id}"
        body = {
            "StackFileContent": content,
            "Env": [{"name": item.name, "value": item.value} for item in env],
            "PullImage": False,
            "Prune": False,
        }
        response = self._send_raw(
            "PUT", path, params={"endpointId": str(environment_id)}, body=body, timeout_s=300
        )
        return parse_as(Stack, _json(self._check(response, "PUT", path)), "stack update")

    # --- HTTP ------------------------------------------------------------------------------------------

    def _engine(
        self,
        method: str,
        environment_id: int,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """One Docker call through the proxy: not retried (unsafe), 304 (already so) counts as done."""
        full = f"/api/endpoints/{environment_id}/docker{path}"
        response = self._send_raw(method, full, params=params, body=body, timeout_s=timeout_s)
        if response.status_code == 304:
            return response
        return self._check(response, method, full)

    def _send_raw(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None,
        body: Any,
        timeout_s: float | None,
    ) -> httpx.Response:
        with self._count_lock:
            self.requests[method] += 1
        timeout = httpx.Timeout(timeout_s, connect=5.0) if timeout_s is not None else None
        try:
            return self._http.request(
                method,
                self.url + path,
                params=params,
                json=body,
                headers=self._auth_headers(),
                follow_redirects=False,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException:
            raise Unreachable(f"Portainer at {self.url} did not answer {method} {path} in time") from None
        except httpx.HTTPError as exc:
            reason = self._scrub(str(exc)) or type(exc).__name__
            raise Unreachable(f"cannot reach Portainer at {self.url}: {reason}") from None


def demultiplex(raw: bytes, *, limit: int = OUTPUT_LIMIT) -> tuple[str, str, bool]:
    """Split Docker's multiplexed stream (8-byte frame headers: stream, 0, 0, 0, big-endian size).

    Text that is not framed (a TTY, or an engine that sent it raw) comes back whole as stdout.
    """
    if len(raw) < 8 or raw[0] not in (0, 1, 2) or raw[1:4] != b"\0\0\0":
        return raw[:limit].decode(errors="replace"), "", len(raw) > limit
    streams: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    truncated = False
    offset = 0
    while offset + 8 <= len(raw):
        kind = raw[offset]
        (size,) = struct.unpack(">I", raw[offset + 4 : offset + 8])
        chunk = raw[offset + 8 : offset + 8 + size]
        offset += 8 + size
        target = streams.get(kind if kind in (1, 2) else 1, streams[1])
        room = limit - len(target)
        if room < len(chunk):
            truncated = True
        target.extend(chunk[: max(room, 0)])
    return streams[1].decode(errors="replace"), streams[2].decode(errors="replace"), truncated


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):
        raise BadResponse(
            f"Portainer {response.request.method} {response.request.url.path} did not answer JSON",
            status=response.status_code,
        ) from None

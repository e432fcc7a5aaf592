"""A self-hosted registry that runs in a Portainer environment: where it is, and how to operate it.

`RegistryService` is the configuration (`registry_services:`): which Regent registry runs as which
container, or as which service of which Compose stack, in which Portainer environment. `RegistryHost`
does what garbage collection and stack updates need through Portainer only: find the running container
(a stack's by Compose's labels, `com.docker.compose.project` = the stack name as Portainer normalises it,
exec/compose_stack.go:146), read and replace the stack file, run a command in the container through the
Docker exec API, wait until the registry answers `/v2/` again, and measure its storage.

Storage is measured inside the container: the sizes of the blob `data` files under the storage root
(layers, configs and manifest documents: what reclaim figures count, tools/analysis/reclaim.py) and
`du -sk` of the root (what the disk holds, block overhead included). It needs `find`, `stat` and `du` in
the image (the official registry image is Alpine and has them); without them the bytes are "unknown".
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tools.errors import ChangeRefused, RegentError

if TYPE_CHECKING:
    # Annotations only: bot.config's Settings imports RegistryService, and the Portainer client (httpx
    # models, ~0.1 s) would otherwise load in every command, `regent inventory` included.
    from tools.portainer.client import PortainerClient
    from tools.portainer.engine import ContainerDetails, ExecResult
    from tools.portainer.models import Stack

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
ROOT_ENV = "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY"
COMPOSE_STACK, SWARM_STACK = 2, 1
_STACK_NAME = re.compile(r"[^-_a-z0-9]+")


class RegistryService(BaseModel):
    """Where one self-hosted registry runs in Portainer, for garbage collection and cache changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str = Field(description="the registry's name in Regent (registries: or Portainer)")
    environment: int = Field(ge=1, description="Portainer environment id the registry runs in")
    container: str = Field(default="", description="the container's name (or give stack)")
    stack: str = Field(default="", description="the Compose stack's name in Portainer (or give container)")
    service: str = Field(default="registry", description="the stack's service that runs the registry")
    kind: Literal["distribution", "harbor"] = "distribution"
    gc_mode: Literal["readonly", "stop"] = Field(
        default="readonly", description="readonly: pulls keep working during GC; stop: the registry is down"
    )
    config_path: str = Field(
        default="/etc/docker/registry/config.yml", description="config file in the container"
    )
    binary: str = Field(
        default="registry", description="the registry binary in the container (PATH or absolute)"
    )
    data_dir: str = Field(
        default="", description="storage root in the container; default: read from the config"
    )
    gc_timeout_s: float = Field(default=1800.0, gt=0, le=86_400, description="longest garbage collection run")
    ready_timeout_s: float = Field(default=90.0, gt=0, le=3600, description="wait for /v2/ after a restart")

    @model_validator(mode="after")
    def _one_place(self) -> RegistryService:
        if bool(self.container) == bool(self.stack):
            raise ValueError("give exactly one of container or stack")
        return self

    def where(self) -> str:
        """Where it runs, for people: "stack `registry` (service registry), environment 1"."""
        if self.stack:
            return f"stack `{self.stack}` (service {self.service}), Portainer environment {self.environment}"
        return f"container `{self.container}`, Portainer environment {self.environment}"


def compose_project(stack_name: str) -> str:
    """The Compose project name Portainer deploys a stack under (ComposeStackManager.NormalizeStackName)."""
    return _STACK_NAME.sub("", stack_name.lower())


@dataclass(frozen=True, slots=True)
class Storage:
    """What the registry's storage held at one moment (None: could not be measured, `note` says why)."""

    blob_bytes: int | None
    blob_files: int | None
    disk_kib: int | None
    note: str = ""


class RegistryHost:
    """One configured registry service, operated through a Portainer client (the caller closes it)."""

    def __init__(
        self,
        client: PortainerClient,
        service: RegistryService,
        *,
        ping: Callable[[], None],
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client, self.service = client, service
        self._ping, self._sleep, self._clock = ping, sleep, clock

    @property
    def environment(self) -> int:
        """The Portainer environment id."""
        return self.service.environment

    # --- where it is -----------------------------------------------------------------------------------

    def stack(self) -> Stack:
        """The configured stack's record (Compose only: a Swarm service has no one container to exec in)."""
        name = self.service.stack
        found = [s for s in self.client.stacks() if s.name == name and s.endpoint_id == self.environment]
        if not found:
            found = [s for s in self.client.stacks() if compose_project(s.name) == compose_project(name)]
            found = [s for s in found if s.endpoint_id == self.environment]
        if len(found) != 1:
            why = "no" if not found else "more than one"
            raise ChangeRefused(f"Portainer has {why} stack named {name!r} in environment {self.environment}")
        if found[0].type != COMPOSE_STACK:
            raise ChangeRefused(
                f"stack {name!r} is not a Compose stack (type {found[0].type}); Regent runs registry "
                "maintenance only in a Compose stack's or a plain container's registry, not in Swarm or "
                "Kubernetes yet"
            )
        return found[0]

    def stack_file(self, stack_id: int) -> str:
        """The stack's file as Portainer stores it."""
        return self.client.stack_file(stack_id)

    def container(self) -> ContainerDetails:
        """The registry's running container; ChangeRefused if there is none, or more than one."""
        if self.service.container:
            details = self.client.container_details(self.environment, self.service.container)
        else:
            labels = {
                COMPOSE_PROJECT: compose_project(self.service.stack),
                COMPOSE_SERVICE: self.service.service,
            }
            running = [
                c for c in self.client.labelled_containers(self.environment, labels) if c.state == "running"
            ]
            if len(running) != 1:
                why = "no running container" if not running else f"{len(running)} running containers"
                raise ChangeRefused(f"{self.service.where()} has {why}; expected exactly one")
            details = self.client.container_details(self.environment, running[0].id)
        if not details.state.running:
            raise ChangeRefused(f"container {details.short_name} is {details.state.status or 'not running'}")
        return details

    # --- acting ----------------------------------------------------------------------------------------

    def update_stack(self, stack: Stack, text: str) -> None:
        """Replace the stack file (its Env unchanged) and let Portainer redeploy it."""
        self.client.update_stack(stack.id, environment_id=self.environment, content=text, env=stack.env)

    def run(self, container_id: str, command: list[str], *, timeout_s: float = 120.0) -> ExecResult:
        """Run a command in the container through the Docker exec API behind Portainer."""
        return self.client.run_exec(self.environment, container_id, command, timeout_s=timeout_s)

    def wait_ready(self, *, what: str, container: str | None = None) -> ContainerDetails:
        """Wait until the registry's container (or this one) runs and `/v2/` answers; ChangeRefused after
        the timeout."""
        deadline = self._clock() + self.service.ready_timeout_s
        last = "no answer yet"
        while True:
            try:
                if container is None:
                    details = self.container()
                else:
                    details = self.client.container_details(self.environment, container)
                    if not details.state.running:
                        raise ChangeRefused(f"container {details.short_name} is {details.state.status}")
                self._ping()
                return details
            except RegentError as exc:
                last = str(exc)[:200]
            if self._clock() >= deadline:
                raise ChangeRefused(
                    f"{what}: the registry did not answer /v2/ within {self.service.ready_timeout_s:.0f} s "
                    f"({last})"
                )
            self._sleep(0.25)

    # --- storage ---------------------------------------------------------------------------------------

    def storage_root(self, details: ContainerDetails) -> tuple[str | None, str]:
        """(storage root in the container, or None, and why not): configured, from the environment, or
        from the config file (`storage.filesystem.rootdirectory`)."""
        if self.service.data_dir:
            return self.service.data_dir, ""
        if value := details.env_value(ROOT_ENV):
            return value, ""
        result = self.run(details.id, ["cat", self.service.config_path], timeout_s=30)
        if result.exit_code != 0:
            return None, f"cannot read {self.service.config_path} in the container"
        import yaml  # here: bot.config imports this module, and a crawl reads no YAML (#17)

        try:
            config = yaml.safe_load(result.stdout)
        except yaml.YAMLError:
            return None, f"{self.service.config_path} is not YAML"
        storage = config.get("storage") if isinstance(config, dict) else None
        drivers = [k for k in (storage or {}) if k not in ("delete", "maintenance", "cache", "redirect")]
        filesystem = (storage or {}).get("filesystem")
        if isinstance(filesystem, dict) and isinstance(filesystem.get("rootdirectory"), str):
            return filesystem["rootdirectory"], ""
        if drivers and drivers != ["filesystem"]:
            return None, f"storage driver {drivers[0]!r}: bytes on it cannot be measured from the container"
        return "/var/lib/registry", ""  # distribution's filesystem default

    def measure(self, container_id: str, root: str | None, why_not: str = "") -> Storage:
        """Blob bytes (sum of `data` files under the root's blobs) and disk use of the storage root."""
        if root is None:
            return Storage(None, None, None, why_not)
        blobs = f"{root.rstrip('/')}/docker/registry/v2/blobs"
        found = self.run(
            container_id,
            ["find", blobs, "-type", "f", "-name", "data", "-exec", "stat", "-c", "%s", "{}", "+"],
            timeout_s=600,
        )
        sizes: list[int] = []
        if found.exit_code == 0 and not found.truncated:
            try:
                sizes = [int(line) for line in found.stdout.split()]
            except ValueError:
                found = found.model_copy(update={"exit_code": -1})
        disk = self.run(container_id, ["du", "-sk", root], timeout_s=600)
        disk_kib = _first_int(disk.stdout) if disk.exit_code == 0 else None
        if found.exit_code != 0 or found.truncated:
            note = (found.stderr.strip().splitlines() or ["find/stat failed in the container"])[-1][:200]
            return Storage(None, None, disk_kib, note)
        return Storage(sum(sizes), len(sizes), disk_kib)


def _first_int(text: str) -> int | None:
    match = re.match(r"\s*(\d+)", text)
    return int(match.group(1)) if match else None

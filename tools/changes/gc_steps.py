"""Running an approved garbage collection: switch, collect, restore; the registry is restored whatever fails.

The three items of a gc_run Action (tools/changes/gc.py) run in order through `run_action`, which claims
the action once and records each step. They share one `_GcRun`: a step that fails is recorded with its
error and the next ones see it (collection is skipped when the switch failed; the restore always runs,
and is retried, since a registry left read-only or stopped is the one outcome that must not happen).
Everything is re-read at click time: the running container, its storage root, the stack file. The
report says where the registry stands at the end, in words, whatever happened.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from tools.changes.actions import (
    Action,
    ActionItem,
    ActionReport,
    ActionStore,
    ItemOutcome,
    ItemStep,
    run_action,
)
from tools.changes.base import ChangeServices
from tools.changes.compose_edit import load_compose, service_environment, set_service_environment
from tools.changes.registry_host import RegistryHost, RegistryService, Storage
from tools.errors import ChangeRefused, NotFound, RegentError
from tools.portainer.client import PortainerClient
from tools.portainer.engine import ContainerDetails
from tools.portainer.models import Stack
from tools.units import format_bytes

READONLY_ENV = "REGISTRY_STORAGE_MAINTENANCE_READONLY"
READONLY_VALUE = '{"enabled": true}'
GC_SUMMARY = re.compile(r"\d+ blobs marked, \d+ blobs and \d+ manifests eligible for deletion")
RESTORE_ATTEMPTS = 3
ROLE_LABEL = "io.regent.role"


class GcReport(ActionReport):
    """A garbage collection run: its steps, and the bytes measured next to the prediction."""

    predicted_bytes: int = 0
    freed_bytes: int | None = None  # blob bytes before minus after; None when not measured
    before_bytes: int | None = None
    after_bytes: int | None = None
    disk_freed_kib: int | None = None
    collected: str = ""  # garbage-collect's own summary line
    state: str = ""  # where the registry stands now, in words


@runtime_checkable
class Pingable(Protocol):
    """A registry client that can check `/v2/` (tools.registry.client.RegistryClient)."""

    def ping(self) -> None: ...


def execute_gc(action: Action, *, store: ActionStore, services: ChangeServices) -> GcReport:
    """Run an approved gc_run once; the report carries the bytes measured next to the prediction."""
    service = RegistryService.model_validate(action.target["service"])
    registry = str(action.target["registry"])
    run: _GcRun | None = None
    with services.registry_clients() as clients, services.portainer_client() as client:
        registry_client = clients.get(registry)
        if not isinstance(registry_client, Pingable):
            raise ChangeRefused(
                f"no registry client for {registry}: Regent cannot check that it answers /v2/"
            )
        host = RegistryHost(client, service, ping=registry_client.ping)

        def prepare(stored: Action) -> ItemStep:
            nonlocal run
            run = _GcRun(host, client, stored, store.results(stored.action_id))
            return run.step

        report = run_action(action.action_id, store=store, step=prepare, now=services.now)
    extra: dict[str, Any] = {"predicted_bytes": int(action.target.get("predicted_bytes", 0))}
    if run is not None:
        extra |= run.figures()
    elif report.status != "done":
        extra["state"] = "Nothing was done by this click: " + report.message
    return GcReport.model_validate(report.model_dump() | extra)


class _GcRun:
    """One run's shared state: what was switched, how to undo it, and what was measured."""

    def __init__(
        self,
        host: RegistryHost,
        client: PortainerClient,
        action: Action,
        recorded: dict[int, tuple[str, str]],
    ) -> None:
        self.host, self.client, self.action = host, client, action
        self.service = host.service
        self.env = host.environment
        ops = {item.op: index for index, item in enumerate(action.items)}
        # A resumed run: a switch recorded as done was not undone yet (the restore is not recorded).
        self.switched = recorded.get(ops.get("switch", -1), ("", ""))[0] == "done"
        self.ready = False  # the switch completed in this run: garbage-collect may run
        self.stack: Stack | None = None
        self.original_text: str | None = None
        self.put_text: str | None = None
        self.original: ContainerDetails | None = None  # the registry's own container
        self.work: str | None = None  # where garbage-collect and the measurements run
        self.root: tuple[str | None, str] = (None, "not measured")
        self.before: Storage | None = None
        self.after: Storage | None = None
        self.collected = ""
        self.state = ""
        self._steps: dict[str, Callable[[], tuple[ItemOutcome, str]]] = {
            "switch": self._switch,
            "collect": self._collect,
            "restore": self._restore,
        }

    def step(self, _index: int, item: ActionItem) -> tuple[ItemOutcome, str]:
        """Run one displayed step (an unknown op is skipped)."""
        act = self._steps.get(item.op)
        if act is None:
            return "skipped", f"unknown step {item.op!r}"
        try:
            return act()
        except RegentError as exc:
            if item.op == "restore":
                self.state = f"The registry may not be restored: {str(exc)[:300]}. {self._by_hand()}"
            raise

    # --- 1. switch -------------------------------------------------------------------------------------

    def _switch(self) -> tuple[ItemOutcome, str]:
        details = self.host.container()
        self.host.wait_ready(what="before garbage collection")  # it answers now: nothing is changed if not
        self.original = details
        self.root = self.host.storage_root(details)
        self.before = self.host.measure(details.id, *self.root)
        if self.service.gc_mode == "stop":
            self.switched = True
            self.client.stop_container(self.env, details.id)
            done = f"stopped container {details.short_name}"
        elif self.service.stack:
            done = self._switch_stack()
        else:
            done = self._switch_clone(details)
        self.ready = True
        return "done", done

    def _switch_stack(self) -> str:
        stack = self.host.stack()
        text = self.host.stack_file(stack.id)
        current = service_environment(load_compose(text), self.service.service).get(READONLY_ENV)
        new, _ = set_service_environment(text, self.service.service, {READONLY_ENV: READONLY_VALUE})
        self.stack, self.original_text, self.put_text = stack, text, new
        self.switched = True
        self.host.update_stack(stack, new)
        details = self.host.wait_ready(what="after switching to read-only")
        if details.env_value(READONLY_ENV) != READONLY_VALUE:
            raise ChangeRefused(f"the redeployed container {details.short_name} is not read-only")
        self.work = details.id
        already = " (it already was)" if current == READONLY_VALUE else ""
        return f"read-only{already}: stack {stack.name} redeployed, container {details.short_name}"

    def _switch_clone(self, details: ContainerDetails) -> str:
        name = f"{details.short_name}-regent-gc-ro"
        self._remove_named(name)  # left over by a crashed run
        body = _clone_body(details, extra_env=[f"{READONLY_ENV}={READONLY_VALUE}"], role="gc-read-only")
        self.switched = True
        self.client.stop_container(self.env, details.id)
        clone = self.client.create_container(self.env, name=name, body=body)
        self.client.start_container(self.env, clone)
        self.host.wait_ready(what="after switching to read-only", container=clone)
        self.work = clone
        return f"read-only: {details.short_name} stopped, clone {name} serves pulls"

    # --- 2. collect ------------------------------------------------------------------------------------

    def _collect(self) -> tuple[ItemOutcome, str]:
        if not self.ready and self.original is None and self.switched:  # resumed in another process
            return "skipped", "an earlier run was interrupted after the switch: not collected; restoring"
        if not self.ready:
            return "skipped", "the registry was not switched away from read-write: garbage collection not run"
        command = [self.service.binary, "garbage-collect", self.service.config_path]
        if self.service.gc_mode == "stop":
            exit_code, stdout, stderr = self._one_off(command)
        else:
            assert self.work is not None
            result = self.host.run(self.work, command, timeout_s=self.service.gc_timeout_s)
            exit_code, stdout, stderr = result.exit_code, result.stdout, result.stderr
        if exit_code != 0:
            tail = (stderr.strip() or stdout.strip()).splitlines()[-3:]
            raise ChangeRefused(f"garbage-collect exited with {exit_code}: {' | '.join(tail)[:300]}")
        found = GC_SUMMARY.search(stdout)
        self.collected = found.group(0) if found else "garbage-collect finished (no summary line)"
        if self.work is not None:
            self.after = self.host.measure(self.work, *self.root)
        return "done", self.collected + (f"; {self._freed()}" if self.after is not None else "")

    def _one_off(self, command: list[str]) -> tuple[int, str, str]:
        """Stop mode: garbage-collect in a new container from the same image, sharing the volumes."""
        assert self.original is not None
        name = f"{self.original.short_name}-regent-gc"
        self._remove_named(name)
        body = _clone_body(self.original, extra_env=[], role="garbage-collect")
        body |= {"Entrypoint": command[:1], "Cmd": command[1:]}
        body["HostConfig"] = {"VolumesFrom": [self.original.id], "NetworkMode": "none"}
        helper = self.client.create_container(self.env, name=name, body=body)
        try:
            self.client.start_container(self.env, helper)
            exit_code = self.client.wait_container(self.env, helper, timeout_s=self.service.gc_timeout_s)
            stdout, stderr = self.client.container_logs(self.env, helper)
        finally:
            self.client.remove_container(self.env, helper)
        return exit_code, stdout, stderr

    # --- 3. restore ------------------------------------------------------------------------------------

    def _restore(self) -> tuple[ItemOutcome, str]:
        if not self.switched:
            self.host.wait_ready(what="checking the registry")
            self.state = "The registry was not changed and answers /v2/."
            return "done", "nothing to undo; the registry answers /v2/"
        error: RegentError | None = None
        for _attempt in range(RESTORE_ATTEMPTS):
            try:
                done = self._undo()
                break
            except RegentError as exc:
                error = exc
        else:
            assert error is not None
            raise error
        if self.work is None or self.service.gc_mode == "stop":
            self.after = self.after or self._measure_restored()
        self.state = "The registry runs read-write again and answers /v2/."
        return "done", done + (f"; {self._freed()}" if self.after is not None else "")

    def _undo(self) -> str:
        if self.service.gc_mode == "stop":
            self.client.start_container(self.env, self._original_id())
            details = self.host.wait_ready(what="after starting it again")
            self.work = details.id
            return f"started {details.short_name}; /v2/ answers"
        if self.service.stack:
            return self._restore_stack()
        clone = f"{self._original_name()}-regent-gc-ro"
        self._remove_named(clone)
        self.client.start_container(self.env, self._original_id())
        details = self.host.wait_ready(what="after starting the original again")
        self.work = details.id
        return f"clone removed, {details.short_name} started; /v2/ answers"

    def _restore_stack(self) -> str:
        stack = self.stack or self.host.stack()
        text = self.host.stack_file(stack.id)
        if self.original_text is not None and text == self.put_text:
            restored = self.original_text  # exactly the file as it was
        else:  # a resumed run, or someone edited it meanwhile: take out only our variable
            restored, _ = set_service_environment(text, self.service.service, {READONLY_ENV: None})
        if restored != text:
            self.host.update_stack(stack, restored)
        details = self.host.wait_ready(what="after restoring the stack file")
        if details.env_value(READONLY_ENV) == READONLY_VALUE and READONLY_VALUE not in (
            self.original_text or ""
        ):
            raise ChangeRefused(f"the container {details.short_name} is still read-only after the restore")
        self.work = details.id
        return f"stack file restored, {details.short_name} redeployed; /v2/ answers"

    # --- helpers ---------------------------------------------------------------------------------------

    def _measure_restored(self) -> Storage | None:
        if self.before is None or self.work is None:
            return None
        return self.host.measure(self.work, *self.root)

    def _original_id(self) -> str:
        return self.original.id if self.original is not None else self.service.container

    def _original_name(self) -> str:
        return self.original.short_name if self.original is not None else self.service.container

    def _remove_named(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            self.client.remove_container(self.env, name)

    def _freed(self) -> str:
        figures = self.figures()
        if figures.get("freed_bytes") is None:
            return "bytes freed not measured"
        return f"{format_bytes(figures['freed_bytes'])} freed ({figures['freed_bytes']} bytes of blobs)"

    def _by_hand(self) -> str:
        if self.service.gc_mode == "stop":
            return f"Start container {self._original_name()} by hand in Portainer."
        if self.service.stack:
            return (
                f"Remove {READONLY_ENV} from service {self.service.service} of stack {self.service.stack} "
                "in Portainer and update the stack."
            )
        return f"Remove container {self._original_name()}-regent-gc-ro and start {self._original_name()}."

    def figures(self) -> dict[str, Any]:
        """The report's measured bytes and final state."""
        before, after = self.before, self.after
        out: dict[str, Any] = {"collected": self.collected, "state": self.state or "unknown"}
        if before is not None:
            out["before_bytes"] = before.blob_bytes
        if after is not None:
            out["after_bytes"] = after.blob_bytes
        if before is not None and after is not None:
            if before.blob_bytes is not None and after.blob_bytes is not None:
                out["freed_bytes"] = before.blob_bytes - after.blob_bytes
            if before.disk_kib is not None and after.disk_kib is not None:
                out["disk_freed_kib"] = before.disk_kib - after.disk_kib
        return out


def _clone_body(details: ContainerDetails, *, extra_env: list[str], role: str) -> dict[str, Any]:
    """A container like this one (same image, command, environment, network, ports) sharing its volumes."""
    config = details.config
    host = details.host_config
    host_config = {"VolumesFrom": [details.id], "NetworkMode": host.get("NetworkMode") or "default"}
    for key in ("PortBindings", "ExtraHosts", "Dns", "DnsSearch", "LogConfig"):
        if host.get(key):
            host_config[key] = host[key]
    body: dict[str, Any] = {
        "Image": details.image_id or config.image,
        "Env": [*config.env, *extra_env],
        # Not Compose's labels: the clone must not count as one of the stack's containers.
        "Labels": {k: v for k, v in config.labels.items() if not k.startswith("com.docker.compose.")}
        | {ROLE_LABEL: role},
        "HostConfig": host_config,
    }
    if config.cmd:
        body["Cmd"] = config.cmd
    if config.entrypoint:
        body["Entrypoint"] = config.entrypoint
    if config.working_dir:
        body["WorkingDir"] = config.working_dir
    if config.user:
        body["User"] = config.user
    if config.exposed_ports:
        body["ExposedPorts"] = config.exposed_ports
    return body

"""A registry's stack file, changed through Portainer: a pull-through cache configuration, and its revert.

Proposing (`build_cache_configuration`, read-only) reads the registry service's Compose stack from
Portainer, sets `REGISTRY_PROXY_REMOTEURL` on its service (distribution's `proxy.remoteurl`; the text
edit keeps the rest of the file, tools/changes/compose_edit.py) and stores both files in the Action: the
card shows their diff, and the items hash covers them, so what is approved is exactly that file.

Executing re-reads the stack file and refuses if it is not byte for byte the one the diff was made
from (someone changed it since); otherwise it sends the new file with `PUT /api/stacks/{id}?endpointId=`
(the stack's Env sent back unchanged: Portainer replaces it, stack_update.go), waits until the registry
runs and answers `/v2/`, and then checks that it answers as a mirror: a manifest of the upstream,
fetched through it. The old file stays in the stored Action; `build_stack_revert` turns an applied
change into a proposal that puts it back (the same re-check: the file must still be the applied one).
Credentials for the upstream never go into the file: REGISTRY_PROXY_USERNAME and REGISTRY_PROXY_PASSWORD
belong in the stack's Env in Portainer, which Regent neither reads into the card nor changes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from tools.changes.action_kind import ActionChangeKind
from tools.changes.actions import (
    Action,
    ActionItem,
    ActionReport,
    ActionStore,
    ItemOutcome,
    ItemStep,
    new_action,
    run_action,
)
from tools.changes.base import ChangeServices, ChangeView, Fact, Tables
from tools.changes.compose_edit import load_compose, service_environment, set_service_environment, stack_diff
from tools.changes.registry_host import RegistryHost, RegistryService
from tools.errors import ChangeRefused, RegentError
from tools.events.cache_advice import REMOTE_URLS
from tools.inventory.models import RegistrySource

KIND = "stack_update"
REMOTE_ENV = "REGISTRY_PROXY_REMOTEURL"
STACK_FILE = "docker-compose.yml"


@runtime_checkable
class MirrorProbe(Protocol):
    """A registry client that can check `/v2/` and fetch a manifest (tools.registry.client.RegistryClient)."""

    def ping(self) -> None: ...

    def get_manifest(self, repository: str, reference: str) -> Any: ...


def sha256_text(text: str) -> str:
    """The sha256 of a stack file's text, as the re-check compares it."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def remote_url(upstream: str) -> str:
    """The URL distribution's proxy pulls from: `docker.io` is registry-1.docker.io, a host is https."""
    text = upstream.strip().rstrip("/")
    if text.startswith(("http://", "https://")):
        return text
    return REMOTE_URLS.get(text.lower(), f"https://{text}")


def build_cache_configuration(
    host: RegistryHost,
    *,
    source: RegistrySource,
    upstream: str,
    probe: str,
    reason: str,
    now: datetime,
) -> Action:
    """Propose making the registry a pull-through cache of `upstream` (reads Portainer only)."""
    service = host.service
    if not service.stack:
        raise ChangeRefused(
            f"{source.name} runs as a plain container ({service.where()}): a cache configuration is applied "
            "to a Compose stack's file; run the registry as a stack in Portainer first"
        )
    repository, _, tag = probe.rpartition(":")
    if not repository or "/" in tag:
        raise ChangeRefused(f"probe image {probe!r} must be repository:tag, e.g. library/alpine:3.19")
    stack = host.stack()
    text = host.stack_file(stack.id)
    url = remote_url(upstream)
    current = service_environment(load_compose(text), service.service).get(REMOTE_ENV)
    if current == url:
        raise ChangeRefused(f"{source.name} already is a pull-through cache of {url} ({REMOTE_ENV} is set)")
    new, in_place = set_service_environment(text, service.service, {REMOTE_ENV: url})
    warnings = [
        f"A pull-through cache refuses pushes and deletes: {source.name} will only serve what it caches "
        f"from {url} (and what it already stores).",
        "Credentials for the upstream go into the stack's Env in Portainer (REGISTRY_PROXY_USERNAME, "
        "REGISTRY_PROXY_PASSWORD), never into the file; Regent sends the stack's Env back unchanged.",
    ]
    if current:
        warnings.append(f"It is a cache of {current} now; this switches it to {url}.")
    if not in_place:
        warnings.append(
            "The file could not be edited line by line, so it is written from its parsed form: comments "
            "and layout change; read the whole diff."
        )
    return _stack_action(
        host,
        stack_id=stack.id,
        stack_name=stack.name,
        source=source,
        old=text,
        new=new,
        purpose="cache",
        title=f"Make {source.name} a pull-through cache of {url}",
        verify={"mirror_of": url, "probe": probe},
        reason=reason,
        now=now,
        warnings=warnings,
    )


def build_stack_revert(host: RegistryHost, applied: Action, *, reason: str, now: datetime) -> Action:
    """Propose putting back the stack file an applied stack update replaced (reads Portainer only)."""
    if applied.kind != KIND:
        raise ChangeRefused(f"{applied.action_id} is a {applied.kind}, not a stack update")
    target = applied.target
    text = host.stack_file(int(target["stack_id"]))
    if sha256_text(text) != target["new_sha256"]:
        raise ChangeRefused(
            f"the file of stack {target['stack_name']} is no longer the one {applied.action_id} applied "
            "(changed since, or never applied): nothing to revert to safely"
        )
    source = RegistrySource(name=str(target["registry"]), url=str(target["registry_url"]))
    return _stack_action(
        host,
        stack_id=int(target["stack_id"]),
        stack_name=str(target["stack_name"]),
        source=source,
        old=text,
        new=str(target["old_content"]),
        purpose="revert",
        title=f"Revert {applied.action_id}: put back the stack file of {source.name}",
        verify={},
        reason=reason,
        now=now,
        warnings=[],
        reverts=applied.action_id,
    )


def _stack_action(
    host: RegistryHost,
    *,
    stack_id: int,
    stack_name: str,
    source: RegistrySource,
    old: str,
    new: str,
    purpose: str,
    title: str,
    verify: dict[str, str],
    reason: str,
    now: datetime,
    warnings: list[str],
    reverts: str = "",
) -> Action:
    service = host.service
    where = f"stack `{stack_name}` (id {stack_id}), Portainer environment {service.environment}"
    items = [
        ActionItem(
            op="update_stack",
            ref=str(stack_id),
            label=f"Replace the file of {where} with the version in the diff, and redeploy it",
            detail={"old_sha256": sha256_text(old), "new_sha256": sha256_text(new)},
        )
    ]
    check = (
        f"Check that {source.name} answers /v2/ and serves `{verify['probe']}` from {verify['mirror_of']} "
        "(a working pull-through cache)"
        if verify
        else f"Check that {source.name} answers /v2/ again"
    )
    items.append(ActionItem(op="verify", ref=source.name, label=check, detail=dict(verify)))
    target = {
        "registry": source.name,
        "registry_url": source.url,
        "service": service.model_dump(mode="json"),
        "stack_id": stack_id,
        "stack_name": stack_name,
        "purpose": purpose,
        "reverts": reverts,
        "old_sha256": sha256_text(old),
        "new_sha256": sha256_text(new),
        "old_content": old,
        "new_content": new,
        "diff": stack_diff(old, new, name=f"{stack_name}/{STACK_FILE}"),
    }
    return new_action(
        kind=KIND, title=title, reason=reason, target=target, items=items, now=now, warnings=warnings
    )


def execute_stack_update(action: Action, *, store: ActionStore, services: ChangeServices) -> ActionReport:
    """Run an approved stack update once: re-check the file, PUT the new one, verify."""
    service = RegistryService.model_validate(action.target["service"])
    registry = str(action.target["registry"])
    with services.registry_clients() as clients, services.portainer_client() as client:
        probe = clients.get(registry)
        if not isinstance(probe, MirrorProbe):
            raise ChangeRefused(f"no registry client for {registry}: Regent cannot check that it answers")
        host = RegistryHost(client, service, ping=probe.ping)

        def prepare(stored: Action) -> ItemStep:
            return _Steps(host, probe, stored).step

        report = run_action(action.action_id, store=store, step=prepare, now=services.now)
    return report.model_copy(update={"message": report.message + _after(action, report)})


def _after(action: Action, report: ActionReport) -> str:
    update = next((r for r in report.results if r.op == "update_stack"), None)
    if update is None or update.status != "done":
        return " The stack file was not changed."
    if action.target.get("purpose") == "revert":
        return " The previous file is back."
    return (
        f" The previous file is kept: `/regent revert {action.action_id}` or `regent revert "
        f"{action.action_id}` (or asking Regent to revert it) proposes putting it back."
    )


class _Steps:
    """One run: the file is re-checked right before the PUT; the verification needs the PUT done."""

    def __init__(self, host: RegistryHost, probe: MirrorProbe, action: Action) -> None:
        self.host, self.probe, self.action = host, probe, action
        self.updated = False

    def step(self, _index: int, item: ActionItem) -> tuple[ItemOutcome, str]:
        if item.op == "update_stack":
            return self._update(item)
        if item.op == "verify":
            return self._verify(item)
        return "skipped", f"unknown step {item.op!r}"

    def _update(self, item: ActionItem) -> tuple[ItemOutcome, str]:
        target = self.action.target
        stack_id = int(target["stack_id"])
        text = self.host.stack_file(stack_id)
        now_sha = sha256_text(text)
        if now_sha == item.detail["new_sha256"]:
            self.updated = True
            return "already_gone", "the stack file already is the proposed one"
        if now_sha != item.detail["old_sha256"]:
            return (
                "skipped",
                f"the stack file changed since the proposal (now {now_sha[:19]}, the diff was made from "
                f"{str(item.detail['old_sha256'])[:19]}): nothing was applied; propose again",
            )
        stack = self.host.client.stack(stack_id)  # its Env, sent back as it is
        self.host.update_stack(stack, str(target["new_content"]))
        self.updated = True
        self.host.wait_ready(what="after the stack update")
        return "done", f"stack {stack.name} updated and redeployed; the registry answers /v2/"

    def _verify(self, item: ActionItem) -> tuple[ItemOutcome, str]:
        if not self.updated:
            return "skipped", "the stack file was not changed"
        self.host.wait_ready(what="verifying")
        probe = item.detail.get("probe")
        if not probe:
            return "done", "the registry answers /v2/"
        repository, _, tag = str(probe).rpartition(":")
        try:
            manifest = self.probe.get_manifest(repository, tag)
        except RegentError as exc:
            raise ChangeRefused(
                f"the stack is updated, but {probe} did not come through it: {str(exc)[:200]}; it does not "
                "work as a mirror yet (revert it, or check the upstream and its credentials)"
            ) from None
        digest = getattr(manifest, "digest", "")
        return "done", f"{probe} served through the cache from {item.detail.get('mirror_of')} ({digest[:19]})"


class StackUpdateKind(ActionChangeKind):
    """A registry's Compose stack file replaced through Portainer (a cache configuration, a revert)."""

    name = KIND
    verb = "Update the stack"
    nothing_done = "Nothing was changed; the stack file is as it was."
    nothing_will = "Nothing will be changed; the stack file stays as it is."

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """The registry and its stack."""
        target = action.target
        return (
            Fact("Registry", str(target["registry"]), code=True),
            Fact("Stack", f"{target['stack_name']} (id {target['stack_id']})"),
        )

    def view(self, change: Action) -> ChangeView:
        """The steps, and the diff of the stack file (what is approved is exactly that file)."""
        base = super().view(change)
        reverts = change.target.get("reverts")
        lines = base.lines + ((Fact("Reverts:", str(reverts), code=True),) if reverts else ())
        return ChangeView(
            title=base.title,
            items_heading="Steps (exactly these; the file is re-checked against the diff first)",
            items=base.items,
            facts=base.facts,
            lines=lines,
            warnings=base.warnings,
            notes=base.notes,
            wording=base.wording,
            preformatted=str(change.target.get("diff", "")),
        )

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> ActionReport:
        """Re-check the file, apply it, verify."""
        return execute_stack_update(change, store=store.actions, services=services)

    def created_audit(self, change: Action) -> dict[str, Any]:
        """The items, and both files' digests (the actions table keeps the files themselves)."""
        audit = super().created_audit(change)
        keys = ("stack_id", "stack_name", "purpose", "reverts", "old_sha256", "new_sha256")
        return audit | {key: change.target.get(key) for key in keys}

    def done_audit(self, change: Action, report: ActionReport) -> dict[str, Any]:
        """The results, and which file the stack had before and should have now."""
        audit = super().done_audit(change, report)
        return audit | {key: change.target.get(key) for key in ("stack_id", "old_sha256", "new_sha256")}


STACK_UPDATE = StackUpdateKind()

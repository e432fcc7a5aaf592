"""Proposing tools for registry maintenance: garbage collection, and a registry's stack file changes.

Like every proposing tool they never act: they read the snapshot and Portainer, store an Action
(tools/changes/gc.py, tools/changes/stack_update.py) with a pending proposal, and return what the card
shows; only an authorized Approve runs it, re-checked first.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.history import RegistryHistory
from tools.analysis.text import clean_text
from tools.changes.actions import Action
from tools.changes.gc import build_gc_run, no_step_needed, predict_gc
from tools.changes.registry_host import RegistryHost, RegistryService
from tools.changes.stack_update import build_cache_configuration, build_stack_revert, remote_url
from tools.errors import ChangeRefused, ImageReferenceError, RegentError
from tools.inventory.models import InventorySnapshot, RegistryInventory
from tools.registry.reference import parse_reference
from tools.toolbox.context import Call, ToolFailure, require_writable
from tools.toolbox.results import ToolResult
from tools.units import format_bytes

NOTE = (
    "Nothing has changed yet: an approval card with exactly these steps is shown; only an authorized "
    "approver's Approve runs them, after re-checking the registry."
)


class ProposeGarbageCollectionArgs(BaseModel):
    """Propose running garbage collection on a self-hosted registry, which frees the disk space of
    manifests deleted earlier: the registry is switched to read-only (or stopped), `registry
    garbage-collect` runs in its container, and the registry is restored. Only when the user asked to run
    garbage collection or to free/reclaim the space. Changes nothing: it stores the steps and asks an
    approver. Hosted registries (ECR, ACR, GAR, Docker Hub) need no such step; the answer says so."""

    model_config = ConfigDict(extra="forbid")

    registry: str = Field(
        min_length=1, max_length=128, description="Registry name, as list_registries shows it"
    )
    reason: str = Field("", max_length=500, description="Why, in the requester's words")


class MaintenanceProposalResult(ToolResult):
    """A stored proposal (or why none is needed), its steps and what it is expected to do."""

    proposal_id: str | None = None
    summary: str
    expected: str = ""
    steps: list[str] = []
    warnings: list[str] = []
    message: str


def propose_garbage_collection(call: Call, args: ProposeGarbageCollectionArgs) -> MaintenanceProposalResult:
    """Predict what garbage collection frees on the registry and propose running it."""
    snapshot = call.require_snapshot()
    inventory = _registry(snapshot, args.registry)
    source = inventory.source
    if (hosted := no_step_needed(source)) is not None:
        return MaintenanceProposalResult(summary=hosted, message="No proposal: nothing to approve.")
    require_writable(call.context)
    service = call.context.registry_services.get(source.name)
    history = call.context.history(snapshot).get(source.name, RegistryHistory())
    deleted = call.context.deleted_since_gc(source.name) if call.context.deleted_since_gc else []
    prediction = predict_gc(inventory, history, deleted)
    checked = _check_running(call, service) if service is not None else ""
    try:
        action = build_gc_run(
            source=source,
            service=service,
            prediction=prediction,
            deleted=deleted,
            reason=args.reason or "free the space of deleted manifests",
            now=call.context.now(),
            checked=checked,
        )
    except ChangeRefused as exc:
        raise ToolFailure(str(exc), hint="tell the user exactly this") from None
    expected = f"{format_bytes(prediction.total)} ({prediction.total} bytes, {prediction.freed_blobs} blobs)"
    return propose_action(call, action, expected=expected)


class ProposeCacheConfigurationArgs(BaseModel):
    """Propose making a self-hosted registry a pull-through cache (mirror) of an upstream registry, by
    setting REGISTRY_PROXY_REMOTEURL in its Compose stack file in Portainer; the card shows the diff, and
    after approval Regent checks the registry serves an upstream image through it. Only when the user
    asked to set up, apply or enable a cache or mirror. Changes nothing until approved. cache_advice says
    which upstreams are worth caching."""

    model_config = ConfigDict(extra="forbid")

    registry: str = Field(min_length=1, max_length=128, description="The registry to turn into the cache")
    upstream: str = Field(
        min_length=1, max_length=256, description="Upstream to cache: docker.io, ghcr.io, or a URL"
    )
    probe_image: str | None = Field(
        None,
        max_length=256,
        description="repository:tag on the upstream to check through the cache; default: one that runs",
    )
    reason: str = Field("", max_length=500, description="Why, in the requester's words")


class ProposeStackRevertArgs(BaseModel):
    """Propose putting back the stack file that an applied stack update (a cache configuration) replaced;
    the card shows the diff. Only when the user asked to revert, undo or roll back that change."""

    model_config = ConfigDict(extra="forbid")

    change_id: str = Field(
        min_length=1, max_length=80, description="The applied change's id, act-..., from its card or result"
    )
    reason: str = Field("", max_length=500, description="Why, in the requester's words")


def propose_cache_configuration(call: Call, args: ProposeCacheConfigurationArgs) -> MaintenanceProposalResult:
    """Read the registry's stack file and propose the cache configuration as a diff."""
    require_writable(call.context)
    snapshot = call.require_snapshot()
    source = _registry(snapshot, args.registry).source
    service = call.context.registry_services.get(source.name)
    if service is None:
        raise ToolFailure(
            f"Regent does not know where {source.name} runs",
            hint="tell the user to add it to registry_services (Portainer environment and stack)",
        )
    probe = args.probe_image or _running_image_of(snapshot, args.upstream)
    if probe is None:
        raise ToolFailure(
            f"no image from {args.upstream} runs anywhere, so there is none to check the cache with",
            hint="ask the user for probe_image (repository:tag on the upstream)",
        )
    action = _with_host(
        call,
        service,
        lambda host: build_cache_configuration(
            host,
            source=source,
            upstream=args.upstream,
            probe=probe,
            reason=args.reason or f"pull {args.upstream} images through {source.name}",
            now=call.context.now(),
        ),
    )
    return propose_action(call, action, expected=f"the diff of stack {action.target['stack_name']}'s file")


def propose_stack_revert(call: Call, args: ProposeStackRevertArgs) -> MaintenanceProposalResult:
    """Propose putting back the file an applied stack update replaced."""
    require_writable(call.context)
    read = call.context.stored_action
    if read is None:
        raise ToolFailure("stored changes are not available here", hint="tell the user")
    try:
        applied = read(args.change_id.strip())
    except RegentError as exc:
        raise ToolFailure(str(exc), hint="ask for the act-... id of the applied change") from None
    service = RegistryService.model_validate(applied.target.get("service", {}))
    action = _with_host(
        call,
        service,
        lambda host: build_stack_revert(
            host, applied, reason=args.reason or f"undo {applied.action_id}", now=call.context.now()
        ),
    )
    return propose_action(call, action, expected=f"the diff back to the file before {applied.action_id}")


def _with_host(call: Call, service: RegistryService, build: Callable[[RegistryHost], Action]) -> Action:
    connect = call.context.portainer
    if connect is None:
        raise ToolFailure("Portainer is not configured here", hint="tell the user this needs Portainer")
    try:
        with connect() as client:
            return build(RegistryHost(client, service, ping=lambda: None))
    except RegentError as exc:
        raise ToolFailure(str(exc)[:400], hint="tell the user exactly this") from None


def _running_image_of(snapshot: InventorySnapshot, upstream: str) -> str | None:
    """repository:tag of a deployed image from the upstream (the most deployed one)."""
    wanted = remote_url(upstream).split("://", 1)[1].lower()
    wanted = "docker.io" if wanted == "registry-1.docker.io" else wanted
    counts: dict[str, int] = {}
    for deployment in snapshot.deployments:
        try:
            ref = parse_reference(deployment.image, default_tag="latest")
        except ImageReferenceError:
            continue
        if ref.registry.lower() == wanted and ref.tag:
            key = f"{ref.repository}:{ref.tag}"
            counts[key] = counts.get(key, 0) + 1
    return max(sorted(counts), key=lambda k: counts[k]) if counts else None


def propose_action(call: Call, action: Action, *, expected: str = "") -> MaintenanceProposalResult:
    """Store the action and its pending proposal; what the model may tell the user about it."""
    require_writable(call.context)
    propose = call.context.propose_action
    if propose is None:
        raise ToolFailure("proposals are not available here", hint="explain what would change instead")
    ref = propose(action, call.user, call.conversation)
    return MaintenanceProposalResult(
        proposal_id=ref.id,
        summary=ref.summary,
        expected=expected,
        steps=[clean_text(item.label, limit=300) for item in action.items],
        warnings=[clean_text(w, limit=300) for w in action.warnings],
        message=NOTE,
    )


def _registry(snapshot: InventorySnapshot, name: str) -> RegistryInventory:
    wanted = name.strip().lower()
    for inventory in snapshot.registries:
        source = inventory.source
        if wanted in (source.name.lower(), source.url.lower().rstrip("/"), source.image_host.lower()):
            return inventory
    known = ", ".join(i.source.name for i in snapshot.registries[:10]) or "none"
    raise ToolFailure(
        f"no registry named {name!r} in the inventory (known: {known})", hint="call list_registries"
    )


def _check_running(call: Call, service: RegistryService) -> str:
    """What Portainer says now about the registry's container (read-only), for the card."""
    connect = call.context.portainer
    if connect is None:
        raise ToolFailure("Portainer is not configured here", hint="tell the user GC needs Portainer")
    try:
        with connect() as client:
            details = RegistryHost(client, service, ping=lambda: None).container()
    except RegentError as exc:
        raise ToolFailure(
            f"cannot find the registry's container: {str(exc)[:300]}", hint="tell the user"
        ) from None
    return f"Checked while proposing: container {details.short_name} runs {details.config.image}."

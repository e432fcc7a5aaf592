"""Proposing tools for registry maintenance: garbage collection, and a registry's stack file changes.

Like every proposing tool they never act: they read the snapshot and Portainer, store an Action
(tools/changes/gc.py, tools/changes/stack_update.py) with a pending proposal, and return what the card
shows; only an authorized Approve runs it, re-checked first.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.history import RegistryHistory
from tools.analysis.text import clean_text
from tools.changes.actions import Action
from tools.changes.gc import build_gc_run, no_step_needed, predict_gc
from tools.changes.registry_host import RegistryHost, RegistryService
from tools.errors import ChangeRefused, RegentError
from tools.inventory.models import InventorySnapshot, RegistryInventory
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

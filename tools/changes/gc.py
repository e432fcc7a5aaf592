"""Garbage collection as a change: "run garbage collection on `registry` (expected to free N bytes)".

Deleting manifests frees nothing on a CNCF distribution registry until `registry garbage-collect` runs,
and that needs a registry that takes no writes. Proposing (`build_gc_run`, read-only) predicts the bytes
and lists three steps, each an item of the Action the card shows:

1. switch the registry to read-only (`storage.maintenance.readonly` through
   `REGISTRY_STORAGE_MAINTENANCE_READONLY` in its stack file, or in a clone of its container that
   shares its volumes) or stop it, as configured (`registry_services[].gc_mode`);
2. run `<binary> garbage-collect <config>` in its container through the Docker exec API behind
   Portainer, never with `--delete-untagged` (distribution 2.x deletes the untagged children of
   multi-arch images with it); in stop mode in a one-off container with the registry's volumes, since a
   stopped container takes no exec;
3. restore it (the stack file as it was, the original container started) and check `/v2/` answers.

The executor is tools/changes/gc_steps.py. The prediction counts the blobs that no surviving revision
references once the revisions Regent deleted since the last garbage collection are gone (design
invariant 8, tools/analysis/reclaim.py); the report puts the bytes measured before and after next to it.
Harbor has its own GC API and is refused for now; hosted registries need no step at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from tools.analysis.graph import repository_digest_sets
from tools.analysis.history import RegistryHistory
from tools.analysis.reclaim import Reclaim, Revision, compute_reclaim
from tools.changes.action_kind import ActionChangeKind
from tools.changes.actions import Action, ActionItem, ActionReport, ActionStore, new_action
from tools.changes.base import ChangeServices, ChangeView, Fact, ItemOutcome, OutcomeView, Tables
from tools.changes.gc_steps import READONLY_ENV, READONLY_VALUE, GcReport, execute_gc
from tools.changes.registry_host import RegistryService
from tools.errors import ChangeRefused
from tools.inventory.models import RegistryInventory, RegistrySource
from tools.policy.store import PlanStore
from tools.units import format_bytes

KIND = "gc_run"
HOSTED = {
    "ecr": "ECR frees the storage of deleted images itself",
    "azure": "ACR frees the storage of deleted manifests itself",
    "dockerhub": "Docker Hub frees the storage of deleted manifests itself",
    "gar": "Artifact Registry frees the storage of deleted versions itself",
    "github": "GHCR frees storage when a package version is deleted",
    "quay": "Quay garbage-collects deleted manifests itself",
}
_GAR_HOSTS = ("-docker.pkg.dev", "gcr.io")


def no_step_needed(source: RegistrySource) -> str | None:
    """Why a hosted registry needs no garbage collection step, or None for a self-hosted one."""
    if any(source.url.rstrip("/").endswith(host) or f"{host}/" in source.url for host in _GAR_HOSTS):
        return f"{source.name}: {HOSTED['gar']}; no garbage collection step is needed."
    note = HOSTED.get(source.kind)
    return f"{source.name}: {note}; no garbage collection step is needed." if note else None


def predict_gc(
    inventory: RegistryInventory, history: RegistryHistory, deleted: Iterable[Revision]
) -> Reclaim:
    """Bytes garbage collection frees now: blobs only the deleted revisions referenced (dedup-correct).

    Survivors are every revision of the latest crawl and the dangling digests of earlier ones (neither
    deleted); the deleted revisions' manifests come from either. A deleted revision whose manifest Regent
    never saw counts in `unknown_manifests`: its blobs are not counted, so the figure is a lower bound.
    """
    manifests = {**history.manifests, **inventory.manifests}
    stored = repository_digest_sets(inventory, manifests, extra=history.dangling_by_repository())
    gone = set(deleted)
    revisions: dict[str, set[str]] = {
        repo: {d for d in ds if (repo, d) not in gone} for repo, ds in stored.items()
    }
    for repository, digest in gone:
        revisions.setdefault(repository, set()).add(digest)
    return compute_reclaim(revisions, manifests, gone)


def deleted_since_last_gc(plans: PlanStore, actions: ActionStore, registry: str) -> list[Revision]:
    """(repository, digest) Regent deleted from a registry since its last garbage collection started.

    Deleted or already gone (someone else deleted it: its blobs wait for a GC just the same), from the
    executed plans; the last GC is the newest gc_run on this registry whose collect step is done.
    """
    since = _last_gc_start(actions, registry)
    out: list[Revision] = []
    for plan_id in plans.plan_ids(limit=500):
        record = plans.record(plan_id)
        if record.status != "done" or (since and (record.finished_at or "") < since):
            continue
        plan = plans.get(plan_id)
        for index, (status, _reason) in plans.results(plan_id).items():
            item = plan.items[index] if index < len(plan.items) else None
            if item is not None and item.registry == registry and status in ("deleted", "already_gone"):
                out.append((item.repository, item.digest))
    return sorted(set(out))


def _last_gc_start(actions: ActionStore, registry: str) -> str | None:
    for action, started, _finished in actions.runs(KIND):
        if action.target.get("registry") != registry:
            continue
        collect = next((i for i, item in enumerate(action.items) if item.op == "collect"), None)
        status = actions.results(action.action_id).get(collect) if collect is not None else None
        if status is not None and status[0] == "done":
            return started
    return None


def build_gc_run(
    *,
    source: RegistrySource,
    service: RegistryService | None,
    prediction: Reclaim,
    deleted: Sequence[Revision],
    reason: str,
    now: datetime,
    checked: str = "",
    after: str = "",
) -> Action:
    """The proposal: three steps on the registry's container or stack, and the predicted bytes (no writes).

    `checked` says what was verified in Portainer while proposing (the running container), if anything;
    `after` what the deletions are, when they are not the ones Regent made since the last collection.
    """
    if (hosted := no_step_needed(source)) is not None:
        raise ChangeRefused(hosted)
    if service is None:
        raise ChangeRefused(
            f"Regent does not know where {source.name} runs: add it to registry_services (its Portainer "
            "environment, and its container or stack) to let Regent run garbage collection there"
        )
    if service.kind == "harbor":
        raise ChangeRefused(
            f"{source.name} is a Harbor registry: garbage collection through Harbor's GC API (with a dry "
            "run first) is not supported yet; run it from Administration > Clean Up"
        )
    items = _items(service)
    warnings = [
        "While it runs the registry refuses pushes and deletes (read-only mode); pulls keep working."
        if service.gc_mode == "readonly"
        else "While it runs the registry is stopped: pulls and pushes fail until step 3.",
        "garbage-collect runs without --delete-untagged: untagged manifests and their blobs stay "
        "(distribution 2.x deletes the children of multi-arch images with it).",
    ]
    if prediction.unknown_manifests:
        warnings.append(
            f"{prediction.unknown_manifests} deleted manifests were never crawled: their blobs are not in "
            "the prediction, so it is a lower bound."
        )
    if not deleted:
        warnings.append(
            "Regent deleted nothing here since the last garbage collection: expect little or nothing."
        )
    target: dict[str, Any] = {
        "registry": source.name,
        "registry_url": source.url,
        "service": service.model_dump(mode="json"),
        "predicted_bytes": prediction.total,
        "predicted_blobs": prediction.freed_blobs,
        "deleted_revisions": len(deleted),
        "after": after or f"{len(deleted)} manifests Regent deleted since the last garbage collection",
        "checked": checked,
    }
    return new_action(
        kind=KIND,
        title=f"Run garbage collection on {source.name} (expected to free {format_bytes(prediction.total)})",
        reason=reason,
        target=target,
        items=items,
        now=now,
        warnings=warnings,
    )


def _items(service: RegistryService) -> list[ActionItem]:
    where = service.where()
    command = f"{service.binary} garbage-collect {service.config_path}"
    if service.gc_mode == "stop":
        switch = f"Stop the registry ({where})"
        collect = (
            f"Run `{command}` in a one-off container with the registry's volumes (a stopped container "
            "takes no exec), through Portainer's Docker API; storage measured before and after"
        )
        restore = "Start the registry again and check that /v2/ answers"
    elif service.stack:
        switch = (
            f"Switch the registry to read-only: redeploy {where} with {READONLY_ENV}={READONLY_VALUE} "
            "added to the service's environment"
        )
        collect = (
            f"Run `{command}` in its container through Portainer's Docker exec API (no --delete-untagged); "
            "storage measured before and after"
        )
        restore = "Restore the stack file as it was, redeploy, and check that /v2/ answers and is read-write"
    else:
        switch = (
            f"Switch the registry to read-only: stop {where} and run a clone of it sharing its volumes "
            f"with {READONLY_ENV}={READONLY_VALUE}"
        )
        collect = (
            f"Run `{command}` in the read-only clone through Portainer's Docker exec API (no "
            "--delete-untagged); storage measured before and after"
        )
        restore = "Remove the clone, start the original container, and check that /v2/ answers"
    ref = service.registry
    return [
        ActionItem(op="switch", ref=ref, label=switch, detail={"mode": service.gc_mode}),
        ActionItem(op="collect", ref=ref, label=collect, detail={"command": command}),
        ActionItem(op="restore", ref=ref, label=restore),
    ]


class GcKind(ActionChangeKind):
    """A garbage collection run on a self-hosted registry in a Portainer environment."""

    name = KIND
    verb = "Run garbage collection"
    nothing_done = "Nothing was changed; the registry was not touched."
    nothing_will = "Nothing will be changed; the registry is not touched."

    def facts(self, action: Action) -> tuple[Fact, ...]:
        """The registry, and where it runs."""
        service = RegistryService.model_validate(action.target["service"])
        return (Fact("Registry", str(action.target["registry"]), code=True), Fact("Runs as", service.where()))

    def view(self, change: Action) -> ChangeView:
        """The steps, with the predicted bytes and what was deleted before it."""
        base = super().view(change)
        predicted = int(change.target.get("predicted_bytes", 0))
        lines = (
            Fact(
                "Expected to free:",
                f"{format_bytes(predicted)} ({change.target.get('predicted_blobs', 0)} blobs no surviving "
                f"manifest references, after {change.target.get('after', '')})",
            ),
            *base.lines,
        )
        notes = (str(change.target["checked"]),) if change.target.get("checked") else ()
        return ChangeView(
            title=base.title,
            items_heading="Steps (exactly these, in order; the registry is restored whatever happens)",
            items=base.items,
            facts=base.facts,
            lines=lines,
            bytes=predicted,
            warnings=base.warnings,
            notes=notes,
            wording=base.wording,
        )

    def run(self, change: Action, *, store: Tables, services: ChangeServices) -> GcReport:
        """Switch, collect, restore (re-checking the registry first), and measure what was freed."""
        return execute_gc(change, store=store.actions, services=services)

    def outcome(self, change: Action, result: Mapping[str, Any]) -> OutcomeView:
        """Each step with what it did, and the bytes freed next to the prediction."""
        report = GcReport.model_validate(result)
        return OutcomeView(
            summary=f"{report.message} {freed_line(report)}".strip(),
            items=tuple(ItemOutcome(r.label, r.status, r.reason) for r in report.results),
            notes=(report.state,) if report.state else (),
        )

    def done_audit(self, change: Action, report: ActionReport) -> dict[str, Any]:
        """The steps' results, and the bytes measured and predicted."""
        audit = super().done_audit(change, report)
        if isinstance(report, GcReport):
            audit |= {
                "predicted_bytes": report.predicted_bytes,
                "freed_bytes": report.freed_bytes,
                "before_bytes": report.before_bytes,
                "after_bytes": report.after_bytes,
                "state": report.state,
            }
        return audit


def freed_line(report: GcReport) -> str:
    """ "Freed 1.2 MB (predicted 1.2 MB)." or why it is unknown."""
    predicted = format_bytes(report.predicted_bytes)
    if report.freed_bytes is None:
        return f"Bytes freed: not measured (predicted {predicted})."
    return f"Freed {format_bytes(report.freed_bytes)} ({report.freed_bytes} bytes; predicted {predicted})."


GC = GcKind()

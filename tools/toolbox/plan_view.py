"""A bounded summary of a Plan for the LLM: totals, the biggest repositories and items, why things stay.

A plan over a large registry can hold thousands of items; the model sees totals that are exact and a
sample that is capped, and is told so (invariant 6). The full plan lives in the plan store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from pydantic import BaseModel

from tools.analysis.history import RegistryHistory
from tools.analysis.text import clean_text
from tools.errors import ConfigError
from tools.inventory.models import InventorySnapshot
from tools.policy.evaluate import evaluate_snapshot
from tools.policy.model import PolicyFile
from tools.policy.plans import Plan, PlanItem
from tools.toolbox.context import Call, ToolFailure
from tools.units import format_bytes

SAMPLE_ITEMS = 12
TOP_REPOSITORIES = 10


class PlanItemRow(BaseModel):
    """One manifest the plan deletes (every tag on it goes with it)."""

    registry: str
    repository: str
    digest: str
    tags: list[str]
    kind: str
    bytes: int
    reason: str


class RepositoryTotal(BaseModel):
    """Plan items and exclusive bytes in one repository."""

    registry: str
    repository: str
    items: int
    bytes: int


class PlanSummary(BaseModel):
    """What a plan deletes and keeps; totals are exact, lists are samples."""

    policies: list[str]
    items: int
    reclaimable_bytes: int
    reclaimable: str
    shared_bytes: int
    by_repository: list[RepositoryTotal]
    largest_items: list[PlanItemRow]
    kept: int
    kept_by_reason: dict[str, int]
    warnings: list[str]
    after_delete: list[str]


def summarize_plan(plan: Plan) -> tuple[PlanSummary, str | None]:
    """The bounded summary, plus a note when its lists were cut."""
    totals: dict[tuple[str, str], list[PlanItem]] = {}
    for item in plan.items:
        totals.setdefault((item.registry, item.repository), []).append(item)
    repos = sorted(totals.items(), key=lambda kv: (-sum(i.bytes for i in kv[1]), kv[0]))
    largest = sorted(plan.items, key=lambda i: (-i.bytes, i.repository, i.digest))[:SAMPLE_ITEMS]
    summary = PlanSummary(
        policies=[clean_text(p) for p in plan.policies],
        items=len(plan.items),
        reclaimable_bytes=plan.reclaimable_bytes,
        reclaimable=format_bytes(plan.reclaimable_bytes),
        shared_bytes=plan.shared_bytes,
        by_repository=[
            RepositoryTotal(
                registry=r, repository=clean_text(repo), items=len(items), bytes=sum(i.bytes for i in items)
            )
            for (r, repo), items in repos[:TOP_REPOSITORIES]
        ],
        largest_items=[_row(item) for item in largest],
        kept=len(plan.kept),
        kept_by_reason=dict(Counter(_reason_kind(k.reason) for k in plan.kept).most_common()),
        warnings=[clean_text(w, limit=300) for w in plan.warnings[:5]],
        after_delete=[f"{r.name}: {clean_text(r.after_delete, limit=300)}" for r in plan.registries[:3]],
    )
    cut = []
    if len(plan.items) > SAMPLE_ITEMS:
        cut.append(f"largest {SAMPLE_ITEMS} of {len(plan.items)} items shown")
    if len(repos) > TOP_REPOSITORIES:
        cut.append(f"top {TOP_REPOSITORIES} of {len(repos)} repositories shown")
    note = "; ".join(cut) + "; totals are exact; narrow the policy's repositories for detail" if cut else None
    return summary, note


def plan_headline(summary: PlanSummary, *, what: str) -> str:
    """One line: how many manifests `what` covers and the bytes deleting them frees."""
    if not summary.items:
        return f"{what}: nothing ({summary.kept:,} manifests stay)"
    return (
        f"{what}: {summary.items:,} manifest(s), freeing {summary.reclaimable} "
        f"({summary.reclaimable_bytes:,} bytes) after garbage collection; {summary.kept:,} stay"
    )


def _total(registry: str, repository: str, items: list[PlanItem]) -> RepositoryTotal:
    return RepositoryTotal(
        registry=registry,
        repository=clean_text(repository),
        items=len(items),
        bytes=sum(i.bytes for i in items),
    )


def _row(item: PlanItem) -> PlanItemRow:
    more = [f"+{len(item.tags) - 5} more"] if len(item.tags) > 5 else []
    return PlanItemRow(
        registry=item.registry,
        repository=clean_text(item.repository),
        digest=item.digest,
        tags=[clean_text(t) for t in item.tags[:5]] + more,
        kind=item.kind,
        bytes=item.bytes,
        reason=clean_text(item.reason, limit=160),
    )


def _reason_kind(reason: str) -> str:
    if reason.startswith("in use"):
        return "in use"
    if reason.startswith("protected tag"):
        return "protected tag"
    if reason.startswith("policy "):
        return "keep rule"
    if reason.startswith(("child of", "signature/attestation")):
        return "goes with a kept image"
    if reason == "no delete rule matched":
        return "no delete rule matched"
    return "other"


def run_plan(
    call: Call,
    policies: PolicyFile,
    *,
    snapshot: InventorySnapshot,
    history: Mapping[str, RegistryHistory],
    names: list[str] | None = None,
) -> Plan:
    """Evaluate policies with the policy engine; its errors become ToolFailures the model can act on."""
    try:
        return evaluate_snapshot(policies, snapshot, now=call.context.now(), history=history, names=names)
    except ConfigError as exc:
        raise ToolFailure(str(exc), hint="check the policy name or rules") from None

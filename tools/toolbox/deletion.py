"""propose_deletion: a proposal to delete exactly the images the user named.

Each named (registry, repository) becomes one policy whose tag scope is exactly the named tags and whose
only delete rule is `all`; untagged digests are in scope only if named (the history passed to the engine
holds just those). The policy engine then applies the hard safety rules (in use, protected tags, kept
indexes and subjects, a digest with a tag that was not named stays) and computes exact bytes. The
configured policies' soft keep rules do not apply: the user named these images explicitly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from pydantic import BaseModel, ConfigDict, Field

from tools.analysis.history import RegistryHistory
from tools.analysis.text import clean_text
from tools.analysis.view import RegistryView
from tools.inventory.models import Digest
from tools.policy.model import DeleteRule, Policy, PolicyFile
from tools.policy.plans import Plan
from tools.toolbox.catalog import catalog_of, history_of, resolve_image
from tools.toolbox.context import Call, ToolFailure
from tools.toolbox.plan_view import run_plan
from tools.toolbox.retention import ProposalResult, configured_policies, propose_plan

NEVER = "re:(?!)"  # a tag pattern that matches nothing: only the named untagged digests are in scope


class ProposeDeletionArgs(BaseModel):
    """Propose deleting the images the user named. Only when the user asked to delete them. Deletes
    nothing: it stores a plan and asks an approver; images in use or with protected tags are kept."""

    model_config = ConfigDict(extra="forbid")

    images: list[str] = Field(
        min_length=1, max_length=50, description="The images as the user wrote them, e.g. ['shop/api:1.2.0']"
    )
    registry: str | None = Field(None, description="Registry name when several registries hold them")


class RequestOutcome(BaseModel):
    """What happens to one named image."""

    image: str
    planned: bool
    reason: str


class DeletionResult(ProposalResult):
    """The proposal plus, per named image, whether it is in the plan and why not."""

    requested: list[RequestOutcome]


class _Wanted:
    def __init__(self, view: RegistryView, repository: str) -> None:
        self.view, self.repository = view, repository
        self.tags: set[str] = set()
        self.untagged: set[Digest] = set()
        self.requests: list[tuple[str, Digest]] = []


def propose_deletion(call: Call, args: ProposeDeletionArgs) -> DeletionResult:
    """Plan the named images with the policy engine and propose the plan."""
    catalog = catalog_of(call)
    histories = history_of(call)
    wanted: dict[tuple[str, str], _Wanted] = {}
    outcomes: list[RequestOutcome] = []
    for text in args.images:
        try:
            found = resolve_image(catalog, text, registry=args.registry)
        except ToolFailure as exc:
            outcomes.append(RequestOutcome(image=clean_text(text), planned=False, reason=str(exc)))
            continue
        group = wanted.setdefault((found.view.name, found.repository), _Wanted(found.view, found.repository))
        tags = found.view.tags.get((found.repository, found.digest), [])
        if found.tag:
            group.tags.add(found.tag)
        elif tags:
            group.tags.update(tags)  # named by digest: deleting by digest removes every tag on it anyway
        else:
            group.untagged.add(found.digest)
        group.requests.append((text, found.digest))
    if not wanted:
        raise ToolFailure(
            "none of the named images was found: " + "; ".join(o.reason for o in outcomes[:3]),
            hint="call search_images to find the exact names",
        )
    plan = _plan(call, wanted, histories)
    result = propose_plan(call, plan)
    outcomes.extend(_outcomes(plan, wanted))
    return DeletionResult(**result.model_dump(), requested=outcomes[:50])


def _plan(
    call: Call, wanted: dict[tuple[str, str], _Wanted], histories: Mapping[str, RegistryHistory]
) -> Plan:
    configured = configured_policies(call)
    policies = []
    history: dict[str, RegistryHistory] = {}
    for (registry, repository), group in sorted(wanted.items(), key=lambda kv: kv[0]):
        tags = sorted(group.tags)
        policies.append(
            Policy(
                name=f"named by the requester: {registry}/{repository}",
                registry="re:" + re.escape(registry),
                repositories=["re:" + re.escape(repository)],
                tags=["re:" + "|".join(re.escape(t) for t in tags)] if tags else [NEVER],
                delete=[DeleteRule(all=True)],
            )
        )
        base = histories.get(registry) or RegistryHistory()
        keep = history.get(registry, replace(base, dangling=()))
        named = [d for d in base.dangling if d.repository == repository and d.digest in group.untagged]
        history[registry] = replace(keep, dangling=(*keep.dangling, *named))
    protected = list(configured.protected_tags) if configured else []
    file = PolicyFile(protected_tags=protected, policies=policies)
    return run_plan(call, file, snapshot=call.require_snapshot(), history=history)


def _outcomes(plan: Plan, wanted: dict[tuple[str, str], _Wanted]) -> list[RequestOutcome]:
    planned = {(i.registry, i.repository, i.digest) for i in plan.items}
    kept = {(k.registry, k.repository, k.digest): k.reason for k in plan.kept}
    out = []
    for (registry, repository), group in wanted.items():
        for text, digest in group.requests:
            key = (registry, repository, digest)
            if key in planned:
                out.append(RequestOutcome(image=clean_text(text), planned=True, reason="in the plan"))
                continue
            others = [t for t in group.view.tags.get((repository, digest), []) if t not in group.tags]
            if others:
                why = (
                    f"its digest also carries {', '.join(others[:5])}; deleting by digest would remove "
                    "those tags too, so ask the user whether to include them"
                )
            else:
                why = kept.get(key, "not in the plan (partial crawl or unknown manifest)")
            out.append(
                RequestOutcome(image=clean_text(text), planned=False, reason=clean_text(why, limit=240))
            )
    return out

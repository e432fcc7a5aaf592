"""Regent's plan and ECR's own lifecycle preview of the exported documents, side by side.

ECR dry-runs a lifecycle policy with `StartLifecyclePolicyPreview` and reports, through
`GetLifecyclePolicyPreview` (paged), each image the policy would expire and the rule that would (botocore's
ECR model: `previewResults[].{imageDigest, imageTags, imagePushedAt, action.type, appliedRulePriority}`,
`status` IN_PROGRESS | COMPLETE | EXPIRED | FAILED). Nothing is changed in the registry: a preview does not
set the repository's policy. The preview answers for the registry as it is now, which may have moved since
Regent's snapshot; rows say which side saw what.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tools.errors import UpstreamError
from tools.policy.plans import Plan
from tools.registry.kinds.ecr.client import EcrApi, Preview

POLL_SECONDS = 2.0
PREVIEW_TIMEOUT = 120.0


@dataclass(frozen=True, slots=True)
class PreviewRow:
    """One image: what Regent's plan does with it and what ECR's preview says."""

    digest: str
    tags: tuple[str, ...]
    regent: str  # "delete" | "keep" | "not in plan" (the snapshot did not have it, or no policy saw it)
    ecr: str  # "expire" | "keep"
    ecr_rule: int | None  # appliedRulePriority
    regent_reason: str

    @property
    def agrees(self) -> bool:
        """True when both sides delete it or both keep it."""
        return (self.regent == "delete") == (self.ecr == "expire")


@dataclass(frozen=True, slots=True)
class SideBySide:
    """One repository's comparison."""

    registry: str
    repository: str
    status: str  # ECR's preview status; rows are complete only when COMPLETE
    rows: tuple[PreviewRow, ...]

    @property
    def disagreements(self) -> tuple[PreviewRow, ...]:
        """The rows where Regent and ECR differ."""
        return tuple(row for row in self.rows if not row.agrees)


def preview_side_by_side(
    documents: Mapping[str, Mapping[str, Any]],
    *,
    plan: Plan,
    registry: str,
    api: EcrApi,
    timeout: float = PREVIEW_TIMEOUT,
    poll: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SideBySide]:
    """Preview each repository's document (repository name -> document) in ECR and pair it with the plan."""
    results: list[SideBySide] = []
    for repository, document in documents.items():
        api.start_preview(repository, json.dumps(document, separators=(",", ":")))
        preview = _wait(api, repository, timeout=timeout, poll=poll, sleep=sleep)
        results.append(_pair(plan, registry, preview))
    return results


def _wait(
    api: EcrApi, repository: str, *, timeout: float, poll: float, sleep: Callable[[float], None]
) -> Preview:
    waited = 0.0
    while True:
        preview = api.preview(repository)
        if preview.status != "IN_PROGRESS":
            if preview.status in ("FAILED", "EXPIRED"):
                raise UpstreamError(f"ECR lifecycle preview of {repository} ended {preview.status}")
            return preview
        if waited >= timeout:
            return preview  # still running: the caller shows the status and whatever rows there are
        sleep(poll)
        waited += poll


def _pair(plan: Plan, registry: str, preview: Preview) -> SideBySide:
    repository = preview.repository
    planned = {i.digest: i for i in plan.items if i.registry == registry and i.repository == repository}
    kept = {k.digest: k for k in plan.kept if k.registry == registry and k.repository == repository}
    expired = {r.digest: r for r in preview.results if r.action.upper() == "EXPIRE"}
    rows: list[PreviewRow] = []
    for digest in sorted(planned.keys() | kept.keys() | expired.keys()):
        native = expired.get(digest)
        if digest in planned:
            regent, reason, tags = "delete", planned[digest].reason, tuple(planned[digest].tags)
        elif digest in kept:
            regent, reason, tags = "keep", kept[digest].reason, tuple(kept[digest].tags)
        else:
            regent, reason = "not in plan", "Regent's snapshot or policies did not cover it"
            tags = native.tags if native is not None else ()
        rows.append(
            PreviewRow(
                digest=digest,
                tags=tags,
                regent=regent,
                ecr="expire" if native is not None else "keep",
                ecr_rule=native.rule_priority if native is not None else None,
                regent_reason=reason,
            )
        )
    return SideBySide(registry=registry, repository=repository, status=preview.status, rows=tuple(rows))

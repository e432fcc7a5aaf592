"""What the Slack Home tab shows from the digest: totals and trend, the last digest, top reclaimable.

Nothing here computes a figure the digest does not already have: totals and trend are the digest's own
sections (built by the same providers), the last digest's headline is the one stored when it was sent
(bot/digest/log.py), and the reclaimable repositories group the digest's retention plan by repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.digest import format as fmt
from bot.digest.model import Digest, DigestSection
from tools.policy.plans import Plan

HOME_SECTIONS = ("overview", "forecast")  # the digest's totals and trend
TOP_RECLAIMABLE = 5


@dataclass(frozen=True, slots=True)
class ReclaimableRepository:
    """One repository of the retention plan: its manifests and the bytes they free on their own."""

    registry: str
    repository: str
    manifests: int
    bytes: int

    @property
    def size(self) -> str:
        """The bytes as the digest writes them."""
        return fmt.size(self.bytes)


@dataclass(frozen=True, slots=True)
class LastDigest:
    """The last digest that reached Slack: where, when, and its headline figures as sent."""

    sent_at: datetime
    channel: str | None
    ts: str | None
    headline: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HomeFacts:
    """The digest-derived part of the Home tab (the pending proposals are read live, not here)."""

    digest: Digest  # built now, from the latest snapshot
    reclaimable: list[ReclaimableRepository] = field(default_factory=list)
    plan_manifests: int = 0
    plan_bytes: int = 0  # the plan's dedup-correct total (more than the sum of the rows: shared layers)
    repositories_in_plan: int = 0
    policies: bool = False  # retention policies are configured (else there is no plan at all)
    last: LastDigest | None = None

    def sections(self) -> list[DigestSection]:
        """The digest's totals and trend sections, in the digest's order."""
        return [s for s in self.digest.sections if s.key in HOME_SECTIONS]


def home_facts(digest: Digest, plan: Plan | None, *, last: LastDigest | None) -> HomeFacts:
    """The Home tab's facts from a built digest, its retention plan and the last digest sent."""
    top, count = top_reclaimable(plan)
    return HomeFacts(
        digest=digest,
        reclaimable=top,
        plan_manifests=len(plan.items) if plan else 0,
        plan_bytes=plan.reclaimable_bytes if plan else 0,
        repositories_in_plan=count,
        policies=plan is not None,
        last=last,
    )


def top_reclaimable(
    plan: Plan | None, *, limit: int = TOP_RECLAIMABLE
) -> tuple[list[ReclaimableRepository], int]:
    """The repositories whose plan items free the most bytes, and how many repositories the plan touches.

    Per repository the bytes are the items' exclusive bytes (what deleting each alone frees): a layer
    shared by two repositories belongs to neither alone, so the rows never claim it twice (invariant 8).
    """
    if plan is None:
        return [], 0
    grouped: dict[tuple[str, str], list[int]] = {}
    for item in plan.items:
        grouped.setdefault((item.registry, item.repository), []).append(item.bytes)
    rows = [
        ReclaimableRepository(registry=r, repository=repo, manifests=len(sizes), bytes=sum(sizes))
        for (r, repo), sizes in grouped.items()
    ]
    rows.sort(key=lambda row: (-row.bytes, row.registry, row.repository))
    return rows[:limit], len(rows)

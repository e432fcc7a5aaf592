"""Digest sections about risk and pending work: what the inventory could not see, policy drift, and
proposals waiting for approval."""

from __future__ import annotations

from bot.digest import format as fmt
from bot.digest.context import DigestContext
from bot.digest.model import DigestSection, table
from tools.policy.drift import (
    SizeAnomaly,
    UnsignedImage,
    latest_in_production,
    size_anomalies,
    unsigned_images,
)

MAX_ERROR_CHARS = 200  # per line: an error names its source and reason; the full text is in the inventory


def blind_spots_section(ctx: DigestContext) -> DigestSection | None:
    """What the latest inventory could not read (a registry, a repository, an environment), so the
    figures are known to leave it out instead of silently missing it."""
    errors = ctx.snapshot.errors
    if not errors:
        return None
    partial = [facts.name for facts in ctx.registries if facts.current.partial]
    lines = [
        f"The inventory of {fmt.when(ctx.snapshot.taken_at, ctx.timezone)} could not read everything; "
        "the figures in this digest leave out what is listed here."
    ]
    if partial:
        lines.append("Partly crawled registries: " + ", ".join(partial) + ".")
    shown = errors[: ctx.options.rows]
    lines.extend(f"- {error[:MAX_ERROR_CHARS]}" for error in shown)
    if len(errors) > len(shown):
        lines.append(f"… and {len(errors) - len(shown)} more (`regent inventory` lists them all).")
    return DigestSection(key="blind_spots", title="Not seen", severity="warning", lines=lines)


def drift_section(ctx: DigestContext) -> DigestSection | None:
    """`latest` in production, unsigned images where signatures are required, size anomalies."""
    rules = ctx.push_rules
    floating = latest_in_production(ctx.snapshot.deployments, production=ctx.production)
    unsigned: list[UnsignedImage] = []
    anomalies: list[SizeAnomaly] = []
    for facts in ctx.registries:
        if rules.require_signature:
            unsigned.extend(unsigned_images(facts.inventory, requires_signature=rules.requires_signature))
        anomalies.extend(
            size_anomalies(
                facts.inventory,
                facts.history.clocks,
                ratio=rules.size_ratio,
                min_increase=rules.min_size_delta_bytes,
            )
        )
    per_kind = ctx.options.rows  # each check gets rows of its own, so one noisy check hides no other
    rows = [
        [
            "latest in production",
            f"{d.environment}/{d.name}",
            d.image,
            "tag latest" if d.explicit else "no tag",
        ]
        for d in floating[:per_kind]
    ]
    rows += [
        ["unsigned", f"{u.registry}/{u.repository}", fmt.tags_text(u.tags), fmt.short_digest(u.digest)]
        for u in unsigned[:per_kind]
    ]
    rows += [
        [
            "size",
            f"{a.registry}/{a.repository}",
            fmt.tags_text(a.tags),
            f"{fmt.size(a.bytes)}, {a.ratio:.1f}x {fmt.tags_text(a.previous_tags, limit=1)} "
            f"({fmt.size(a.previous_bytes)}, by {a.clock})",
        ]
        for a in anomalies[:per_kind]
    ]
    if not rows:
        return None
    lines = [
        f"{len(floating)} deployments run `latest` in production, {len(unsigned)} images lack a required "
        f"signature, {len(anomalies)} repositories' newest image is at least {rules.size_ratio:g}x "
        "the previous one."
    ]
    if not ctx.production:
        lines.append("No environments are marked production (config `environments.production`).")
    total = len(floating) + len(unsigned) + len(anomalies)
    return DigestSection(
        key="drift",
        title="Policy drift",
        severity="risk",
        lines=lines,
        table=table(["check", "where", "image", "detail"], rows, total=total),
    )


def proposals_section(ctx: DigestContext) -> DigestSection | None:
    """Cleanup proposals still waiting for an approver."""
    waiting = [p for p in ctx.pending if p.expires_at > ctx.now]
    if not waiting:
        return None
    rows = [
        [
            p.id,
            p.summary,
            p.requester,
            fmt.when(p.created_at, ctx.timezone),
            fmt.when(p.expires_at, ctx.timezone),
        ]
        for p in waiting
    ]
    return DigestSection(
        key="proposals",
        title="Waiting for approval",
        lines=[f"{len(waiting)} cleanup proposals wait for an approver."],
        table=table(["proposal", "plan", "requested by", "created", "expires"], rows, limit=ctx.options.rows),
    )

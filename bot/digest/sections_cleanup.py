"""Digest sections about what changed and what to clean: new images, stale images, dangling digests,
tag sprawl, and what the retention policies would delete now (with the "turn into a proposal" button)."""

from __future__ import annotations

from bot.digest import format as fmt
from bot.digest.context import DigestContext
from bot.digest.model import PROPOSE_ACTION, DigestAction, DigestSection, DigestTable, table
from tools.analysis.changes import new_images
from tools.analysis.clocks import age_days, as_utc
from tools.analysis.cost import monthly_cost
from tools.analysis.findings import find_stale_images, find_tag_sprawl, report_dangling


def new_images_section(ctx: DigestContext) -> DigestSection | None:
    """Tagged images first seen since the previous digest."""
    rows: list[list[str]] = []
    lines: list[str] = []
    count = 0
    for facts in ctx.registries:
        if facts.first_crawled_at > as_utc(ctx.since):
            lines.append(f"{facts.name}: first inventoried {fmt.when(facts.first_crawled_at, ctx.timezone)}.")
            continue
        found = new_images(facts.inventory, facts.history.clocks.first_seen, since=ctx.since)
        count += len(found)
        rows.extend(
            [
                c.registry,
                c.repository,
                fmt.tags_text(c.tags),
                fmt.size(c.bytes),
                fmt.when(c.when, ctx.timezone),
            ]
            for c in found
        )
    if not rows and not lines:
        return None
    if count:
        lines.insert(
            0, f"{count} new images since {fmt.when(ctx.since, ctx.timezone)} (first seen by a crawl)."
        )
    return DigestSection(
        key="new_images",
        title="New images",
        lines=lines,
        table=table(
            ["registry", "repository", "tags", "size", "first seen"], rows, right=[3], limit=ctx.options.rows
        )
        if rows
        else None,
    )


def waste_section(ctx: DigestContext) -> DigestSection | None:
    """Stale images (and those that became stale since the previous digest), dangling digests, sprawl."""
    opts = ctx.options
    lines: list[str] = []
    rows: list[list[str]] = []
    for facts in ctx.registries:
        inv, hist = facts.inventory, facts.history
        report = find_stale_images(
            inv,
            now=ctx.now,
            older_than_days=opts.stale_days,
            clock=opts.stale_clock,
            clock_data=hist.clocks,
            deployments=ctx.snapshot.deployments,
        )
        idle = [i for i in report.images if not i.in_use]
        newly = [
            i for i in idle if as_utc(i.time).timestamp() + opts.stale_days * 86400 > ctx.since.timestamp()
        ]
        if idle:
            # every age names its clock and where that clock's times come from (#13)
            origins = ", ".join(sorted({i.origin for i in idle if i.origin}))
            pulls = sorted({i.last_pulled_origin for i in idle if i.last_pulled_origin})
            pulled = f"; last pull by {', '.join(pulls)}" if pulls else "; no pull clock"
            lines.append(
                f"{facts.name}: {len(idle)} stale images (not in use, older than {opts.stale_days} days by "
                f"{report.clock}{f' ({origins})' if origins else ''}{pulled}), {len(newly)} became stale "
                "since the previous digest."
            )
        rows.extend(
            [
                facts.name,
                i.repository,
                fmt.tags_text(i.tags),
                f"{i.age_days} days",
                fmt.size(i.image_bytes),
                f"{int(age_days(ctx.now, i.last_pulled))} days ago" if i.last_pulled else "unknown",
            ]
            for i in newly
        )
        dangling = report_dangling(inv, hist.dangling, now=ctx.now, manifests=hist.manifests)
        if dangling.digests:
            new = sum(1 for d in dangling.digests if as_utc(d.dangling_since) > as_utc(ctx.since))
            lines.append(
                f"{facts.name}: {len(dangling.digests)} dangling digests ({new} new), "
                f"{fmt.size(dangling.reclaimable_bytes)} reclaimable after garbage collection."
            )
        for sprawl in find_tag_sprawl(inv, min_tags=opts.sprawl_tags)[: opts.rows]:
            lines.append(
                f"{facts.name}: {sprawl.repository} has {sprawl.tags} tags "
                f"on {sprawl.digests} digests (sprawl)."
            )
    if not lines:
        return None
    return DigestSection(
        key="waste",
        title="Stale, dangling and sprawling",
        severity="warning",
        lines=lines,
        table=_waste_table(rows, limit=opts.rows) if rows else None,
        notes=["Table: images that became stale since the previous digest."] if rows else [],
    )


def _waste_table(rows: list[list[str]], *, limit: int) -> DigestTable:
    """The newly stale images; the last-pulled column only where some registry has a pull clock."""
    if all(row[5] == "unknown" for row in rows):
        return table(
            ["registry", "repository", "tags", "age", "size"],
            [r[:5] for r in rows],
            right=[3, 4],
            limit=limit,
        )
    return table(
        ["registry", "repository", "tags", "age", "size", "last pulled"], rows, right=[3, 4], limit=limit
    )


def retention_section(ctx: DigestContext) -> DigestSection | None:
    """What the configured retention policies would delete now, dedup-correct, with the proposal button."""
    view = ctx.retention
    if view.error:
        return DigestSection(
            key="retention", title="Retention policies", severity="warning", lines=[view.error]
        )
    plan = view.plan
    if plan is None:
        return None
    currency = ctx.options.currency
    prices = {f.name: f.price.per_gb_month for f in ctx.registries}
    saving = sum(monthly_cost(size, prices.get(name, 0.0)) for name, (_, size) in view.per_registry.items())
    rows = [
        [name, str(items), fmt.size(size), fmt.money(monthly_cost(size, prices.get(name, 0.0)), currency)]
        for name, (items, size) in sorted(view.per_registry.items())
    ]
    if not plan.items:
        lines = [f"Policies {', '.join(plan.policies)}: nothing to delete now."]
    else:
        lines = [
            f"Policies {', '.join(plan.policies)} would delete {len(plan.items)} manifests now and free "
            f"{fmt.size(plan.reclaimable_bytes)} after garbage collection "
            f"({fmt.money(saving, currency)}/month); "
            f"{len(plan.kept)} digests in scope are kept."
        ]
    actions = []
    reclaim = fmt.size(plan.reclaimable_bytes)
    notes = [*plan.warnings[:3]]
    if plan.items and ctx.read_only:
        notes.append("Read-only mode (mode: read-only in the configuration): no proposal can be made.")
    elif plan.items:
        actions.append(
            DigestAction(
                action_id=PROPOSE_ACTION,
                label="Turn into a proposal",
                value=plan.plan_id,
                confirm=f"Ask an approver to delete {len(plan.items)} manifests ({reclaim})?",
                cli_hint=f"plan {plan.plan_id}: `regent digest --post` adds the button in Slack",
            )
        )
    return DigestSection(
        key="retention",
        title="What the retention policies would delete now",
        severity="warning" if plan.items else "info",
        lines=lines,
        table=table(["registry", "manifests", "reclaimable", "saving/month"], rows, right=[1, 2, 3])
        if plan.items
        else None,
        notes=notes,
        actions=actions,
    )

"""`/regent` subcommands on the toolbox: the same tools the LLM calls, rendered as reports, no LLM needed.

Each subcommand calls one toolbox function with typed arguments and turns its typed result into a
`Report` (plain text; the Slack side escapes and lays it out). A ToolFailure becomes a report that says
what is wrong and what to do; anything else propagates to the Slack side, which answers with a reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from bot.slack.bases_report import base_report
from bot.slack.compliance_report import compliance_report
from bot.slack.maintenance_report import cache_report, gc_report, revert_report
from bot.slack.report import Report, Table
from bot.slack.vulns_report import vulns_report
from tools.toolbox.context import Call, ToolContext, ToolFailure
from tools.toolbox.images import GetImageArgs, ImageDetails, get_image
from tools.toolbox.overview import RegistryUsageArgs, RegistryUsageResult, registry_usage
from tools.toolbox.plan_view import PlanSummary
from tools.toolbox.retention import (
    FindStaleImagesArgs,
    PreviewRetentionPolicyArgs,
    ProposalResult,
    ProposeRetentionCleanupArgs,
    StaleResult,
    configured_policies,
    find_stale_images,
    preview_retention_policy,
    propose_retention_cleanup,
)
from tools.units import format_bytes

MAX_ROWS = 15


class AuditSink:
    """The audit log's append (bot.approvals.audit.AuditLog.append), typed loosely so tests can
    pass the real log."""

    def __init__(self, append: Callable[..., Any]) -> None:
        self._append = append

    def record(self, *, user: str, conversation: str, command: str, argument: str) -> None:
        """One entry per slash command, like the agent's tool_call entries."""
        self._append(
            actor=user,
            kind="slash_command",
            payload={"conversation": conversation, "summary": f"/regent {command} {argument}".strip()},
        )


class ToolboxCommands:
    """The CommandBackend of the Slack app (bot.slack.commands), on the toolbox's context."""

    def __init__(self, context: ToolContext, *, audit: AuditSink | None = None) -> None:
        self._context = context
        self._audit = audit

    def run_command(self, *, name: str, argument: str, user: str, conversation: str) -> Report:
        """Run one subcommand; tool failures become an error report."""
        if self._audit is not None:
            self._audit.record(user=user, conversation=conversation, command=name, argument=argument)
        call = Call(context=self._context, user=user, conversation=conversation)
        handlers: dict[str, Callable[[Call, str], Report]] = {
            "image": image_report,
            "stale": stale_report,
            "usage": usage_report,
            "plan": plan_report,
            "vulns": vulns_report,
            "base": base_report,
            "compliance": compliance_report,
            "gc": gc_report,
            "cache": cache_report,
            "revert": revert_report,
        }
        try:
            return handlers[name](call, argument)
        except ToolFailure as failure:
            lines = (str(failure), *((failure.hint,) if failure.hint else ()))
            return Report(title=f"/regent {name}: cannot answer", lines=lines, error=True)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"]
            return Report(title=f"/regent {name}: check the argument", lines=(message,), error=True)


def image_report(call: Call, argument: str) -> Report:
    """`/regent image REF`."""
    if not argument:
        return Report(
            title="Usage: /regent image REF", lines=("e.g. /regent image shop/api:1.4.0",), error=True
        )
    found: ImageDetails = get_image(call, GetImageArgs.model_validate({"image": argument}))
    base = found.base_image
    lines = [
        f"{found.registry} · {found.kind} · {found.media_type}",
        f"Digest: {found.digest}",
        f"Size: {found.size} (compressed, as stored)",
        f"Created: {found.created or 'unknown'} ({found.created_note})",
        f"Pushed: {found.pushed} ({found.pushed_origin})"
        if found.pushed
        else "Pushed: unknown (no notification or registry API time)",
        f"Last pulled: {found.last_pulled} ({found.last_pulled_origin})"
        if found.last_pulled
        else "Last pulled: unknown (no notification or registry API time)",
        f"Base image: {(base.name or base.in_registry or 'unknown') if base else 'unknown'}"
        + (f" (from {base.evidence})" if base else ""),
        f"Tags on this digest: {', '.join(found.tags_on_digest) or 'none'}",
        f"In use: {'yes' if found.in_use else 'no deployment uses it'}",
    ]
    tables: list[Table] = []
    if found.runs_on:
        runs = tuple((p.environment, p.kind, p.name, p.state) for p in found.runs_on[:MAX_ROWS])
        tables.append(Table(("environment", "kind", "name", "state"), runs, title="Runs on"))
    if len(found.platforms) > 1:
        platforms = tuple((p.platform, p.digest[:19], format_bytes(p.size_bytes)) for p in found.platforms)
        tables.append(Table(("platform", "digest", "size"), platforms, right=(2,), title="Platforms"))
    if found.labels:
        labels = tuple((label.key, label.value) for label in found.labels[:10])
        omitted = max(0, len(found.labels) - 10)
        tables.append(Table(("label", "value"), labels, omitted=omitted, title="Labels"))
    notes = (found.note,) if found.note else ()
    return Report(title=found.reference, lines=tuple(lines), tables=tuple(tables), notes=notes)


def stale_report(call: Call, argument: str) -> Report:
    """`/regent stale [DAYS]`."""
    days = int(argument) if argument.isdigit() else 90
    result: StaleResult = find_stale_images(
        call, FindStaleImagesArgs.model_validate({"older_than_days": days})
    )
    stale = result.stale
    lines = (
        f"{stale.items} digests are older than {days} days by the {result.clock} clock and unused "
        f"by every deployment; deleting them frees {stale.reclaimable} after garbage collection.",
        "Keep rules and protected tags from the policies file apply. This command deletes nothing.",
    )
    return Report(
        title=f"Stale images (older than {days} days, unused)",
        lines=lines,
        tables=_plan_tables(stale),
        notes=_notes(result.note, *stale.warnings),
    )


def usage_report(call: Call, argument: str) -> Report:
    """`/regent usage [REGISTRY]`."""
    result: RegistryUsageResult = registry_usage(
        call, RegistryUsageArgs.model_validate({"registry": argument or None})
    )
    overview = Table(
        ("registry", "stored", "saved by sharing", "repos", "tags"),
        tuple(
            (r.registry, r.stored, r.shared_layer_savings, str(r.repositories), str(r.tags))
            for r in result.registries
        ),
        right=(1, 2, 3, 4),
    )
    tables = [overview]
    for row in result.registries[:3]:
        repos = tuple(
            (u.repository, str(u.tags), format_bytes(u.referenced_bytes), format_bytes(u.exclusive_bytes))
            for u in row.top_repositories[:MAX_ROWS]
        )
        if repos:
            headers = ("repository", "tags", "referenced", "freed if deleted")
            tables.append(
                Table(headers, repos, right=(1, 2, 3), title=f"Largest repositories in {row.registry}")
            )
    return Report(title="Storage usage", tables=tuple(tables), notes=_notes(result.note))


def plan_report(call: Call, argument: str) -> Report:
    """`/regent plan POLICY`: dry-run the policy and, if it deletes anything, propose it for approval."""
    if not argument:
        configured = configured_policies(call)
        names = (
            ", ".join(configured.policy_names()) if configured else "none (set policies_file in regent.yml)"
        )
        return Report(
            title="Usage: /regent plan POLICY", lines=(f"Configured policies: {names}",), error=True
        )
    if call.context.read_only:
        return _preview_report(call, argument, reason=call.context.read_only)
    result: ProposalResult = propose_retention_cleanup(
        call, ProposeRetentionCleanupArgs.model_validate({"policy_name": argument})
    )
    plan = result.plan
    if result.status == "nothing_to_delete":
        lines: tuple[str, ...] = (f"Policy {argument} deletes nothing right now; {plan.kept} digests stay.",)
        return Report(title=f"Plan: {argument}", lines=lines, notes=_notes(result.note, *plan.warnings))
    lines = (
        f"Deletes {plan.items} manifests, freeing {plan.reclaimable} after garbage collection; "
        f"{plan.kept} stay.",
        "An approval card is posted in this channel; nothing is deleted until an approver clicks Approve.",
    )
    return Report(
        title=f"Plan: {argument}",
        lines=lines,
        tables=_plan_tables(plan),
        notes=_notes(result.note, *plan.warnings),
        proposal_ids=(result.proposal_id,) if result.proposal_id else (),
    )


def _preview_report(call: Call, argument: str, *, reason: str) -> Report:
    """`/regent plan POLICY` in read-only mode: the same dry run, no proposal, no card, and why."""
    preview = preview_retention_policy(
        call, PreviewRetentionPolicyArgs.model_validate({"policy_name": argument})
    )
    plan = preview.plan
    lines = (
        f"Would delete {plan.items} manifests, freeing {plan.reclaimable} after garbage collection; "
        f"{plan.kept} stay."
        if plan.items
        else f"Policy {argument} deletes nothing right now; {plan.kept} digests stay.",
        f"Preview only, no approval card: {reason}.",
    )
    return Report(
        title=f"Plan preview: {argument}",
        lines=lines,
        tables=_plan_tables(plan),
        notes=_notes(preview.note, *plan.warnings),
    )


def _plan_tables(plan: PlanSummary) -> tuple[Table, ...]:
    if not plan.items:
        return ()
    rows = tuple(
        (
            f"{i.repository}@{i.digest[7:19]}",
            ", ".join(i.tags) or "(untagged)",
            format_bytes(i.bytes),
            i.reason,
        )
        for i in plan.largest_items[:MAX_ROWS]
    )
    return (
        Table(("image", "tags", "size", "why"), rows, right=(2,), omitted=max(0, plan.items - len(rows))),
    )


def _notes(*values: str | None) -> tuple[str, ...]:
    return tuple(v for v in values if v)

"""`regent apply PLAN_ID --yes`: run a stored plan (or another change, `act-…`: a garbage collection, a stack
update) through the same approval record as a Slack click.

The operator is requester and approver (`cli:<login>`, admitted by App.cli_authorizer: whoever runs this
holds the state directory and the registry credentials already). With `--yes` the plan's proposal is
created (or an existing one reused), decided and executed through bot.approvals' ProposalStore, so the
audit log gets exactly the kinds a Slack approval writes (`proposal_created`, `proposal_approved`,
`execution_started`, `execution_done|failed`). Running it again after an interrupted run picks that run
up; after a finished one it says so. Without `--yes` it only says what would go: no proposal, no
decision. In read-only mode it refuses before anything else.
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from rich.console import Console
from rich.table import Table

from bot.app import DB_NAME
from bot.approvals import Authorizer, Execution, Proposal, ProposalStore
from bot.commands.plan import open_app, plan_sources, print_plan, recall_sources
from bot.config import read_only_reason, state_dir
from tools.changes.base import Change, ChangeView, OutcomeView
from tools.changes.retention import ExecutionReport
from tools.errors import ConfigError

FINISHED = ("done", "failed")


def run_apply_command(args: argparse.Namespace) -> int:
    """Decide and execute a stored plan as the operator, once, re-validating every item first."""
    remembered = recall_sources(state_dir() / DB_NAME, args.plan_id)
    given = plan_sources(args)
    app = open_app(remembered if remembered is not None and not _any_source(given) else given)
    try:
        reason = read_only_reason(app.settings)
        if reason is not None:  # before anything else: read-only never deletes, --yes or not
            raise ConfigError(f"cannot apply {args.plan_id}: {reason}")
        change: Change
        if args.plan_id.startswith("act-"):  # any other kind of change: garbage collection, a stack update
            if app.actions is None:
                raise ConfigError("this Regent keeps no changes other than plans")
            change = app.actions.get(args.plan_id)
            if not args.yes:
                print_change(app.proposals.changes.view(change), console=Console())
                raise ConfigError(f"{change.summary()}; add --yes to run exactly these steps")
        else:
            plan = app.plans.get(args.plan_id)
            if not args.yes:
                print_plan(plan, console=Console())
                raise ConfigError(
                    f"{plan.summary()}; add --yes to delete these {len(plan.items)} manifests "
                    "(every tag on each digest goes with it)"
                )
            change = plan
        operator = f"cli:{getpass.getuser()}"
        execution = apply_change(
            app.proposals, change, operator=operator, authorizer=app.cli_authorizer(operator)
        )
        outcome = app.proposals.card(execution.proposal).outcome
    finally:
        app.close()
    console = Console()
    if isinstance(execution.report, ExecutionReport):
        print_report(execution.report, console=console)
    elif outcome is not None and execution.ran:
        print_outcome(outcome, console=console)
    else:
        console.print(execution.message, highlight=False, markup=False)
    if execution.ran:
        return 1 if execution.proposal.status == "failed" else 0
    return 0 if execution.proposal.status in FINISHED else 1


def apply_change(
    proposals: ProposalStore, change: Change, *, operator: str, authorizer: Authorizer
) -> Execution:
    """Approve and run a change as the operator through its proposal (made if it has no live one)."""
    proposals.expire_due()  # an overdue proposal is not reused: it is marked expired, and a new one made
    proposals_of = proposals.for_change(change.kind, change.change_id)
    live = [p for p in proposals_of if p.status not in ("rejected", "expired")]
    finished = [p for p in live if p.status in FINISHED]
    if finished:
        return Execution(False, finished[-1], None, _already(change, finished[-1]))
    running = [p for p in live if p.status in ("approved", "executing")]
    if running:  # approved but never run, or interrupted: the change's own claim keeps it to one run
        resumed = proposals.resume(proposal_id=running[-1].id)
        current = proposals.get(running[-1].id) or running[-1]
        return resumed[0] if resumed else Execution(False, current, None, f"Not run: it is {current.status}.")
    proposal = live[-1] if live else None
    if proposal is None:
        proposal = proposals.create(change=change, requester=operator, conversation="cli:apply")
    decision = proposals.decide(
        proposal_id=proposal.id, user=operator, decision="approve", authorizer=authorizer
    )
    if decision.outcome != "approved":
        raise ConfigError(f"proposal {proposal.id} was not approved: {decision.message}")
    return proposals.execute(proposal_id=proposal.id)


def _already(change: Change, proposal: Proposal) -> str:
    return (
        f"{change.kind} {change.change_id} was already executed (proposal {proposal.id}, "
        f"{proposal.status}); it runs once: make a new one to go again"
    )


def _any_source(sources: dict[str, Any]) -> bool:
    return bool(sources["registry"] or sources["portainer"] or sources["docker_host"] or sources["config"])


def print_report(report: ExecutionReport, *, console: Console) -> None:
    """Per-item results and what is still needed to free the disk."""
    table = Table(title=f"Plan {report.plan_id}: {report.status}", title_justify="left")
    for column in ("repository", "digest", "result", "reason"):
        table.add_column(column, overflow="fold")
    for result in report.results:
        table.add_row(result.repository, result.digest[:19], result.status, result.reason)
    console.print(table)
    console.print(report.message, highlight=False, markup=False)
    for note in report.after_delete:
        console.print(note, highlight=False, markup=False)


def print_change(view: ChangeView, *, console: Console) -> None:
    """A change as its card shows it: title, facts, lines, every item, warnings and notes."""
    console.print(view.title, style="bold", highlight=False, markup=False)
    for fact in (*view.facts, *view.lines):
        console.print(f"{fact.name} {fact.value}", highlight=False, markup=False)
    console.print(view.items_heading, style="bold", highlight=False, markup=False)
    for number, item in enumerate(view.items, 1):
        console.print(f"  {number}. {item.label}", highlight=False, markup=False)
    if view.preformatted:
        console.print(view.preformatted, highlight=False, markup=False, soft_wrap=True)
    for warning in view.warnings:
        console.print(f"Warning: {warning}", highlight=False, markup=False)
    for note in view.notes:
        console.print(note, highlight=False, markup=False)


def print_outcome(outcome: OutcomeView, *, console: Console) -> None:
    """What a run did, item by item."""
    console.print(outcome.summary, highlight=False, markup=False)
    for item in outcome.items:
        console.print(f"  {item.status}: {item.label} — {item.reason}", highlight=False, markup=False)
    for note in outcome.notes:
        console.print(note, highlight=False, markup=False)

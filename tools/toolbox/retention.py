"""Retention tools: find_stale_images, preview_retention_policy and propose_retention_cleanup.

All three go through the policy engine (tools/policy/evaluate.py), so "stale", "what a policy deletes"
and "what a proposal would delete" are the same computation with the same safety rules: in-use digests,
protected tags, kept indexes and signatures' subjects are never planned. The configured policies' keep
rules and protected tags apply to ad-hoc policies too, so a chat cannot get around them.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema

from tools.analysis.clocks import ClockName
from tools.errors import ConfigError
from tools.policy.model import DeleteRule, KeepRule, Policy, PolicyFile, SemverKeep
from tools.policy.plans import Plan
from tools.toolbox.catalog import catalog_of, history_of, similar_repositories
from tools.toolbox.context import Call, ToolFailure, require_writable
from tools.toolbox.plan_view import PlanSummary, plan_headline, run_plan, summarize_plan
from tools.toolbox.results import ToolResult

AD_HOC = "ad-hoc policy"
PROPOSAL_NOTE = (
    "Nothing is deleted yet: the user sees an approval card and an authorized approver must click Approve."
)


class PolicyRules(BaseModel):
    """A retention policy given inline. Keep rules win over delete rules; in-use images and protected
    tags are always kept."""

    model_config = ConfigDict(extra="forbid")

    repositories: list[str] = Field(min_length=1, description="Repository globs it covers, e.g. ['shop/*']")
    registry: str | None = Field(None, description="Registry name or glob; all registries when null")
    tags: list[str] | None = Field(
        None, description="Tag globs it may delete; a digest with any other tag is kept. All tags when null"
    )
    clock: ClockName | None = Field(
        None, description="Age clock: created, first_seen, pushed or last_pulled; created when null"
    )
    keep_most_recent: int | None = Field(None, ge=1, description="Keep the N newest tagged images per repo")
    keep_tags: list[str] | None = Field(None, description="Keep digests with a tag matching these globs")
    keep_semver_per: Literal["major", "minor"] | None = Field(
        None, description="With keep_semver_most_recent: keep the newest versions per major or minor line"
    )
    keep_semver_most_recent: int | None = Field(None, ge=1, description="Versions kept per semver line")
    keep_pulled_within_days: int | None = Field(None, ge=1, description="Keep images pulled in these days")
    delete_older_than_days: int | None = Field(None, ge=0, description="Delete images older than N days")
    delete_dangling_older_than_days: int | None = Field(
        None, ge=0, description="Delete digests untagged for more than N days"
    )


class PolicyChoice(BaseModel):
    """A configured policy by name, or a simple one described by its rules (or, for callers that are not
    the LLM, a full inline `policy`: hidden from the schema to keep it small, still accepted)."""

    model_config = ConfigDict(extra="forbid")

    policy_name: str | None = Field(None, description="A policy of the policies file, by name")
    repository: str | None = Field(
        None, description="Repository or glob the rules cover, e.g. 'team-x/batch' or 'shop/*'"
    )
    keep_most_recent: int | None = Field(None, ge=1, description="Keep the N newest tags of each repository")
    delete_older_than_days: int | None = Field(None, ge=0, description="Delete images older than N days")
    delete_untagged: bool | None = Field(None, description="Also delete digests no tag points at")
    policy: SkipJsonSchema[PolicyRules | None] = Field(None, description="A full inline policy")

    def rules(self) -> PolicyRules | None:
        """The inline policy: `policy` as given, or one made of the simple fields; None if neither."""
        if self.policy is not None:
            return self.policy
        simple = (self.repository, self.keep_most_recent, self.delete_older_than_days, self.delete_untagged)
        if all(value is None for value in simple):
            return None
        return PolicyRules.model_validate(
            {
                "repositories": [self.repository or "**"],
                "keep_most_recent": self.keep_most_recent,
                "delete_older_than_days": self.delete_older_than_days,
                "delete_dangling_older_than_days": 0 if self.delete_untagged else None,
            }
        )


class PreviewRetentionPolicyArgs(PolicyChoice):
    """Dry-run a retention policy: what it would delete and keep, and the deduplicated bytes freed.
    Give policy_name, or the rules (repository, keep_most_recent, delete_older_than_days,
    delete_untagged). Deletes and proposes nothing."""


class ProposeRetentionCleanupArgs(PolicyChoice):
    """Propose a cleanup by retention rules (policy_name, or repository, keep_most_recent,
    delete_older_than_days, delete_untagged): stores the dry-run plan and asks an approver. Only when the
    user asked to clean up or delete. Deletes nothing."""


class PreviewResult(ToolResult):
    """A dry-run plan summary."""

    plan: PlanSummary


class ProposalResult(ToolResult):
    """What a proposing tool did."""

    status: Literal["proposed", "nothing_to_delete"]
    proposal_id: str | None
    summary: str | None
    expires_at: str | None
    plan: PlanSummary
    message: str


def configured_policies(call: Call) -> PolicyFile | None:
    """The policies file, or None when none is configured; a broken file becomes a ToolFailure."""
    try:
        return call.context.policies()
    except ConfigError as exc:
        first = str(exc).splitlines()[:3]
        raise ToolFailure(
            "the policies file is invalid: " + "; ".join(first), hint="ask an admin to fix it"
        ) from None


def _inline_policy(rules: PolicyRules, *, name: str) -> Policy:
    keep: list[KeepRule] = []
    delete: list[DeleteRule] = []
    try:
        if rules.keep_most_recent:
            keep.append(KeepRule(most_recent=rules.keep_most_recent))
        if rules.keep_tags:
            keep.append(KeepRule(tags=rules.keep_tags))
        if rules.keep_semver_per and rules.keep_semver_most_recent:
            semver = SemverKeep(per=rules.keep_semver_per, most_recent=rules.keep_semver_most_recent)
            keep.append(KeepRule(semver=semver))
        if rules.keep_pulled_within_days:
            keep.append(KeepRule(pulled_within_days=rules.keep_pulled_within_days))
        if rules.delete_older_than_days is not None:
            delete.append(DeleteRule(older_than_days=rules.delete_older_than_days))
        if rules.delete_dangling_older_than_days is not None:
            delete.append(DeleteRule(dangling_older_than_days=rules.delete_dangling_older_than_days))
        if not delete:
            raise ToolFailure(
                "the rules delete nothing: no delete rule",
                hint="call again with delete_older_than_days and/or delete_untagged=true",
            )
        return Policy(
            name=name,
            registry=rules.registry or "*",
            repositories=rules.repositories,
            tags=rules.tags or ["*"],
            clock=rules.clock or "created",
            keep=keep,
            delete=delete,
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        raise ToolFailure(
            f"invalid inline policy: {problems}", hint="fix these fields and call again"
        ) from None


def with_policy(configured: PolicyFile | None, policy: Policy) -> PolicyFile:
    """The configured policies (their keep rules and protected tags) plus one more policy."""
    existing = list(configured.policies) if configured else []
    protected = list(configured.protected_tags) if configured else []
    return PolicyFile(protected_tags=protected, policies=[*existing, policy])


def unique_name(configured: PolicyFile | None, base: str) -> str:
    """A policy name not used in the configured file."""
    taken = set(configured.policy_names()) if configured else set()
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base} {n}"
    return name


def plan_for(call: Call, choice: PolicyChoice) -> Plan:
    """The dry-run plan of the chosen policy over the latest snapshot."""
    snapshot = call.require_snapshot()
    configured = configured_policies(call)
    rules = choice.rules()
    known = configured.policy_names() if configured else []
    if choice.policy_name is not None and rules is not None and choice.policy_name not in known:
        # The strict schema makes a model fill every field: the 1.5B model sent the rules with a made-up
        # policy_name ('keep_most_recent'), got an error and answered nothing (policy-preview). A name
        # that is no configured policy, beside rules, is noise: the rules are the request.
        choice = choice.model_copy(update={"policy_name": None})
    if (choice.policy_name is None) == (rules is None):
        names = ", ".join(configured.policy_names()) if configured else "none configured"
        raise ToolFailure(
            "give exactly one of policy_name or the rules (repository, keep_most_recent, "
            "delete_older_than_days, delete_untagged)",
            hint=f"configured policies: {names}; or call again with repository and delete_older_than_days",
        )
    if choice.policy_name is not None:
        if configured is None:
            raise ToolFailure(
                "no policies file is configured",
                hint="call again without policy_name, with repository and delete_older_than_days",
            )
        return run_plan(
            call, configured, snapshot=snapshot, history=history_of(call), names=[choice.policy_name]
        )
    assert rules is not None  # one of the two is set, checked above
    name = unique_name(configured, AD_HOC)
    policies = with_policy(configured, _inline_policy(rules, name=name))
    return run_plan(call, policies, snapshot=snapshot, history=history_of(call), names=[name])


def preview_retention_policy(call: Call, args: PreviewRetentionPolicyArgs) -> PreviewResult:
    """Dry-run summary of a policy."""
    summary, note = summarize_plan(plan_for(call, args))
    return PreviewResult(
        headline=plan_headline(summary, what="the policy would delete (dry run)"),
        plan=summary,
        truncated=note is not None,
        note=note,
    )


def propose_plan(call: Call, plan: Plan) -> ProposalResult:
    """Store the plan and create a proposal for it (nothing is deleted here)."""
    summary, note = summarize_plan(plan)
    if not plan.items:
        return ProposalResult(
            headline=plan_headline(summary, what="nothing to propose: the rules delete nothing"),
            status="nothing_to_delete",
            proposal_id=None,
            summary=None,
            expires_at=None,
            plan=summary,
            message="The plan deletes nothing, so no approval was requested.",
        )
    context = call.context
    require_writable(context)
    if context.propose is None:
        raise ToolFailure("proposals are not available here", hint="show the preview and explain instead")
    refused = sorted({i.registry for i in plan.items} & set(context.delete_refusals))
    notes = [f"registry {name}: {context.delete_refusals[name]}" for name in refused]
    if notes:  # the start-up check saw these registries refuse deletes: the card says so up front
        plan = plan.model_copy(update={"warnings": [*plan.warnings, *notes]})
    ref = context.propose(plan, call.user, call.conversation)
    return ProposalResult(
        headline=f"proposal {ref.id} created, awaiting approval; "
        + plan_headline(summary, what="it would delete"),
        status="proposed",
        proposal_id=ref.id,
        summary=ref.summary,
        expires_at=ref.expires_at.isoformat(timespec="minutes"),
        plan=summary,
        message=" ".join([PROPOSAL_NOTE, *(f"Warning: {n}." for n in notes)]),
        truncated=note is not None,
        note=note,
    )


def propose_retention_cleanup(call: Call, args: ProposeRetentionCleanupArgs) -> ProposalResult:
    """Plan a policy and propose the plan for approval."""
    return propose_plan(call, plan_for(call, args))


class FindStaleImagesArgs(BaseModel):
    """Stale images (unused by every deployment and older than N days; untagged leftovers too) and the
    deduplicated bytes deleting them would free. Keep rules and protected tags apply. Read-only."""

    model_config = ConfigDict(extra="forbid")

    registry: str | None = Field(None, description="Registry name or glob; all when null")
    repository: str | None = Field(None, description="Repository or glob, e.g. 'team-x/*'; all when null")
    older_than_days: int = Field(90, ge=1, description="Minimum age in days")
    clock: Literal["created", "first_seen", "pushed", "last_pulled"] = Field(
        "created",
        description="Age clock: created (build time), first_seen, pushed or last_pulled (from registry "
        "notifications or the registry's own API; an unknown time is never old)",
    )
    include_dangling: bool = Field(True, description="Also count untagged digests")


class StaleResult(ToolResult):
    """Stale images as a dry-run plan summary."""

    older_than_days: int
    clock: str
    stale: PlanSummary


def find_stale_images(call: Call, args: FindStaleImagesArgs) -> StaleResult:
    """Old, unused images and what deleting them frees."""
    summary, note = _stale_plan(call, args)
    headline = plan_headline(
        summary,
        what=f"stale (unused and older than {args.older_than_days} days by {args.clock}"
        + (", or untagged)" if args.include_dangling else ")"),
    )
    return StaleResult(
        headline=headline,
        older_than_days=args.older_than_days,
        clock=args.clock,
        stale=summary,
        truncated=note is not None,
        note=note,
    )


def _stale_plan(call: Call, args: FindStaleImagesArgs) -> tuple[PlanSummary, str | None]:
    """The stale-image policy of `args` planned over the latest snapshot: its summary and cut note."""
    snapshot = call.require_snapshot()
    _check_scope(call, args.registry, args.repository)
    configured = configured_policies(call)
    name = unique_name(configured, "stale images")
    delete = [DeleteRule(older_than_days=args.older_than_days)]
    if args.include_dangling:
        delete.append(DeleteRule(dangling_older_than_days=0))
    try:
        policy = Policy(
            name=name,
            registry=args.registry or "*",
            repositories=[args.repository or "**"],
            clock=args.clock,
            delete=delete,
        )
    except ValidationError as exc:
        raise ToolFailure(f"invalid filter: {exc.errors()[0]['msg']}", hint="check the globs") from None
    plan = run_plan(
        call, with_policy(configured, policy), snapshot=snapshot, history=history_of(call), names=[name]
    )
    return summarize_plan(plan)


_GLOB = re.compile(r"[*?\[]")


def _check_scope(call: Call, registry: str | None, repository: str | None) -> None:
    """A registry or repository (not a glob) the snapshot does not have is an error that says what to pass
    instead. Without it the plan is "nothing (0 manifests stay)": the 1.5B model split team-x/batch into
    registry 'team-x' and repository 'batch' and answered that no tag there was old (old-batch-tags)."""
    catalog = catalog_of(call)
    if registry and not _GLOB.search(registry):
        try:
            catalog.registry(registry)
        except ToolFailure as exc:
            if repository and not _GLOB.search(repository):
                whole = f"{registry.strip('/')}/{repository.strip('/')}"
                hint = (
                    "a registry is not part of an image name: call again with registry=null and "
                    f"repository={whole!r}"
                )
                raise ToolFailure(str(exc), hint=hint) from None
            raise
    if repository and not _GLOB.search(repository):
        views = catalog.registry(registry) if registry and not _GLOB.search(registry) else catalog.views
        if not any(repository in view.inventory.tags for view in views):
            raise ToolFailure(
                f"repository {repository!r} not found", hint=similar_repositories(views, repository)
            )

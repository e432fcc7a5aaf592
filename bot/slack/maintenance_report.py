"""`/regent gc REGISTRY`, `/regent cache REGISTRY UPSTREAM [PROBE]`, `/regent revert CHANGE`: proposals
for registry maintenance without a language model; the approval card is posted in the channel."""

from __future__ import annotations

from bot.slack.report import Report
from tools.toolbox.context import Call
from tools.toolbox.maintenance import (
    MaintenanceProposalResult,
    ProposeCacheConfigurationArgs,
    ProposeGarbageCollectionArgs,
    ProposeStackRevertArgs,
    propose_cache_configuration,
    propose_garbage_collection,
    propose_stack_revert,
)

CARD = "An approval card is posted in this channel; nothing changes until an approver clicks Approve."


def gc_report(call: Call, argument: str) -> Report:
    """`/regent gc REGISTRY`: propose garbage collection (or say why none is needed)."""
    if not argument:
        return Report(title="Usage: /regent gc REGISTRY", lines=("e.g. /regent gc registry",), error=True)
    result = propose_garbage_collection(
        call, ProposeGarbageCollectionArgs.model_validate({"registry": argument})
    )
    return _report(result, title=f"Garbage collection: {argument}")


def cache_report(call: Call, argument: str) -> Report:
    """`/regent cache REGISTRY UPSTREAM [REPOSITORY:TAG]`: propose the pull-through cache configuration."""
    parts = argument.split()
    if len(parts) not in (2, 3):
        return Report(
            title="Usage: /regent cache REGISTRY UPSTREAM [REPOSITORY:TAG]",
            lines=("e.g. /regent cache mirror docker.io library/alpine:3.19",),
            error=True,
        )
    args = {"registry": parts[0], "upstream": parts[1], "probe_image": parts[2] if len(parts) == 3 else None}
    result = propose_cache_configuration(call, ProposeCacheConfigurationArgs.model_validate(args))
    return _report(result, title=f"Pull-through cache: {parts[0]} of {parts[1]}")


def revert_report(call: Call, argument: str) -> Report:
    """`/regent revert CHANGE`: propose putting back the stack file an applied change replaced."""
    if not argument:
        return Report(title="Usage: /regent revert CHANGE", lines=("e.g. /regent revert act-…",), error=True)
    result = propose_stack_revert(call, ProposeStackRevertArgs.model_validate({"change_id": argument}))
    return _report(result, title=f"Revert {argument}")


def _report(result: MaintenanceProposalResult, *, title: str) -> Report:
    if result.proposal_id is None:
        return Report(title=title, lines=(result.summary, result.message))
    lines = [result.summary, *(f"Expected: {result.expected}",) * bool(result.expected), CARD]
    return Report(
        title=title,
        lines=tuple(lines),
        notes=tuple(result.warnings),
        proposal_ids=(result.proposal_id,),
    )

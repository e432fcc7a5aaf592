"""`gitlab-cleanup`: a Regent retention policy as a GitLab project's cleanup policy and bulk tag delete.

GitLab's rule language (gitlabhq doc/user/packages/container_registry/reduce_container_registry_storage.md,
doc/api/container_registry.md, doc/api/projects.md) and how GitLab evaluates it:
- one policy per project, for every repository of the project: `PUT /projects/:id` with
  `container_expiration_policy_attributes` {cadence, enabled, keep_n, older_than, name_regex,
  name_regex_keep}; the scheduled job, per repository: all tags; never `latest`; only names fully matching
  `name_regex`; minus names matching `name_regex_keep`; newest first by the tag's `created_at`; the first
  `keep_n` stay; so do those newer than `older_than`; the rest are deleted. GitLab's regexes are RE2.
- the policy takes only listed values: cadence 1d/7d/14d/1month/3month, keep_n 1/5/10/25/50/100,
  older_than 7d/14d/30d/60d/90d. The bulk `DELETE …/repositories/:id/tags` runs the same steps once with
  any `keep_n` and any `older_than` ("1d"), so it can say exactly what the scheduled policy only rounds.
- it deletes tags, never manifests: an untagged manifest goes only with the registry's garbage collection.

Rounding is always toward deleting less (keep_n up, older_than up); where even that is not possible the
policy document is written disabled. `differences` comes from running the steps above over the snapshot.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.export.common import native_export, policies_for, registries_of
from tools.policy.model import Policy
from tools.policy.patterns import REGEX_PREFIX, glob_to_regex
from tools.policy.plans import Plan
from tools.policy.rules import compile_policy, matches_repository

FORMAT = "gitlab-cleanup"
CADENCE = "1d"  # Regent plans on demand; daily is the closest GitLab cadence
KEEP_N_VALUES = (1, 5, 10, 25, 50, 100)
OLDER_THAN_DAYS = (7, 14, 30, 60, 90)
_NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]")  # lookarounds and backreferences: RE2 has neither
ALWAYS_UNEXPRESSED = (
    "deployment-aware keep: GitLab does not know which images run in Portainer's environments",
    "signatures and attestations following their subject: GitLab deletes each tag on its own",
    "untagged manifests and index children: GitLab's cleanup deletes tags only; the registry's garbage "
    "collection removes untagged manifests",
    "`latest`: GitLab's cleanup never deletes a tag named latest",
)


@dataclass(slots=True)
class Translation:
    """One policy in GitLab's terms: exact values (bulk delete) and what could not be said."""

    name_regex: str = ""
    name_regex_keep: str = ""
    keep_n: int | None = None
    older_than_days: int | None = None
    deletes_tags: bool = False
    unexpressed: list[str] = field(default_factory=list)

    def policy_attributes(self) -> dict[str, Any]:
        """The project's `container_expiration_policy_attributes`, rounded toward deleting less."""
        enabled = self.deletes_tags
        attributes: dict[str, Any] = {"cadence": CADENCE, "name_regex": self.name_regex}
        if self.name_regex_keep:
            attributes["name_regex_keep"] = self.name_regex_keep
        if self.keep_n is not None:
            attributes["keep_n"] = _at_least(self.keep_n, KEEP_N_VALUES)
            if self.keep_n > KEEP_N_VALUES[-1]:
                enabled = False
                self.unexpressed.append(
                    f"keep {self.keep_n}: GitLab's policy keeps at most 100; written disabled"
                )
            elif attributes["keep_n"] != self.keep_n:
                self.unexpressed.append(f"keep {self.keep_n} becomes keep_n {attributes['keep_n']}")
        if self.older_than_days is not None:
            days = _at_least(self.older_than_days, OLDER_THAN_DAYS)
            attributes["older_than"] = f"{days}d"
            if self.older_than_days > OLDER_THAN_DAYS[-1]:
                enabled = False
                self.unexpressed.append(
                    f"older than {self.older_than_days} days: GitLab's policy goes to 90d at most; written "
                    "disabled (the bulk delete says it exactly)"
                )
            elif days != self.older_than_days:
                self.unexpressed.append(f"older than {self.older_than_days} days becomes older_than {days}d")
        attributes["enabled"] = enabled
        return attributes

    def bulk_parameters(self) -> dict[str, Any]:
        """The query of `DELETE /projects/:id/registry/repositories/:repository_id/tags`, exact."""
        query: dict[str, Any] = {"name_regex_delete": self.name_regex}
        if self.name_regex_keep:
            query["name_regex_keep"] = self.name_regex_keep
        if self.keep_n is not None:
            query["keep_n"] = self.keep_n
        if self.older_than_days is not None:
            query["older_than"] = f"{self.older_than_days}d"
        return query


def export_gitlab_cleanup(request: ExportRequest) -> NativeExport:
    """Per GitLab project a policy selects: cleanup policy, bulk-delete parameters, differences."""
    documents: dict[str, Any] = {}
    unexpressed: list[str] = list(ALWAYS_UNEXPRESSED)
    differences: list[ItemDifference] = []
    for inventory in registries_of(request, "gitlab"):
        project = _project_name(inventory)
        repositories = sorted(inventory.tags.keys() | inventory.repository_digests.keys())
        policies = policies_for(request.policies.policies, inventory, repositories)
        if not policies:
            continue
        translation = translate(policies[0], request.policies.protected_tags)
        for other in policies[1:]:
            translation.unexpressed.append(
                f'policy "{other.name}": GitLab has one cleanup policy per project'
            )
        selected = [r for r in repositories if matches_repository(compile_policy(policies[0]), r)]
        if selected != repositories:
            translation.unexpressed.append(
                f"repositories {policies[0].repositories}: GitLab's policy applies to all "
                f"{len(repositories)} repositories of the project"
            )
        attributes = translation.policy_attributes()
        documents[project] = {"container_expiration_policy_attributes": attributes}
        documents[f"{project} bulk tag delete"] = translation.bulk_parameters()
        unexpressed.extend(f"{project}: {line}" for line in translation.unexpressed)
        for repository in repositories:
            differences.extend(compare(request.plan, inventory, repository, attributes, now=request.now))
    notes = [
        "apply the policy with `PUT /api/v4/projects/:id` and the JSON document as body; run the bulk delete "
        "once per repository with `DELETE /api/v4/projects/:id/registry/repositories/:repository_id/tags` "
        "and the parameters as query (repository ids from `GET …/registry/repositories`)",
        "GitLab's cleanup deletes tags; storage comes back after the registry's garbage collection",
    ]
    return native_export(FORMAT, documents, unexpressed, differences, notes, selects="GitLab registry")


def translate(policy: Policy, protected: Iterable[str]) -> Translation:
    """GitLab's terms for one Regent policy (exact; rounding happens in policy_attributes)."""
    out = Translation()
    name = f'policy "{policy.name}"'
    out.name_regex = _alternation(policy.tags, f"{name} tags", out.unexpressed)
    out.name_regex_keep = _alternation(
        [*protected, *(p for rule in policy.keep for p in rule.tags or ())],
        f"{name} keep tags",
        out.unexpressed,
    )
    counts = [rule.most_recent for rule in policy.keep if rule.most_recent is not None]
    out.keep_n = max(counts) if counts else None  # any keep rule keeps: the largest count wins
    for rule in policy.keep:
        if rule.semver is not None:
            out.unexpressed.append(f"{name}: semver keep (GitLab knows no versions)")
        if rule.pulled_within_days is not None:
            out.unexpressed.append(f"{name}: pulled_within_days (GitLab has no pull clock)")
        if rule.most_recent is not None and (rule.clock or policy.clock) in ("first_seen", "last_pulled"):
            out.unexpressed.append(
                f"{name}: most_recent by {rule.clock or policy.clock}; GitLab counts by created_at"
            )
    ages: list[int] = []
    for index, deletion in enumerate(policy.delete):
        label = f"{name} delete[{index}]"
        if deletion.dangling_older_than_days is not None:
            out.unexpressed.append(f"{label}: dangling manifests (GitLab's cleanup deletes tags only)")
            continue
        out.deletes_tags = True
        if deletion.all:
            ages.append(0)
        elif deletion.older_than_days is not None:
            ages.append(deletion.older_than_days)
            if (deletion.clock or policy.clock) in ("first_seen", "last_pulled"):
                out.unexpressed.append(
                    f"{label}: clock {deletion.clock or policy.clock}; GitLab ages by created_at"
                )
    if ages:  # a tag goes if any rule matches: the youngest age limit is the union's
        out.older_than_days = min(ages) or None
    if counts and ages:
        out.unexpressed.append(
            f"{name}: keep most_recent counts every digest in Regent; GitLab counts tags matching name_regex"
        )
    if not out.name_regex:
        out.deletes_tags = False
    return out


def simulate(
    attributes: dict[str, Any], inventory: RegistryInventory, repository: str, *, now: datetime
) -> set[str] | None:
    """Tags GitLab's scheduled cleanup would delete in one repository; None when a clock is missing."""
    if not attributes.get("enabled"):
        return set()
    delete = re.compile(attributes["name_regex"])
    keep = re.compile(attributes["name_regex_keep"]) if attributes.get("name_regex_keep") else None
    tags = inventory.tags.get(repository, {})
    chosen = [
        tag
        for tag in tags
        if tag != "latest" and delete.fullmatch(tag) and not (keep is not None and keep.fullmatch(tag))
    ]
    created = {tag: _created(inventory, tags[tag]) for tag in chosen}
    if any(moment is None for moment in created.values()):
        return None
    ordered = sorted(chosen, key=lambda tag: (created[tag], tag), reverse=True)
    doomed = ordered[int(attributes.get("keep_n") or 0) :]
    if attributes.get("older_than"):
        limit = now - timedelta(days=int(str(attributes["older_than"]).removesuffix("d")))
        doomed = [tag for tag in doomed if (moment := created[tag]) is not None and moment < limit]
    return set(doomed)


def compare(
    plan: Plan, inventory: RegistryInventory, repository: str, attributes: dict[str, Any], *, now: datetime
) -> list[ItemDifference]:
    """Each image of the repository that Regent's plan and GitLab's simulated cleanup treat differently."""
    name = inventory.source.name
    planned = {i.digest: i for i in plan.items if i.registry == name and i.repository == repository}
    kept = {k.digest: k.reason for k in plan.kept if k.registry == name and k.repository == repository}
    by_digest: dict[str, list[str]] = {}
    for tag, digest in inventory.tags.get(repository, {}).items():
        by_digest.setdefault(digest, []).append(tag)
    doomed = simulate(attributes, inventory, repository, now=now)
    out: list[ItemDifference] = []
    for digest in sorted(by_digest.keys() | planned.keys()):
        tags = tuple(sorted(by_digest.get(digest, ())))
        regent = "delete" if digest in planned else "keep"
        native = "unknown" if doomed is None else "delete" if tags and set(tags) <= doomed else "keep"
        if regent == native:
            continue
        if native == "unknown":
            why = "a tag of this repository has no created_at in the snapshot; GitLab's order is unknown"
        elif native == "delete":
            why = "GitLab's cleanup deletes every tag on it; Regent keeps it: "
            why += kept.get(digest, "no rule deletes it")
        else:
            why = f"Regent deletes it ({planned[digest].reason}); "
            left = sorted(set(tags) - (doomed or set()))
            why += f"GitLab's cleanup keeps tag(s) {', '.join(left)}" if left else "it has no tag to delete"
        out.append(ItemDifference(name, repository, digest, tags, regent, native, why))
    return out


def _alternation(patterns: Sequence[str], label: str, unexpressed: list[str]) -> str:
    """One RE2 regex matching any of the policy patterns; patterns RE2 cannot run are left out and named."""
    parts: list[str] = []
    for pattern in dict.fromkeys(patterns):
        source = pattern[len(REGEX_PREFIX) :] if pattern.startswith(REGEX_PREFIX) else glob_to_regex(pattern)
        if _NOT_RE2.search(source):
            unexpressed.append(f"{label}: {pattern!r} needs lookaround or backreferences, which RE2 lacks")
            continue
        parts.append(source)
    if len(parts) == 1:
        return parts[0]
    return "|".join(f"(?:{part})" for part in parts)


def _at_least(value: int, allowed: Sequence[int]) -> int:
    return next((choice for choice in allowed if choice >= value), allowed[-1])


def _created(inventory: RegistryInventory, digest: str) -> datetime | None:
    """GitLab's tag created_at as the crawl stored it, else the image's own created time."""
    pushed = inventory.pushed.get(digest)
    if pushed is not None:
        return pushed
    manifest = inventory.manifests.get(digest)
    return manifest.created if manifest is not None else None


def _project_name(inventory: RegistryInventory) -> str:
    extra = dict(inventory.source.extra)
    return extra.get("project_path") or extra.get("project_id") or inventory.source.name

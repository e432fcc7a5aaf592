"""`gar-cleanup`: Regent retention policies as Artifact Registry cleanup policies, one set per GAR repository.

Artifact Registry's rule language (discovery document `CleanupPolicy`, `CleanupPolicyCondition`,
`CleanupPolicyMostRecentVersions`; Google Cloud, "Configure cleanup policies"; registries.md GAR row, G8):
- a policy is a DELETE or a KEEP; a condition matches a version when every field it sets holds:
  `tagState` (TAGGED, UNTAGGED, ANY), `tagPrefixes` (a tag starts with one), `packageNamePrefixes`
  (the image name inside the repository starts with one), `olderThan` / `newerThan` (a duration, e.g.
  `7776000s`, against the version's upload time);
- `mostRecentVersions {packageNamePrefixes, keepCount}` (KEEP only) keeps each package's newest versions;
- a version matched by any KEEP is kept whatever DELETE matches it; at most 10 policies per repository;
- a daily job applies them; with `cleanupPolicyDryRun` it only reports what it would delete.

A GAR host holds many repositories: `<location>-docker.pkg.dev/<project>/<repository>/<image>` (and gcr.io
repositories, `gcr.io/<project>/<image>`, are the repository `gcr.io` of the project, G6), so the documents
are per GAR repository, and Regent's repository globs become package name prefixes. Prefixes, not globs:
what a prefix cannot say is named, and `differences` comes from applying the policies as above to the
snapshot (upload time = GAR timeUploadedMs) and comparing with Regent's plan, image by image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.export.common import native_export, policies_for, registries_of
from tools.policy.model import Policy
from tools.policy.plans import Plan
from tools.policy.rules import compile_policy, matches_repository

FORMAT = "gar-cleanup"
DAY = 86400  # seconds; google-duration is written in seconds
MAX_POLICIES = 10  # per repository (Google Cloud, "Configure cleanup policies")
_LITERAL = re.compile(r"[^*?\[\]\\]*")  # a glob part without wildcards
ALWAYS_UNEXPRESSED = (
    "deployment-aware keep: Artifact Registry does not know which images run in Portainer's environments",
    "signatures and attestations following their subject: each version is cleaned up on its own",
    "last_pulled clocks and pulled_within_days: Artifact Registry keeps no pull time",
)


@dataclass(slots=True)
class _Build:
    """One GAR repository's cleanup policies as they are built, with what they cannot say."""

    key: str  # "<project>/<repository>"
    members: dict[str, str]  # package (image name in it) -> the v2 repository name
    prefix: str  # what the v2 names put before the package: "<project>/<repository>/" or "<project>/"
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    unexpressed: list[str] = field(default_factory=list)

    def add(self, name: str, action: str, body: dict[str, Any]) -> None:
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "policy"
        policy_id, n = base, 1
        while policy_id in self.policies:
            n += 1
            policy_id = f"{base}-{n}"
        self.policies[policy_id] = {"id": policy_id, "action": action, **body}


def export_gar_cleanup(request: ExportRequest) -> NativeExport:
    """Cleanup policies for each GAR repository a Regent policy selects, and where they differ from Regent."""
    documents: dict[str, Any] = {}
    unexpressed: list[str] = list(ALWAYS_UNEXPRESSED)
    differences: list[ItemDifference] = []
    for inventory in registries_of(request, "gar"):
        host = inventory.source.image_host.split(":")[0]
        for key, members in sorted(gar_repositories(host, inventory).items()):
            policies = policies_for(request.policies.policies, inventory, members.values())
            if not policies:
                continue
            build = build_policies(key, members, policies, request.policies.protected_tags)
            name = f"{inventory.source.name}:{key}"
            unexpressed.extend(f"{name}: {text}" for text in build.unexpressed)
            documents[name] = document(build)
            differences.extend(compare(request.plan, inventory, members, build, now=request.now))
    notes = [
        "apply with `gcloud artifacts repositories set-cleanup-policies <repository> --project <project> "
        "--location <location> --policy <policy_file> --dry-run` first: Artifact Registry then only "
        "reports what its daily job would delete; `--no-dry-run` makes it delete",
        "or PATCH the repository with `cleanupPolicies` and `cleanupPolicyDryRun` "
        "(updateMask=cleanupPolicies,cleanupPolicyDryRun)",
    ]
    return native_export(FORMAT, documents, unexpressed, differences, notes, selects="GAR repository")


def gar_repositories(host: str, inventory: RegistryInventory) -> dict[str, dict[str, str]]:
    """GAR repository "<project>/<repository>" -> package (image name) -> the v2 repository name."""
    found: dict[str, dict[str, str]] = {}
    for repository in inventory.tags.keys() | inventory.repository_digests.keys():
        if host.endswith("gcr.io"):
            project, _, package = repository.partition("/")
            key = f"{project}/{host}"
        else:
            project, _, rest = repository.partition("/")
            name, _, package = rest.partition("/")
            key = f"{project}/{name}"
        if package:
            found.setdefault(key, {})[package] = repository
    return found


def document(build: _Build) -> dict[str, Any]:
    """The REST body (Repository fields) and the same policies as gcloud's policy file."""
    policy_file = []
    for policy in build.policies.values():
        entry: dict[str, Any] = {"name": policy["id"], "action": {"type": policy["action"].capitalize()}}
        if "condition" in policy:
            condition = dict(policy["condition"])
            for bound in ("olderThan", "newerThan"):
                if bound in condition:
                    condition[bound] = f"{int(condition[bound].removesuffix('s')) // DAY}d"
            entry["condition"] = condition
        if "mostRecentVersions" in policy:
            entry["mostRecentVersions"] = policy["mostRecentVersions"]
        policy_file.append(entry)
    return {
        "repository": build.key,
        "cleanupPolicies": build.policies,
        "cleanupPolicyDryRun": True,
        "policy_file": policy_file,
    }


# ----- translation ---------------------------------------------------------------------------------


def build_policies(
    key: str, members: dict[str, str], policies: Sequence[Policy], protected: Iterable[str]
) -> _Build:
    """The cleanup policies of one GAR repository for the Regent policies that select part of it."""
    package, repository = next(iter(sorted(members.items())))
    build = _Build(key=key, members=members, prefix=repository.removesuffix(package))
    protected_prefixes = _tag_prefixes(list(protected), build, "protected_tags")
    if protected_prefixes:
        build.add(
            "regent-protected",
            "KEEP",
            {"condition": {"tagState": "TAGGED", "tagPrefixes": protected_prefixes}},
        )
    for policy in policies:
        _translate(build, policy)
    if len(policies) > 1:
        build.unexpressed.append(
            "several policies select this repository: in GAR any KEEP protects from every DELETE"
        )
    if len(build.policies) > MAX_POLICIES:
        dropped = list(build.policies)[MAX_POLICIES:]
        build.unexpressed.append(f"more than {MAX_POLICIES} cleanup policies; left out: {', '.join(dropped)}")
        build.policies = {k: build.policies[k] for k in list(build.policies)[:MAX_POLICIES]}
    return build


def _translate(build: _Build, policy: Policy) -> None:
    label = f'policy "{policy.name}"'
    scope: dict[str, Any] = {}
    packages = _package_prefixes(build, policy)
    if packages is not None:
        scope["packageNamePrefixes"] = packages
    for rule in policy.keep:
        if rule.tags is not None:
            prefixes = _tag_prefixes(rule.tags, build, f"{label} keep tags")
            if prefixes:
                keep = {"tagState": "TAGGED", "tagPrefixes": prefixes, **scope}
                build.add(f"{policy.name}-keep-tags", "KEEP", {"condition": keep})
        elif rule.most_recent is not None:
            recent = {"keepCount": rule.most_recent, **scope}
            build.add(f"{policy.name}-keep-recent", "KEEP", {"mostRecentVersions": recent})
            if (rule.clock or policy.clock) != "pushed":
                build.unexpressed.append(f"{label}: most_recent counts versions by upload time in GAR")
        elif rule.semver is not None:
            build.unexpressed.append(f"{label}: semver keep (Artifact Registry knows no versions)")
        else:
            build.unexpressed.append(f"{label}: pulled_within_days (Artifact Registry keeps no pull time)")
    every_tag = any(p in ("*", "**") for p in policy.tags)
    tag_scope = None if every_tag else _tag_prefixes(policy.tags, build, f"{label} tags scope")
    if not every_tag and not tag_scope:
        build.unexpressed.append(f"{label}: no delete exported, its tags scope has no prefix form")
        return
    for index, delete in enumerate(policy.delete):
        where = f"{label} delete[{index}]"
        condition: dict[str, Any] = {"tagState": "ANY" if every_tag else "TAGGED", **scope}
        if tag_scope:
            condition["tagPrefixes"] = tag_scope
            build.unexpressed.append(f"{where}: GAR deletes a version when one tag has the prefix, not all")
        if delete.dangling_older_than_days is not None:
            condition = {"tagState": "UNTAGGED", **scope, "olderThan": _days(delete.dangling_older_than_days)}
            build.unexpressed.append(f"{where}: dangling age becomes upload age in GAR")
        elif delete.older_than_days is not None:
            condition["olderThan"] = _days(delete.older_than_days)
            if (delete.clock or policy.clock) != "pushed":
                build.unexpressed.append(
                    f"{where}: clock {delete.clock or policy.clock!r}; GAR ages by upload time"
                )
        build.add(f"{policy.name}-delete", "DELETE", {"condition": condition})


def _days(days: int) -> str:
    return f"{days * DAY}s"


def _package_prefixes(build: _Build, policy: Policy) -> list[str] | None:
    """Package name prefixes for a policy's repository patterns; None: every package of the repository."""
    compiled = compile_policy(policy)
    selected = sorted(p for p, repo in build.members.items() if matches_repository(compiled, repo))
    prefixes: list[str] = []
    for pattern in policy.repositories:
        if pattern in ("**", f"{build.prefix}**"):
            return None
        rest = pattern.removeprefix(build.prefix) if pattern.startswith(build.prefix) else "*"
        literal = rest.rstrip("*")
        if literal and _LITERAL.fullmatch(literal):
            prefixes.append(literal)
            if rest == literal:
                build.unexpressed.append(f"repository {pattern!r} as a prefix also selects longer names")
            continue
        build.unexpressed.append(
            f'policy "{policy.name}": repository pattern {pattern!r} has no prefix form; the packages it '
            "selects today are listed instead (later ones are not covered)"
        )
        prefixes.extend(selected)
    return sorted(set(prefixes))


def _tag_prefixes(patterns: list[str], build: _Build, label: str) -> list[str]:
    """Tag globs as prefixes: `v1*` and `prod` (a prefix keeps or deletes longer tags too)."""
    prefixes: list[str] = []
    for pattern in patterns:
        literal = pattern.rstrip("*")
        if pattern.startswith("re:") or not literal or not _LITERAL.fullmatch(literal):
            build.unexpressed.append(f"{label} {pattern!r}: GAR matches tags by prefix only")
            continue
        if literal == pattern:
            build.unexpressed.append(f"{label} {pattern!r}: as a prefix it also matches longer tags")
        prefixes.append(literal)
    return sorted(set(prefixes))


# ----- Artifact Registry's cleanup, simulated over the snapshot --------------------------------------


@dataclass(frozen=True, slots=True)
class Version:
    """One version (manifest) of a package as the cleanup job sees it."""

    digest: str
    package: str
    tags: tuple[str, ...]
    uploaded: datetime | None


def _matches(condition: dict[str, Any], version: Version, now: datetime) -> bool | None:
    """Whether a condition matches; None when it depends on an upload time the snapshot lacks."""
    state = condition.get("tagState", "ANY")
    if (state == "TAGGED" and not version.tags) or (state == "UNTAGGED" and version.tags):
        return False
    if "tagPrefixes" in condition and not any(
        t.startswith(tuple(condition["tagPrefixes"])) for t in version.tags
    ):
        return False
    if "packageNamePrefixes" in condition and not version.package.startswith(
        tuple(condition["packageNamePrefixes"])
    ):
        return False
    for bound, older in (("olderThan", True), ("newerThan", False)):
        if bound in condition:
            if version.uploaded is None:
                return None
            age = (now - version.uploaded).total_seconds()
            limit = float(condition[bound].removesuffix("s"))
            if (age <= limit) if older else (age >= limit):
                return False
    return True


def simulate(
    policies: Iterable[dict[str, Any]], versions: Sequence[Version], *, now: datetime
) -> dict[str, str]:
    """digest -> verdict: "delete:<id>", "keep:<id>", "keep" or "unknown"."""
    kept: dict[str, str] = {}
    for policy in (p for p in policies if p["action"] == "KEEP" and "mostRecentVersions" in p):
        recent = policy["mostRecentVersions"]
        prefixes = tuple(recent.get("packageNamePrefixes") or ("",))
        by_package: dict[str, list[Version]] = {}
        for version in versions:
            if version.package.startswith(prefixes) and version.uploaded is not None:
                by_package.setdefault(version.package, []).append(version)
        for group in by_package.values():
            group.sort(key=lambda v: v.uploaded or now, reverse=True)
            kept.update((v.digest, f"keep:{policy['id']}") for v in group[: recent["keepCount"]])
    verdicts: dict[str, str] = {}
    for version in versions:
        verdict = kept.get(version.digest)
        for policy in (p for p in policies if "condition" in p):
            if verdict is not None and verdict.startswith("keep:"):
                break
            found = _matches(policy["condition"], version, now)
            if found is None:
                verdict = "unknown"
            elif found:
                verdict = ("keep:" if policy["action"] == "KEEP" else "delete:") + policy["id"]
                if policy["action"] == "KEEP":
                    break
        verdicts[version.digest] = verdict or "keep"
    return verdicts


def compare(
    plan: Plan, inventory: RegistryInventory, members: dict[str, str], build: _Build, *, now: datetime
) -> list[ItemDifference]:
    """Every version that Regent's plan and the simulated cleanup treat differently."""
    name = inventory.source.name
    planned = {(i.repository, i.digest): i.reason for i in plan.items if i.registry == name}
    kept = {(k.repository, k.digest): k.reason for k in plan.kept if k.registry == name}
    out: list[ItemDifference] = []
    for package, repository in sorted(members.items()):
        tags_of: dict[str, list[str]] = {}
        for tag, digest in inventory.tags.get(repository, {}).items():
            tags_of.setdefault(digest, []).append(tag)
        digests = set(tags_of) | inventory.repository_digests.get(repository, set())
        children = {
            c.digest for d in digests if (m := inventory.manifests.get(d)) is not None for c in m.children
        }
        versions = [
            Version(d, package, tuple(sorted(tags_of.get(d, ()))), inventory.pushed.get(d))
            for d in sorted(digests - children)  # an index's children go and stay with it
        ]
        verdicts = simulate(build.policies.values(), versions, now=now)
        for version in versions:
            regent = "delete" if (repository, version.digest) in planned else "keep"
            verdict = verdicts[version.digest]
            native = verdict.split(":")[0]
            if regent == native:
                continue
            if native == "unknown":
                why = "no GAR timeUploadedMs for it in the snapshot; the cleanup cannot be simulated"
            elif native == "delete":
                why = f"cleanup policy {verdict[7:]!r} deletes it; Regent keeps it: "
                why += kept.get((repository, version.digest), "no delete rule matches")
            else:
                why = f"Regent deletes it ({planned[(repository, version.digest)]}); "
                why += f"GAR keeps it ({verdict[5:] or 'no delete policy matches'})"
            out.append(ItemDifference(name, repository, version.digest, version.tags, regent, native, why))
    return out

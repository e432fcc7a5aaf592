"""`acr-purge`: Regent retention policies as `acr purge` commands, run as a scheduled ACR Task.

What `acr purge` does (Microsoft Learn, "Automatically purge images from an Azure container registry";
the acr-cli README; registries.md ACR row, A3):
- `--filter '<repository regex>:<tag regex>'` (Go RE2, repeatable) selects tags; `--ago <n>d` keeps tags
  whose last update is newer than that (`0d`: any age); `--keep <n>` keeps the newest n of the tags about
  to be deleted (by last update); `--untagged` also deletes manifests left without tags (in acr-cli 0.17
  and later only those older than `--ago`); `--dry-run` lists what it would delete;
- by default only tags go: a manifest is deleted only with `--untagged`, once none of its tags is left;
- a tag or repository whose `writeEnabled` is false (locked) is never deleted, which is how a tag is kept:
  RE2 has no look-ahead, so a filter cannot say "every tag but these";
- it runs on demand (`az acr run --cmd "acr purge …" /dev/null`) or on a schedule
  (`az acr task create --schedule … --cmd "acr purge …" --context /dev/null`).

ACR has no pull clock, no versions and no idea what runs in Portainer, so those keep rules cannot go
along; everything a command cannot say is in `unexpressed`, and `differences` comes from simulating the
commands over the snapshot (tags aged by the manifest's ACR createdTime, the oldest a tag's last update can
be) and comparing with Regent's plan, image by image.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tools.analysis.clocks import SECONDS_PER_DAY
from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.export.common import native_export, registries_of
from tools.policy.model import Policy
from tools.policy.patterns import REGEX_PREFIX, glob_to_regex
from tools.policy.plans import Plan
from tools.policy.rules import compile_policy, matches_registry

FORMAT = "acr-purge"
SCHEDULE = "0 1 * * *"  # daily at 01:00 UTC, as the Learn article's examples
NO_TAG = "^$"  # a tag is never empty: a filter that selects no tag, for untagged-only commands
_NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]")  # look-around and back-references: Python has them, RE2 not
ALWAYS_UNEXPRESSED = (
    "deployment-aware keep: ACR does not know which images run in Portainer's environments",
    "signatures and attestations following their subject: acr purge treats each tag and manifest alone",
    "last_pulled clocks and pulled_within_days: ACR keeps no pull time",
)


@dataclass(frozen=True, slots=True)
class PurgeCommand:
    """One `acr purge` invocation."""

    policy: str
    repositories: str  # RE2, anchored
    tags: str  # RE2, anchored; NO_TAG for an untagged-only command
    ago_days: int
    untagged: bool
    keep: int | None = None

    def argv(self, *, dry_run: bool) -> list[str]:
        """The command's words."""
        words = ["acr", "purge", "--filter", f"{self.repositories}:{self.tags}", "--ago", f"{self.ago_days}d"]
        if self.keep is not None:
            words += ["--keep", str(self.keep)]
        if self.untagged:
            words.append("--untagged")
        if dry_run:
            words.append("--dry-run")
        return words

    def text(self, *, dry_run: bool) -> str:
        """The command line, quoted for a shell."""
        return shlex.join(self.argv(dry_run=dry_run))


def export_acr_purge(request: ExportRequest) -> NativeExport:
    """Per ACR registry: the purge commands (dry run first), the scheduled task, the locks of kept tags."""
    documents: dict[str, Any] = {}
    unexpressed: list[str] = list(ALWAYS_UNEXPRESSED)
    differences: list[ItemDifference] = []
    inventories = registries_of(request, "azure")
    for inventory in inventories:
        policies = [
            p for p in request.policies.policies if matches_registry(compile_policy(p), inventory.source)
        ]
        commands: list[PurgeCommand] = []
        keep_patterns: list[str] = list(request.policies.protected_tags)
        for policy in policies:
            built, problems = commands_for(policy)
            commands.extend(built)
            unexpressed.extend(f"{inventory.source.name}: {problem}" for problem in problems)
            keep_patterns.extend(p for rule in policy.keep for p in rule.tags or ())
        if not commands:
            continue
        locked = locked_tags(inventory, keep_patterns)
        documents[inventory.source.name] = document(inventory, commands, locked)
        differences.extend(compare(request.plan, inventory, commands, locked, now=request.now))
    notes = [
        'run the dry run first (`az acr run --registry <name> --cmd "<dry_run>" /dev/null`) and compare '
        "its list with Regent's plan; then lock the kept tags and create the task",
        "kept tags are locked (writeEnabled false): acr purge never deletes a locked tag, and an RE2 filter "
        "cannot exclude names; the locks cover the tags of this snapshot, not tags pushed later",
    ]
    return native_export(FORMAT, documents, unexpressed, differences, notes, selects="ACR registry")


def document(
    inventory: RegistryInventory, commands: Sequence[PurgeCommand], locked: set[tuple[str, str]]
) -> dict[str, Any]:
    """The registry's purge as people run it: dry runs, the commands, one task each, the locks.

    A task's `--cmd` runs one acr-cli command (no shell to chain with `&&`), so each command gets a task.
    """
    host = inventory.source.image_host.split(":")[0]
    name = host.removesuffix(".azurecr.io") if host.endswith(".azurecr.io") else inventory.source.name
    return {
        "dry_run": [c.text(dry_run=True) for c in commands],
        "commands": [c.text(dry_run=False) for c in commands],
        "tasks": [
            _az(
                "task",
                "create",
                "--name",
                f"regent-purge-{n}",
                "--registry",
                name,
                "--schedule",
                SCHEDULE,
                "--cmd",
                c.text(dry_run=False),
                "--context",
                "/dev/null",
            )
            for n, c in enumerate(commands, start=1)
        ],
        "locks": [
            _az(
                "repository", "update", "--name", name, "--image", f"{repo}:{tag}", "--write-enabled", "false"
            )
            for repo, tag in sorted(locked)
        ],
    }


def _az(*words: str) -> str:
    return shlex.join(["az", "acr", *words])


# ----- translation ---------------------------------------------------------------------------------


def commands_for(policy: Policy) -> tuple[list[PurgeCommand], list[str]]:
    """One policy's commands, and what of it they cannot say."""
    label = f'policy "{policy.name}"'
    problems: list[str] = []
    repositories = re2_union(policy.repositories)
    tags = re2_union(policy.tags)
    if repositories is None or tags is None:
        return [], [f"{label}: a repository or tag pattern uses look-around or back-references (not RE2)"]
    counts = [k.most_recent for k in policy.keep if k.most_recent is not None]
    keep = min(counts) if counts else None
    if counts:
        problems.append(
            f"{label}: most_recent becomes --keep {keep}: the newest tags by last update, not images"
        )
    if any(k.semver is not None for k in policy.keep):
        problems.append(f"{label}: semver keep (acr purge knows no versions)")
    if any(k.pulled_within_days is not None for k in policy.keep):
        problems.append(f"{label}: pulled_within_days (ACR keeps no pull time)")
    commands: list[PurgeCommand] = []
    for index, rule in enumerate(policy.delete):
        where = f"{label} delete[{index}]"
        clock = rule.clock or policy.clock
        if rule.dangling_older_than_days is not None:
            problems.append(
                f"{where}: dangling age becomes the manifest's age (acr-cli 0.17+ ages --untagged)"
            )
            commands.append(
                PurgeCommand(policy.name, repositories, NO_TAG, rule.dangling_older_than_days, True)
            )
            continue
        if rule.older_than_days is not None:
            if clock != "pushed":
                problems.append(f"{where}: clock {clock!r}; acr purge ages tags by their last update")
            ago = rule.older_than_days
        else:
            ago = 0  # `all: true`
        commands.append(PurgeCommand(policy.name, repositories, tags, ago, True, keep))
    return commands, problems


def re2_union(patterns: Iterable[str]) -> str | None:
    """Regent patterns (globs, `re:` regexes) as one anchored RE2 alternation; None if RE2 cannot say it."""
    parts: list[str] = []
    for pattern in patterns:
        source = pattern[len(REGEX_PREFIX) :] if pattern.startswith(REGEX_PREFIX) else glob_to_regex(pattern)
        source = source.replace("(?!/)", "")  # a glob class's "not a slash": tags and names never need it
        if _NOT_RE2.search(source):
            return None
        parts.append(source)
    return "^(?:" + "|".join(parts) + ")$"


def locked_tags(inventory: RegistryInventory, patterns: Sequence[str]) -> set[tuple[str, str]]:
    """(repository, tag) of the snapshot's tags that a keep-tags rule or protected_tags names."""
    compiled = [re.compile(src) for src in (re2_union([p]) for p in patterns) if src is not None]
    return {
        (repository, tag)
        for repository, tags in inventory.tags.items()
        for tag in tags
        if any(c.match(tag) for c in compiled)
    }


# ----- acr purge, simulated over the snapshot -------------------------------------------------------


def simulate(
    inventory: RegistryInventory,
    repository: str,
    commands: Sequence[PurgeCommand],
    locked: set[tuple[str, str]],
    *,
    now: datetime,
) -> dict[str, str]:
    """digest -> the command that deletes it, for one repository (a digest absent here stays)."""
    tags = inventory.tags.get(repository, {})
    chosen = [c for c in commands if re.match(c.repositories, repository)]
    gone_tags: set[str] = set()
    for command in chosen:
        due = [
            (inventory.pushed[digest], tag)
            for tag, digest in tags.items()
            if (repository, tag) not in locked
            and re.match(command.tags, tag)
            and digest in inventory.pushed
            and _older(inventory.pushed[digest], command.ago_days, now)
        ]
        due.sort(reverse=True)  # newest first: --keep spares those
        gone_tags.update(tag for _, tag in due[command.keep or 0 :])
    left: dict[str, int] = {}
    for tag, digest in tags.items():
        left[digest] = left.get(digest, 0) + (tag not in gone_tags)
    digests = set(tags.values()) | inventory.repository_digests.get(repository, set())
    deleted: dict[str, str] = {}
    for command in (c for c in chosen if c.untagged):
        for digest in sorted(digests):
            pushed = inventory.pushed.get(digest)
            if left.get(digest, 0) == 0 and pushed is not None and _older(pushed, command.ago_days, now):
                deleted.setdefault(digest, command.text(dry_run=False))
    surviving_parents = {
        child.digest
        for digest in digests - set(deleted)
        if (manifest := inventory.manifests.get(digest)) is not None
        for child in manifest.children
    }
    return {d: why for d, why in deleted.items() if d not in surviving_parents}  # an index keeps its children


def _older(moment: datetime, days: int, now: datetime) -> bool:
    return (now - moment).total_seconds() / SECONDS_PER_DAY > days if days else True


def compare(
    plan: Plan,
    inventory: RegistryInventory,
    commands: Sequence[PurgeCommand],
    locked: set[tuple[str, str]],
    *,
    now: datetime,
) -> list[ItemDifference]:
    """Every image that Regent's plan and the simulated purge treat differently."""
    name = inventory.source.name
    planned = {(i.repository, i.digest): i.reason for i in plan.items if i.registry == name}
    kept = {(k.repository, k.digest): k.reason for k in plan.kept if k.registry == name}
    out: list[ItemDifference] = []
    for repository in sorted(inventory.tags.keys() | inventory.repository_digests.keys()):
        if not any(re.match(c.repositories, repository) for c in commands):
            continue
        purged = simulate(inventory, repository, commands, locked, now=now)
        tags_of: dict[str, list[str]] = {}
        for tag, digest in inventory.tags.get(repository, {}).items():
            tags_of.setdefault(digest, []).append(tag)
        digests = set(tags_of) | inventory.repository_digests.get(repository, set())
        for digest in sorted(digests):
            regent = "delete" if (repository, digest) in planned else "keep"
            native = "delete" if digest in purged else "keep"
            if native == "keep" and digest not in inventory.pushed:
                native = "unknown"
            if regent == native:
                continue
            if native == "unknown":
                why = "no ACR createdTime for it in the snapshot; the purge cannot be simulated"
            elif native == "delete":
                why = f"`{purged[digest]}` deletes it; Regent keeps it: "
                why += kept.get((repository, digest), "no delete rule matches")
            else:
                why = f"Regent deletes it ({planned[(repository, digest)]}); the purge leaves it"
            out.append(
                ItemDifference(
                    registry=name,
                    repository=repository,
                    digest=digest,
                    tags=tuple(sorted(tags_of.get(digest, ()))),
                    regent=regent,
                    native=native,
                    why=why,
                )
            )
    return out

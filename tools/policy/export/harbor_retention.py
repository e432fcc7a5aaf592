"""`harbor-retention`: Regent retention policies as Harbor tag-retention policies, one per project.

Harbor's rule language (goharbor/harbor api/v2.0/swagger.yaml RetentionPolicy, RetentionRule,
RetentionSelector; src/pkg/retention/launcher.go and policy/rule/*) and how Harbor evaluates it:
- one policy per project (`scope: {level: project, ref: <project id>}`) for `POST /api/v2.0/retentions`;
- every rule RETAINS (`action: retain`); a repository gets a task only when some enabled rule's repository
  selector picks it; in a task every artifact is a candidate, each rule picks candidates with its tag
  selectors (`doublestar`, `matches`/`excludes`; untagged artifacts only with extras `{"untagged":true}`)
  and retains them by its template; with algorithm `or` an artifact survives when any rule retains it,
  and every other candidate is deleted;
- templates: `always`, `latestPushedK`, `latestPulledN`, `nDaysSinceLastPush`, `nDaysSinceLastPull`
  (params keyed by the template's name); ages are Harbor's `push_time` and `pull_time`.

So a Regent policy is turned inside out: its keep rules become retain rules, and each delete rule becomes
the retain rule of its complement (`older_than_days: 90` -> retain `nDaysSinceLastPush: 90`). Harbor's "or"
of retain rules is an "and" of Regent's delete rules: with several delete rules Harbor deletes only what
all of them match (less than Regent: the safe side), and says so. Everything a document cannot say is in
`unexpressed`; `differences` comes from evaluating the documents as Harbor would over the snapshot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.export.common import ListedImage, listed_images, native_export, plan_reasons, registries_of
from tools.policy.model import Policy
from tools.policy.plans import Plan
from tools.policy.rules import compile_policy, matches_registry, matches_repository

FORMAT = "harbor-retention"
MAX_RULES = 15  # Harbor refuses a policy with more rules (src/server/v2.0/handler/retention.go)
ALWAYS_UNEXPRESSED = (
    "deployment-aware keep: Harbor does not know which images run in Portainer's environments",
    "signatures and attestations following their subject: Harbor retains or deletes each artifact alone",
    "semver keep: Harbor's templates know no versions",
)


Artifact = ListedImage  # Harbor's retention sees an artifact as Harbor lists it


def export_harbor_retention(request: ExportRequest) -> NativeExport:
    """A RetentionPolicy per Harbor project a policy selects, and where it differs from Regent's plan."""
    documents: dict[str, Any] = {}
    unexpressed: list[str] = list(ALWAYS_UNEXPRESSED)
    differences: list[ItemDifference] = []
    inventories = registries_of(request, "harbor")
    single = len(inventories) == 1
    for inventory in inventories:
        projects: dict[str, list[str]] = {}
        for repository in sorted(inventory.tags.keys() | inventory.repository_digests.keys()):
            projects.setdefault(repository.partition("/")[0], []).append(repository)
        for project, repositories in projects.items():
            rules, said = project_rules(
                request.policies.policies, request.policies.protected_tags, inventory, project, repositories
            )
            if not rules:
                continue
            key = project if single else f"{inventory.source.name}/{project}"
            documents[key] = retention_policy(rules)
            unexpressed.extend(f"{key}: {text}" for text in said)
            differences.extend(compare(request.plan, inventory, project, rules, now=request.now))
    notes = [
        "each document is a RetentionPolicy for POST /api/v2.0/retentions; set scope.ref to the project's id "
        "(GET /api/v2.0/projects?name=<project>), or let Regent's dry run do it",
        "the trigger has no schedule: Harbor runs it only when asked; set trigger.settings.cron for one",
        "Harbor can dry-run a stored policy (POST /retentions/{id}/executions with dry_run true): "
        "Regent shows that run's per-artifact decisions next to its plan",
    ]
    return native_export(FORMAT, documents, unexpressed, differences, notes, selects="Harbor project")


def retention_policy(rules: Sequence[Mapping[str, Any]], project_id: int = 0) -> dict[str, Any]:
    """The RetentionPolicy body (swagger definition) around the rules; `project_id` 0 until bound."""
    return {
        "algorithm": "or",
        "rules": [{"priority": n, **rule} for n, rule in enumerate(rules, start=1)],
        "trigger": {"kind": "Schedule", "settings": {"cron": ""}, "references": {}},
        "scope": {"level": "project", "ref": project_id},
    }


# ----- translation ---------------------------------------------------------------------------------


def project_rules(
    policies: Iterable[Policy],
    protected: Iterable[str],
    inventory: RegistryInventory,
    project: str,
    repositories: Sequence[str],
) -> tuple[list[dict[str, Any]], list[str]]:
    """The retain rules for one project (without priorities), and what they could not say."""
    rules: list[dict[str, Any]] = []
    said: list[str] = []
    chosen = []
    for policy in policies:
        compiled = compile_policy(policy)
        if not matches_registry(compiled, inventory.source):
            continue
        picked = [r for r in repositories if matches_repository(compiled, r)]
        if picked:
            chosen.append((policy, picked))
    if not chosen:
        return [], []
    for pattern in protected:
        native = harbor_pattern(pattern)
        if native is None:
            said.append(f"protected tag {pattern!r}: Harbor patterns are doublestar globs")
            continue
        rules.append(_rule("always", None, "**", [_tags("matches", native)]))
    for policy, picked in chosen:
        scope = _repository_pattern(project, picked, repositories)
        if scope != "**" and len(picked) < len(repositories) and "{" in scope:
            said.append(
                f'policy "{policy.name}": its repositories are listed by name; new ones need a new export'
            )
        rules.extend(_policy_rules(policy, scope, said))
    if len(rules) > MAX_RULES:
        said.append(f"{len(rules)} rules: Harbor takes at most {MAX_RULES} in one policy")
    return rules, said


def _policy_rules(policy: Policy, scope: str, said: list[str]) -> list[dict[str, Any]]:
    name = f'policy "{policy.name}"'
    rules: list[dict[str, Any]] = []
    every = _tags("matches", "**", untagged=True)
    if not any(p in ("*", "**") for p in policy.tags):
        outside = [harbor_pattern(p) for p in policy.tags]
        if any(p is None for p in outside):
            said.append(f"{name}: tags scope {policy.tags} has patterns Harbor cannot match; not exported")
            return []
        # a digest with a tag outside the scope stays in Regent; Harbor: retain what has such a tag
        rules.append(_rule("always", None, scope, [_tags("excludes", _alternatives(outside))]))
        said.append(
            f"{name}: tags scope: Harbor's `excludes` selector approximates 'a tag outside the scope'"
        )
    for keep in policy.keep:
        if keep.tags:
            for pattern in keep.tags:
                native = harbor_pattern(pattern)
                if native is None:
                    said.append(f"{name}: keep tags {pattern!r}: not a doublestar glob")
                else:
                    rules.append(_rule("always", None, scope, [_tags("matches", native)]))
        elif keep.most_recent is not None:
            clock = keep.clock or policy.clock
            template = "latestPulledN" if clock == "last_pulled" else "latestPushedK"
            if clock in ("created", "first_seen"):
                said.append(f"{name}: most_recent by {clock!r}; Harbor counts by push_time")
            rules.append(_rule(template, keep.most_recent, scope, [every]))
        elif keep.pulled_within_days is not None:
            rules.append(_rule("nDaysSinceLastPull", keep.pulled_within_days, scope, [every]))
    deletes = [rule for rule in policy.delete if rule.all is None]
    if any(rule.all for rule in policy.delete) and deletes:
        deletes = []  # `all` already deletes what the age rules would: nothing more to retain
    elif len(deletes) > 1:
        said.append(
            f"{name}: {len(deletes)} delete rules: Harbor deletes only what every one of them matches "
            "(its retain rules are or-ed), Regent what any matches"
        )
    if not policy.delete:
        rules.append(_rule("always", None, scope, [every]))  # no delete rule: Regent deletes nothing here
    for index, rule in enumerate(deletes):
        label = f"{name} delete[{index}]"
        if rule.older_than_days is not None:
            clock = rule.clock or policy.clock
            template = "nDaysSinceLastPull" if clock == "last_pulled" else "nDaysSinceLastPush"
            if clock in ("created", "first_seen"):
                said.append(f"{label}: clock {clock!r}; Harbor ages artifacts by push_time")
            rules.append(_rule(template, rule.older_than_days, scope, [every]))
        elif rule.dangling_older_than_days is not None:
            said.append(f"{label}: dangling age becomes push age in Harbor")
            rules.append(_rule("always", None, scope, [_tags("matches", "**")]))  # every tagged artifact
            rules.append(_rule("nDaysSinceLastPush", rule.dangling_older_than_days, scope, [every]))
    if not rules:
        said.append(f"{name}: deletes everything in scope; a Harbor policy without rules deletes nothing")
    return rules


def _rule(template: str, value: int | None, repositories: str, tags: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "disabled": False,
        "action": "retain",
        "template": template,
        "params": {template: value} if value is not None else {},
        "tag_selectors": tags,
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": repositories}]
        },
    }


def _tags(decoration: str, pattern: str, *, untagged: bool = False) -> dict[str, str]:
    # extras always said: without it Harbor's `matches` takes untagged artifacts too (selectors/doublestar)
    extras = json.dumps({"untagged": untagged}, separators=(",", ":"))
    return {"kind": "doublestar", "decoration": decoration, "pattern": pattern, "extras": extras}


def _alternatives(patterns: Sequence[str | None]) -> str:
    named = [p for p in patterns if p is not None]
    return named[0] if len(named) == 1 else "{" + ",".join(named) + "}"


def _repository_pattern(project: str, picked: Sequence[str], repositories: Sequence[str]) -> str:
    """The repository selector (names within the project): `**` for all, else the names picked."""
    if len(picked) == len(repositories):
        return "**"
    return _alternatives([r.partition("/")[2] for r in picked])


def harbor_pattern(pattern: str) -> str | None:
    """A Regent tag glob as a doublestar pattern; None for a regex (Harbor has none)."""
    if pattern.startswith("re:") or any(c in pattern for c in "{},"):
        return None
    return pattern


# ----- Harbor's evaluation, over the snapshot ------------------------------------------------------------


def evaluate(
    rules: Sequence[Mapping[str, Any]], repository: str, artifacts: Sequence[Artifact], *, now: datetime
) -> set[str] | None:
    """Digests Harbor would retain in one repository (name within the project); None: no task there."""
    applying = [
        r
        for r in rules
        if not r.get("disabled") and _selected(r["scope_selectors"]["repository"], repository)
    ]
    if not applying:
        return None
    kept: set[str] = set()
    for rule in applying:
        chosen = [a for a in artifacts if _picked(rule["tag_selectors"], a)]
        kept |= _retained(rule, chosen, now)
    return kept


def _selected(selectors: Sequence[Mapping[str, str]], name: str) -> bool:
    return all(_glob(s["pattern"], name) == (s["decoration"] == "repoMatches") for s in selectors)


def _picked(selectors: Sequence[Mapping[str, str]], artifact: Artifact) -> bool:
    """Harbor's doublestar tag selectors, all of which must pick the artifact (selectors/doublestar)."""
    for selector in selectors:
        matches = selector["decoration"] == "matches"
        untagged = json.loads(selector.get("extras") or "{}").get("untagged", matches)
        if not artifact.tags:
            picked = untagged if matches else not untagged
        elif matches:
            picked = any(_glob(selector["pattern"], tag) for tag in artifact.tags)
        else:
            picked = not all(_glob(selector["pattern"], tag) for tag in artifact.tags)
        if not picked:
            return False
    return True


def _retained(rule: Mapping[str, Any], chosen: list[Artifact], now: datetime) -> set[str]:
    template = rule["template"]
    if template == "always":
        return {a.digest for a in chosen}
    value = int(rule["params"][template])
    by_pull = template in ("latestPulledN", "nDaysSinceLastPull")
    moment = {a.digest: (a.pulled if by_pull else a.pushed) for a in chosen}
    if template in ("latestPushedK", "latestPulledN"):
        ranked = sorted(
            (a for a in chosen if moment[a.digest]), key=lambda a: moment[a.digest] or now, reverse=True
        )
        return {a.digest for a in ranked[:value]}
    cutoff = now - timedelta(days=value)
    return {
        a.digest for a in chosen if (moment[a.digest] or datetime.min.replace(tzinfo=now.tzinfo)) >= cutoff
    }


def _glob(pattern: str, value: str) -> bool:
    """doublestar: `**` crosses `/`, `*` and `?` do not, `{a,b}` alternatives."""
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out, i = out + ".*", i + 2
            continue
        if c == "{":
            end = pattern.index("}", i)
            out += (
                "(?:"
                + "|".join(re.escape(p).replace(r"\*", "[^/]*") for p in pattern[i + 1 : end].split(","))
                + ")"
            )
            i = end + 1
            continue
        out += "[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
        i += 1
    return re.fullmatch(out, value) is not None


def compare(
    plan: Plan,
    inventory: RegistryInventory,
    project: str,
    rules: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
) -> list[ItemDifference]:
    """Every artifact of the project that Regent's plan and Harbor's evaluation treat differently."""
    name = inventory.source.name
    out: list[ItemDifference] = []
    for repository in sorted(
        r for r in inventory.tags.keys() | inventory.repository_digests.keys() if r.startswith(project + "/")
    ):
        artifacts = listed_images(inventory, repository)
        kept = evaluate(rules, repository.partition("/")[2], artifacts, now=now)
        planned, reasons = plan_reasons(plan, name, repository)
        for artifact in artifacts:
            regent = "delete" if artifact.digest in planned else "keep"
            native = "keep" if kept is None or artifact.digest in kept else "delete"
            if artifact.pushed is None and kept is not None:
                native = "unknown"
            if regent == native:
                continue
            if native == "unknown":
                why = "no Harbor push_time for it in the snapshot; Harbor's decision cannot be evaluated"
            elif native == "delete":
                why = "no Harbor retain rule keeps it; Regent keeps it: " + reasons.get(
                    artifact.digest, "no delete rule matches"
                )
            else:
                why = f"Regent deletes it ({planned[artifact.digest]}); a Harbor retain rule keeps it"
            out.append(ItemDifference(name, repository, artifact.digest, artifact.tags, regent, native, why))
    return out

"""`ecr-lifecycle`: Regent retention policies as Amazon ECR lifecycle policies, one per repository.

ECR's rule language (AWS, "Lifecycle policy properties" and "Examples of lifecycle policies", the JSON
template `rules[].{rulePriority, description, selection{tagStatus, tagPatternList|tagPrefixList, countType,
countUnit, countNumber}, action{type}}`) and how ECR evaluates it:
- rules run by rulePriority, lowest first; an image is expired by one rule or none, and an image that matches
  the tagging requirements of a higher-priority rule cannot be expired by a lower-priority one, which still
  "identifies" it (a kept image still counts among a later rule's newest N). So a rule
  that selects a tag and keeps "more than 9999" images is how a tag is kept (AWS CDK's own example:
  `tagPrefixList: ['prod'], maxImageCount: 9999`);
- `tagPatternList` entries match a tag with `*` wildcards; with several entries an image needs ALL of them;
- `imageCountMoreThan` keeps the newest N by push time and expires the rest; `sinceImagePushed` /
  `sinceImagePulled` expire images older than N days by push / last recorded pull (an image never pulled
  is aged by its push time here: an assumption, the properties page does not say);
- only one rule may select untagged images; a `tagStatus: any` rule must come last.

Rules are not as strong as Regent's: there is no "and" between a count and an age, no deployment-aware
keep, no semver, no signature that follows its subject, and only the push and pull clocks. Everything a
document cannot say is named in `unexpressed`, and `differences` comes from running ECR's evaluation (as
described above) over the snapshot and comparing it with Regent's plan, image by image.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tools.analysis.clocks import SECONDS_PER_DAY
from tools.inventory.models import RegistryInventory
from tools.policy.export.base import ExportRequest, ItemDifference, NativeExport
from tools.policy.export.common import (
    ListedImage,
    listed_images,
    native_export,
    plan_reasons,
    policies_for,
    registries_of,
)
from tools.policy.model import Policy
from tools.policy.plans import Plan

FORMAT = "ecr-lifecycle"
KEEP_COUNT = 9999  # "keep every image with this tag": a count no repository of the export reaches
MAX_WILDCARDS = 4  # ECR: at most four `*` in one tagPatternList entry
_ECR_TAG = re.compile(r"[A-Za-z0-9_.*-]+")  # tag characters ECR allows, plus the wildcard
ALWAYS_UNEXPRESSED = (
    "deployment-aware keep: ECR does not know which images run in Portainer's environments",
    "signatures and attestations following their subject: ECR expires each tag on its own",
    "index children following their index: ECR's rules see only the tagged or untagged image",
)


@dataclass(slots=True)
class _Document:
    """The rules of one repository's document as they are built, with what they could not say."""

    keeps: list[dict[str, Any]] = field(default_factory=list)
    untagged: dict[str, Any] | None = None
    tagged: list[dict[str, Any]] = field(default_factory=list)
    any_rule: dict[str, Any] | None = None
    unexpressed: list[str] = field(default_factory=list)

    def rules(self) -> list[dict[str, Any]]:
        """In ECR's required order: keeps, the one untagged rule, tagged rules, the `any` rule last."""
        ordered = [*self.keeps, *([self.untagged] if self.untagged else []), *self.tagged]
        ordered += [self.any_rule] if self.any_rule else []
        return [{"rulePriority": n, **rule} for n, rule in enumerate(ordered, start=1)]


def export_ecr_lifecycle(request: ExportRequest) -> NativeExport:
    """ECR lifecycle documents for each ECR repository a policy selects, and where they differ from Regent."""
    documents: dict[str, Any] = {}
    unexpressed: list[str] = list(ALWAYS_UNEXPRESSED)
    differences: list[ItemDifference] = []
    inventories = registries_of(request, "ecr")
    single = len({i.source.name for i in inventories}) == 1  # document names need no registry prefix
    for inventory in inventories:
        name = inventory.source.name
        for repository in sorted(inventory.tags.keys() | inventory.repository_digests.keys()):
            policies = policies_for(request.policies.policies, inventory, [repository])
            if not policies:
                continue
            document = build_document(policies, request.policies.protected_tags)
            rules = document.rules()
            if not rules:
                continue
            key = repository if single else f"{name}/{repository}"
            documents[key] = {"rules": rules}
            unexpressed.extend(f"{key}: {text}" for text in document.unexpressed)
            differences.extend(compare(request.plan, inventory, repository, rules, now=request.now))
    notes = [
        "apply with `aws ecr put-lifecycle-policy --repository-name <name> "
        "--lifecycle-policy-text file://<document>`; "
        "ECR can preview a document first (StartLifecyclePolicyPreview), which Regent shows next to its plan"
    ]
    return native_export(FORMAT, documents, unexpressed, differences, notes, selects="ECR repository")


# ----- translation ---------------------------------------------------------------------------------


def build_document(policies: Sequence[Policy], protected: Iterable[str]) -> _Document:
    """The ECR rules for one repository selected by these policies (in file order)."""
    document = _Document()
    keep_patterns: list[str] = []
    for pattern in protected:
        _add_keep(document, keep_patterns, pattern, "protected tag")
    for policy in policies:
        for rule in policy.keep:
            for pattern in rule.tags or ():
                _add_keep(document, keep_patterns, pattern, f'policy "{policy.name}" keep tags')
        _translate_deletes(document, policy, keep_patterns)
    if len(policies) > 1:
        document.unexpressed.append(
            "several policies select this repository: their rules are exported one after the other, and ECR "
            "lets only the first rule that selects an image expire it"
        )
    return document


def _add_keep(document: _Document, seen: list[str], pattern: str, label: str) -> None:
    native = ecr_pattern(pattern)
    if native is None:
        document.unexpressed.append(f"{label} {pattern!r}: ECR patterns have only `*` wildcards")
        return
    if native in seen:
        return
    seen.append(native)
    document.keeps.append(
        _rule(f"keep {native} ({label})", "tagged", [native], "imageCountMoreThan", KEEP_COUNT, None)
    )


def _translate_deletes(document: _Document, policy: Policy, keep_patterns: list[str]) -> None:
    name = f'policy "{policy.name}"'
    counts = [k.most_recent for k in policy.keep if k.most_recent is not None]
    pulled = [k.pulled_within_days for k in policy.keep if k.pulled_within_days is not None]
    if any(k.semver is not None for k in policy.keep):
        document.unexpressed.append(f"{name}: semver keep (ECR knows no versions)")
    scope = [ecr_pattern(p) for p in policy.tags]
    if any(p is None for p in scope):
        document.unexpressed.append(f"{name}: tags scope {policy.tags} has patterns ECR cannot match")
        return
    patterns = [p for p in scope if p is not None and p not in keep_patterns]
    every_tag = "*" in patterns
    for index, rule in enumerate(policy.delete):
        label = f"{name} delete[{index}]"
        if rule.dangling_older_than_days is not None:
            _untagged(document, label, max(rule.dangling_older_than_days, 1))
            continue
        clock = rule.clock or policy.clock
        if rule.older_than_days is not None:
            kind = "sinceImagePulled" if clock == "last_pulled" else "sinceImagePushed"
            if clock in ("created", "first_seen"):
                document.unexpressed.append(f"{label}: clock {clock!r}; ECR ages images by push time")
            for keep, what in ((counts, "most_recent"), (pulled, "pulled_within_days")):
                if keep:
                    document.unexpressed.append(
                        f"{label}: keep {what} with an age rule (ECR has no 'and'; exported by age alone)"
                    )
            number, unit = max(rule.older_than_days, 1), "days"
        elif counts and not pulled:
            kind, number, unit = "imageCountMoreThan", max(counts), None  # any keep keeps
            clocks = {k.clock or policy.clock for k in policy.keep if k.most_recent is not None}
            if clocks != {"pushed"}:
                document.unexpressed.append(f"{label}: most_recent counts by push time in ECR")
        elif pulled and not counts:
            kind, number, unit = "sinceImagePulled", max(pulled), "days"
        else:
            kind, number, unit = "sinceImagePushed", 1, "days"
            document.unexpressed.append(f"{label}: 'all' becomes 'pushed more than a day ago' in ECR")
        _tagged(document, label, patterns, every_tag, kind, number, unit)


def _untagged(document: _Document, label: str, days: int) -> None:
    if document.untagged is not None:
        document.unexpressed.append(f"{label}: ECR allows one untagged rule; only the first is exported")
        return
    document.unexpressed.append(f"{label}: dangling age becomes push age in ECR")
    document.untagged = _rule(label, "untagged", None, "sinceImagePushed", days, "days")


def _tagged(
    document: _Document,
    label: str,
    patterns: list[str],
    every_tag: bool,
    kind: str,
    number: int,
    unit: str | None,
) -> None:
    if every_tag and kind != "imageCountMoreThan":  # Regent's age rules see untagged digests too
        if document.any_rule is not None:
            document.unexpressed.append(f"{label}: a second rule over every image never expires anything")
            return
        document.any_rule = _rule(label, "any", None, kind, number, unit)
        return
    taken = {tuple(r["selection"].get("tagPatternList", ())) for r in document.tagged}
    for pattern in ["*"] if every_tag else patterns:
        if (pattern,) in taken:
            document.unexpressed.append(
                f"{label}: an earlier rule selects {pattern!r}; ECR never reaches this one"
            )
            continue
        document.tagged.append(_rule(label, "tagged", [pattern], kind, number, unit))


def _rule(
    description: str, status: str, patterns: list[str] | None, kind: str, number: int, unit: str | None
) -> dict[str, Any]:
    selection: dict[str, Any] = {"tagStatus": status}
    if patterns is not None:
        selection["tagPatternList"] = patterns
    selection["countType"] = kind
    if unit is not None:
        selection["countUnit"] = unit
    selection["countNumber"] = number
    return {"description": description[:256], "selection": selection, "action": {"type": "expire"}}


def ecr_pattern(pattern: str) -> str | None:
    """A Regent tag glob as an ECR tagPatternList entry; None when ECR cannot match it the same way."""
    if pattern.startswith("re:"):
        return None
    native = pattern.replace("**", "*")  # tags have no "/": `**` and `*` match the same tags
    while "**" in native:
        native = native.replace("**", "*")
    if not _ECR_TAG.fullmatch(native) or native.count("*") > MAX_WILDCARDS:
        return None
    return native


# ----- ECR's evaluation, simulated over the snapshot ------------------------------------------------


Image = ListedImage  # ECR's lifecycle evaluation sees an image as ECR lists it


def simulate(rules: Sequence[Mapping[str, Any]], images: Sequence[Image], *, now: datetime) -> dict[str, int]:
    """digest -> rulePriority of the rule that would expire it; absent: ECR keeps it."""
    expired: dict[str, int] = {}
    claimed: set[str] = set()  # matched the tagging requirements of a higher-priority rule
    for rule in sorted(rules, key=lambda r: int(r["rulePriority"])):
        selection = rule["selection"]
        chosen = [i for i in images if _selects(selection, i)]
        for image in _expiring(selection, chosen, now=now):
            if image.digest not in claimed and image.digest not in expired:
                expired[image.digest] = int(rule["rulePriority"])
        claimed.update(i.digest for i in chosen)
    return expired


def _selects(selection: Mapping[str, Any], image: Image) -> bool:
    status = selection["tagStatus"]
    if status == "untagged":
        return not image.tags
    if status == "any":
        return True
    if not image.tags:
        return False
    patterns = [_wildcard(p) for p in selection.get("tagPatternList", ())]
    prefixes = list(selection.get("tagPrefixList", ()))
    return all(any(p.fullmatch(t) for t in image.tags) for p in patterns) and all(
        any(t.startswith(p) for t in image.tags) for p in prefixes
    )


def _expiring(selection: Mapping[str, Any], chosen: list[Image], *, now: datetime) -> list[Image]:
    kind, number = selection["countType"], int(selection["countNumber"])
    if kind == "imageCountMoreThan":
        # equal push times: ECR documents no order, so ties go by digest, as Regent's most_recent does
        known = sorted(
            (i for i in chosen if i.pushed is not None),
            key=lambda i: (i.pushed or now, i.digest),
            reverse=True,
        )
        return known[number:]
    out: list[Image] = []
    for image in chosen:
        moment = (image.pulled or image.pushed) if kind == "sinceImagePulled" else image.pushed
        if moment is not None and (now - moment).total_seconds() / SECONDS_PER_DAY > number:
            out.append(image)
    return out


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def compare(
    plan: Plan,
    inventory: RegistryInventory,
    repository: str,
    rules: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
) -> list[ItemDifference]:
    """Every image of the repository that Regent's plan and the simulated ECR rules treat differently."""
    name = inventory.source.name
    planned, kept = plan_reasons(plan, name, repository)
    images = listed_images(inventory, repository)
    expired = simulate(rules, images, now=now)
    out: list[ItemDifference] = []
    for image in images:
        regent = "delete" if image.digest in planned else "keep"
        native = "delete" if image.digest in expired else "keep"
        if image.pushed is None:
            native = "unknown"
        if regent == native:
            continue
        if native == "unknown":
            why = "no ECR imagePushedAt for it in the snapshot; ECR's decision cannot be simulated"
        elif native == "delete":
            rule = next(r for r in rules if r["rulePriority"] == expired[image.digest])
            why = f"ECR rule {rule['rulePriority']} ({rule['description']}) expires it; Regent keeps it: "
            why += kept.get(image.digest, "no delete rule matches")
        else:
            why = f"Regent deletes it ({planned[image.digest]}); no ECR rule expires it"
        out.append(
            ItemDifference(
                registry=name,
                repository=repository,
                digest=image.digest,
                tags=image.tags,
                regent=regent,
                native=native,
                why=why,
            )
        )
    return out

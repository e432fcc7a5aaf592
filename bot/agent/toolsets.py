"""Which tool schemas a question is shown: a small core plus the groups its words ask about.

Why: every schema offered costs prompt tokens on every request of the question, and a small model picks
better from five tools than from twenty. On a CPU-served 1.5B model, the 17 read-only schemas were
~3,800 of a one-tool question's 5,043-token first request (two minutes of prompt processing at ~40
tokens/s); with selection that request is ~1,240 tokens (docs/assistant.md has the measurements).

Deterministic on purpose, like the proposal gate (bot/agent/intent.py): keyword groups over the user's
own message and that user's previous message in the thread (so "and where does it run?" after a question
about an image keeps the image tools). Text from tools never reaches it.

- CORE (search_images, get_image) is always shown: names, sizes, digests, layers, labels, base image and
  where one image runs are all in get_image, and search_images finds the names.
- Each group adds its tools when its pattern matches (case-insensitive, at word starts).
- A kind of change the intent gate lets through shows its proposing tools (a cleanup: propose_deletion
  for named images, else propose_retention_cleanup, and not the read-only previews; a ticket:
  propose_ticket and the vulnerability report). The more specific proposing tools (garbage
  collection, a cache configuration, a stack revert) also need their own words.
- Nothing matched: the core plus list_registries when the message is about images at all (a vague "what
  do we have?" still gets an overview); nothing when it is not ("a pizza place in Berlin?"): the model
  answers in words, or, with `llm.out_of_scope_reply`, the loop answers with what Regent can do
  (prompts/out_of_scope.txt) without the model, because a 1.5B model asked to decline recommends a
  pizzeria instead.

Selection only trims what is *shown*. Which tools may *run* is unchanged: every read-only tool, and the
proposing tools the intent gate allows (a model that names a read-only tool it was not shown still gets
its result; it cannot reach a proposing tool the gate withheld).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

CORE = ("search_images", "get_image")
FALLBACK = ("list_registries",)


def _words(pattern: str) -> re.Pattern[str]:
    """A case-insensitive pattern anchored at a word start: alternatives separated by |."""
    return re.compile(rf"\b(?:{pattern})", re.IGNORECASE)


# repository:tag or repository@sha256:… with a namespace (shop/api:1.2.0), as people name one image.
_IMAGE_REFERENCE = re.compile(r"[\w.-]+/[\w./-]+(?::\w[\w.-]*|@sha256:[0-9a-f]{6,})")
# Words that say a message is about images and registries at all (besides the groups' own words).
_ABOUT_IMAGES = _words(
    r"images?\b|tags?\b|registr|repo|containers?\b|digests?\b|layers?\b|docker|manifests?\b|sha256|"
    r"builds?\b|built\b|versions?\b|releases?\b|kubernetes|k8s\b|helm\b|oci\b|size\b|big\b|what do we have"
)


@dataclass(frozen=True, slots=True)
class ToolGroup:
    """Tools a kind of question needs, and the words that ask for it."""

    name: str
    pattern: re.Pattern[str]
    tools: tuple[str, ...]
    unless: re.Pattern[str] | None = None  # words that make the group's own words mean something else


GROUPS: tuple[ToolGroup, ...] = (
    ToolGroup(
        "storage",
        _words(
            r"space\b|storage|disk|usage|wast(e|es|ed|ing)\b|costs?\b|quota|total\b|largest|biggest|"
            r"heaviest|most (space|room|storage)|takes? up|(gb|gib|tb|tib)\b|registr(y|ies)\b.*\b(size|big)"
        ),
        ("registry_usage", "find_stale_images", "list_registries"),
    ),
    ToolGroup(
        "stale",
        _words(r"stale|unused|abandoned|not (been )?used|nobody uses"),
        ("find_stale_images",),
    ),
    # Untagged digests are search_images(dangling=true) (core): shown the stale-image search as well, the
    # 1.5B model reported its stale-or-untagged total as the number of dangling images (dangling-images).
    ToolGroup("untagged", _words(r"dangling|untagged|leftovers?\b|orphan"), ()),
    # "older than 180 days" in a what-if about keep rules is a policy's age, not a stale-image search.
    ToolGroup(
        "age",
        _words(r"old(er|est)?\b|outdated|\d+ (days|weeks|months|years)"),
        ("find_stale_images",),
        unless=_words(r"polic(y|ies)|retention|keep|kept\b|if we\b"),
    ),
    ToolGroup(
        "compare",
        _words(r"compar|differ|diff\b|versus\b|vs\b|bigger|smaller|chang"),
        ("compare_images",),
    ),
    ToolGroup(
        "policy",
        _words(r"polic(y|ies)|retention|keep|kept\b|if we\b"),
        ("preview_retention_policy",),
    ),
    ToolGroup(
        "deployments",
        _words(
            r"run(s|ning)?\b|deploy|containers?\b|environments?\b|hosts?\b|nodes?\b|clusters?\b|"
            r"services?\b|pods?\b|stacks?\b|portainer|in use\b|uses?\b|used\b|where\b|production\b|prod\b"
        ),
        ("image_usage", "list_environments"),
    ),
    ToolGroup(
        "vulnerabilities",
        _words(
            r"vuln|cves?\b|cve-\d|ghsa-|secur|exploit|critical|patch|fix(es|ed)?\b|risk|trivy|grype|scan|"
            r"kev\b|epss"
        ),
        ("vulnerability_report", "get_cve", "suggest_base_upgrade"),
    ),
    ToolGroup(
        "base recommendation",
        _words(
            r"(recommend|suggest|should (we|i) use|which|pick|choose)\b.*\bbase( image)?s?\b|"
            r"base images?\b.*\b(should|recommend|use for|start from)|dockerfile|upgrade|python|"
            r"node(js|\.js)?\b|java\b|golang|go (app|service|binary)|dotnet|\.net\b"
        ),
        ("recommend_base_image", "suggest_base_upgrade"),
    ),
    ToolGroup(
        "compliance",
        _words(r"complian|auditors?\b|evidence|soc ?2|iso ?27001|sign(ed|ing|atures?)\b"),
        ("compliance_report",),
    ),
    ToolGroup(
        "audit log",
        _words(r"audit (log|trail|entries)|approv(al|als|ed)\b|who (approved|deleted|rejected)"),
        ("audit_log",),
    ),
    ToolGroup(
        "access",
        _words(r"anomal|suspicious|unusual|access|logins?\b|brute|intrusion|who (pulled|pushed)|pull spike"),
        ("access_anomalies",),
    ),
    ToolGroup(
        "pull-through cache",
        _words(r"cach(e|es|ing)\b|mirror|rate.?limit|docker ?hub|upstream|pull.?through"),
        ("cache_advice", "propose_cache_configuration"),
    ),
    ToolGroup(
        "garbage collection",
        _words(r"garbage|gc\b|(free|reclaim)( up)?( the)? disk"),
        ("propose_garbage_collection",),
    ),
    ToolGroup("revert", _words(r"revert|undo|roll ?back|put back"), ("propose_stack_revert",)),
    ToolGroup("registries", _words(r"registr(y|ies)\b|inventory|crawl"), ("list_registries",)),
)
# What a kind of change the gate let through shows: its proposing tools, and what it looks at first.
INTENT_TOOLS: dict[str, tuple[str, ...]] = {
    "cleanup": (),  # which proposing tool depends on how the request names its images, below
    "suspension": ("propose_user_suspension", "access_anomalies", "audit_log"),
    "ticket": ("propose_ticket", "vulnerability_report"),
}
# A cleanup that names its images ("delete shop/api:1.2.0") is a deletion of exactly those; a broad one
# ("clean up team-x's old images") is a retention cleanup. Showing a small model both makes it propose
# both. A cleanup request is not shown the read-only previews (stale images, policy preview) either: the
# 1.5B model ran the preview, said what it found and proposed nothing (cleanup-request, the demo). The
# proposal stores the dry-run plan; its result and the approval card show what a preview would.
NAMED_CLEANUP = ("propose_deletion",)
BROAD_CLEANUP = ("propose_retention_cleanup",)
PREVIEWS = ("find_stale_images", "preview_retention_policy")


def matched_groups(texts: Iterable[str]) -> list[ToolGroup]:
    """The groups whose words appear in any of the texts."""
    joined = "\n".join(texts)
    return [
        group
        for group in GROUPS
        if group.pattern.search(joined) and not (group.unless is not None and group.unless.search(joined))
    ]


def select_tools(allowed: Sequence[str], *, texts: Sequence[str], intents: Collection[str]) -> list[str]:
    """The tools to show, among those `allowed` (the proposing ones there passed the intent gate): CORE,
    matched groups, the intents' tools. CORE comes first, then the toolbox's order: every question's
    prompt starts with the same instructions and core schemas, which the server's prompt cache reuses.
    Empty for a message about nothing the toolbox knows."""
    groups = matched_groups(texts)
    named = any(_IMAGE_REFERENCE.search(text) for text in texts)
    wanted = set(CORE)
    if not groups and not intents:
        if not named and not any(_ABOUT_IMAGES.search(text) for text in texts):
            return []
        wanted.update(FALLBACK)
    for group in groups:
        wanted.update(group.tools)
    names = {group.name for group in groups}
    if "policy" in names and "stale" not in names:
        # "If we kept 2 tags, how much space would come back?" is a policy what-if: offered the stale-image
        # search for its "space", the 1.5B model called it instead of the preview (policy-preview eval).
        wanted.discard("find_stale_images")
    for intent in intents:
        wanted.update(INTENT_TOOLS.get(intent, ()))
    if "cleanup" in intents:
        wanted.update(NAMED_CLEANUP if named else BROAD_CLEANUP)
        wanted.difference_update(PREVIEWS)
    core = [name for name in CORE if name in allowed]
    return core + [name for name in allowed if name in wanted and name not in core]


def grouped_tools() -> set[str]:
    """Every tool some rule can show (tests check that no toolbox tool is unreachable)."""
    names = set(CORE) | set(FALLBACK) | set(NAMED_CLEANUP) | set(BROAD_CLEANUP) | set(PREVIEWS)
    for group in GROUPS:
        names.update(group.tools)
    for tools in INTENT_TOOLS.values():
        names.update(tools)
    return names

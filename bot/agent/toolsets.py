"""Which tool schemas a question is shown: a small core plus the groups its words ask about.

Why: every schema offered costs prompt tokens on every request of the question, and a small model picks
better from five tools than from twenty. On a CPU-served 1.5B model, 21 schemas were 3,650 of a first
request's ~6,500 tokens (~1.5 minutes of prompt processing); a one-tool question now carries about a
third of that (docs/assistant.md has the measurements).

Deterministic on purpose, like the proposal gate (bot/agent/intent.py): keyword groups over the user's
own message and that user's previous message in the thread (so "and where does it run?" after a question
about an image keeps the image tools). Text from tools never reaches it.

- CORE (search_images, get_image) is always shown: names, sizes, digests, layers, labels, base image and
  where one image runs are all in get_image, and search_images finds the names.
- Each group adds its tools when one of its patterns matches (case-insensitive).
- A cleanup request (the intent gate) shows the proposing tools it unlocked plus the stale-image and
  policy tools a broad cleanup previews first; a ticket request adds the vulnerability report.
- Nothing matched: the core plus list_registries, so an off-topic question costs little and a vague
  one ("what do we have?") still has an overview.

Selection only trims what is *shown*. Which tools may *run* is unchanged: every read-only tool, and the
proposing tools the intent gate allows (a model that names a read-only tool it was not shown still gets
its result; it cannot reach a proposing tool the gate withheld).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

CORE = ("search_images", "get_image")
# repository:tag or repository@sha256:… with a namespace (shop/api:1.2.0), as people name one image.
_IMAGE_REFERENCE = re.compile(r"[\w.-]+/[\w./-]+(?::\w[\w.-]*|@sha256:[0-9a-f]{6,})")
FALLBACK = ("list_registries",)


@dataclass(frozen=True, slots=True)
class ToolGroup:
    """Tools a kind of question needs, and the words that ask for it."""

    name: str
    pattern: re.Pattern[str]
    tools: tuple[str, ...]


def _words(*alternatives: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")", re.IGNORECASE)


GROUPS: tuple[ToolGroup, ...] = (
    ToolGroup(
        "storage",
        _words(
            r"space\b",
            r"storage",
            r"disk",
            r"usage",
            r"wast(e|es|ed|ing)\b",
            r"costs?\b",
            r"quota",
            r"total\b",
            r"largest",
            r"biggest",
            r"heaviest",
            r"most (space|room|storage)",
            r"takes? up",
            r"(gb|gib|tb|tib)\b",
            r"registr(y|ies)\b.*\b(size|big)",
        ),
        ("registry_usage", "find_stale_images", "list_registries"),
    ),
    ToolGroup(
        "stale",
        _words(
            r"stale",
            r"old(er|est)?\b",
            r"unused",
            r"dangling",
            r"untagged",
            r"leftovers?\b",
            r"orphan",
            r"outdated",
            r"abandoned",
            r"not (been )?used",
            r"nobody uses",
        ),
        ("find_stale_images",),
    ),
    ToolGroup(
        "compare",
        _words(r"compar", r"differ", r"diff\b", r"versus\b", r"vs\b", r"bigger", r"smaller", r"chang"),
        ("compare_images",),
    ),
    ToolGroup(
        "policy",
        _words(r"polic(y|ies)", r"retention", r"keep", r"kept\b", r"would\b.*\b(free|come back|reclaim)"),
        ("preview_retention_policy",),
    ),
    ToolGroup(
        "deployments",
        _words(
            r"run(s|ning)?\b",
            r"deploy",
            r"containers?\b",
            r"environments?\b",
            r"hosts?\b",
            r"nodes?\b",
            r"clusters?\b",
            r"services?\b",
            r"pods?\b",
            r"stacks?\b",
            r"portainer",
            r"in use\b",
            r"uses?\b",
            r"used\b",
            r"where\b",
            r"production\b",
            r"prod\b",
        ),
        ("image_usage", "list_environments"),
    ),
    ToolGroup(
        "vulnerabilities",
        _words(
            r"vuln",
            r"cves?\b",
            r"cve-\d",
            r"ghsa-",
            r"secur",
            r"exploit",
            r"critical",
            r"patch",
            r"fix(es|ed)?\b",
            r"risk",
            r"trivy",
            r"grype",
            r"scan",
            r"kev\b",
            r"epss",
        ),
        ("vulnerability_report", "get_cve", "suggest_base_upgrade"),
    ),
    ToolGroup(
        "base recommendation",
        _words(
            r"recommend",
            r"suggest",
            r"should (we|i) (use|build|start)",
            r"dockerfile",
            r"upgrade",
            r"python",
            r"node(js|\.js)?\b",
            r"java\b",
            r"golang",
            r"go (app|service|binary)",
            r"dotnet",
            r"\.net\b",
            r"new (app|service|project)",
        ),
        ("recommend_base_image", "suggest_base_upgrade"),
    ),
    ToolGroup(
        "compliance",
        _words(r"complian", r"auditors?\b", r"evidence", r"soc ?2", r"iso ?27001", r"sign(ed|ing|atures?)\b"),
        ("compliance_report",),
    ),
    ToolGroup(
        "audit log",
        _words(r"audit (log|trail|entries)", r"approv(al|als|ed)\b", r"who (approved|deleted|rejected)"),
        ("audit_log",),
    ),
    ToolGroup(
        "access",
        _words(
            r"anomal",
            r"suspicious",
            r"unusual",
            r"access",
            r"logins?\b",
            r"brute",
            r"intrusion",
            r"who (pulled|pushed)",
            r"pull spikes?",
        ),
        ("access_anomalies",),
    ),
    ToolGroup(
        "pull-through cache",
        _words(r"cach(e|es|ing)\b", r"mirror", r"rate.?limit", r"docker ?hub", r"upstream", r"pull.?through"),
        ("cache_advice",),
    ),
    ToolGroup("registries", _words(r"registr(y|ies)\b", r"inventory", r"crawl"), ("list_registries",)),
)
# What an unlocked kind of change shows besides its proposing tools: a broad cleanup previews first (one
# that names its images, "delete shop/api:1.2.0", needs no preview: propose_deletion takes them as named).
INTENT_TOOLS: dict[str, tuple[str, ...]] = {
    "cleanup": ("find_stale_images", "preview_retention_policy"),
    "suspension": ("access_anomalies", "audit_log"),
    "ticket": ("vulnerability_report",),
}


def matched_groups(texts: Iterable[str]) -> list[ToolGroup]:
    """The groups whose words appear in any of the texts."""
    joined = "\n".join(texts)
    return [group for group in GROUPS if group.pattern.search(joined)]


def select_tools(
    allowed: Sequence[str], *, texts: Sequence[str], intents: Collection[str], is_proposing: Collection[str]
) -> list[str]:
    """The tools to show: CORE, matched groups, the proposing tools `allowed` holds (the intent gate let
    them through) with their previews. CORE comes first, then the toolbox's order: every question's
    prompt starts with the same instructions and core schemas, which the server's prompt cache reuses."""
    wanted = set(CORE)
    groups = matched_groups(texts)
    for group in groups:
        wanted.update(group.tools)
    named = any(_IMAGE_REFERENCE.search(text) for text in texts)
    for intent in intents:
        if not (intent == "cleanup" and named):
            wanted.update(INTENT_TOOLS.get(intent, ()))
    wanted.update(name for name in allowed if name in is_proposing)
    if not groups and not intents:
        wanted.update(FALLBACK)
    core = [name for name in CORE if name in allowed]
    return core + [name for name in allowed if name in wanted and name not in core]


def grouped_tools() -> set[str]:
    """Every tool some rule can show (tests check that no toolbox tool is unreachable)."""
    names = set(CORE) | set(FALLBACK)
    for group in GROUPS:
        names.update(group.tools)
    for tools in INTENT_TOOLS.values():
        names.update(tools)
    return names

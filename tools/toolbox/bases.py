"""recommend_base_image: which approved base a developer should build on, with a Dockerfile to start from."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tools.bases.catalog import Language
from tools.bases.recommend import Candidate, VulnCounts, find_candidates, recommend
from tools.inventory.models import Digest
from tools.toolbox.catalog import catalog_of, history_of
from tools.toolbox.context import Call, ToolFailure
from tools.toolbox.results import ToolResult
from tools.toolbox.vulns import analysis_of


class RecommendBaseImageArgs(BaseModel):
    """Recommend the base image to build on for a language (and framework), from the approved-bases
    catalog, ranked by open vulnerabilities, freshness, how many teams use it, and size; returns a
    multi-stage, non-root Dockerfile snippet pinned by digest."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["python", "node", "java", "go", "dotnet", "static"] = Field(
        description="The application's language or runtime"
    )
    framework: str | None = Field(None, description="Framework, e.g. fastapi, django, express, spring")


class RecommendBaseImageResult(ToolResult):
    """The recommendation; answer with `reason` and show `dockerfile` as a code block."""

    language: str
    framework: str | None
    recommended: str
    pinned: str
    reason: str
    dockerfile: str
    alternatives: list[Candidate]
    note: str | None = None


def recommend_base_image(call: Call, args: RecommendBaseImageArgs) -> RecommendBaseImageResult:
    """Rank the catalog's candidates for the language and build the snippet on the best one."""
    language: Language = args.language
    entry = call.context.base_catalog.get(language)
    if entry is None:
        configured = ", ".join(sorted(call.context.base_catalog)) or "none"
        raise ToolFailure(
            f"no approved bases for {language} in the configuration (configured: {configured})",
            hint="tell the user a platform admin adds them under `bases:` in regent.yml",
        )
    framework = (args.framework or "").strip().lower() or None
    note = None
    if framework and entry.frameworks and framework not in entry.frameworks:
        note = f"{framework} is not listed for {language} (listed: {', '.join(entry.frameworks)})"
    views = catalog_of(call).views
    now = call.context.now()
    clocks = {name: history.clocks for name, history in history_of(call).items()}
    vulns = _vuln_counts(call)
    candidates = find_candidates(views, entry, vulns=vulns, clocks=clocks, now=now)
    builders = (
        find_candidates(
            views, entry, vulns=vulns, clocks=clocks, now=now, repositories=entry.build_repositories
        )
        if entry.build_repositories
        else []
    )
    found = recommend(language, framework, candidates, builders=builders)
    if found is None:
        raise ToolFailure(
            f"none of the approved {language} bases ({', '.join(entry.repositories)}, tags "
            f"{', '.join(entry.tags)}) is in any crawled registry",
            hint="tell the user the catalog names bases that are not pushed (or not crawled) yet",
        )
    return RecommendBaseImageResult(
        language=language,
        framework=framework,
        recommended=found.best.reference,
        pinned=found.best.pinned,
        reason=found.reason,
        dockerfile=found.dockerfile,
        alternatives=found.alternatives,
        note=note,
    )


def _vuln_counts(call: Call) -> dict[Digest, VulnCounts]:
    """Open findings per scanned digest; empty when no reports are configured or uploaded."""
    if call.context.vulns is None:
        return {}
    counts: dict[Digest, VulnCounts] = {}
    for image in analysis_of(call).triage.images:
        severities = [f.severity for f in image.findings]
        counts[image.digest] = VulnCounts(
            critical=severities.count("CRITICAL"), high=severities.count("HIGH"), total=len(severities)
        )
    return counts

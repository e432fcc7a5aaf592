"""Which image manifests a report describes.

In order of trust: a digest the report names (Grype's manifestDigest, RepoDigests, `name@digest`); for an
index, the platform child whose config digest is the report's ImageID (Trivy scans an index by tag as one
platform); then the tag the report names, if it still points at the same config; last, any manifest with
the report's config digest (content-addressed, so the same image wherever it lives). No match is an
answer too: the report is kept and listed as unmatched.
"""

from __future__ import annotations

from pydantic import BaseModel

from tools.analysis.usage import parse_reference, registry_hosts
from tools.inventory.models import Digest
from tools.vulns.images import ImageIndex
from tools.vulns.reports import ReportTarget


class ImageMatch(BaseModel):
    """The image manifests a report matched, and how."""

    digests: list[str]
    how: str  # "manifest digest" | "index child by config digest" | "tag" | "config digest" | "unmatched"
    note: str = ""


def match_target(target: ReportTarget, index: ImageIndex) -> ImageMatch:
    """Match a report's image identity against the inventory."""
    notes: list[str] = []
    for digest in _named_digests(target):
        if digest in index.manifests:
            found = _resolve(digest, target, index)
            if found:
                how = "manifest digest" if found == [digest] else "index child by config digest"
                return ImageMatch(digests=found, how=how)
            notes.append(f"{digest[:19]}… is an index with no child of config {target.image_id[:19]}…")
    by_tag = _match_tag(target, index, notes)
    if by_tag:
        return ImageMatch(digests=by_tag, how="tag", note="; ".join(notes))
    if target.image_id and target.image_id in index.by_config:
        return ImageMatch(
            digests=sorted(index.by_config[target.image_id]), how="config digest", note="; ".join(notes)
        )
    notes.append("no manifest in the inventory has this digest, tag or config digest")
    return ImageMatch(digests=[], how="unmatched", note="; ".join(notes))


def _named_digests(target: ReportTarget) -> list[Digest]:
    found: list[Digest] = []
    candidates = [target.manifest_digest, *target.repo_digests, target.artifact_name]
    for text in candidates:
        digest = text.partition("@")[2] if "@" in text else text if text.startswith("sha256:") else ""
        if digest and digest not in found:
            found.append(digest)
    return found


def _resolve(digest: Digest, target: ReportTarget, index: ImageIndex) -> list[Digest]:
    manifest = index.manifests[digest]
    if not manifest.is_index:
        return [digest]
    children = [index.manifests[c.digest] for c in manifest.children if c.digest in index.manifests]
    if target.image_id:
        return [c.digest for c in children if c.config is not None and c.config.digest == target.image_id]
    if target.diff_ids:
        return [c.digest for c in children if list(c.diff_ids) == target.diff_ids]
    if target.platform:
        return [c.digest for c in children if c.platform is not None and str(c.platform) == target.platform]
    return []


def _match_tag(target: ReportTarget, index: ImageIndex, notes: list[str]) -> list[Digest]:
    # Trivy names the tag twice (ArtifactName and RepoTags): once is enough, and so is its note.
    references = dict.fromkeys(
        ref for ref in (target.artifact_name, *target.repo_tags) if ref and "@" not in ref
    )
    for text in references:
        ref = parse_reference(text)
        if ref.tag is None:
            continue
        for inv in index.registries:
            hosts = registry_hosts(inv.source.url) | registry_hosts(inv.source.image_host)
            digest = inv.tags.get(ref.repository, {}).get(ref.tag) if ref.host in hosts else None
            if digest is None or digest not in index.manifests:
                continue
            found = _resolve(digest, target, index)
            if found and _same_config(found, target, index):
                return found
            note = f"{text} now points at a different image than the one scanned"
            notes.extend([note] if note not in notes else [])  # two registries may serve one host
    return []


def _same_config(digests: list[Digest], target: ReportTarget, index: ImageIndex) -> bool:
    if not target.image_id:
        return True  # nothing to compare: trust the tag
    configs = {index.manifests[d].config for d in digests}
    return all(config is not None and config.digest == target.image_id for config in configs)

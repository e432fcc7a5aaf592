"""How the digests of one repository hang together: tags, index children and referrers (signatures).

Deleting a manifest by digest removes every tag on it, a kept index needs its children, and a
signature/attestation follows its subject; every analysis and the policy engine reason over this view.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from tools.inventory.models import Digest, Manifest, RegistryInventory

# cosign's legacy scheme (`sha256-<hex>.sig|.att|.sbom`) and the OCI 1.1 referrers fallback tag `sha256-<hex>`
SIGNATURE_TAG = re.compile(r"sha256-([0-9a-f]{64})(?:\.(sig|att|sbom))?\Z")


def signature_subject(tag: str) -> Digest | None:
    """The subject digest a signature/attestation tag names, or None for an ordinary tag."""
    match = SIGNATURE_TAG.match(tag)
    return f"sha256:{match.group(1)}" if match else None


@dataclass(slots=True)
class RepositoryGraph:
    """Digests of one repository with their tags, index parents and referrer subjects."""

    repository: str
    digests: set[Digest]
    tags: dict[Digest, list[str]] = field(default_factory=dict)  # ordinary tags only
    signature_tags: dict[Digest, list[str]] = field(default_factory=dict)
    parents: dict[Digest, list[Digest]] = field(default_factory=dict)  # child -> indexes listing it here
    subjects: dict[Digest, list[Digest]] = field(default_factory=dict)  # referrer -> subjects here
    foreign_referrers: set[Digest] = field(default_factory=set)  # subject only in another repository

    def all_tags(self, digest: Digest) -> list[str]:
        """Every tag on the digest, ordinary and signature tags alike."""
        return self.tags.get(digest, []) + self.signature_tags.get(digest, [])

    def owners(self, digest: Digest) -> list[Digest]:
        """Digests this one depends on: the indexes listing it and the subjects it signs."""
        return self.parents.get(digest, []) + self.subjects.get(digest, [])

    def is_dependent(self, digest: Digest) -> bool:
        """True when the digest has no ordinary tag and lives only through an index or a subject."""
        return digest not in self.tags and (digest in self.parents or digest in self.subjects)


def repository_digest_sets(
    inventory: RegistryInventory,
    manifests: Mapping[Digest, Manifest],
    *,
    extra: Mapping[str, Iterable[Digest]] | None = None,
) -> dict[str, set[Digest]]:
    """Every digest stored per repository: tagged, listed, extra (e.g. dangling) and index children."""
    sets: dict[str, set[Digest]] = {}
    for repository in set(inventory.tags) | set(inventory.repository_digests) | set(extra or {}):
        digests = set(inventory.repository_digests.get(repository, ()))
        digests.update(inventory.tags.get(repository, {}).values())
        if extra and repository in extra:
            digests.update(d for d in extra[repository] if d in manifests)
        _add_children(digests, manifests)
        sets[repository] = digests
    return sets


def _add_children(digests: set[Digest], manifests: Mapping[Digest, Manifest]) -> None:
    pending = [d for d in digests if (m := manifests.get(d)) is not None and m.children]
    while pending:
        manifest = manifests.get(pending.pop())
        for child in manifest.children if manifest is not None else ():
            if child.digest not in digests:
                digests.add(child.digest)
                pending.append(child.digest)


def build_graph(
    repository: str,
    tags: Mapping[str, Digest],
    digests: set[Digest],
    manifests: Mapping[Digest, Manifest],
    *,
    registry_digests: set[Digest] | None = None,
) -> RepositoryGraph:
    """Build the repository view; registry_digests (all repositories) marks cross-repository subjects."""
    graph = RepositoryGraph(repository=repository, digests=digests)
    for tag, digest in tags.items():
        subject = signature_subject(tag)
        if subject is None:
            graph.tags.setdefault(digest, []).append(tag)
        else:
            graph.signature_tags.setdefault(digest, []).append(tag)
            _link_subject(graph, digest, subject, registry_digests)
    for digest in digests:
        manifest = manifests.get(digest)
        if manifest is None:
            continue
        if manifest.subject:
            _link_subject(graph, digest, manifest.subject, registry_digests)
        for child in manifest.children:
            graph.parents.setdefault(child.digest, []).append(digest)
    for tag_list in graph.tags.values():
        tag_list.sort()
    return graph


def _link_subject(
    graph: RepositoryGraph, referrer: Digest, subject: Digest, registry_digests: set[Digest] | None
) -> None:
    if subject == referrer:
        return
    if subject in graph.digests:
        subjects = graph.subjects.setdefault(referrer, [])
        if subject not in subjects:
            subjects.append(subject)
    elif registry_digests is not None and subject in registry_digests:
        graph.foreign_referrers.add(referrer)

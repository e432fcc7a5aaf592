"""compute_reclaim against the definition, on random registries: a blob is freed when every revision
referencing it is deleted; a revision's exclusive bytes are the blobs nothing else references. The
implementation counts shared blobs only and walks manifests in their own order (#17); this pins that the
figures are those of the definition, whatever the order of the deleted revisions."""

from __future__ import annotations

import random

import pytest

from tools.analysis.reclaim import compute_reclaim, manifest_references
from tools.inventory.models import Descriptor, Manifest
from tools.registry.media_types import DOCKER_MANIFEST, OCI_INDEX

Revision = tuple[str, str]


def _registry(rng: random.Random) -> tuple[dict[str, set[str]], dict[str, Manifest]]:
    bases = [Descriptor(f"sha256:base{i}", rng.randint(1, 9) * 1000) for i in range(4)]
    manifests: dict[str, Manifest] = {}
    for n in range(rng.randint(5, 25)):
        layers = (rng.choice(bases), Descriptor(f"sha256:own{n}", rng.randint(1, 9) * 100))
        if rng.random() < 0.2:
            layers += (layers[0],)  # a layer listed twice counts once
        config = Descriptor("sha256:shared-config" if rng.random() < 0.2 else f"sha256:cfg{n}", 50)
        image = Manifest(f"sha256:img{n}", DOCKER_MANIFEST, rng.randint(1, 9), config=config, layers=layers)
        manifests[image.digest] = image
    images = list(manifests.values())
    for n in range(rng.randint(0, 4)):
        children = tuple(Descriptor(c.digest, c.size) for c in rng.sample(images, 2))
        manifests[f"sha256:idx{n}"] = Manifest(f"sha256:idx{n}", OCI_INDEX, 7, children=children)
    digests = [*manifests, "sha256:unknown"]  # stored, but its manifest was never read
    repositories = {f"repo{r}": set(rng.sample(digests, rng.randint(1, 8))) for r in range(4)}
    return repositories, manifests


def _definition(
    repositories: dict[str, set[str]], manifests: dict[str, Manifest], deleted: list[Revision]
) -> tuple[int, dict[Revision, int], int]:
    """(total, exclusive, freed blobs) straight from the definition."""
    stored = {(repo, d) for repo, ds in repositories.items() for d in ds} | set(deleted)

    def refs(revision: Revision) -> dict[str, int]:
        manifest = manifests.get(revision[1])
        return manifest_references(manifest) if manifest is not None else {revision[1]: 0}

    users: dict[str, set[Revision]] = {}
    sizes: dict[str, int] = {}
    for revision in stored:
        for blob, size in refs(revision).items():
            users.setdefault(blob, set()).add(revision)
            sizes.setdefault(blob, size)
    gone = set(deleted)
    freed = [blob for blob, who in users.items() if who <= gone]
    exclusive = {r: sum(s for b, s in refs(r).items() if users[b] == {r}) for r in gone}
    return sum(sizes[b] for b in freed), exclusive, len(freed)


@pytest.mark.parametrize("seed", range(60))
def test_reclaim_is_the_definition_in_any_order(seed: int) -> None:
    rng = random.Random(seed)
    repositories, manifests = _registry(rng)
    stored = sorted((repo, d) for repo, ds in repositories.items() for d in ds)
    deleted = rng.sample(stored, rng.randint(0, len(stored)))
    deleted += rng.sample(deleted, min(2, len(deleted)))  # the same revision twice counts once
    total, exclusive, freed = _definition(repositories, manifests, deleted)
    for order in (deleted, sorted(deleted), list(reversed(deleted))):
        reclaim = compute_reclaim(repositories, manifests, order)
        assert (reclaim.total, reclaim.exclusive, reclaim.freed_blobs) == (total, exclusive, freed)
        assert reclaim.shared == total - sum(exclusive.values())
        assert reclaim.unknown_manifests == sum(
            d not in manifests for ds in repositories.values() for d in ds
        )

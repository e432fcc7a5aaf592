"""Hypothesis strategies: random registries (shared layers and digests, indexes, signatures, dangling
digests, deployments) and random retention policies, plus an independent oracle of invariants 2 and 8."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from tools.analysis.clocks import ClockData
from tools.analysis.history import DanglingDigest, RegistryHistory
from tools.inventory.models import Deployment, Descriptor, Manifest, RegistryInventory, RegistrySource
from tools.policy.model import PolicyFile
from tools.registry.media_types import DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOST = "127.0.0.1:5000"
SOURCE = RegistrySource(name="local", url=f"http://{HOST}")
REPOS = ("team-x/api", "team-x/web", "team-y/db")
TAG_NAMES = (
    "latest",
    "prod",
    "stable",
    "dev",
    "v1.0.0",
    "v1.0.1",
    "v1.1.0",
    "v2.0.0",
    "1.2.3",
    "rc",
    "nightly",
)


def fake_digest(text: str) -> str:
    """A well-formed sha256 digest derived from text."""
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class World:
    """A random registry inventory, the deployments that use parts of it, and its history."""

    inventory: RegistryInventory
    deployments: list[Deployment]
    history: RegistryHistory


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """A random registry: images over a shared layer pool, indexes, signatures, cross-repo digests."""
    layer_pool = [Descriptor(fake_digest(f"layer{i}"), draw(st.integers(1, 5000))) for i in range(8)]
    manifests: dict[str, Manifest] = {}
    images = []
    for i in range(draw(st.integers(1, 10))):
        picked = draw(st.lists(st.sampled_from(layer_pool), min_size=1, max_size=4, unique=True))
        config_key = draw(st.integers(0, 12))  # sometimes two manifests share a config
        created = draw(st.one_of(st.none(), st.integers(0, 500), st.just(20000)))
        manifest = Manifest(
            digest=fake_digest(f"image{i}"),
            media_type=draw(st.sampled_from((DOCKER_MANIFEST, OCI_MANIFEST))),
            size=draw(st.integers(100, 900)),
            config=Descriptor(fake_digest(f"config{config_key}"), 50 + config_key),
            layers=tuple(picked),
            created=None if created is None else NOW - timedelta(days=created),
        )
        manifests[manifest.digest] = manifest
        images.append(manifest)
    indexes = []
    for i in range(draw(st.integers(0, 3))):
        children = draw(
            st.lists(st.sampled_from(images), min_size=1, max_size=3, unique_by=lambda m: m.digest)
        )
        index = Manifest(
            digest=fake_digest(f"index{i}"),
            media_type=OCI_INDEX,
            size=draw(st.integers(200, 400)),
            children=tuple(Descriptor(c.digest, c.size, c.media_type) for c in children),
        )
        manifests[index.digest] = index
        indexes.append(index)
    tops = images + indexes
    tags: dict[str, dict[str, str]] = {}
    repo_digests: dict[str, set[str]] = {}
    for repo in draw(st.lists(st.sampled_from(REPOS), min_size=1, max_size=3, unique=True)):
        present = draw(st.lists(st.sampled_from(tops), min_size=1, max_size=6, unique_by=lambda m: m.digest))
        repo_digests[repo] = {m.digest for m in present}
        tag_names = draw(st.lists(st.sampled_from(TAG_NAMES), max_size=8, unique=True))
        tags[repo] = {t: draw(st.sampled_from(present)).digest for t in tag_names}
        for j, subject in enumerate(draw(st.lists(st.sampled_from(present), max_size=2))):
            sig = Manifest(
                digest=fake_digest(f"sig-{repo}-{subject.digest}-{j}"),
                media_type=OCI_MANIFEST,
                size=draw(st.integers(100, 300)),
                config=Descriptor(fake_digest("empty-config"), 2),
                layers=(Descriptor(fake_digest(f"sigpayload-{repo}-{j}"), 77),),
                subject=subject.digest if draw(st.booleans()) else None,
            )
            manifests[sig.digest] = sig
            repo_digests[repo].add(sig.digest)
            if sig.subject is None or draw(st.booleans()):
                tags[repo][f"sha256-{subject.digest[7:]}.{draw(st.sampled_from(('sig', 'att', 'sbom')))}"] = (
                    sig.digest
                )
    inventory = RegistryInventory(
        source=SOURCE, tags=tags, repository_digests=repo_digests, manifests=manifests
    )
    return World(inventory, draw(_deployments(inventory, images)), draw(_histories(inventory)))


@st.composite
def _histories(draw: st.DrawFn, inventory: RegistryInventory) -> RegistryHistory:
    """Clock data for some digests and "dangling since" for some untagged top-level digests."""
    every = sorted(inventory.manifests)
    times = st.dictionaries(
        st.sampled_from(every), st.integers(0, 400).map(lambda d: NOW - timedelta(days=d))
    )
    dangling = []
    for repo, digests in sorted(inventory.repository_digests.items()):
        tagged = set(inventory.tags.get(repo, {}).values())
        for digest in sorted(digests - tagged):
            if inventory.manifests[digest].subject is None and draw(st.booleans()):
                since = NOW - timedelta(days=draw(st.integers(0, 60)))
                dangling.append(DanglingDigest(repo, digest, ("old",), since - timedelta(days=1), since))
    return RegistryHistory(
        clocks=ClockData(first_seen=draw(times), pushed=draw(times), last_pulled=draw(times)),
        dangling=dangling,
    )


@st.composite
def _deployments(draw: st.DrawFn, inventory: RegistryInventory, images: list[Manifest]) -> list[Deployment]:
    out = []
    all_digests = sorted({d for ds in inventory.repository_digests.values() for d in ds})
    tag_refs = sorted(f"{repo}:{tag}" for repo, ts in inventory.tags.items() for tag in ts)
    for i in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(("digest", "ref-digest", "tag", "other-host", "image-id")))
        state = draw(st.sampled_from(("running", "exited", "created")))
        kind = draw(st.sampled_from(("container", "service", "pod", "stack")))
        digest, image, image_id = None, "busybox", ""
        if how == "digest":
            digest = draw(st.sampled_from(all_digests))
        elif how == "ref-digest":
            image = f"{HOST}/whatever@{draw(st.sampled_from(all_digests))}"
        elif how in ("tag", "other-host") and tag_refs:
            host = HOST if how == "tag" else "registry.example.com"
            image = f"{host}/{draw(st.sampled_from(tag_refs))}"
        elif how == "image-id":
            chosen = draw(st.sampled_from(images))
            image_id = chosen.config.digest if chosen.config else ""
        out.append(Deployment(1, "prod", kind, f"w{i}", image, digest, state, image_id))
    return out


_PATTERNS = ("*", "prod", "v*", "re:v[0-9]+\\.0\\..*", "stable", "sha256-*", "l*")
_REPO_PATTERNS = ("**", "team-x/**", "team-x/*", "team-y/db", "re:team-.*/web")


@st.composite
def keep_rules(draw: st.DrawFn) -> dict[str, object]:
    """One random keep rule, as YAML-shaped data."""
    kind = draw(st.sampled_from(("most_recent", "tags", "semver", "pulled_within_days")))
    if kind == "most_recent":
        rule: dict[str, object] = {"most_recent": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            rule["clock"] = draw(st.sampled_from(("created", "first_seen", "pushed", "last_pulled")))
        return rule
    if kind == "tags":
        return {"tags": draw(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=2))}
    if kind == "semver":
        return {
            "semver": {
                "per": draw(st.sampled_from(("major", "minor"))),
                "most_recent": draw(st.integers(1, 2)),
            }
        }
    return {"pulled_within_days": draw(st.integers(1, 60))}


@st.composite
def delete_rules(draw: st.DrawFn) -> dict[str, object]:
    """One random delete rule, as YAML-shaped data."""
    kind = draw(st.sampled_from(("older_than_days", "dangling_older_than_days", "all")))
    if kind == "older_than_days":
        return {"older_than_days": draw(st.integers(0, 400))}
    if kind == "dangling_older_than_days":
        return {"dangling_older_than_days": draw(st.integers(0, 30))}
    return {"all": True}


@st.composite
def policy_files(draw: st.DrawFn) -> PolicyFile:
    """A random, valid policies file of one to three policies."""
    policies = []
    for i in range(draw(st.integers(1, 3))):
        policy: dict[str, object] = {
            "name": f"p{i}",
            "repositories": draw(st.lists(st.sampled_from(_REPO_PATTERNS), min_size=1, max_size=2)),
            "keep": draw(st.lists(keep_rules(), max_size=3)),
            "delete": draw(st.lists(delete_rules(), min_size=1, max_size=2)),
        }
        if draw(st.booleans()):
            policy["tags"] = draw(st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=2))
        policies.append(policy)
    protected = draw(st.lists(st.sampled_from(("prod", "stable", "v2.*")), max_size=2))
    return PolicyFile.model_validate({"policies": policies, "protected_tags": protected})

"""Matching a report's image identity to manifests, and exposure, on a synthetic inventory."""

from __future__ import annotations

from tests.fakes.synthetic import NOW, fake_digest
from tools.inventory.models import (
    Deployment,
    Descriptor,
    InventorySnapshot,
    Manifest,
    Platform,
    RegistryInventory,
    RegistrySource,
)
from tools.vulns.images import build_index, compute_exposure
from tools.vulns.matching import match_target
from tools.vulns.reports import ReportTarget

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_IMAGE = "application/vnd.oci.image.manifest.v1+json"
HOST = "registry.example.com:5000"


def _image(name: str, arch: str = "amd64") -> Manifest:
    return Manifest(
        digest=fake_digest(f"m-{name}"),
        media_type=OCI_IMAGE,
        size=500,
        config=Descriptor(fake_digest(f"c-{name}"), 100),
        layers=(Descriptor(fake_digest("base"), 10), Descriptor(fake_digest(f"l-{name}"), 10)),
        diff_ids=(fake_digest("base-diff"), fake_digest(f"d-{name}")),
        platform=Platform("linux", arch),
    )


AMD, ARM, OLD, NEW = _image("amd"), _image("arm", "arm64"), _image("old"), _image("new")
INDEX = Manifest(
    digest=fake_digest("index"),
    media_type=OCI_INDEX,
    size=300,
    children=(
        Descriptor(AMD.digest, 500, OCI_IMAGE, Platform("linux", "amd64")),
        Descriptor(ARM.digest, 500, OCI_IMAGE, Platform("linux", "arm64")),
    ),
)


def _snapshot(deployments: list[Deployment] | None = None) -> InventorySnapshot:
    inventory = RegistryInventory(source=RegistrySource(name="r", url=f"http://{HOST}"))
    for manifest in (AMD, ARM, INDEX, OLD, NEW):
        inventory.manifests[manifest.digest] = manifest
    inventory.tags = {"app": {"1.0": INDEX.digest, "latest": NEW.digest}, "tool": {"2.0": OLD.digest}}
    inventory.repository_digests = {
        "app": {AMD.digest, ARM.digest, INDEX.digest, NEW.digest},
        "tool": {OLD.digest},
    }
    return InventorySnapshot(
        taken_at=NOW,
        registries=[inventory],
        deployments=deployments or [],
    )


def test_digest_index_child_tag_and_config_matches() -> None:
    index = build_index(_snapshot())
    direct = match_target(ReportTarget(manifest_digest=ARM.digest), index)
    assert (direct.digests, direct.how) == ([ARM.digest], "manifest digest")
    child = match_target(
        ReportTarget(
            repo_digests=[f"{HOST}/app@{INDEX.digest}"], image_id=AMD.config.digest if AMD.config else ""
        ),
        index,
    )
    assert (child.digests, child.how) == ([AMD.digest], "index child by config digest")
    by_diff_ids = match_target(
        ReportTarget(artifact_name=f"{HOST}/app@{INDEX.digest}", diff_ids=list(ARM.diff_ids)), index
    )
    assert by_diff_ids.digests == [ARM.digest]
    tag = match_target(ReportTarget(artifact_name=f"{HOST}/tool:2.0"), index)
    assert (tag.digests, tag.how) == ([OLD.digest], "tag")
    assert index.name_of(ARM.digest) == "app:1.0 [linux/arm64]"


def test_a_moved_tag_does_not_match_but_the_old_config_still_does() -> None:
    index = build_index(_snapshot())
    # scanned as app:latest when latest was OLD's content (pushed elsewhere too): the tag has moved since
    moved = match_target(
        ReportTarget(artifact_name=f"{HOST}/app:latest", image_id=OLD.config.digest if OLD.config else ""),
        index,
    )
    assert (moved.digests, moved.how) == ([OLD.digest], "config digest")
    assert "app:latest now points at a different image than the one scanned" in moved.note
    gone = match_target(ReportTarget(artifact_name=f"{HOST}/app:0.1", image_id=fake_digest("c-gone")), index)
    assert (gone.digests, gone.how) == ([], "unmatched")
    other_host = match_target(ReportTarget(artifact_name="docker.io/library/app:latest"), index)
    assert other_host.digests == []


def _deployment(
    name: str, image: str, *, env: str = "prod-eu", image_id: str = "", state: str = "running"
) -> Deployment:
    return Deployment(
        environment_id=1,
        environment=env,
        kind="container",
        name=name,
        image=image,
        digest=None,
        state=state,
        image_id=image_id,
    )


def test_exposure_of_index_children() -> None:
    deployments = [
        _deployment(
            "web", f"{HOST}/app:1.0", image_id=AMD.config.digest if AMD.config else ""
        ),  # engine ran amd64
        _deployment("old", f"{HOST}/tool:2.0", env="staging", state="exited"),
    ]
    snapshot = _snapshot(deployments)
    index = build_index(snapshot)
    exposure = compute_exposure(snapshot, index, production_patterns=["prod-*"])
    assert exposure[AMD.digest].level == "production" and exposure[AMD.digest].production_environments == [
        "prod-eu"
    ]
    assert ARM.digest not in exposure  # the container's image id names the amd64 child only
    assert exposure[OLD.digest].level == "stopped" and exposure[OLD.digest].deployments == ["staging/old"]
    # a pod that names the index by tag (no engine image id): every child counts, to err toward urgency
    pod = Deployment(
        environment_id=2,
        environment="prod-k8s",
        kind="pod",
        name="p",
        image=f"{HOST}/app:1.0",
        digest=None,
        state="Running",
    )
    snapshot = _snapshot([pod])
    exposure = compute_exposure(snapshot, build_index(snapshot), production_patterns=["prod-*"])
    assert exposure[AMD.digest].level == exposure[ARM.digest].level == "production"

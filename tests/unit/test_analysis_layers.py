"""Layer analysis: largest, shared across repositories, same content twice, base images, consolidation."""

from __future__ import annotations

from tests.unit.registry_strategies import SOURCE, fake_digest
from tools.analysis.layers import (
    detect_base_images,
    duplicate_content,
    family_of,
    largest_layers,
    shared_layers,
    suggest_consolidation,
)
from tools.inventory.models import Descriptor, Manifest, RegistryInventory
from tools.registry.media_types import DOCKER_MANIFEST, OCI_INDEX


def layer(name: str, size: int) -> Descriptor:
    return Descriptor(fake_digest(f"layer-{name}"), size)


ROOTFS, APK0, APK1, APK2 = layer("rootfs", 3000), layer("apk0", 500), layer("apk1", 510), layer("apk2", 520)


def image(name: str, layers: tuple[Descriptor, ...], **extra: object) -> Manifest:
    diff_ids = tuple(fake_digest(f"diff-{d.digest}") for d in layers)
    return Manifest(
        fake_digest(name),
        DOCKER_MANIFEST,
        400,
        config=Descriptor(fake_digest(f"c-{name}"), 90),
        layers=layers,
        diff_ids=diff_ids,
        **extra,
    )  # type: ignore[arg-type]


def registry(tags: dict[str, dict[str, Manifest]], *extra: Manifest) -> RegistryInventory:
    manifests = {m.digest: m for ts in tags.values() for m in ts.values()}
    manifests.update({m.digest: m for m in extra})
    return RegistryInventory(
        source=SOURCE,
        tags={r: {t: m.digest for t, m in ts.items()} for r, ts in tags.items()},
        repository_digests={r: {m.digest for m in ts.values()} for r, ts in tags.items()},
        manifests=manifests,
    )


BASE0 = image("base0", (ROOTFS, APK0))
BASE1 = image("base1", (ROOTFS, APK1))
BASE2 = image("base2", (ROOTFS, APK2))


def test_largest_and_shared_layers() -> None:
    app = image("app", (ROOTFS, APK1, layer("app", 9000)))
    worker = image("worker", (ROOTFS, APK1, layer("worker", 100)))
    inv = registry({"base": {"1": BASE1}, "app": {"v1": app}, "worker": {"v1": worker}})
    top = largest_layers(inv, limit=2)
    assert [(t.size, t.images, t.repositories) for t in top] == [
        (9000, 1, ["app"]),
        (3000, 3, ["app", "base", "worker"]),
    ]
    shared = shared_layers(inv)
    assert [(s.digest, s.repositories, s.saved_bytes) for s in shared.layers] == [
        (ROOTFS.digest, 3, 6000),
        (APK1.digest, 3, 1020),
    ]
    assert shared.saved_bytes == 7020


def test_same_content_stored_twice_is_found() -> None:
    regzipped = Descriptor(fake_digest("layer-app-regzipped"), 9100)
    a = image("a", (ROOTFS, layer("app", 9000)))
    b = Manifest(fake_digest("b"), DOCKER_MANIFEST, 400, layers=(ROOTFS, regzipped), diff_ids=a.diff_ids)
    found = duplicate_content(registry({"a": {"1": a}, "b": {"1": b}}))
    assert len(found) == 1
    assert [blob.size for blob in found[0].blobs] == [9000, 9100] and found[0].wasted_bytes == 9100


def test_base_detection_prefers_annotations_then_labels_then_layers() -> None:
    annotated = image(
        "annotated",
        (ROOTFS, APK0, layer("x", 1)),
        annotations={"org.opencontainers.image.base.name": "docker.io/library/alpine:3.19.0"},
    )
    labelled = image(
        "labelled",
        (ROOTFS, APK0, layer("y", 1)),
        labels={"org.opencontainers.image.base.digest": BASE0.digest},
    )
    plain = image("plain", (ROOTFS, APK1, layer("z", 1), layer("zz", 1)))
    on_plain = image("on-plain", (ROOTFS, APK1, layer("z", 1), layer("zz", 1), layer("top", 5)))
    unrelated = image("unrelated", (layer("scratch", 10),))
    inv = registry(
        {
            "base": {"3.19.0": BASE0, "3.19.1": BASE1},
            "app": {"a": annotated, "l": labelled, "p": plain, "o": on_plain, "u": unrelated},
        }
    )
    found = {d.digest: d for d in detect_base_images(inv)}
    assert (
        found[annotated.digest].evidence == "annotation"
        and found[annotated.digest].base_name == "docker.io/library/alpine:3.19.0"
    )
    assert found[labelled.digest].evidence == "label" and found[labelled.digest].base_digest == BASE0.digest
    assert found[plain.digest].base_name == "base:3.19.1" and found[plain.digest].shared_layers == 2
    assert found[plain.digest].shared_bytes == 3510
    assert found[on_plain.digest].base_name == "app:p", "the longest prefix wins"
    assert unrelated.digest not in found and BASE0.digest not in found


def test_index_children_are_analysed() -> None:
    child = image("child", (ROOTFS, APK2, layer("c", 7)))
    index = Manifest(fake_digest("idx"), OCI_INDEX, 300, children=(Descriptor(child.digest, 400),))
    inv = registry({"base": {"3.19.2": BASE2}, "app": {"multi": index}}, child)
    found = detect_base_images(inv)
    assert [(d.repository, d.digest, d.tags, d.base_name) for d in found] == [
        ("app", child.digest, ["multi"], "base:3.19.2")
    ]


def test_consolidation_suggests_the_newest_base() -> None:
    images = []
    for n, base in enumerate([BASE0, BASE0, BASE1, BASE2, BASE2, BASE2]):
        images.append(image(f"svc{n}", (*base.layers, layer(f"svc{n}", 10))))
    inv = registry(
        {
            "base": {"alpine-3.19.0": BASE0, "alpine-3.19.1": BASE1, "alpine-3.19.2": BASE2},
            "svc": {f"v{n}": m for n, m in enumerate(images)},
        }
    )
    [suggestion] = suggest_consolidation(detect_base_images(inv))
    assert suggestion.family == "base:alpine-*"
    assert [(v.version, v.images) for v in suggestion.versions] == [
        ("3.19.2", 3),
        ("3.19.1", 1),
        ("3.19.0", 2),
    ]
    assert suggestion.suggestion.startswith("6 images on 3 different patch versions of base:alpine-*")
    assert "base:alpine-3.19.2" in suggestion.suggestion


def test_family_of_references() -> None:
    assert family_of("docker.io/library/alpine:3.19.1") == ("docker.io/library/alpine:*", "3.19.1")
    assert family_of("debian:12-slim") == ("debian:*-slim", "12")
    assert family_of("127.0.0.1:5000/platform/base:alpine-3.19.0") == (
        "127.0.0.1:5000/platform/base:alpine-*",
        "3.19.0",
    )
    assert family_of("busybox:latest") == ("busybox:latest", "latest")
    assert family_of(f"base@{BASE0.digest}")[0] == "base"

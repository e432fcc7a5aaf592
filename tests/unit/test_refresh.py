"""tools/inventory/refresh.py: merging a partial crawl into the previous inventory, and what changed."""

from __future__ import annotations

from tools.inventory.models import Descriptor, Manifest, RegistryInventory, RegistrySource
from tools.inventory.refresh import TagChange, merge_refresh, missed_changes, tag_changes

SOURCE = RegistrySource(name="local", url="http://127.0.0.1:5000")


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def manifest(n: int, *, children: tuple[int, ...] = ()) -> Manifest:
    kind = (
        "application/vnd.oci.image.index.v1+json"
        if children
        else "application/vnd.oci.image.manifest.v1+json"
    )
    return Manifest(
        digest=digest(n),
        media_type=kind,
        size=100 + n,
        children=tuple(Descriptor(digest(c), 10) for c in children),
    )


def inventory(
    tags: dict[str, dict[str, int]], *, extra: dict[str, set[int]] | None = None
) -> RegistryInventory:
    """An inventory whose tags point at manifest numbers; `extra` adds index children per repository."""
    made = RegistryInventory(source=SOURCE)
    for repository, by_tag in tags.items():
        made.tags[repository] = {tag: digest(n) for tag, n in by_tag.items()}
        numbers = set(by_tag.values()) | (extra or {}).get(repository, set())
        made.repository_digests[repository] = {digest(n) for n in numbers}
        for n in numbers:
            made.manifests[digest(n)] = manifest(n)
    return made


def test_merge_replaces_only_the_refreshed_repositories_and_drops_unreferenced_manifests() -> None:
    previous = inventory({"a/x": {"1": 1, "2": 2}, "b/y": {"1": 3}, "c/z": {"1": 4}})
    fresh = inventory({"a/x": {"2": 2, "3": 5}, "c/z": {}})  # a/x: 1 deleted, 3 pushed; c/z emptied
    merged = merge_refresh(previous, fresh, repositories=["a/x", "c/z"])
    assert merged.tags == {
        "a/x": {"2": digest(2), "3": digest(5)},
        "b/y": {"1": digest(3)},
        "c/z": {},
    }
    assert set(merged.manifests) == {digest(2), digest(3), digest(5)}
    assert merged.repository_digests["b/y"] == {digest(3)}
    assert merged.manifests[digest(3)] is previous.manifests[digest(3)]  # carried over, not re-read


def test_merge_keeps_index_children_and_drops_a_vanished_repository() -> None:
    previous = inventory({"a/x": {"multi": 1}, "gone/r": {"1": 9}}, extra={"a/x": {7, 8}})
    fresh = RegistryInventory(source=SOURCE)  # the refresh listed nothing for gone/r
    merged = merge_refresh(previous, fresh, repositories=["gone/r"])
    assert "gone/r" not in merged.tags
    assert set(merged.manifests) == {digest(1), digest(7), digest(8)}


def test_merge_takes_the_fresh_errors() -> None:
    previous = inventory({"a/x": {"1": 1}})
    previous.errors.append("old error")
    fresh = inventory({"a/x": {"1": 1}})
    assert merge_refresh(previous, fresh, repositories=["a/x"]).errors == []


def test_tag_changes_and_missed_changes() -> None:
    before = inventory({"a/x": {"1": 1, "2": 2}, "b/y": {"1": 3}})
    after = inventory({"a/x": {"1": 1, "2": 6}, "b/y": {}, "c/z": {"9": 4}})
    changes = tag_changes(before, after)
    assert [(c.repository, c.tag, c.kind) for c in changes] == [
        ("a/x", "2", "moved"),
        ("b/y", "1", "removed"),
        ("c/z", "9", "added"),
    ]
    assert missed_changes(before, after, announced=["a/x", "c/z"]) == [
        TagChange("local", "b/y", "1", digest(3), None)
    ]
    assert str(changes[2]) == "c/z:9 added"
    assert tag_changes(before, after, repositories=["a/x"]) == changes[:1]

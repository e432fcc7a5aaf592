"""Crawl registries concurrently and incrementally into the inventory model.

Cold: one GET per tag (the manifest, digest from the body), one GET per new config and index child.
Warm: one HEAD per tag whose previous digest is known. An unchanged tag reuses the manifest the previous
crawl parsed (`known`, from the latest snapshot); failing that, manifests and configs come from the
content-addressed cache. Either way an unchanged registry costs no manifest or config GETs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from tools.errors import RegentError, UpstreamError
from tools.inventory.models import Digest, Manifest, RegistryInventory, RegistrySource
from tools.inventory.parse import is_image_config, parse_manifest, with_config
from tools.registry.client import RawManifest, RegistryClient
from tools.registry.kinds.base import NativeRegistry, NativeTimes

Progress = Callable[[str, int, int], None]  # (what, done, total)
TagMap = Mapping[str, Mapping[str, Digest]]  # repository -> tag -> digest
Known = Mapping[Digest, Manifest]  # manifests a previous crawl parsed (configs folded in), by digest
# Requests in flight per registry. Through 20 ms of latency, 16 bounded a cold crawl at ~800 requests/s
# and a warm one (one HEAD per tag) even more; 32 let both run at what the 2-core machine could serve
# (bench/crawl.py, #17). A rate-limited registry is better served by `crawl_workers` in the config.
DEFAULT_WORKERS = 32


def no_progress(what: str, done: int, total: int) -> None:
    """Progress sink for callers that do not show progress."""


@dataclass(slots=True)
class _TagResult:
    repository: str
    tag: str
    digest: Digest | None
    error: str = ""


class _RegistryCrawl:
    """State of one registry crawl, shared by the worker threads."""

    def __init__(
        self,
        client: RegistryClient,
        source: RegistrySource,
        previous: TagMap,
        known: Known,
        cancel: threading.Event | None = None,
    ) -> None:
        self.client = client
        self.source = source
        self.previous = previous
        self.known = known
        self.cancel = cancel
        self.manifests: dict[Digest, Manifest] = {}
        self.lock = threading.Lock()

    def resolve_tag(self, repository: str, tag: str) -> _TagResult:
        """Digest of one tag, with its manifest (and index children) loaded into `manifests`."""
        if self.cancel is not None and self.cancel.is_set():
            return _TagResult(repository, tag, None, error=f"{repository}:{tag}: crawl cancelled")
        try:
            known = self.previous.get(repository, {}).get(tag)
            cached = None if known is None or known in self.known else self.client.cached_manifest(known)
            if known is None or (cached is None and known not in self.known):
                raw = self.client.get_manifest(repository, tag)  # a new tag, or nothing kept of its manifest
            else:
                head = self.client.head_manifest(repository, tag)
                if head is None:
                    return _TagResult(repository, tag, None)  # deleted since the tag list was read
                if head.digest == known and self.reuse(known):
                    return _TagResult(repository, tag, known)  # unchanged, the usual case: nothing to read
                if cached is None or head.digest != cached.digest:
                    cached = self.client.get_manifest(repository, head.digest)  # from the cache if seen
                raw = cached
            self.load(repository, raw)
        except RegentError as exc:
            return _TagResult(repository, tag, None, error=f"{repository}:{tag}: {exc}")
        return _TagResult(repository, tag, raw.digest)

    def reuse(self, digest: Digest) -> bool:
        """Take the previous crawl's manifest of `digest` (and an index's children); False when a child is
        missing there, so the caller loads it the long way."""
        manifest = self.known.get(digest)
        if manifest is None:
            return False
        wanted = manifest.children if manifest.is_index else ()
        children = [self.known[child.digest] for child in wanted if child.digest in self.known]
        if len(children) != len(wanted):
            return False
        with self.lock:
            self.manifests[digest] = manifest
            self.manifests.update((child.digest, child) for child in children)
        return True

    def load(self, repository: str, raw: RawManifest, depth: int = 0) -> Manifest:
        """Parse a manifest, fetch its config or children, and remember it."""
        with self.lock:
            seen = self.manifests.get(raw.digest)
        if seen is not None:
            return seen
        manifest = parse_manifest(raw.digest, raw.media_type, len(raw.body), raw.json())
        if manifest.config is not None and is_image_config(manifest.config.media_type):
            manifest = with_config(manifest, self.client.get_blob_json(repository, manifest.config.digest))
        with self.lock:
            self.manifests[raw.digest] = manifest
        if manifest.is_index and depth == 0:  # nested indexes are not a thing images do; stop there
            for child in manifest.children:
                self.load(repository, self.client.get_manifest(repository, child.digest), depth + 1)
        return manifest


def crawl_registry(
    client: RegistryClient,
    source: RegistrySource,
    *,
    previous: TagMap | None = None,
    known: Known | None = None,
    workers: int = DEFAULT_WORKERS,
    progress: Progress = no_progress,
    repositories: Sequence[str] | None = None,
    cancel: threading.Event | None = None,
) -> RegistryInventory:
    """Crawl one registry; an unreachable registry or a broken manifest is reported, never raised.

    `previous` is the last crawl's tag map, `known` its parsed manifests: a tag still on the same digest
    costs one HEAD and nothing else.

    `repositories` crawls only those, without the catalog (an event-driven refresh, tools/inventory/
    refresh.py). Once `cancel` is set the tags not yet read are skipped as errors, so a stopping
    `regent serve` is not held up by a long crawl.
    """
    inventory = RegistryInventory(source=source)
    if repositories is None:
        try:
            repositories = client.catalog()
        except RegentError as exc:
            inventory.errors.append(f"{source.name}: catalog failed: {exc}")
            inventory.partial = True
            return inventory
    state = _RegistryCrawl(client, source, previous or {}, known or {}, cancel)
    with (
        client.batched_cache_writes(),
        ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="crawl") as pool,
    ):
        tag_lists = []
        for done, listed in enumerate(pool.map(lambda repo: _list_tags(client, repo), repositories), start=1):
            tag_lists.append(listed)
            if done % 50 == 0 or done == len(repositories):
                progress(f"{source.name}: repositories", done, len(repositories))
        jobs = [(repo, tag) for repo, tags, _ in tag_lists for tag in tags]
        inventory.errors.extend(error for _, _, error in tag_lists if error)
        progress(f"{source.name}: tags", 0, len(jobs))
        results = []
        for done, result in enumerate(pool.map(lambda job: state.resolve_tag(*job), jobs), start=1):
            results.append(result)
            if done % 50 == 0 or done == len(jobs):
                progress(f"{source.name}: tags", done, len(jobs))
    _assemble(inventory, [repo for repo, _, _ in tag_lists], results, state.manifests)
    if _has_native_times(client):
        assert isinstance(client, NativeRegistry)
        _add_native_times(client, inventory, workers=workers, cancel=cancel)
    return inventory


def _has_native_times(client: RegistryClient) -> bool:
    """True when the kind's API has clocks or sizes v2 lacks; a plain v2 crawl sends no extra request."""
    if not isinstance(client, NativeRegistry):
        return False
    caps = client.capabilities
    return bool(caps.push_clock or caps.pull_clock or not caps.size.startswith("v2"))


def _add_native_times(
    client: NativeRegistry,
    inventory: RegistryInventory,
    *,
    workers: int,
    cancel: threading.Event | None,
) -> None:
    """One `native_times` call per repository; a failure is an error of that repository, v2 data stays."""
    inventory.push_clock = client.capabilities.push_clock
    inventory.pull_clock = client.capabilities.pull_clock
    repositories = [repo for repo, digests in inventory.repository_digests.items() if digests]

    def one(repository: str) -> tuple[str, dict[Digest, NativeTimes], str]:
        if cancel is not None and cancel.is_set():
            return repository, {}, f"{repository}: native clocks: crawl cancelled"
        try:
            found = client.native_times(repository, sorted(inventory.repository_digests[repository]))
        except RegentError as exc:
            return repository, {}, f"{repository}: native clocks failed: {exc}"
        return repository, found, ""

    with ThreadPoolExecutor(max_workers=max(min(workers, 8), 1), thread_name_prefix="native") as pool:
        for _, found, error in pool.map(one, repositories):
            if error:
                inventory.errors.append(error)
                inventory.partial = True
            for digest, times in found.items():
                merge_native(inventory, digest, times)


def merge_native(inventory: RegistryInventory, digest: Digest, times: NativeTimes) -> None:
    """Fold one repository's answer for a digest in: the earliest push and the latest pull win."""
    if times.pushed is not None:
        pushed, known = _utc(times.pushed), inventory.pushed.get(digest)
        inventory.pushed[digest] = pushed if known is None else min(known, pushed)
    if times.last_pulled is not None:
        pulled, known = _utc(times.last_pulled), inventory.last_pulled.get(digest)
        inventory.last_pulled[digest] = pulled if known is None else max(known, pulled)
    if times.size is not None:
        inventory.native_sizes[digest] = times.size


def _list_tags(client: RegistryClient, repository: str) -> tuple[str, list[str], str]:
    try:
        return repository, sorted(client.list_tags(repository, fresh=True)), ""
    except RegentError as exc:
        return repository, [], f"{repository}: tag list failed: {exc}"


def _assemble(
    inventory: RegistryInventory,
    repositories: list[str],
    results: list[_TagResult],
    manifests: dict[Digest, Manifest],
) -> None:
    for repository in repositories:
        inventory.tags[repository] = {}
        inventory.repository_digests[repository] = set()
    for result in results:
        if result.error:
            inventory.errors.append(result.error)
        if result.digest is None:
            continue
        inventory.tags[result.repository][result.tag] = result.digest
        digests = inventory.repository_digests[result.repository]
        digests.add(result.digest)
        manifest = manifests.get(result.digest)
        if manifest is not None and manifest.is_index:
            digests.update(child.digest for child in manifest.children if child.digest in manifests)
    inventory.manifests = manifests
    inventory.partial = bool(inventory.errors)


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a naive time from an API is UTC), so times of different adapters compare."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def crawl_error(source: RegistrySource, exc: UpstreamError) -> RegistryInventory:
    """An inventory entry for a registry that could not be crawled at all."""
    return RegistryInventory(source=source, errors=[f"{source.name}: {exc}"], partial=True)

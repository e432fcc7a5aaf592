"""Docker Hub as a registry: v2 for manifests and configs, the Hub API for what v2 on Docker Hub lacks.

Docker Hub has no `/v2/_catalog` (distribution/distribution#1831), refuses a v2 DELETE of a manifest that
still has tags (403, docs.docker.com DeleteImageManifest), and keeps push and pull times and sizes only in
the Hub API (docker/docs content/reference/api/hub/latest.yaml). So:

- listing: the Hub API's repositories of each namespace. The namespaces are the account's own (the
  Portainer record's username) plus the organisations named in config `extra["namespaces"]`
  (comma-separated, e.g. "acme,acme-ci"); Docker Hub cannot list "everything this account may see".
- clocks and size: the Hub API's tag list, per digest: the newest `tag_last_pushed` and `tag_last_pulled`
  across the tags that point at it, and its `full_size`; a platform image of an index gets its image's
  `last_pushed`/`last_pulled`/`size`.
- delete: every tag that points at the digest through the Hub API, then a v2 DELETE of the now untagged
  digest; nothing to collect afterwards (Docker Hub frees storage itself).
- pull limits: a v2 manifest GET counts as a pull (a HEAD does not; docs.docker.com/docker-hub/usage), so
  with a cache a tag is resolved with a HEAD and a manifest already seen (another tag on the same digest,
  an earlier crawl) is not pulled again; after one 429 on a manifest GET no further manifest
  GETs are sent for PULL_LIMIT_HOLD seconds: each gets a RateLimited that says why, without a request.
- data plane: https://registry-1.docker.io for `docker.io`-style URLs (its token comes from
  auth.docker.io through the v2 challenge, which the v2 session answers), else the URL given (a mirror,
  a test fake). The Hub API is `api_url`, else hub.docker.com, except that a loopback URL serves both.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import ClassVar
from urllib.parse import urlsplit

from tools.errors import AuthError, ConfigError, RateLimited, UpstreamError
from tools.registry.client import RawManifest
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.kinds.dockerhub.client import HUB_API_URL, HubApi, HubTag
from tools.registry.wire import digest_only

REGISTRY_URL = "https://registry-1.docker.io"
_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})
DEFAULT_NAMESPACE = "library"  # `nginx` on Docker Hub is `library/nginx`
PULL_LIMIT_HOLD = 900.0  # seconds without manifest GETs after a pull-limit 429 (the window is 6 hours)


class DockerHubRegistry(NativeRegistry):
    """Docker Hub: Hub API listing, clocks, sizes and tag deletes; v2 for everything else."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="dockerhub",
        label="Docker Hub",
        listing="Hub API: GET /v2/namespaces/{ns}/repositories (the account's and configured namespaces)",
        push_clock="Docker Hub tag_last_pushed",
        pull_clock="Docker Hub tag_last_pulled",
        size="Docker Hub full_size",
        delete_path="Hub API DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/ for each tag, then v2 DELETE "
        "of the untagged digest",
        gc_step="none: Docker Hub frees storage itself",
        export=None,
    )

    def __init__(self, config: AdapterConfig) -> None:
        host = (urlsplit(config.url).hostname or "").lower()
        super().__init__(replace(config, url=REGISTRY_URL) if host in _HUB_HOSTS else config)
        api_url = config.api_url or (config.url if _loopback(host) else HUB_API_URL)
        self.hub = HubApi(api_url, http=config.http, identifier=config.username, secret=config.password)
        extra = [n.strip() for n in config.extra.get("namespaces", "").split(",")]
        own = [config.username] if config.username else []
        self.namespaces = list(dict.fromkeys(n for n in [*own, *extra] if n))
        self._pull_limited_at: float | None = None
        self._pull_lock = threading.Lock()

    def catalog(self) -> list[str]:
        """`namespace/name` of every repository in the namespaces (Docker Hub has no v2 catalog)."""
        if not self.namespaces:
            raise ConfigError(
                "Docker Hub has no catalog: give the registry a username, or name the organisations to "
                "list in its config (extra: {namespaces: 'org1,org2'})"
            )
        return [f"{ns}/{name}" for ns in self.namespaces for name in self.hub.namespace_repositories(ns)]

    def get_manifest(self, repository: str, reference: str) -> RawManifest:
        """A manifest through v2; once Docker Hub's pull limit answered 429, refused without a request."""
        cached = self._cached_for(repository, reference)
        if cached is not None:
            return cached  # no GET, no pull counted
        with self._pull_lock:
            limited_at = self._pull_limited_at
        if limited_at is not None and time.monotonic() - limited_at < PULL_LIMIT_HOLD:
            raise RateLimited(
                f"Docker Hub pull rate limit: {repository}:{reference} not fetched; a manifest GET counts "
                "as a pull and the limit answered 429 earlier in this run",
                status=429,
            )
        try:
            return super().get_manifest(repository, reference)
        except RateLimited as exc:
            with self._pull_lock:
                self._pull_limited_at = time.monotonic()
            raise RateLimited(
                f"Docker Hub pull rate limit reached (429 on a manifest GET of {repository}, which counts as "
                f"a pull): no more manifest GETs for {PULL_LIMIT_HOLD / 60:.0f} minutes; use an account "
                f"with a higher limit, or crawl later ({exc})",
                status=429,
            ) from None

    def _cached_for(self, repository: str, reference: str) -> RawManifest | None:
        """The cached manifest a reference names; a tag is resolved with a HEAD, which is not a pull."""
        if reference.startswith("sha256:"):
            return self.cached_manifest(reference)
        if self.config.cache is None:
            return None  # nothing to find: one GET by tag costs one pull, a HEAD first would add a request
        head = self.head_manifest(repository, reference)
        return self.cached_manifest(head.digest) if head is not None else None

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """Push and pull times and sizes of these digests, from one Hub tag listing of the repository."""
        wanted = set(digests)
        if not wanted:
            return {}
        namespace, name = _split(repository)
        found: dict[str, NativeTimes] = {}
        for tag in self.hub.tags(namespace, name):
            if tag.digest in wanted:
                found[tag.digest] = _merge(found.get(tag.digest), _tag_times(tag))
            for image in tag.images:
                if image.digest in wanted and image.digest != tag.digest:
                    times = NativeTimes(
                        pushed=image.last_pushed, last_pulled=image.last_pulled, size=image.size
                    )
                    found[image.digest] = _merge(found.get(image.digest), times)
        return found

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete every tag on `digest` through the Hub API, then the untagged digest through v2.

        False when there was nothing left to delete (no tag on it and v2 answers 404), like the v2 client.
        """
        digest_only(digest)
        namespace, name = _split(repository)
        tags = [tag.name for tag in self.hub.tags(namespace, name) if tag.digest == digest]
        untagged = [tag for tag in tags if self.hub.delete_tag(namespace, name, tag)]
        try:
            deleted = super().delete_manifest(repository, digest)
        except AuthError as exc:
            done = f"tags {', '.join(untagged)} were deleted; " if untagged else ""
            raise UpstreamError(
                f"Docker Hub refused the v2 delete of {repository}@{digest} ({exc.status}); {done}the "
                "digest itself is still there (a tag the Hub API did not list may still point at it, or "
                "the account may not delete in this repository)",
                status=exc.status,
            ) from None
        return deleted or bool(untagged)


def _tag_times(tag: HubTag) -> NativeTimes:
    return NativeTimes(pushed=tag.last_pushed, last_pulled=tag.last_pulled, size=tag.full_size)


def _merge(old: NativeTimes | None, new: NativeTimes) -> NativeTimes:
    """Several tags on one digest: the newest push, the newest pull, the size any of them gives."""
    if old is None:
        return new
    return NativeTimes(
        pushed=_newest(old.pushed, new.pushed),
        last_pulled=_newest(old.last_pulled, new.last_pulled),
        size=old.size if old.size is not None else new.size,
    )


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)


def _split(repository: str) -> tuple[str, str]:
    namespace, _, name = repository.partition("/")
    if not name:
        return DEFAULT_NAMESPACE, namespace
    return namespace, name


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

"""OCI distribution (registry v2) client: catalog, tags, manifests, config blobs, delete by digest.

What to ask a registry and how to trust the answer (digests verified, sizes capped, content cached by
digest); how requests are sent (auth, retries, transports, error translation) is tools/registry/session.py.
Callers never see httpx.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from diskcache import Cache

from tools.errors import BadResponse, NotFound, UpstreamError
from tools.registry.cache import ContentCache
from tools.registry.media_types import ACCEPT_MANIFESTS, MANIFEST_TYPES
from tools.registry.session import REQUEST_DEADLINE, RegistrySession, Send
from tools.registry.wire import (
    digest_only,
    error_code,
    media_type_from_body,
    next_link_query,
    parse_json_object,
    safe_digest,
    safe_reference,
    safe_repository,
)

MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit; anything larger is hostile
MAX_CONFIG_BYTES = 8 * 1024 * 1024
CATALOG_PAGE = 1000  # distribution rejects n > 1000
# The only digest probe_delete ever sends. No content hashes to it (that would be a SHA-256 preimage), so no
# registry can hold a manifest or blob under it, and a DELETE of it can never remove anything.
PROBE_DIGEST = "sha256:" + "0" * 64


@dataclass(frozen=True, slots=True)
class ManifestHead:
    """What a HEAD on a manifest tells: its digest, media type and size."""

    digest: str
    media_type: str
    size: int


@dataclass(frozen=True, slots=True)
class DeleteProbe:
    """How a registry answered a DELETE of PROBE_DIGEST: the status and its error code, if any."""

    status: int | None  # None: no HTTP answer (unreachable, or the token service refused)
    code: str  # e.g. MANIFEST_UNKNOWN, UNSUPPORTED, UNAUTHORIZED, DENIED; "" when the body has none
    detail: str  # one line for people, no secrets


@dataclass(frozen=True, slots=True)
class RawManifest:
    """A manifest document as fetched, verified against its digest."""

    digest: str
    media_type: str
    body: bytes

    def json(self) -> dict[str, Any]:
        """The parsed document; BadResponse when it is not a JSON object."""
        return parse_json_object(self.body, what=f"manifest {self.digest}")


class RegistryClient:
    """A client for one registry, reached directly or through Portainer BE's `/api/registries/{id}` proxy."""

    def __init__(
        self,
        base_url: str,
        *,
        http: httpx.Client,
        username: str | None = None,
        password: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        cache: Cache | None = None,
        tag_list_ttl: float = 60.0,
        attempts: int = 4,
        max_retry_wait: float = 30.0,
        catalog_page: int = CATALOG_PAGE,
        request_deadline: float = REQUEST_DEADLINE,
        blob_redirect_hosts: Collection[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = RegistrySession(
            self.base_url,
            http=http,
            username=username,
            password=password,
            headers=dict(headers or {}),
            params=dict(params or {}),
            attempts=attempts,
            max_retry_wait=max_retry_wait,
            request_deadline=request_deadline,
            blob_redirect_hosts=blob_redirect_hosts,
        )
        self._cache = ContentCache(cache) if cache is not None else None
        self._tag_list_ttl = tag_list_ttl
        self._catalog_page = min(max(catalog_page, 1), CATALOG_PAGE)

    @property
    def requests(self) -> Counter[str]:
        """Requests sent so far, by method."""
        return self._session.requests

    @property
    def statuses(self) -> Counter[int]:
        """Answers so far, by HTTP status (a request that got no answer is in `requests` only)."""
        return self._session.statuses

    # ----- public API -------------------------------------------------------------------------

    @contextmanager
    def batched_cache_writes(self) -> Iterator[None]:
        """Write cache entries in batches until the block ends (a crawl writes two per tag)."""
        if self._cache is None:
            yield
            return
        with self._cache.batched():
            yield

    def ping(self) -> None:
        """Check that the registry answers `/v2/` and accepts our credentials."""
        self._session.request("GET", "/v2/")

    def catalog(self) -> list[str]:
        """Every repository name, following `Link` pagination."""
        names: list[str] = []
        query: dict[str, str] = {"n": str(self._catalog_page)}
        while True:
            response = self._session.request("GET", "/v2/_catalog", query=query)
            page = parse_json_object(response.content, what="catalog").get("repositories") or []
            if not isinstance(page, list) or not all(isinstance(n, str) for n in page):
                raise BadResponse("catalog: 'repositories' is not a list of names", url=self.base_url)
            names.extend(page)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or not page:
                return names
            query = next_query

    def list_tags(self, repository: str, *, fresh: bool = False) -> list[str]:
        """Tags of a repository (empty when all its manifests were deleted), following `Link` pages."""
        key = f"tags:{self.base_url}:{repository}"
        if not fresh and self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, list):
                return cached
        tags: list[str] = []
        query: dict[str, str] = {}
        while True:
            response = self._session.request(
                "GET", f"/v2/{safe_repository(repository)}/tags/list", query=query
            )
            page = parse_json_object(response.content, what=f"tags of {repository}").get("tags") or []
            if not isinstance(page, list) or not all(isinstance(t, str) for t in page):
                raise BadResponse(f"tags of {repository}: 'tags' is not a list", url=self.base_url)
            tags.extend(page)
            next_query = next_link_query(response.headers.get("link", ""))
            if next_query is None or not page:
                break
            query = next_query
        if self._cache is not None and self._tag_list_ttl > 0:
            self._cache.set(key, tags, expire=self._tag_list_ttl)
        return tags

    def head_manifest(self, repository: str, reference: str) -> ManifestHead | None:
        """Digest, type and size of a manifest by tag or digest; None when it does not exist."""
        try:
            response = self._session.request(
                "HEAD",
                f"/v2/{safe_repository(repository)}/manifests/{safe_reference(reference)}",
                accept=ACCEPT_MANIFESTS,
            )
        except NotFound:
            return None
        digest = response.headers.get("docker-content-digest", "")
        if not digest:
            if reference.startswith("sha256:"):
                digest = reference
            else:  # e.g. ECR: no digest header on HEAD; the body has to be hashed instead
                return _head_of(self.get_manifest(repository, reference))
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        size = int(response.headers.get("content-length", "0") or 0)
        return ManifestHead(digest=digest, media_type=media_type, size=size)

    def get_manifest(self, repository: str, reference: str) -> RawManifest:
        """Fetch a manifest by tag or digest; by digest it is served from the cache when seen before."""
        if reference.startswith("sha256:"):
            cached = self.cached_manifest(reference)
            if cached is not None:
                return cached
        response = self._session.request(
            "GET",
            f"/v2/{safe_repository(repository)}/manifests/{safe_reference(reference)}",
            accept=ACCEPT_MANIFESTS,
            max_bytes=MAX_MANIFEST_BYTES,
        )
        body = response.content
        if len(body) > MAX_MANIFEST_BYTES:
            raise BadResponse(f"manifest {repository}:{reference} is {len(body)} bytes, over the 4 MiB limit")
        computed = "sha256:" + hashlib.sha256(body).hexdigest()
        claimed = response.headers.get("docker-content-digest", "") or computed
        expected = reference if reference.startswith("sha256:") else claimed
        if computed != expected or claimed != computed:
            raise BadResponse(
                f"manifest {repository}:{reference} does not match its digest", url=self.base_url
            )
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        if media_type not in MANIFEST_TYPES:
            media_type = media_type_from_body(body, fallback=media_type)
        manifest = RawManifest(digest=computed, media_type=media_type, body=body)
        if self._cache is not None:
            self._cache.set(f"manifest:{computed}", (media_type, body))
        return manifest

    def cached_manifest(self, digest: str) -> RawManifest | None:
        """A manifest seen before, from the content-addressed cache (no request)."""
        if self._cache is None:
            return None
        entry = self._cache.get(f"manifest:{digest}")
        if not isinstance(entry, tuple) or len(entry) != 2:
            return None
        media_type, body = entry
        return RawManifest(digest=digest, media_type=media_type, body=body)

    def get_blob_json(self, repository: str, digest: str) -> dict[str, Any]:
        """A small JSON blob (an image config) by digest, verified and cached forever."""
        key = f"blob:{digest}"
        if self._cache is not None:
            cached = self._cache.get(key)
            if isinstance(cached, bytes):
                return parse_json_object(cached, what=f"blob {digest}")
        response = self._session.request(
            "GET",
            f"/v2/{safe_repository(repository)}/blobs/{safe_digest(digest)}",
            follow_redirects=True,
            max_bytes=MAX_CONFIG_BYTES,
        )
        body = response.content
        if len(body) > MAX_CONFIG_BYTES:
            raise BadResponse(f"config blob {digest} is {len(body)} bytes, over the 8 MiB limit")
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            raise BadResponse(f"blob {digest} in {repository} does not match its digest", url=self.base_url)
        parsed = parse_json_object(body, what=f"blob {digest}")
        if self._cache is not None:
            self._cache.set(key, body)
        return parsed

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete a manifest by digest (every tag on it goes too); False when it was already gone."""
        digest_only(digest)
        try:
            self._session.request(
                "DELETE",
                f"/v2/{safe_repository(repository)}/manifests/{safe_digest(digest)}",
                accept=ACCEPT_MANIFESTS,
            )
        except NotFound:
            return False
        return True

    def probe_delete(self, repository: str) -> DeleteProbe:
        """Whether deletes would work: DELETE the all-zero digest, which names nothing, and read the answer.

        404 MANIFEST_UNKNOWN means deletes are enabled and these credentials may delete; 405 UNSUPPORTED
        means the registry has deletes disabled; 401/403 mean the credentials may not delete. The digest is
        fixed here (PROBE_DIGEST), never a parameter, so this method cannot delete anything.
        """
        send = Send("DELETE", f"/v2/{safe_repository(repository)}/manifests/{PROBE_DIGEST}", max_bytes=65536)
        assert send.path.endswith("/manifests/" + PROBE_DIGEST)
        try:
            response = self._session.answer_once(send)
        except UpstreamError as exc:  # unreachable, or the token service refused the credentials
            return DeleteProbe(status=exc.status, code="", detail=str(exc))
        code = error_code(response).strip(" ()")
        return DeleteProbe(
            status=response.status_code, code=code, detail=f"DELETE answered {response.status_code} {code}"
        )

    def catalog_page(self, n: int = 1) -> list[str]:
        """The first `n` repository names (one request; a cheap read check)."""
        response = self._session.request(
            "GET", "/v2/_catalog", query={"n": str(max(1, min(n, CATALOG_PAGE)))}
        )
        page = parse_json_object(response.content, what="catalog").get("repositories") or []
        if not isinstance(page, list) or not all(isinstance(name, str) for name in page):
            raise BadResponse("catalog: 'repositories' is not a list of names", url=self.base_url)
        return page


def _head_of(manifest: RawManifest) -> ManifestHead:
    return ManifestHead(digest=manifest.digest, media_type=manifest.media_type, size=len(manifest.body))

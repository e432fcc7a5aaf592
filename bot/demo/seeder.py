"""The Seeder: pushes synthetic images over the v2 API and knows exactly what a crawl must find.

Plain httpx against one registry; bot/demo/images.py builds the bytes, bot/demo/seed.py is the
public face (sample and bulk data sets). Registry quirks: /work/shared/reference/real-registry.md.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Self
from urllib.parse import quote

import httpx

from bot.demo.images import (
    Blob,
    BuiltImage,
    ImageSpec,
    ManifestKind,
    build_image,
    build_index,
    build_signature,
    sha256_digest,
    signature_tag,
)
from bot.errors import SeedError


class BearerAuth(httpx.Auth):
    """Sends a fixed bearer token (e.g. one from RegistryServer.mint_token)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the Authorization header."""
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass(frozen=True, slots=True)
class BlobRef:
    """A blob as a manifest references it."""

    digest: str
    size: int


@dataclass(frozen=True, slots=True)
class PushedImage:
    """A pushed single-platform image."""

    repository: str
    tag: str | None
    digest: str
    media_type: str
    manifest_size: int
    config_digest: str
    config_size: int
    layers: tuple[BlobRef, ...]
    platform: tuple[str, str]

    @property
    def reference(self) -> str:
        """`repository@digest`."""
        return f"{self.repository}@{self.digest}"

    @property
    def total_bytes(self) -> int:
        """Manifest + config + layers, each counted once within this image."""
        layer_bytes = sum({layer.digest: layer.size for layer in self.layers}.values())
        return self.manifest_size + self.config_size + layer_bytes


@dataclass(frozen=True, slots=True)
class PushedIndex:
    """A pushed OCI index or Docker manifest list with its (untagged) children."""

    repository: str
    tag: str
    digest: str
    media_type: str
    size: int
    children: tuple[PushedImage, ...]


@dataclass(frozen=True, slots=True)
class SeedSummary:
    """What a crawler must report for the registry a Seeder pushed to."""

    repositories: int  # every repository pushed to: the catalog keeps repos whose manifests were deleted
    tags: int  # (repository, tag) pairs currently tagged
    manifests: int  # distinct manifest digests reachable from tags, index children included
    blobs: int  # distinct config and layer digests reachable from tags
    stored_bytes: int  # sizes of those manifests, configs and layers, each digest once registry-wide
    pushed_bytes: int  # every distinct digest ever pushed: blob bytes on disk before garbage collection


@dataclass(frozen=True, slots=True)
class _Record:
    media_type: str
    manifest: bytes
    blobs: tuple[BlobRef, ...]
    children: tuple[str, ...]


class Seeder:
    """Pushes synthetic images to one registry and keeps the bookkeeping of what is reachable."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # One shared client: building an httpx.Client costs ~0.3 s CPU (SSL context).
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=60)
        self._auth = auth
        self._lock = threading.Lock()
        self._repositories: set[str] = set()
        self._tags: dict[tuple[str, str], str] = {}
        self._records: dict[tuple[str, str], _Record] = {}
        self._blob_home: dict[str, str] = {}
        self._pushed: dict[str, int] = {}

    def close(self) -> None:
        """Close the HTTP client if the seeder created it."""
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- pushing ----------------------------------------------------------------------------------

    def push_image(self, spec: ImageSpec) -> PushedImage:
        """Push one image (blobs, then the manifest under its tag, or by digest when untagged)."""
        built = build_image(spec)
        self._push_built(spec.repository, built, spec.tag)
        return _pushed_image(spec.repository, spec.tag, built)

    def push_built(self, repository: str, built: BuiltImage, tag: str | None) -> str:
        """Push an image built elsewhere (its blobs, then its manifest); returns the manifest digest."""
        self._push_built(repository, built, tag)
        return built.digest

    def push_index(
        self,
        repository: str,
        tag: str,
        children: list[ImageSpec],
        *,
        media_type: ManifestKind = "oci",
        annotations: dict[str, str] | None = None,
    ) -> PushedIndex:
        """Push children by digest (untagged), then an OCI index or Docker manifest list over them."""
        pushed: list[PushedImage] = []
        built_children: list[BuiltImage] = []
        for child in children:
            # Children of different indexes in one repo must not collide unless asked to.
            seed = child.extra_layer_seed or f"index:{tag}"
            spec = replace(child, repository=repository, tag=None, extra_layer_seed=seed)
            built = build_image(spec)
            self._push_built(repository, built, None)
            built_children.append(built)
            pushed.append(_pushed_image(repository, None, built))
        kind, document = build_index(built_children, media_type=media_type, annotations=annotations)
        digest = self._put_manifest(repository, tag, kind, document)
        record = _Record(kind, document, (), tuple(child.digest for child in pushed))
        self._remember(repository, tag, digest, record)
        return PushedIndex(repository, tag, digest, kind, len(document), tuple(pushed))

    def push_signature(self, repository: str, subject_digest: str) -> str:
        """Push a cosign-style signature for a subject under `sha256-<hex>.sig`; returns its digest."""
        built = build_signature(repository, subject_digest)
        self._push_built(repository, built, signature_tag(subject_digest))
        return built.digest

    def tag(self, repository: str, digest: str, new_tag: str) -> None:
        """Point another tag at a manifest this seeder pushed (PUT of the same bytes)."""
        with self._lock:
            record = self._records[(repository, digest)]
        self._put_manifest(repository, new_tag, record.media_type, record.manifest)
        self._remember(repository, new_tag, digest, record)

    def delete(self, repository: str, digest: str) -> None:
        """DELETE a manifest by digest, which also removes every tag pointing at it."""
        response = self._request("DELETE", f"/v2/{repository}/manifests/{digest}")
        _expect(response, 202)
        with self._lock:
            self._records.pop((repository, digest), None)
            for key in [key for key, value in self._tags.items() if key[0] == repository]:
                if self._tags[key] == digest:
                    del self._tags[key]

    # -- bookkeeping ------------------------------------------------------------------------------

    def tagged(self) -> dict[tuple[str, str], str]:
        """A copy of (repository, tag) -> manifest digest for every current tag."""
        with self._lock:
            return dict(self._tags)

    def expected(self) -> SeedSummary:
        """What a crawler must report: counts and dedup-correct stored bytes of what tags reach."""
        with self._lock:
            manifests: dict[str, int] = {}
            blobs: dict[str, int] = {}
            pending = [(repo, digest) for (repo, _), digest in self._tags.items()]
            while pending:
                repo, digest = pending.pop()
                record = self._records.get((repo, digest))
                # A deleted index child is skipped: the registry answers 404 for it too.
                if digest in manifests or record is None:
                    continue
                manifests[digest] = len(record.manifest)
                blobs.update((blob.digest, blob.size) for blob in record.blobs)
                pending.extend((repo, child) for child in record.children if child not in manifests)
            return SeedSummary(
                repositories=len(self._repositories),
                tags=len(self._tags),
                manifests=len(manifests),
                blobs=len(blobs),
                stored_bytes=sum(manifests.values()) + sum(blobs.values()),
                pushed_bytes=sum(self._pushed.values()),
            )

    # -- HTTP -------------------------------------------------------------------------------------

    def _push_built(self, repository: str, built: BuiltImage, tag: str | None) -> None:
        for blob in (built.config, *built.layers):
            self._ensure_blob(repository, blob)
        digest = self._put_manifest(repository, tag or built.digest, built.media_type, built.manifest)
        blobs = tuple(BlobRef(blob.digest, blob.size) for blob in (built.config, *built.layers))
        self._remember(repository, tag, digest, _Record(built.media_type, built.manifest, blobs, ()))

    def _remember(self, repository: str, tag: str | None, digest: str, record: _Record) -> None:
        with self._lock:
            self._repositories.add(repository)
            self._records[(repository, digest)] = record
            self._pushed[digest] = len(record.manifest)
            if tag is not None:
                self._tags[(repository, tag)] = digest

    def _ensure_blob(self, repository: str, blob: Blob) -> None:
        head = self._request("HEAD", f"/v2/{repository}/blobs/{blob.digest}")
        if head.status_code == 200:
            return
        with self._lock:
            home = self._blob_home.get(blob.digest)
        if home is not None and home != repository:
            mount = self._request(
                "POST", f"/v2/{repository}/blobs/uploads/?mount={quote(blob.digest)}&from={quote(home)}"
            )
            if mount.status_code == 201:
                return
            # 202: the registry could not mount and opened an ordinary upload instead.
            _expect(mount, 202)
            location = mount.headers["Location"]
        else:
            start = self._request("POST", f"/v2/{repository}/blobs/uploads/")
            _expect(start, 202)
            location = start.headers["Location"]
        if location.startswith("/"):
            location = self.base_url + location
        # Append the digest ourselves: params= would replace the _state query and give 404.
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}digest={quote(blob.digest)}"
        done = self._request(
            "PUT", url, content=blob.data, headers={"Content-Type": "application/octet-stream"}
        )
        _expect(done, 201)
        with self._lock:
            self._blob_home.setdefault(blob.digest, repository)
            self._pushed[blob.digest] = blob.size

    def _put_manifest(self, repository: str, reference: str, media_type: str, document: bytes) -> str:
        response = self._request(
            "PUT",
            f"/v2/{repository}/manifests/{reference}",
            content=document,
            headers={"Content-Type": media_type},
        )
        _expect(response, 201)
        digest = sha256_digest(document)
        echoed = response.headers.get("Docker-Content-Digest")
        if echoed != digest:
            raise SeedError(f"registry stored {repository}:{reference} as {echoed}, expected {digest}")
        return digest

    def _request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        return self._client.request(method, url, content=content, headers=headers, auth=self._auth)


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        request = response.request
        raise SeedError(
            f"{request.method} {request.url.path} -> {response.status_code} (wanted {status}): "
            f"{response.text[:500]}"
        )


def _pushed_image(repository: str, tag: str | None, built: BuiltImage) -> PushedImage:
    return PushedImage(
        repository=repository,
        tag=tag,
        digest=built.digest,
        media_type=built.media_type,
        manifest_size=len(built.manifest),
        config_digest=built.config.digest,
        config_size=built.config.size,
        layers=tuple(BlobRef(layer.digest, layer.size) for layer in built.layers),
        platform=built.platform,
    )

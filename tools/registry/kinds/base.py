"""The contract every registry kind's adapter keeps: a v2 RegistryClient plus what its native API adds.

An adapter *is* a RegistryClient (the crawler, re-validation and execution already speak that protocol), so
a kind overrides only what differs: `catalog()` when listing is native (Docker Hub, GHCR, GitLab),
`delete_manifest()` when the delete path is (tags first on GAR, Hub's tag API, ECR's BatchDeleteImage),
and `native_times()` for the clocks and sizes v2 does not have. Everything else stays v2.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar, Literal, Protocol

import httpx
from diskcache import Cache

from tools.registry.client import RegistryClient

KindName = Literal[
    "custom", "dockerhub", "ecr", "azure", "gar", "github", "gitlab", "harbor", "quay", "proget"
]


class CountsRequests(Protocol):
    """A native API client that counts what it sent (RestSession and the clients over it)."""

    @property
    def requests(self) -> Counter[str]: ...


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one kind can do, in words shown to people (README table, `regent doctor`, findings)."""

    kind: KindName
    label: str  # "Amazon ECR"
    listing: str  # "v2 catalog" | "DescribeRepositories" | "Hub API: GET /v2/namespaces/{ns}/repositories"
    push_clock: str | None  # the origin shown next to a push age, e.g. "ECR imagePushedAt"; None: none
    pull_clock: str | None  # e.g. "ECR lastRecordedPullTime"; None: the registry has no pull clock
    size: str  # where sizes come from: "v2 manifests (layers + config)" or e.g. "ECR imageSizeInBytes"
    delete_path: str  # e.g. "v2 DELETE by digest", "tags first (DELETE …/manifests/<tag>), then the digest"
    gc_step: str  # what frees the disk after deletes, e.g. "none: the registry frees storage itself"
    export: str | None = None  # `regent plan --export` format for its native retention, if any


@dataclass(frozen=True, slots=True)
class NativeTimes:
    """A digest's clocks and size as the registry's own API reports them; None where it has none."""

    pushed: datetime | None = None
    last_pulled: datetime | None = None
    size: int | None = None  # bytes as the registry reports them (compressed layers + config, usually)


def add_tag_times(
    found: dict[str, NativeTimes], digest: str, pushed: datetime | None, size: int | None
) -> None:
    """Fold one tag's clock into its digest's: the earliest push over the digest's tags, the last size."""
    known = found.get(digest)
    if known is not None and known.pushed is not None and (pushed is None or known.pushed < pushed):
        pushed = known.pushed
    found[digest] = NativeTimes(pushed=pushed, size=size)


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """Everything an adapter may be built from: what Portainer stores, plus Regent's own config.

    `url` is the v2 base URL (scheme + host[:port]). `api_url` overrides the native API's base URL where it
    is another host (Docker Hub's hub.docker.com, GitHub's api.github.com, GitLab's instance); by default
    an adapter derives it from `url`, and a loopback `url` (a mirror, a test fake) serves both.
    """

    kind: KindName
    url: str
    http: httpx.Client
    cache: Cache | None = None
    username: str | None = None
    password: str | None = None
    region: str = ""  # ECR: Portainer's `Ecr.Region`
    api_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)  # e.g. GitLab's instance URL and project id
    headers: Mapping[str, str] = field(default_factory=dict)  # BE proxy headers (then v2 only, no native)
    params: Mapping[str, str] = field(default_factory=dict)
    blob_redirect_hosts: Collection[str] = ()


class NativeRegistry(RegistryClient):
    """A registry reached through v2, with a kind's native additions; this base class is plain v2."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="custom",
        label="Custom (CNCF distribution)",
        listing="v2 catalog",
        push_clock=None,
        pull_clock=None,
        size="v2 manifests (layers + config)",
        delete_path="v2 DELETE by digest (needs storage.delete.enabled)",
        gc_step="offline `registry garbage-collect` (regent plan --gc)",
        export=None,
    )

    def __init__(
        self, config: AdapterConfig, *, username: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(
            config.url,
            http=config.http,
            cache=config.cache,
            username=username if username is not None else config.username,
            password=password if password is not None else config.password,
            headers=dict(config.headers),
            params=dict(config.params),
            blob_redirect_hosts=config.blob_redirect_hosts,
        )
        self.config = config
        self._native_api: CountsRequests | None = None  # a REST API beside v2, counted in `requests`

    @property
    def requests(self) -> Counter[str]:
        """Requests sent so far, by method: v2 and the kind's native API (if any) together."""
        sent = super().requests
        return sent if self._native_api is None else sent + self._native_api.requests

    def catalog_page(self, n: int = 1) -> list[str]:
        """The first `n` repositories: from the native listing where the kind overrides `catalog()`.

        `regent doctor` reads one page as its read check; a kind without a v2 catalog (Docker Hub, Harbor,
        Quay, ECR) would fail that check though it reads fine. (Added by core for the doctor, #13.)
        """
        if type(self).catalog is not RegistryClient.catalog:
            return self.catalog()[: max(n, 1)]
        return super().catalog_page(n)

    @classmethod
    def native_delete(cls) -> bool:
        """True when the kind deletes through its own path, so a v2 delete probe would say nothing."""
        return cls.delete_manifest is not RegistryClient.delete_manifest

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """Clocks and sizes the native API has for these digests of one repository ({} for plain v2).

        Called once per repository after its tags are resolved; an adapter makes as few calls as its API
        allows (one DescribeImages page per 100 digests on ECR, one tag list with times on GAR). Errors
        raise RegentError: the crawl reports them and keeps the v2 data.
        """
        return {}

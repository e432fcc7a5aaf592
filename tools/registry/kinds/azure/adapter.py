"""Azure Container Registry: v2 for listing and content, `/acr/v1` for clocks, sizes and tag deletes.

ACR's v2 API lists (`/v2/_catalog` with the `registry:catalog:*` scope) and deletes by digest, but cannot
delete a tag (fluxcd/pkg#328); `/acr/v1/{name}/_tags/{tag}` can. `/acr/v1/{name}/_manifests` carries each
manifest's `createdTime` (push), `lastUpdateTime` and `imageSize`; ACR keeps no pull time
(registries.md, ACR row: A1, A3).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from tools.registry.kinds.azure.client import AcrClient
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.wire import digest_only, safe_digest


class AzureRegistry(NativeRegistry):
    """An ACR registry reached directly with Portainer's username and password (Type 2)."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="azure",
        label="Azure Container Registry",
        listing="v2 catalog (token scope registry:catalog:*)",
        push_clock="ACR createdTime",
        pull_clock=None,
        size="ACR imageSize",
        delete_path="tags through DELETE /acr/v1/{name}/_tags/{tag}, then v2 DELETE by digest",
        gc_step="none: ACR frees the storage of deleted manifests itself",
        export="acr-purge",
    )

    def __init__(
        self, config: AdapterConfig, *, username: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(config, username=username, password=password)
        self.acr = AcrClient(self._session)

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """`createdTime` as the push clock and `imageSize` as the size, from one paged manifest list."""
        wanted = set(digests)
        if not wanted:
            return {}
        return {
            manifest.digest: NativeTimes(pushed=manifest.created, size=manifest.size)
            for manifest in self.acr.manifests(repository)
            if manifest.digest in wanted
        }

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the digest's tags through `/acr/v1`, then the manifest by digest; False if already gone.

        The tags come from ACR's own record of the manifest at delete time (re-validation has already
        checked they are the planned ones); a tag already gone on the way counts as deleted.
        """
        digest_only(digest)
        current = self.acr.manifest(repository, safe_digest(digest))
        if current is None:
            return False
        for tag in current.tags:
            self.acr.delete_tag(repository, tag)
        return super().delete_manifest(repository, digest)

"""Google Artifact Registry and gcr.io: v2, with Google's tag-list extension and tags-first deletes.

GAR lists with `/v2/_catalog` per location host (G4), keeps the upload time and size of every manifest in
the `manifest` map of `tags/list` (G2), keeps no pull time, and refuses to delete a digest that still has
tags (400 GOOGLE_MANIFEST_DANGLING_TAG, G3): tags go first, one `DELETE …/manifests/<tag>` each. Portainer
has no GAR type; GAR is a Custom record (`oauth2accesstoken` or `_json_key` basic credentials) recognised
by its host (`*-docker.pkg.dev`, `gcr.io`) in tools/registry/kinds/select.py.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

from tools.errors import UpstreamError
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.kinds.gar.client import DANGLING_TAG, GarClient
from tools.registry.wire import digest_only, safe_digest

DELETE_ATTEMPTS = 3  # a tag pushed onto the digest between our tag deletes and the digest delete


class GarRegistry(NativeRegistry):
    """A GAR (or gcr.io) registry reached directly."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="gar",
        label="Google Artifact Registry (and gcr.io)",
        listing="v2 catalog (per location host)",
        push_clock="GAR timeUploadedMs",
        pull_clock=None,
        size="GAR imageSizeBytes",
        delete_path="tags first (DELETE /v2/<repo>/manifests/<tag>), then v2 DELETE by digest",
        gc_step="none: Artifact Registry frees the storage of deleted images itself",
        export="gar-cleanup",
    )

    def __init__(
        self, config: AdapterConfig, *, username: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(config, username=username, password=password)
        self.gar = GarClient(self._session)

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """`timeUploadedMs` as the push clock and `imageSizeBytes` as the size, from one tag list."""
        wanted = set(digests)
        if not wanted:
            return {}
        return {
            image.digest: NativeTimes(pushed=image.uploaded, size=image.size)
            for image in self.gar.images(repository).values()
            if image.digest in wanted
        }

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the digest's tags, then the digest; False when the manifest was already gone.

        A tag put on the digest after the tags were read makes GAR refuse with DANGLING_TAG: the tags are
        read again and deleted, a bounded number of times, then the refusal is raised as it came.
        """
        digest_only(digest)
        safe_digest(digest)
        for attempt in range(DELETE_ATTEMPTS):
            image = self.gar.images(repository).get(digest)
            if image is None and self.head_manifest(repository, digest) is None:
                return False
            for tag in image.tags if image is not None else ():
                self.gar.delete_tag(repository, tag)
            try:
                return super().delete_manifest(repository, digest)
            except UpstreamError as exc:
                if DANGLING_TAG not in str(exc) or attempt == DELETE_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

"""Quay as a registry kind: listing, tag clocks and tag deletes through `/api/v1`, manifests through v2.

Why native (registries.md Q1 to Q3): Quay's v2 catalog shows only what the caller can see, per namespace
listing is the REST API's (`GET /api/v1/repository?namespace=`); the tag `start_ts` (when a tag was
pointed at its manifest) and `size` exist only there; Quay has no pull clock per tag. A delete ends every
tag of the digest through the API, so they go to the time machine like a delete in Quay's UI, and then
deletes the manifest by digest through v2.
"""

from __future__ import annotations

from collections.abc import Collection

from tools.errors import ConfigError
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes, add_tag_times
from tools.registry.kinds.quay.client import QuayApi
from tools.registry.wire import digest_only


class QuayRegistry(NativeRegistry):
    """A Quay: v2 for manifests, configs and the final delete; `/api/v1` for listing, clocks and tags."""

    capabilities = Capabilities(
        kind="quay",
        label="Quay",
        listing="Quay API: GET /api/v1/repository?namespace=… per namespace (paged by next_page)",
        push_clock="Quay tag start_ts",
        pull_clock=None,
        size="Quay tag size (compressed layers, without config and manifest)",
        delete_path="Quay API: DELETE /api/v1/repository/{namespace}/{name}/tag/{tag} for each tag, then v2 "
        "DELETE by digest",
        gc_step=(
            "Quay's time machine: deleted tags stay restorable for the namespace's expiration period, "
            "then Quay's own garbage collection frees their storage; nothing to run"
        ),
        export=None,
    )

    def __init__(
        self, config: AdapterConfig, *, username: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(config, username=username, password=password)
        user = username if username is not None else config.username
        secret = password if password is not None else config.password
        self.api = QuayApi(
            config.api_url or config.url, http=config.http, token=config.extra.get("api_token") or secret
        )
        self._native_api = self.api
        self._user = user

    def catalog(self) -> list[str]:
        """The repositories of each configured namespace (v2's catalog would show only the caller's view)."""
        names: list[str] = []
        for namespace in _namespaces(self.config, self._user):
            names.extend(self.api.repositories(namespace))
        return names

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """Per digest: the earliest `start_ts` of its active tags (pushed) and the tag `size`."""
        wanted = set(digests)
        found: dict[str, NativeTimes] = {}
        for tag in self.api.active_tags(repository):
            if tag.manifest_digest not in wanted:
                continue
            add_tag_times(found, tag.manifest_digest, tag.start, tag.size)
        return found

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """End each active tag of the digest through the API, then delete the manifest by digest (v2).

        Quay's v2 DELETE by digest ends the tags still on the manifest and answers MANIFEST_UNKNOWN when
        none is left (quay/quay endpoints/v2/manifest.py): after the API deletes it only catches a tag
        pointed at the digest meanwhile. False when neither found a tag: the digest was already gone.
        The manifest's storage is freed by Quay itself once the time machine lets the tags go.
        """
        digest_only(digest)
        ended = False
        for tag in self.api.active_tags(repository):
            if tag.manifest_digest == digest:
                ended = self.api.delete_tag(repository, tag.name) or ended
        return super().delete_manifest(repository, digest) or ended


def _namespaces(config: AdapterConfig, username: str | None) -> tuple[str, ...]:
    """`extra["namespaces"]` (comma-separated) or `extra["organisation"]` (Portainer's Quay record:
    `Quay.OrganisationName`), else the robot's organization or the user's own namespace."""
    named = config.extra.get("namespaces") or config.extra.get("organisation") or ""
    listed = tuple(n.strip() for n in named.split(",") if n.strip())
    if listed:
        return listed
    if username and username != "$oauthtoken":
        return (username.partition("+")[0],)  # a robot `org+name` belongs to `org`
    raise ConfigError(
        f"Quay registry {config.url}: set `namespaces` (the organizations to inventory); "
        "an OAuth token alone does not say which"
    )

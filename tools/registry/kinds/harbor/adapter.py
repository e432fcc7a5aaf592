"""Harbor as a registry kind: listing, clocks, sizes and deletes through `/api/v2.0`, manifests through v2.

Why native (registries.md R1 to R3): Harbor's v2 catalog answers system admins only (goharbor/harbor#7898),
a v2 DELETE by tag is UNSUPPORTED (src/server/registry/manifest.go), and only the REST API has the
artifact's `push_time`, `pull_time` and `size` (api/v2.0/swagger.yaml, definition Artifact).
Portainer has no Harbor type: a Harbor is a Custom record that Regent's config marks `kind: harbor`.
"""

from __future__ import annotations

from collections.abc import Collection

from tools.errors import ConfigError
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.kinds.harbor.client import HarborApi
from tools.registry.wire import digest_only


class HarborRegistry(NativeRegistry):
    """A Harbor: v2 for manifests and configs, `/api/v2.0` for what v2 lacks or refuses."""

    capabilities = Capabilities(
        kind="harbor",
        label="Harbor",
        listing="Harbor API: GET /api/v2.0/projects, then /projects/{project}/repositories",
        push_clock="Harbor push_time",
        pull_clock="Harbor pull_time",
        size="Harbor artifact size",
        delete_path=(
            "Harbor API: DELETE /api/v2.0/projects/{project}/repositories/{repository}/artifacts/{digest}"
        ),
        gc_step=(
            "Harbor garbage collection through its API (POST /api/v2.0/system/gc/schedule with "
            "delete_untagged and dry_run); a run is a change of its own, never started by a crawl or a delete"
        ),
        export="harbor-retention",
    )

    def __init__(
        self, config: AdapterConfig, *, username: str | None = None, password: str | None = None
    ) -> None:
        super().__init__(config, username=username, password=password)
        self.api = HarborApi(
            config.api_url or config.url,
            http=config.http,
            username=username if username is not None else config.username,
            password=password if password is not None else config.password,
            page_size=_page_size(config),
        )
        self._native_api = self.api

    def catalog(self) -> list[str]:
        """Every repository of every project the credentials see (the v2 catalog is admin-only)."""
        names: list[str] = []
        for project in self.api.projects():
            names.extend(self.api.repositories(project.name))
        return names

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """push_time, pull_time and size of each artifact listed; an index's children take its times.

        Harbor lists an image index as one artifact whose `references` are its children; a child has no
        times of its own in the listing, and is pushed and pulled with its index, so it gets the index's
        clocks (but no size: the index's size already counts the children's).
        """
        wanted = set(digests)
        found: dict[str, NativeTimes] = {}
        for artifact in self.api.artifacts(repository):
            times = NativeTimes(pushed=artifact.push_time, last_pulled=artifact.pull_time, size=artifact.size)
            if artifact.digest in wanted:
                found[artifact.digest] = times
            for child in artifact.children:
                if child in wanted and child not in found:
                    found[child] = NativeTimes(pushed=artifact.push_time, last_pulled=artifact.pull_time)
        return found

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the artifact by digest through the API (its tags go with it); False when already gone."""
        digest_only(digest)
        return self.api.delete_artifact(repository, digest)


def _page_size(config: AdapterConfig) -> int:
    """`page_size` from the registry's config extras (Harbor's maximum, 100, by default)."""
    value = config.extra.get("page_size", "100")
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise ConfigError(f"Harbor registry {config.url}: page_size {value!r} is not a number from 1 to 100")
    return int(value)

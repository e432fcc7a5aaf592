"""GitHub Container Registry: v2 for manifests and configs, GitHub's REST API for listing, clocks, deletes.

GHCR has no v2 catalog and answers a v2 DELETE with 405 UNSUPPORTED (registries.md H1, H2); the REST API
lists an owner's container packages and their versions and deletes a version (H3). Repositories are
`<owner>/<package>`. The owner is Portainer's `Github.OrganisationName` when `UseOrganisation` is set (passed
in `extra["organisation"]`), else `extra["owner"]`, else the registry username. A classic PAT authenticates
both: basic auth on v2, a bearer token on the REST API (`read:packages`, and `delete:packages` to delete).
"""

from __future__ import annotations

import threading
from collections.abc import Collection
from typing import ClassVar
from urllib.parse import urlsplit

from tools.errors import ConfigError, NotFound
from tools.registry.kinds.base import AdapterConfig, Capabilities, NativeRegistry, NativeTimes
from tools.registry.kinds.github.client import GithubPackages
from tools.registry.kinds.rest import RestSession
from tools.registry.wire import digest_only

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"  # the REST API version these calls were written against


class GithubRegistry(NativeRegistry):
    """GHCR through v2 plus GitHub's packages API."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        kind="github",
        label="GitHub Container Registry",
        listing="GitHub REST: GET /orgs/{org}/packages?package_type=container (or /users/{user}/packages)",
        push_clock="GHCR version created_at",
        pull_clock=None,
        size="v2 manifests (layers + config); GitHub's API has no sizes",
        delete_path="GitHub REST: DELETE …/packages/container/{package}/versions/{id} (v2 DELETE is 405)",
        gc_step="none: GitHub frees the storage itself",
        export=None,
    )

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__(config)
        organisation = config.extra.get("organisation", "")
        owner = organisation or config.extra.get("owner", "") or (config.username or "")
        # Missing settings are reported when the REST API is needed, as an error of this registry's crawl,
        # so one incomplete record does not stop Regent from reading every other registry.
        self._missing = _missing(config, owner)
        api = RestSession(
            config.api_url or _api_url(config.url),
            http=config.http,
            vendor="GitHub",
            authorization=f"Bearer {config.password}" if config.password else None,
            headers={"accept": "application/vnd.github+json", "x-github-api-version": API_VERSION},
        )
        self.owner = owner.lower()  # GHCR image names are lower case
        self._packages = GithubPackages(api, owner=owner, organisation=bool(organisation))
        self._native_api = self._packages.api
        self._version_ids: dict[str, dict[str, int]] = {}  # package -> digest -> version id, for deletes
        self._versions_lock = threading.Lock()

    @property
    def packages(self) -> GithubPackages:
        """The owner's packages API; ConfigError when the owner or the token is not known."""
        if self._missing:
            raise ConfigError(self._missing)
        return self._packages

    def catalog(self) -> list[str]:
        """`<owner>/<package>` for every container package of the owner."""
        return sorted(f"{self.owner}/{name}" for name in self.packages.packages())

    def native_times(self, repository: str, digests: Collection[str]) -> dict[str, NativeTimes]:
        """Push time of each digest: its package version's `created_at`. No pull clock, no size."""
        wanted = set(digests)
        return {
            version.digest: NativeTimes(pushed=version.created)
            for version in self.packages.versions(self._package(repository))
            if version.digest in wanted
        }

    def delete_manifest(self, repository: str, digest: str) -> bool:
        """Delete the package version whose name is `digest`; False when no such version is left."""
        digest_only(digest)
        package = self._package(repository)
        version_id = self._version_id(package, digest)
        if version_id is None:
            return False
        deleted = self.packages.delete_version(package, version_id)
        with self._versions_lock:
            self._version_ids.get(package, {}).pop(digest, None)  # gone either way
        return deleted

    def _version_id(self, package: str, digest: str) -> int | None:
        """The id of the version named `digest`: one listing per package, again only for an unknown digest.

        A version's id always names the same digest, so ids read for one delete serve the next ones of a
        plan; a version deleted meanwhile answers 404, which is "already gone".
        """
        with self._versions_lock:
            known = self._version_ids.get(package)
            if known is None or digest not in known:
                known = {version.digest: version.id for version in self.packages.versions(package)}
                self._version_ids[package] = known
            return known.get(digest)

    def _package(self, repository: str) -> str:
        owner, _, package = repository.partition("/")
        if owner.lower() != self.owner or not package:
            raise NotFound(f"{repository} is not a package of GitHub owner {self.owner}")
        return package


def _missing(config: AdapterConfig, owner: str) -> str:
    """What the REST API needs and the configuration lacks, in one sentence ("" when nothing)."""
    if not owner:
        return (
            f"GitHub registry {config.url}: no owner; set Portainer's organisation name, or the registry "
            "username, or `extra: {owner: …}` in Regent's config"
        )
    if not config.password:
        return (
            f"GitHub registry {config.url}: GitHub's packages API needs a personal access token (classic, "
            "read:packages; delete:packages to delete): give this registry username_env and password_env"
        )
    return ""


def _api_url(registry_url: str) -> str:
    """api.github.com for ghcr.io; any other host (a mirror, a test fake) serves the REST API itself."""
    host = (urlsplit(registry_url).hostname or "").lower()
    return GITHUB_API if host == "ghcr.io" else registry_url
